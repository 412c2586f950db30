package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/agent/system"
	"github.com/lockstep-ft/lockstep/cluster/join"
	"github.com/lockstep-ft/lockstep/cluster/pki"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/engine"
)

// discoverTimeout is how long the installer looks for the system on priv0:
// the other node may still be booting.
const discoverTimeout = 10 * time.Minute

// joinSystem joins the system on the other end of priv0 before anything is
// written: a refused join (another system, a system with two healthy
// nodes, a fingerprint that does not match) leaves this machine's disks
// as they were. It returns the files for STATE.
func (d diskEngine) joinSystem(ctx context.Context, a answers.Answers, priv0MAC string, emit func(engine.Event)) (map[string][]byte, error) {
	step := func(title, msg string) {
		emit(engine.Event{Step: "join", Title: title, Message: msg, Percent: 1, Level: engine.Info})
	}
	iface, err := d.upNIC(priv0MAC)
	if err != nil {
		return nil, fmt.Errorf("join: priv0: %w", err)
	}
	step("Looking for the system on priv0", fmt.Sprintf("ff02::1 on %s, UDP port %d", iface, join.DefaultPort))
	dctx, cancel := context.WithTimeout(ctx, discoverTimeout)
	defer cancel()
	var peers []join.Peer
	for {
		peers, err = join.Discover(dctx, iface, join.DefaultPort)
		if err == nil || dctx.Err() != nil {
			break
		}
		// No link-local address yet (DAD), or nobody up yet: ask again.
		d.logf("join: %v", err)
		select {
		case <-dctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	peer, err := join.SinglePeer(peers)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	step("Found system "+peer.SystemName, fmt.Sprintf("node%d at %s", peer.NodeID, peer.Addr))
	o := join.Options{
		Addr: peer.JoinAddr(), Fingerprint: a.Join.Fingerprint,
		Action: join.Action(a.Action), Hostname: a.Hostname,
		Confirm: func(name, fp string) bool { return d.confirm(ctx, name, fp, emit) },
	}
	if !a.Network.Node.DHCP {
		o.NodeIP = strings.SplitN(a.Network.Node.IP, "/", 2)[0]
	}
	res, err := join.Join(ctx, o)
	if err != nil {
		var mm *join.FingerprintMismatchError
		if errors.As(err, &mm) {
			return nil, fmt.Errorf("join: %w; nothing was written", err)
		}
		return nil, fmt.Errorf("join refused: %w; nothing was written", err)
	}
	files, err := system.JoinFiles(res)
	if err != nil {
		return nil, err
	}
	d.logf("join: joined system %s (%s) as node%d, CA %s", res.System.Name, res.System.ID, res.NodeID, res.Fingerprint)
	step(fmt.Sprintf("Joined system %s as node%d", res.System.Name, res.NodeID), "CA "+pki.FormatFingerprint(res.Fingerprint))
	return files, nil
}

// confirm asks the operator whether to trust the system's CA.
func (d diskEngine) confirm(ctx context.Context, name, fp string, emit func(engine.Event)) bool {
	ch := make(chan bool, 1)
	emit(engine.Event{Step: "join", Title: "Join system " + name + "?", Level: engine.Info, Percent: 1,
		Message: "CA fingerprint " + pki.FormatFingerprint(fp),
		Ask: &engine.Question{
			Title: "Join system " + name + "?",
			Lines: []string{
				"The node on priv0 belongs to system " + name + ".",
				"Its CA certificate's SHA-256 fingerprint is:",
				"",
				"  " + pki.FormatFingerprint(fp),
				"",
				"Compare it with the fingerprint on the other node's screen",
				"(or `lockstep system info`). Join only if they are the same.",
			},
			Yes: "Join", No: "Cancel", Answer: ch,
		}})
	select {
	case ok := <-ch:
		return ok
	case <-ctx.Done():
		return false
	}
}

// upNIC sets the NIC with mac up (the installer leaves NICs down) and
// returns its kernel name; its IPv6 link-local address follows by itself.
func (d diskEngine) upNIC(mac string) (string, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return "", err
	}
	nl, err := netcfg.NewNetlink()
	if err != nil {
		return "", err
	}
	defer nl.Close()
	links, err := nl.List()
	if err != nil {
		return "", err
	}
	for _, l := range links {
		if l.MAC.String() == hw.String() {
			if !l.Up {
				if err := nl.SetUp(l); err != nil {
					return "", fmt.Errorf("set %s up: %w", l.Name, err)
				}
			}
			return l.Name, nil
		}
	}
	return "", fmt.Errorf("no NIC with MAC %s", mac)
}
