package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/agent/alert"
	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/heartbeat"
	"github.com/lockstep-ft/lockstep/agent/member"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/agent/sysip"
	"github.com/lockstep-ft/lockstep/agent/system"
	"github.com/lockstep-ft/lockstep/cluster/join"
	"github.com/lockstep-ft/lockstep/cluster/membership"
	"github.com/lockstep-ft/lockstep/cluster/pki"
	"github.com/lockstep-ft/lockstep/cluster/witness"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// Ports of the node's services.
const (
	// APIPort is where the API listens, on the system IP and the node's own.
	APIPort = 8443
	// PeerPort is the node-to-node service (mutual TLS, link-local).
	PeerPort = 7411
)

// Console lines that lab scripts and tests wait for.
const (
	lineSystem   = "LOCKSTEP SYSTEM %s %s CA %s"
	lineMember   = "LOCKSTEP MEMBER node%d %s"
	lineSystemIP = "LOCKSTEP SYSTEM IP %s %s node%d"
)

// clusterd is this node's part of the system, started once the node is
// healthy: the identity from STATE, the membership (heartbeats, witnesses,
// system IP), the API, the peer service and, on a node holding the CA key,
// the join service on priv0.
type clusterd struct {
	version  string
	stateDir string
	logf     func(string, ...any)
	// println prints a line on the serial console and in the journal.
	println func(string)
	links   netcfg.Links
	bridges netcfg.BridgeLinks // the business networks' bridges

	id     *system.Identity
	cfg    nodeconfig.Config
	res    netcfg.Result
	boot   api.Boot
	runner *member.Runner
	tr     *heartbeat.Transport
	alerts *alertLog
	sender *alertSender
	audit  *auditLog
	trust  pki.Trust

	// vms is nil if the node could not set up its VM service (vmsErr).
	vms    *vmService
	vmsErr error

	mu        sync.Mutex
	lastState string
}

// start brings the node into its system; the services run until ctx ends.
func (c *clusterd) start(ctx context.Context, cfg nodeconfig.Config, res netcfg.Result, slot, slotVersion string) error {
	c.cfg, c.res, c.boot = cfg, res, api.Boot{Slot: slot, Version: slotVersion}
	var err error
	if cfg.Action == answers.Create {
		c.id, err = system.Ensure(c.stateDir, cfg, time.Now())
	} else {
		c.id, err = system.Load(c.stateDir)
	}
	if err != nil {
		return err
	}
	id := c.id
	c.trust = pki.TrustSystem(id.System)
	c.alerts = newAlertLog(filepath.Join(c.stateDir, "alerts.jsonl"), fmt.Sprintf("node%d", id.NodeID), c.logf)
	c.sender = &alertSender{ctx: ctx, settings: c.alertSettings, email: alert.SendEmail, trap: alert.SendTrap,
		system: id.System.Name, systemID: id.System.ID, record: c.alerts.delivered, logf: c.vmLogf,
		retries: alertRetries, sleep: sleepCtx}
	c.alerts.sent = c.sender.notify
	c.audit = newAuditLog(filepath.Join(c.stateDir, "audit.jsonl"), nodeName(id.NodeID), c.logf)
	ip, err := netip.ParseAddr(id.Config.IP)
	if err != nil {
		return fmt.Errorf("system IP %q: %w", id.Config.IP, err)
	}
	self := membership.NodeID(id.NodeID)
	links := netcfg.HeartbeatLinks(cfg.Network)
	mcfg := membership.Config{SystemID: id.System.ID, Self: self, Links: links, Witnesses: id.Config.Witnesses}
	if err := mcfg.WithDefaults().Validate(); err != nil {
		return fmt.Errorf("membership: %w", err)
	}
	c.tr, err = heartbeat.New(heartbeat.Config{SystemID: id.System.ID, Self: self, Key: id.HeartbeatKey, Links: links})
	if err != nil {
		return err
	}
	ipm, err := sysip.Open()
	if err != nil {
		return err
	}
	ws := map[string]member.Witness{}
	for _, w := range id.Config.Witnesses {
		ws[w] = &witness.Client{Addr: w, Secret: id.WitnessSecret}
	}
	// /32: an address in the node's own subnet would be a "secondary" one
	// that the kernel drops together with the node's address.
	c.runner, err = member.New(member.Options{
		Config: mcfg, Transport: c.tr, Witnesses: ws,
		SystemIP: netip.PrefixFrom(ip, 32), Interface: netcfg.Ibiz0, IP: &announcingIP{Manager: ipm, c: c},
		StatePath: filepath.Join(c.stateDir, "membership.json"),
		Logf:      c.logf, Notify: c.notify,
	})
	if err != nil {
		return err
	}
	// The VM service comes before the membership runs, so that no
	// decision about VMs (take over, release) finds it missing.
	if c.vms, err = c.startVMs(ctx); err != nil {
		c.vmLogf("vms: this node cannot run VMs: %v", err)
		c.alerts.add(time.Now(), membership.Alert{Kind: "vm.unavailable", Detail: err.Error()})
		c.vmsErr = err
	}
	go func() {
		if err := c.runner.Run(ctx); err != nil {
			c.logf("membership: %v", err)
		}
		c.tr.Close()
	}()

	srv, err := api.New(api.Options{
		Backend: &clusterBackend{c: c},
		Verify:  c.verifyUser,
		Role:    c.userRole,
		Audit:   c.audit.add,
		TLS:     api.ServerTLS(id.Node, id.System.CACert),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", APIPort))
	if err != nil {
		return fmt.Errorf("API: %w", err)
	}
	go func() {
		if err := srv.Serve(ctx, ln); err != nil {
			c.logf("API: %v", err)
		}
	}()
	if err := c.servePeer(ctx); err != nil {
		return err
	}
	if id.System.CAKey != nil {
		go c.serveJoin(ctx)
	}
	c.println(fmt.Sprintf(lineSystem, id.System.Name, ip, pki.FormatFingerprint(id.System.Fingerprint())))
	return nil
}

// announcingIP reports on the console when the system IP is really on
// (or off) this node's ibiz0, which is when clients can reach it here.
type announcingIP struct {
	*sysip.Manager
	c *clusterd
}

func (a *announcingIP) Acquire(ctx context.Context, ifname string, p netip.Prefix) error {
	err := a.Manager.Acquire(ctx, ifname, p)
	if held, _ := a.Manager.Held(ifname, p); held && ctx.Err() == nil {
		a.c.println(fmt.Sprintf(lineSystemIP, p.Addr(), "held", a.c.id.NodeID))
	}
	return err
}

func (a *announcingIP) Release(ifname string, p netip.Prefix) error {
	held, _ := a.Manager.Held(ifname, p)
	err := a.Manager.Release(ifname, p)
	if held && err == nil {
		a.c.println(fmt.Sprintf(lineSystemIP, p.Addr(), "released", a.c.id.NodeID))
	}
	return err
}

// notify turns membership events into console lines and alerts.
func (c *clusterd) notify(ev member.Event) {
	switch ev.Kind {
	case member.PeerLost, member.PeerJoined, member.BecamePrimary, member.SteppedDown:
		c.println(fmt.Sprintf(lineMember, c.id.NodeID, string(ev.Kind)+": "+ev.Detail))
	}
	if c.vms != nil {
		c.vms.onMember(ev)
	}
	if ev.Alert != nil {
		// Before a peer ever joined, its silence is the normal state of a
		// new system, not an alert.
		if _, ok := c.id.Registry.Node(1 - c.id.NodeID); !ok && !c.runner.Status().PeerVisible {
			return
		}
		c.alerts.add(ev.Time, *ev.Alert)
	}
}

// state is the one-line system state for the status screen.
func (c *clusterd) state() string {
	if c.runner == nil {
		return "starting"
	}
	s := c.runner.Status()
	peer := fmt.Sprintf("node%d", 1-c.id.NodeID)
	if _, ok := c.id.Registry.Node(1 - c.id.NodeID); !ok && !s.PeerVisible {
		return fmt.Sprintf("%s, waiting for %s to join", s.State, peer)
	}
	switch {
	case s.Connected:
		return fmt.Sprintf("%s, %s connected", s.State, peer)
	case s.PeerLost:
		return fmt.Sprintf("%s, %s lost", s.State, peer)
	case s.PeerVisible:
		return fmt.Sprintf("%s, %s seen, not connected", s.State, peer)
	}
	return fmt.Sprintf("%s, waiting for %s", s.State, peer)
}

// serveJoin runs the discovery responder and the join server on priv0's
// link-local address, which exists only once the kernel's duplicate
// address detection is done: it waits for it.
func (c *clusterd) serveJoin(ctx context.Context) {
	var ll netip.Addr
	for {
		a, err := join.LinkLocal(netcfg.Priv0)
		if err == nil && !tentative(a) {
			ll = a
			break
		}
		if !sleep(ctx, time.Second) {
			return
		}
	}
	id := c.id
	js := &join.Server{
		System: id.System, Self: id.NodeID, SystemIP: id.Config.IP, Priv0: ll.WithZone("").String(),
		Registry: id.Registry, Healthy: c.healthy, ShareCAKey: true,
		Witnesses: id.Config.Witnesses, Secrets: id.Secrets(), Logf: c.logf,
	}
	ln, err := net.Listen("tcp6", netip.AddrPortFrom(ll, join.DefaultPort).String())
	if err != nil {
		c.logf("join server: %v", err)
		return
	}
	go func() {
		if err := js.Serve(ctx, ln, id.Node); err != nil {
			c.logf("join server: %v", err)
		}
	}()
	conn, err := join.ListenResponder(join.DefaultPort)
	if err != nil {
		c.logf("join discovery: %v", err)
		return
	}
	defer conn.Close()
	r := &join.Responder{SystemName: id.System.Name, SystemID: id.System.ID, NodeID: id.NodeID,
		JoinPort: join.DefaultPort, Iface: netcfg.Priv0}
	c.logf("join: serving system %s on %s", id.System.Name, ln.Addr())
	if err := r.Serve(ctx, conn); err != nil {
		c.logf("join discovery: %v", err)
	}
}

// tentative: a link-local address still in duplicate address detection
// cannot be bound. Go does not expose the flag; binding tells.
func tentative(a netip.Addr) bool {
	ln, err := net.ListenPacket("udp6", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		return true
	}
	ln.Close()
	return false
}

// healthy is the join server's view of a node's health: this node, and
// the peer while the two are connected.
func (c *clusterd) healthy(r join.NodeRecord) bool {
	if r.ID == c.id.NodeID {
		return true
	}
	return c.runner.Status().Connected
}

// peerNode asks the peer for its own view of itself over the peer service.
func (c *clusterd) peerNode(ctx context.Context) (api.Node, error) {
	var n api.Node
	err := c.peerCall(ctx, http.MethodGet, "/peer/v1/node", &n)
	return n, err
}

// peerCall calls the peer service with no body and a short timeout: for
// queries that a status page makes.
func (c *clusterd) peerCall(ctx context.Context, method, path string, out any) error {
	return c.peerDo(ctx, method, path, nil, out, 2*time.Second)
}

// peerDo calls the peer service, sending in as JSON if it is not nil.
func (c *clusterd) peerDo(ctx context.Context, method, path string, in, out any, timeout time.Duration) error {
	if in == nil {
		return c.peerRaw(ctx, method, path, nil, 0, out, timeout)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.peerRaw(ctx, method, path, bytes.NewReader(b), int64(len(b)), out, timeout)
}

// peerRaw calls the peer service on the first link whose peer address is
// known (any link the heartbeats come through) with a body of size bytes.
func (c *clusterd) peerRaw(ctx context.Context, method, path string, body io.Reader, size int64, out any, timeout time.Duration) error {
	var addr netip.Addr
	for _, l := range c.tr.Links() {
		if a, ok := l.Peer(); ok {
			addr = a
			break
		}
	}
	if !addr.IsValid() {
		return errors.New("the peer is not reachable on any link")
	}
	cert := c.id.Node
	tc := pki.ClientTLSConfig(c.peerTrust(), &cert)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: timeout}
	// A zoned address goes in a URL with its "%" escaped (RFC 6874).
	host := strings.Replace(netip.AddrPortFrom(addr, PeerPort).String(), "%", "%25", 1)
	req, err := http.NewRequestWithContext(ctx, method, "https://"+host+path, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodePeer(resp, out)
}

// peerTrust accepts only the other node of this system.
func (c *clusterd) peerTrust() pki.Trust {
	t := c.trust
	want := 1 - c.id.NodeID
	t.Accept = func(p pki.Peer) error {
		if p.NodeID != want {
			return fmt.Errorf("peer certificate is node%d's, want node%d", p.NodeID, want)
		}
		if rec, ok := c.id.Registry.Node(want); ok && rec.Serial != "" && rec.Serial != p.Cert.SerialNumber.Text(16) {
			return fmt.Errorf("node%d's certificate serial %s is not the current one (%s): a replaced board's", want, p.Cert.SerialNumber.Text(16), rec.Serial)
		}
		return nil
	}
	return t
}
