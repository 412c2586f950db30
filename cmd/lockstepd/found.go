package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/agent/sysip"
	"github.com/lockstep-ft/lockstep/agent/system"
	"github.com/lockstep-ft/lockstep/cluster/pki"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// APIPort is where the API listens, on the system IP and the node's own.
const APIPort = 8443

// founder is the part of "Create new system" that runs once the founding
// node is healthy: the system's CA and this node's certificate (kept on
// STATE), the system IP on ibiz0, and the API. The node is alone, so it is
// the primary; the membership with the peer comes with the join.
type founder struct {
	version string
	logf    func(string, ...any)
}

// found returns the line for the serial console, or why it failed.
func (f founder) found(ctx context.Context, cfg nodeconfig.Config, res netcfg.Result, slot, slotVersion string) (string, error) {
	id, err := system.Ensure(system.Dir, cfg, time.Now())
	if err != nil {
		return "", err
	}
	ip, err := netip.ParseAddr(cfg.System.IP)
	if err != nil {
		return "", fmt.Errorf("system IP %q: %w", cfg.System.IP, err)
	}
	m, err := sysip.Open()
	if err != nil {
		return "", err
	}
	// /32: an address in the node's own subnet would be a "secondary" one
	// that the kernel drops together with the node's address.
	if err := m.Acquire(ctx, "ibiz0", netip.PrefixFrom(ip, 32)); err != nil {
		return "", fmt.Errorf("system IP %s on ibiz0: %w", ip, err)
	}
	srv, err := api.New(api.Options{
		Backend: &soloBackend{id: id, cfg: cfg, res: res, version: f.version, slot: slot, slotVersion: slotVersion},
		Verify:  api.AdminVerifier(cfg.AdminPasswordHash),
		TLS:     api.ServerTLS(id.Node, id.System.CACert),
	})
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", APIPort))
	if err != nil {
		return "", fmt.Errorf("API: %w", err)
	}
	go func() {
		if err := srv.Serve(ctx, ln); err != nil {
			f.logf("API: %v", err)
		}
	}()
	return fmt.Sprintf("LOCKSTEP SYSTEM %s %s CA %s", id.System.Name, ip, pki.FormatFingerprint(id.System.Fingerprint())), nil
}

// soloBackend answers the API for a system of one node, before the join.
type soloBackend struct {
	id                         *system.Identity
	cfg                        nodeconfig.Config
	res                        netcfg.Result
	version, slot, slotVersion string
}

func (b *soloBackend) SystemInfo(context.Context) (api.SystemInfo, error) {
	return api.SystemInfo{ID: b.id.System.ID, Name: b.id.System.Name, IP: b.cfg.System.IP,
		Version: b.version, Primary: "node0", State: stateWaiting}, nil
}

func (b *soloBackend) node() api.Node {
	n := api.Node{ID: "node0", Hostname: b.cfg.Hostname, Role: api.RolePrimary, State: api.StateHealthy,
		Links: []api.Link{{Name: "priv0", State: api.LinkDown}},
		Boot:  api.Boot{Slot: b.slot, Version: b.slotVersion}}
	if p := b.res.Ibiz0; p.IsValid() {
		n.Addresses = append(n.Addresses, api.Address{Interface: "ibiz0", Address: p.String()})
	}
	n.Addresses = append(n.Addresses, api.Address{Interface: "ibiz0", Address: b.cfg.System.IP + "/32"})
	return n
}

func (b *soloBackend) Nodes(context.Context) ([]api.Node, error) { return []api.Node{b.node()}, nil }

func (b *soloBackend) Node(_ context.Context, id string) (api.Node, error) {
	if id != "node0" {
		return api.Node{}, api.ErrNotFound
	}
	return b.node(), nil
}

func (b *soloBackend) Alerts(context.Context, time.Time, int) ([]api.Alert, error) { return nil, nil }

func (b *soloBackend) Workon(context.Context, string) error {
	return api.NotSupported("workon: the system has one node until node1 joins")
}
func (b *soloBackend) Workoff(context.Context, string) error {
	return api.NotSupported("workoff: the system has one node until node1 joins")
}
func (b *soloBackend) Shutdown(context.Context, string) error {
	return api.NotSupported("node shutdown from the API")
}
func (b *soloBackend) Reboot(context.Context, string) error {
	return api.NotSupported("node reboot from the API")
}
