package lab

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLabUpFaultsDown is the whole lab for real: up (both installs from the
// ISO, both first boots), both nodes ready, ICMP from the lab host
// namespace to each node's ibiz0, a power cut and power-on of node1, a cut
// and restore of priv0 (the taps' state only, until the agent reports
// links) and of ibiz (pings stop and come back), then down, after which
// nothing of the lab may be left. It needs root, the built ISO (LOCKSTEP_ISO or out/lockstep-*.iso)
// and about 10 minutes of two CPUs under TCG:
//
//	LOCKSTEP_LAB_TESTS=1 go test -v -timeout 60m -run TestLabUpFaultsDown ./ci/lab/
//
// With LOCKSTEP_TEST_LOGS set, the nodes' console and QEMU logs are copied
// there before the lab is removed.
func TestLabUpFaultsDown(t *testing.T) {
	if os.Getenv("LOCKSTEP_LAB_TESTS") != "1" {
		t.Skip("LOCKSTEP_LAB_TESTS is not 1 (the lab installs two nodes under TCG: about 10 minutes)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, taps)")
	}
	t0 := time.Now()
	logf := func(format string, args ...any) {
		t.Logf("[%6s] "+format, append([]any{time.Since(t0).Round(time.Second)}, args...)...)
	}
	l, err := New(Config{RepoRoot: repoRoot, ISO: os.Getenv("LOCKSTEP_ISO"), Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	cfg := l.Config()
	if NamespaceExists(cfg.Namespace) || exists(cfg.StateDir) {
		t.Fatalf("a lab is up already (namespace %s or %s): `go run ./cmd/lockstep-lab down` first", cfg.Namespace, cfg.StateDir)
	}
	t.Cleanup(func() {
		saveLogs(t, cfg.StateDir)
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("down (cleanup): %v", err)
		}
	})
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

	// A power cut and power-on of node1.
	if err := l.PowerOff("node1"); err != nil {
		t.Fatalf("power-off node1: %v", err)
	}
	if s, _ := l.Status(ctx); s.Formed || s.Nodes[1].Running || s.Nodes[1].Phase != PhaseOff {
		t.Errorf("after power-off: formed %v, node1 %+v", s.Formed, s.Nodes[1])
	}
	checkTaps(t, l, nil, map[string]bool{"node1": true})
	start = time.Now()
	if err := l.PowerOn("node1"); err != nil {
		t.Fatalf("power-on node1: %v", err)
	}
	if err := l.PowerOn("node1"); err == nil {
		t.Error("a second power-on of a running node succeeded")
	}
	line, err := l.WaitReady(ctx, "node1", 15*time.Minute)
	if err != nil {
		t.Fatalf("node1 after power-on: %v", err)
	}
	logf("node1 ready again %v after power-on: %s", time.Since(start).Round(time.Second), line)
	if err := l.WaitSystemFormed(ctx, time.Minute); err != nil {
		t.Error(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	if _, err := l.Ping(pctx, netip.MustParseAddr(Nodes[1].Addr)); err != nil {
		t.Errorf("ping node1 after power-on: %v", err)
	}
	pcancel()

	// Cut and restore priv0: for now only the taps' state is checked.
	if err := l.Cut("priv0"); err != nil {
		t.Fatal(err)
	}
	checkTaps(t, l, map[string]bool{"n0-priv0": true, "n1-priv0": true}, nil)
	if err := l.Restore("priv0"); err != nil {
		t.Fatal(err)
	}
	checkTaps(t, l, nil, nil)

	// Cut ibiz: the nodes stop answering the lab host; restored, they
	// answer again (the virtio-net NICs survive a cut under traffic).
	if err := l.Cut("ibiz"); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel = context.WithTimeout(ctx, 3*time.Second)
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

	saveLogs(t, cfg.StateDir)
	start = time.Now()
	if err := l.Down(ctx); err != nil {
		t.Fatalf("down: %v", err)
	}
	logf("down in %v", time.Since(start).Round(time.Millisecond))
	if ns := LabNamespaces(); len(ns) > 0 {
		t.Errorf("namespaces left after down: %v", ns)
	}
	if p := AnyLabQEMU(); len(p) > 0 {
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

// saveLogs copies the nodes' logs to LOCKSTEP_TEST_LOGS, if set.
func saveLogs(t *testing.T, stateDir string) {
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
		for _, p := range []string{f.Console, f.QEMULog, f.Answers} {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			_ = os.WriteFile(filepath.Join(dst, "lab-"+n.Name+"-"+filepath.Base(p)), b, 0o644)
		}
	}
}
