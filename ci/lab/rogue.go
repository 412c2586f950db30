package lab

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/join"
)

// The rogue: a third machine plugged into the priv0 cable, in namespace
// <lab namespace>-rogue.
const (
	rogueIface    = "rogue0"
	rogueHostSide = "rogue-priv0"
	// RogueRefused starts the line RogueJoin prints for each refusal.
	RogueRefused = "ROGUE REFUSED"
	// RogueAdmitted starts the line it prints if a node let it in.
	RogueAdmitted = "ROGUE ADMITTED"
)

// Rogue plugs a third machine into priv0 (a namespace of its own with a
// veth port on the priv0 bridge, as if someone put a switch into the
// cable) and has it try to join the system the way the installer does —
// even knowing the CA fingerprint — with the lab's lockstep-lab binary. It
// returns what the rogue printed; every node that answered must refuse.
func (l *Lab) Rogue(ctx context.Context) (string, error) {
	ns := l.cfg.Namespace
	rogueNS := ns + "-rogue"
	if !NamespaceExists(ns) {
		return "", fmt.Errorf("%w: no namespace %s", errNotUp, ns)
	}
	f := SystemFilesIn(l.cfg.StateDir)
	_ = deleteNamespace(rogueNS)
	defer deleteNamespace(rogueNS)
	for _, args := range [][]string{
		{"netns", "add", rogueNS},
		{"-n", ns, "link", "add", rogueHostSide, "type", "veth", "peer", "name", rogueIface, "netns", rogueNS},
		{"-n", ns, "link", "set", rogueHostSide, "master", "priv0", "up"},
		{"-n", rogueNS, "link", "set", "lo", "up"},
		{"-n", rogueNS, "link", "set", rogueIface, "up"},
	} {
		if err := ipCmd(ctx, args...); err != nil {
			return "", fmt.Errorf("lab: rogue: %w", err)
		}
	}
	defer ipCmd(context.Background(), "-n", ns, "link", "del", rogueHostSide)
	fp := strings.TrimSpace(readAll(f.Fingerprint))
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", rogueNS, f.Lab, "rogue-join", "-iface", rogueIface, "-fingerprint", fp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("lab: rogue: %v", err)
	}
	return string(out), nil
}

// RogueJoin is the rogue's side (`lockstep-lab rogue-join`, run inside its
// namespace): discover on iface and ask every node that answers to take it
// in as "Replace PM" of any node. It prints one line per node.
func RogueJoin(ctx context.Context, iface, fingerprint string, println func(string)) error {
	// The veth's link-local address needs its duplicate address detection.
	var peers []join.Peer
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		peers, err = join.Discover(dctx, iface, join.DefaultPort)
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return err
	}
	for _, p := range peers {
		_, err := join.Join(ctx, join.Options{Addr: p.JoinAddr(), Fingerprint: fingerprint,
			Action: join.Replace, Hostname: "rogue"})
		var ref *join.Refusal
		switch {
		case errors.As(err, &ref):
			println(fmt.Sprintf("%s node%d %s: %s", RogueRefused, p.NodeID, ref.Code, ref.Message))
		case err != nil:
			println(fmt.Sprintf("ROGUE FAILED node%d: %v", p.NodeID, err))
		default:
			println(fmt.Sprintf("%s node%d", RogueAdmitted, p.NodeID))
		}
	}
	return nil
}
