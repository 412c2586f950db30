package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/join"
)

// TestLabUpFaultsDown is the whole lab for real (issue 5's acceptance):
// up (node0 installed with "Create new system" and a witness on the lab
// host, node1 with "Replace PM, join system" pinning node0's CA), the system
// formed with both nodes healthy and every link up as the CLI reports it
// through the system IP; then, each checked with the CLI: priv0 cut (a
// link alert, no failover), an HA VM started on node0 (the test guest from
// a VCD, writing fsync'd sequence numbers to its mirrored volume), node0's
// power cut (the system IP answers from node1, node0 shows as lost, the VM
// restarts on node1 and finds every write its guest acknowledged), node0
// powered on (it rejoins as secondary, the volume resyncs only what
// changed), workon of either node (the VM moves live, its guest going on),
// every link cut (exactly one node serves the system IP), a rogue machine
// on priv0 (refused by both nodes: the system is full), ibiz cut (pings
// stop and come back), then down, after which nothing of the lab may be
// left. It runs in a namespace and state directory of its own, needs root,
// the built ISO (LOCKSTEP_ISO or out/lockstep-*.iso) and about 10 minutes
// of two CPUs under TCG (`make test` runs it after the other tests):
//
//	LOCKSTEP_LAB_TESTS=1 go test -v -timeout 60m -run TestLabUpFaultsDown ./ci/lab/
//
// With LOCKSTEP_TEST_LOGS set, the nodes' console and QEMU logs are copied
// there before the lab is removed.
func TestLabUpFaultsDown(t *testing.T) {
	t0 := time.Now()
	l, logf := newTestLab(t, "-t", "lab-")
	cfg := l.Config()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()

	start := time.Now()
	if err := l.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	upTime := time.Since(start)
	logf("up in %v", upTime.Round(time.Second))

	s, err := l.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Formed {
		t.Errorf("status after up: not formed: %s", s.FormedWhy)
	}
	for _, n := range s.Nodes {
		if !n.Running || !n.Ready || !n.Installed {
			t.Errorf("%s after up: %+v", n.Name, n)
		}
	}
	checkTaps(t, l, nil, nil)
	if err := l.Up(ctx); !errors.Is(err, ErrUp) {
		t.Errorf("a second up: %v, want ErrUp", err)
	}

	// ICMP from the lab host namespace (the host's own stack never sees it).
	for _, n := range Nodes {
		pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
		rtt, err := l.Ping(pctx, netip.MustParseAddr(n.Addr))
		pcancel()
		if err != nil {
			t.Errorf("ping %s: %v", n.Name, err)
		} else {
			logf("ping %s (%s): %v", n.Name, n.Addr, rtt)
		}
	}

	// Formed: both nodes healthy, every link up, node0 primary.
	nodes := waitNodes(t, l, "", "after up", func(ns []apiNode) string { return allHealthy(ns) })
	logf("node list after up: %s", summary(nodes))
	if p := primary(t, l, ""); p != "node0" {
		t.Errorf("primary after up: %q, want node0", p)
	}
	if out, err := l.CLI(ctx, "", "--json", "system", "info"); err != nil {
		t.Error(err)
	} else {
		var si struct {
			Witnesses []struct {
				Address   string `json:"address"`
				Reachable bool   `json:"reachable"`
			} `json:"witnesses"`
		}
		if err := json.Unmarshal(out, &si); err != nil || len(si.Witnesses) != 1 ||
			si.Witnesses[0].Address != WitnessAddr || !si.Witnesses[0].Reachable {
			t.Errorf("system info does not show the witness reachable (%v):\n%s", err, out)
		}
	}

	// Alerts go to a real SMTP server and SNMP trap receiver on the lab
	// host (SPEC A12); the test alert reaches both.
	recv := startAlertReceivers(t, ctx, l, logf)

	// Cut priv0 only: an alert, no failover.
	if err := l.Cut("priv0"); err != nil {
		t.Fatal(err)
	}
	checkTaps(t, l, map[string]bool{"n0-priv0": true, "n1-priv0": true}, nil)
	nodes = waitNodes(t, l, "", "priv0 cut", func(ns []apiNode) string {
		for _, n := range ns {
			if n.State != "healthy" {
				return n.ID + " is " + n.State
			}
			for _, k := range n.Links {
				if want := map[bool]string{true: "down", false: "up"}[k.Name == "priv0"]; k.State != want {
					return fmt.Sprintf("%s's %s is %s", n.ID, k.Name, k.State)
				}
			}
		}
		return ""
	})
	logf("node list with priv0 cut: %s", summary(nodes))
	if p := primary(t, l, ""); p != "node0" {
		t.Errorf("primary with priv0 cut: %q, want node0 (no failover)", p)
	}
	if !hasAlert(t, l, "link.down", "priv0") {
		t.Error("no link.down alert for priv0")
	}
	if m := recv.waitMail(t, "link.down", "", time.Minute); m != nil {
		logf("alerts: emailed: %s", m.Header.Get("Subject"))
	}
	if err := l.Restore("priv0"); err != nil {
		t.Fatal(err)
	}
	waitNodes(t, l, "", "priv0 restored", func(ns []apiNode) string { return allHealthy(ns) })

	// An HA VM on node0 (issue 6), whose guest writes fsync'd sequence
	// numbers to its mirrored volume; the console is read up to the power
	// cut below.
	startHAVM(t, l, logf)
	stop := make(chan struct{})
	type seen struct {
		seq  uint64
		boot string
	}
	last := make(chan seen, 1)
	go func() {
		s, b := lastSeqUntil(l, stop)
		last <- seen{s, b}
	}()
	time.Sleep(3 * time.Second)

	// Power off node0: node1 serves the system IP, node0 shows as lost.
	off := time.Now()
	if err := l.PowerOff("node0"); err != nil {
		t.Fatalf("power-off node0: %v", err)
	}
	close(stop)
	waitPrimary(t, l, "node1", time.Minute)
	logf("system IP answers from node1 %v after node0's power was cut", time.Since(off).Round(100*time.Millisecond))
	nodes = waitNodes(t, l, "", "node0 off", func(ns []apiNode) string {
		for _, n := range ns {
			switch {
			case n.ID == "node0" && n.State != "lost":
				return "node0 is " + n.State
			case n.ID == "node1" && (n.State != "healthy" || n.Role != "primary"):
				return "node1 is " + n.State + " " + n.Role
			}
		}
		return ""
	})
	logf("node list with node0 off: %s", summary(nodes))
	ls := <-last
	checkHAFailover(t, l, off, ls.seq, ls.boot, logf)
	// The survivor reports the loss, and what became of the VMs.
	for _, code := range []string{"node.lost", "vm.takeover"} {
		m := recv.waitMail(t, code, "node1", 2*time.Minute)
		trap := recv.waitTrap(t, code, time.Minute)
		logf("alerts: node1 emailed %q (%v after the power cut) and sent its trap (%d varbinds)", m.Header.Get("Subject"),
			time.Since(off).Round(time.Second), strings.Count(trap, " = "))
	}

	// Power node0 on: it rejoins by itself, as secondary.
	start = time.Now()
	if err := l.PowerOn("node0"); err != nil {
		t.Fatalf("power-on node0: %v", err)
	}
	if _, err := l.WaitReady(ctx, "node0", 15*time.Minute); err != nil {
		t.Fatalf("node0 after power-on: %v", err)
	}
	if err := l.WaitSystemFormed(ctx, 2*time.Minute); err != nil {
		t.Error(err)
	}
	nodes = waitNodes(t, l, "", "node0 back", func(ns []apiNode) string { return allHealthy(ns) })
	logf("node0 rejoined %v after power-on: %s", time.Since(start).Round(time.Second), summary(nodes))
	if p := primary(t, l, ""); p != "node1" {
		t.Errorf("primary after node0 rejoined: %q, want node1 (a returning node does not take the role back)", p)
	}
	checkResync(t, l, logf)
	// Maintenance moves the VM live, there and back: it ends on node1,
	// the primary, which keeps it through the all-links cut below.
	checkWorkon(t, l, "node1", "node0", logf)
	checkWorkon(t, l, "node0", "node1", logf)

	// Cut every link between the nodes, the witness still reachable on
	// ibiz: exactly one side serves the system IP. The HA VM runs on that
	// side (node1) and its guest goes on writing without its mirror.
	seqBefore := guestSeq(t, l)
	cut := time.Now()
	for _, link := range []string{"priv0", "alink0"} {
		if err := l.Cut(link); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Second) // several leases: a second holder would show
	holders := systemIPHolders(t, l)
	logf("all links cut: the system IP is held by %v", holders)
	if len(holders) != 1 {
		t.Errorf("all links cut with a witness: the system IP is held by %v, want exactly one node", holders)
	}
	// DRBD notices the broken mirror only by its own ping and ack
	// timeouts (seconds); until then the guest's writes wait. Then they
	// must go on, on node1 alone.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Second) {
		seq := guestSeq(t, l)
		if seq > seqBefore+20 {
			logf("all links cut: the HA VM's guest went on writing on node1 (SEQ %d -> %d, %v after the cut)", seqBefore, seq, time.Since(cut).Round(time.Second))
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the HA VM's guest wrote little or nothing with every link cut: SEQ %d before, %d a minute later", seqBefore, seq)
			break
		}
	}
	for _, link := range []string{"priv0", "alink0"} {
		if err := l.Restore(link); err != nil {
			t.Fatal(err)
		}
	}
	waitNodes(t, l, "", "links restored", func(ns []apiNode) string { return allHealthy(ns) })
	if err := l.WaitSystemFormed(ctx, 2*time.Minute); err != nil {
		t.Error(err)
	}

	// A third machine on priv0 is refused, by every node that answers it.
	out, err := l.Rogue(ctx)
	logf("rogue: %s", strings.TrimSpace(out))
	if err != nil {
		t.Errorf("rogue: %v", err)
	}
	if !strings.Contains(out, RogueRefused+" node") || strings.Contains(out, RogueAdmitted) || strings.Contains(out, "ROGUE FAILED") {
		t.Errorf("the rogue was not refused by every node:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, RogueRefused) && !strings.Contains(line, join.CodeSystemFull) {
			t.Errorf("refused for another reason than a full system: %s", line)
		}
	}
	if nodes = listNodes(t, l, ""); len(nodes) != 2 {
		t.Errorf("after the rogue: %d nodes", len(nodes))
	}
	// The same as a third VM installed from the ISO on node0's priv0
	// port (node1 still connected over the A-Link): its installer stops
	// with node0's refusal and writes nothing.
	start = time.Now()
	out, err = l.RogueVM(ctx)
	if err != nil {
		t.Errorf("rogue VM: %v", err)
	} else {
		logf("rogue VM refused after %v: ...%s", time.Since(start).Round(time.Second), out[max(0, len(out)-300):])
		if !strings.Contains(out, "already has two healthy nodes") || !strings.Contains(out, "nothing was written") {
			t.Errorf("the rogue VM's installer does not show node0's refusal: %s", out)
		}
	}
	waitNodes(t, l, "", "after the rogue VM", func(ns []apiNode) string { return allHealthy(ns) })

	// A board swap of node0 (the secondary now): empty disks, installed
	// with "Replace PM"; node1, which holds the CA key, lets it in as
	// node0 again, with node0's address.
	start = time.Now()
	if err := l.ReplaceNode(ctx, "node0"); err != nil {
		t.Fatalf("replace node0: %v", err)
	}
	nodes = waitNodes(t, l, "", "node0 replaced", func(ns []apiNode) string {
		if why := allHealthy(ns); why != "" {
			return why
		}
		if ns[0].ID != "node0" || ns[0].Hostname != "node0" || !slices.ContainsFunc(ns[0].Addresses, func(a apiAddress) bool {
			return strings.HasPrefix(a.Address, Nodes[0].Addr+"/")
		}) {
			return fmt.Sprintf("node0 is %+v", ns[0])
		}
		return ""
	})
	logf("node0 replaced and joined again after %v: %s", time.Since(start).Round(time.Second), summary(nodes))
	checkFullResync(t, l, logf)
	if p := primary(t, l, ""); p != "node1" {
		t.Errorf("primary after node0 was replaced: %q, want node1", p)
	}

	// "Recover PM" of node0: re-installed onto its own disks, it keeps its
	// storage, so the volume resyncs only what changed while it was away.
	start = time.Now()
	if err := l.RecoverNode(ctx, "node0"); err != nil {
		t.Fatalf("recover node0: %v", err)
	}
	nodes = waitNodes(t, l, "", "node0 recovered", func(ns []apiNode) string { return allHealthy(ns) })
	logf("node0 recovered (Recover PM) and joined again after %v: %s", time.Since(start).Round(time.Second), summary(nodes))
	checkRecoverResync(t, l, logf)

	// A node reboot from the CLI: node0 goes (gracefully) and comes back.
	f0 := NodeFiles(cfg.StateDir, Nodes[0]).Console
	mark := fileSize(f0)
	if out, err := l.CLI(ctx, "", "node", "reboot", "node0"); err != nil {
		t.Errorf("node reboot node0: %v\n%s", err, out)
	}
	if err := l.WaitRebooted(ctx, "node0", mark, 10*time.Minute); err != nil {
		t.Errorf("node0 did not come back after node reboot: %v", err)
	}
	waitNodes(t, l, "", "node0 rebooted", func(ns []apiNode) string { return allHealthy(ns) })
	if !hasAlert(t, l, "node.lost", "stopped by its administrator") {
		t.Error("node1 did not report node0's reboot as an administrator's stop")
	}
	logf("node0 rebooted from the CLI and rejoined")

	// Cut ibiz: the nodes stop answering the lab host; restored, they
	// answer again (the virtio-net NICs survive a cut under traffic).
	if err := l.Cut("ibiz"); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	if _, err := l.Ping(pctx, netip.MustParseAddr(Nodes[0].Addr)); err == nil {
		t.Error("node0 answered the lab host while ibiz was cut")
	}
	pcancel()
	time.Sleep(10 * time.Second)
	if err := l.Restore("ibiz"); err != nil {
		t.Fatal(err)
	}
	for _, n := range Nodes {
		pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
		if _, err := l.Ping(pctx, netip.MustParseAddr(n.Addr)); err != nil {
			t.Errorf("ping %s after ibiz was restored: %v", n.Name, err)
		}
		pcancel()
	}
	for _, n := range Nodes {
		out, _ := readFrom(NodeFiles(cfg.StateDir, n).Console, 0)
		for _, bad := range []string{"NETDEV WATCHDOG", "transmit queue", "Kernel panic", "Call Trace"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s's console shows %q", n.Name, bad)
			}
		}
	}

	saveLogs(t, cfg.StateDir, "lab-")
	start = time.Now()
	if err := l.Down(ctx); err != nil {
		t.Fatalf("down: %v", err)
	}
	logf("down in %v", time.Since(start).Round(time.Millisecond))
	for _, ns := range LabNamespaces() {
		if strings.HasPrefix(ns, cfg.Namespace) {
			t.Errorf("namespace %s left after down", ns)
		}
	}
	if p := LabQEMUs(cfg.Namespace, cfg.StateDir); len(p) > 0 {
		t.Errorf("lab QEMU processes left after down: %v", p)
	}
	if exists(cfg.StateDir) {
		t.Errorf("%s is left after down", cfg.StateDir)
	}
	logf("total %v (up %v)", time.Since(t0).Round(time.Second), upTime.Round(time.Second))
}

// checkTaps checks every tap: cut ones down, the others up, and with
// carrier unless their node is off.
func checkTaps(t *testing.T, l *Lab, cut, off map[string]bool) {
	t.Helper()
	taps, err := l.Taps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(taps) != len(Segments)*len(Nodes) {
		t.Errorf("%d taps, want %d", len(taps), len(Segments)*len(Nodes))
	}
	for _, tp := range taps {
		if tp.Up == cut[tp.Name] {
			t.Errorf("tap %s: up %v, want %v", tp.Name, tp.Up, !cut[tp.Name])
		}
		if want := !cut[tp.Name] && !off[tp.Node]; tp.Carrier != want {
			t.Errorf("tap %s: carrier %v, want %v", tp.Name, tp.Carrier, want)
		}
	}
}

// saveLogs copies the nodes' logs to LOCKSTEP_TEST_LOGS, if set, their
// names starting with prefix.
func saveLogs(t *testing.T, stateDir, prefix string) {
	dst := os.Getenv("LOCKSTEP_TEST_LOGS")
	if dst == "" {
		return
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Log(err)
		return
	}
	for _, n := range Nodes {
		f := NodeFiles(stateDir, n)
		for _, p := range []string{f.Console, f.QEMULog, f.Answers, SystemFilesIn(stateDir).WitnessLog} {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			_ = os.WriteFile(filepath.Join(dst, prefix+n.Name+"-"+filepath.Base(p)), b, 0o644)
		}
	}
}

type apiAddress struct {
	Address string `json:"address"`
}

// apiNode is the part of the API's node the lab checks.
type apiNode struct {
	ID        string       `json:"id"`
	Hostname  string       `json:"hostname"`
	Role      string       `json:"role"`
	State     string       `json:"state"`
	Addresses []apiAddress `json:"addresses"`
	Links     []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"links"`
}

func listNodes(t *testing.T, l *Lab, server string) []apiNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := l.CLI(ctx, server, "--json", "node", "list")
	if err != nil {
		t.Logf("node list: %v", err)
		return nil
	}
	var v struct {
		Nodes []apiNode `json:"nodes"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Errorf("node list --json: %v\n%s", err, out)
	}
	return v.Nodes
}

// waitNodes waits (2 min) until check finds nothing wrong with the node list.
func waitNodes(t *testing.T, l *Lab, server, when string, check func([]apiNode) string) []apiNode {
	t.Helper()
	var why string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		ns := listNodes(t, l, server)
		if len(ns) != 2 {
			why = fmt.Sprintf("%d nodes listed", len(ns))
			continue
		}
		if why = check(ns); why == "" {
			return ns
		}
	}
	t.Fatalf("%s: the node list never settled: %s", when, why)
	return nil
}

func allHealthy(ns []apiNode) string {
	for _, n := range ns {
		if n.State != "healthy" {
			return n.ID + " is " + n.State
		}
		if len(n.Links) != len(Segments)-2 {
			return fmt.Sprintf("%s reports %d links", n.ID, len(n.Links))
		}
		for _, k := range n.Links {
			if k.State != "up" {
				return fmt.Sprintf("%s's %s is %s", n.ID, k.Name, k.State)
			}
		}
	}
	return ""
}

func summary(ns []apiNode) string {
	var parts []string
	for _, n := range ns {
		var links []string
		for _, k := range n.Links {
			links = append(links, k.Name+"="+k.State)
		}
		parts = append(parts, fmt.Sprintf("%s %s %s [%s]", n.ID, n.Role, n.State, strings.Join(links, " ")))
	}
	return strings.Join(parts, "; ")
}

// primary is the primary the system (or the node at server) reports.
func primary(t *testing.T, l *Lab, server string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := l.CLI(ctx, server, "--json", "system", "info")
	if err != nil {
		t.Logf("system info: %v", err)
		return ""
	}
	var v struct {
		Primary string `json:"primary"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Errorf("system info --json: %v\n%s", err, out)
	}
	return v.Primary
}

func waitPrimary(t *testing.T, l *Lab, want string, timeout time.Duration) {
	t.Helper()
	got := ""
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if got = primary(t, l, ""); got == want {
			return
		}
	}
	t.Fatalf("the system IP did not answer from %s within %v (last primary %q)", want, timeout, got)
}

func hasAlert(t *testing.T, l *Lab, code, text string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := l.CLI(ctx, "", "--json", "alert", "list")
	if err != nil {
		t.Errorf("alert list: %v", err)
		return false
	}
	var v struct {
		Alerts []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Errorf("alert list --json: %v\n%s", err, out)
	}
	for _, a := range v.Alerts {
		if a.Code == code && strings.Contains(a.Message, text) {
			return true
		}
	}
	t.Logf("alerts: %s", out)
	return false
}

// systemIPHolders asks each node, on its own address, whether it is the
// primary (the one that holds the system IP).
func systemIPHolders(t *testing.T, l *Lab) []string {
	t.Helper()
	var out []string
	for _, n := range Nodes {
		if p := primary(t, l, n.Addr); p == n.Name {
			out = append(out, n.Name)
		}
	}
	return out
}
