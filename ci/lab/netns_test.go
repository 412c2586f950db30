package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNetworkInNamespace builds the lab's network without any VM (root
// only, well under a second): the bridges and taps exist only inside the
// namespace, the lab host answers ICMP there on HostIP while the host's own
// namespace has no lab address, cut and restore flip the taps, and Down
// kills what runs in the namespace and deletes it.
func TestNetworkInNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip (iproute2)")
	}
	ns := fmt.Sprintf("%s-nettest-%d", NamespacePrefix, os.Getpid())
	dir := filepath.Join(t.TempDir(), "lab")
	l, err := New(Config{Namespace: ns, StateDir: dir, RepoRoot: repoRoot, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before := hostNet()
	if err := setupNetwork(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteNamespace(ns) })
	if err := setupNetwork(ctx, ns); err == nil {
		t.Error("a second setup of the same namespace succeeded")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st := &State{Namespace: ns, Nodes: map[string]*NodeState{}}
	for _, n := range Nodes {
		st.Nodes[n.Name] = &NodeState{Phase: PhaseOff}
	}
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}

	// The host's own namespace is as it was: no lab address or interface
	// (the host may use 192.0.2.0/24 itself; the lab's copy is separate).
	if after := hostNet(); after != before {
		t.Errorf("the host's namespace changed:\nbefore %s\nafter  %s", before, after)
	}

	taps, err := l.Taps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range taps {
		if !tp.Up || tp.Carrier {
			t.Errorf("tap %s with no VM: %+v, want up without carrier", tp.Name, tp)
		}
	}

	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if _, err := l.Ping(pctx, netip.MustParseAddr(HostIP)); err != nil {
		t.Errorf("ping the lab host from its namespace: %v", err)
	}
	cancel()
	pctx, cancel = context.WithTimeout(ctx, 1500*time.Millisecond)
	if _, err := l.Ping(pctx, netip.MustParseAddr(Nodes[0].Addr)); err == nil {
		t.Error("node0 answered with no VM")
	}
	cancel()

	var out strings.Builder
	if code, err := l.Exec(ctx, []string{"ip", "-4", "-o", "addr", "show", "dev", "ibiz"}, nil, &out, &out); err != nil || code != 0 ||
		!strings.Contains(out.String(), HostIP+"/24") {
		t.Errorf("exec in the namespace: %d %v %q", code, err, out.String())
	}
	out.Reset()
	if code, err := l.Exec(ctx, []string{"ip", "-4", "route", "show", "default"}, nil, &out, &out); err != nil || code != 0 || out.String() != "" {
		t.Errorf("the namespace has a default route: %d %v %q", code, err, out.String())
	}
	out.Reset()
	if code, err := l.Exec(ctx, []string{"cat", "/proc/sys/net/ipv4/ip_forward"}, nil, &out, &out); err != nil || code != 0 || strings.TrimSpace(out.String()) != "0" {
		t.Errorf("forwarding in the namespace: %d %v %q", code, err, out.String())
	}
	if code, _ := l.Exec(ctx, []string{"false"}, nil, nil, nil); code != 1 {
		t.Errorf("exec false: exit %d", code)
	}

	if err := l.Cut("priv0"); err != nil {
		t.Fatal(err)
	}
	if err := l.Cut("node1:ibiz0"); err != nil {
		t.Fatal(err)
	}
	taps, _ = l.Taps(ctx)
	for _, tp := range taps {
		cut := tp.Segment == "priv0" || tp.Name == "n1-ibiz0"
		if tp.Up == cut {
			t.Errorf("after cut: %s up %v", tp.Name, tp.Up)
		}
	}
	if err := l.Restore("priv0"); err != nil {
		t.Fatal(err)
	}
	if err := l.Restore("node1:ibiz0"); err != nil {
		t.Fatal(err)
	}
	taps, _ = l.Taps(ctx)
	for _, tp := range taps {
		if !tp.Up {
			t.Errorf("after restore: %s is down", tp.Name)
		}
	}

	// A process left in the namespace (as `exec` may leave one) goes with Down.
	sleeper := exec.Command("ip", "netns", "exec", ns, "sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleeper.Wait() }()
	ino, err := namespaceInode(ns)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(processesIn(ino)) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := processesIn(ino); len(p) != 1 || p[0] != sleeper.Process.Pid {
		t.Errorf("processes in the namespace: %v, want [%d]", p, sleeper.Process.Pid)
	}
	if err := l.Down(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Error("the process in the namespace survived down")
	}
	if NamespaceExists(ns) || exists(dir) {
		t.Errorf("left after down: namespace %v, state %v", NamespaceExists(ns), exists(dir))
	}
	if err := l.Down(ctx); err != nil {
		t.Errorf("down with no lab: %v", err)
	}
}

// hostNet lists the interfaces and addresses of the test's own namespace.
func hostNet() string {
	var b strings.Builder
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		addrs, _ := i.Addrs()
		fmt.Fprintf(&b, "%s %v; ", i.Name, addrs)
	}
	return b.String()
}
