//go:build linux

package heartbeat

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestTransportInNamespaces runs two transports against the real kernel:
// two network namespaces of the test's own stand for the two nodes, cabled
// by two veth pairs named priv0 and alink0 on both sides. It needs root,
// so it runs only when asked:
//
//	LOCKSTEP_NETWORK_TESTS=1 go test ./agent/heartbeat/ -run TestTransportInNamespaces -v
//
// The host's own namespace and interfaces are never touched: every link
// is made and changed through handles of the test namespaces, which die
// with their last socket when the test ends.
func TestTransportInNamespaces(t *testing.T) {
	if os.Getenv("LOCKSTEP_NETWORK_TESTS") != "1" {
		t.Skip("set LOCKSTEP_NETWORK_TESTS=1 (as root) to run")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}

	// A namespace is a thread's: keep this goroutine on its thread while
	// it moves between them, and make every socket while in the right one.
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	nsA, nsB := netns.None(), netns.None()
	defer func() {
		if err := netns.Set(orig); err != nil {
			// Stay locked: the runtime then ends the thread with this
			// goroutine instead of running others in a test namespace.
			t.Errorf("restore the original network namespace: %v", err)
			return
		}
		// Unnamed namespaces live while a thread, fd or socket holds
		// them: closing the handles (after the transports) deletes them
		// and their veths, even after a failed test.
		nsA.Close()
		nsB.Close()
		runtime.UnlockOSThread()
	}()

	node := func(name string, ns *netns.NsHandle) *netlink.Handle {
		var err error
		if *ns, err = netns.New(); err != nil { // also moves this thread into it
			t.Fatalf("new network namespace %s: %v", name, err)
		}
		if cur, _ := netns.Get(); cur.Equal(orig) {
			t.Fatal("still in the original network namespace")
		}
		// IPv6 link-local addresses come by themselves when a link goes
		// up; without duplicate address detection they are usable at
		// once instead of after a second. Interfaces copy "default" when
		// they are made, so this comes first. Best effort: waitLinkLocal
		// waits for DAD if the write did not take.
		for _, c := range []string{"all", "default"} {
			os.WriteFile("/proc/sys/net/ipv6/conf/"+c+"/accept_dad", []byte("0"), 0o644)
		}
		h, err := netlink.NewHandleAt(*ns)
		if err != nil {
			t.Fatal(err)
		}
		if ls, err := h.LinkList(); err != nil || len(ls) != 1 || ls[0].Attrs().Name != "lo" {
			h.Close()
			t.Fatalf("a new namespace should hold only lo; got %v, %v: refusing to touch it", ls, err)
		}
		return h
	}
	hA := node("A", &nsA)
	defer hA.Close()
	hB := node("B", &nsB)
	defer hB.Close()

	for _, name := range links {
		// Made from B with the peer end created directly in A: both ends
		// can carry the same name, as the cables' ends do on two nodes.
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name, PeerNamespace: netlink.NsFd(nsA)}
		if err := hB.LinkAdd(veth); err != nil {
			t.Fatalf("create veth %s: %v", name, err)
		}
	}
	for _, h := range []*netlink.Handle{hA, hB} {
		for _, name := range links {
			if err := setUp(h, name, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	llA := map[string]netip.Addr{}
	for _, name := range links {
		llA[name] = waitLinkLocal(t, hA, name)
		waitLinkLocal(t, hB, name)
	}

	open := func(ns netns.NsHandle, self membership.NodeID) *Transport {
		if err := netns.Set(ns); err != nil {
			t.Fatal(err)
		}
		tr, err := New(Config{SystemID: "sys-netns", Self: self, Key: testKey, Links: links})
		if err != nil {
			t.Fatalf("%v: %v", self, err)
		}
		return tr
	}
	trA := open(nsA, membership.Node0)
	defer trA.Close()
	trB := open(nsB, membership.Node1)
	defer trB.Close()

	ex := &exchanger{t: t, tr: [2]*Transport{trA, trB}}

	// 1. Both links carry heartbeats both ways, first to ff02::1; once
	// each side has heard the other steadily, to its link-local address.
	unicast := func() bool {
		for _, tr := range []*Transport{trA, trB} {
			for _, name := range links {
				if _, ok := tr.Link(name).Peer(); !ok {
					return false
				}
			}
		}
		return true
	}
	got := ex.until(5*time.Second, func(got [2]map[string]int) bool {
		return got[0]["priv0"] >= 3 && got[0]["alink0"] >= 3 && got[1]["priv0"] >= 3 && got[1]["alink0"] >= 3 && unicast()
	})
	t.Logf("both links up: node0 heard %v, node1 heard %v", got[0], got[1])
	for _, name := range links {
		if p, ok := trB.Link(name).Peer(); !ok || p.WithZone("") != llA[name] || p.Zone() != name {
			t.Errorf("node1's peer on %s is %v, want node0's %v%%%s", name, p, llA[name], name)
		}
	}
	got = ex.run(500 * time.Millisecond)
	t.Logf("unicast: node0 heard %v, node1 heard %v", got[0], got[1])
	for i, g := range got {
		if g["alink0"] < 5 || g["priv0"] < 5 {
			t.Errorf("node%d heard %v by unicast in 500 ms", i, g)
		}
	}

	// 2. alink0 down on node0's side: only priv0 delivers, both ways.
	if err := setUp(hA, "alink0", false); err != nil {
		t.Fatal(err)
	}
	ex.run(200 * time.Millisecond) // what was in flight
	got = ex.run(time.Second)
	t.Logf("alink0 down: node0 heard %v, node1 heard %v", got[0], got[1])
	for i, g := range got {
		if g["alink0"] != 0 || g["priv0"] < 5 {
			t.Errorf("node%d heard %v with alink0 down; want priv0 only", i, g)
		}
	}
	for _, s := range trB.Stats() {
		t.Logf("node1 %s: sent %d (errors %d), received %d, accepted %d, dropped %v", s.Name, s.Sent, s.SendErrors, s.Received, s.Accepted, s.Dropped)
		if len(s.Dropped) != 0 {
			t.Errorf("node1 %s dropped %v (last: %s)", s.Name, s.Dropped, s.LastDrop)
		}
	}

	// 3. Up again: alink0 comes back by itself, at once (heartbeats go to
	// ff02::1 again after the silence, so no failed neighbour entry holds
	// them back).
	if err := setUp(hA, "alink0", true); err != nil {
		t.Fatal(err)
	}
	waitLinkLocal(t, hA, "alink0")
	got = ex.until(time.Second, func(got [2]map[string]int) bool {
		return got[0]["alink0"] >= 2 && got[1]["alink0"] >= 2
	})
	t.Logf("alink0 up again: node0 heard %v, node1 heard %v", got[0], got[1])
}

func setUp(h *netlink.Handle, name string, up bool) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if up {
		return h.LinkSetUp(l)
	}
	return h.LinkSetDown(l)
}

// waitLinkLocal waits until name has a usable (not tentative) IPv6
// link-local address and returns it.
func waitLinkLocal(t *testing.T, h *netlink.Handle, name string) netip.Addr {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		as, err := h.AddrList(l, netlink.FAMILY_V6)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			ip, _ := netip.AddrFromSlice(a.IP)
			if ip.IsLinkLocalUnicast() && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
				return ip
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no usable link-local address after 10 s: %v", name, as)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exchanger makes both transports send on every link every 50 ms and
// counts, per receiving node, what arrives on each link.
type exchanger struct {
	t   *testing.T
	tr  [2]*Transport
	seq uint64
}

func (e *exchanger) run(d time.Duration) [2]map[string]int {
	return e.until(d, nil)
}

// until exchanges until done says so (failing the test at timeout), or for
// timeout when done is nil.
func (e *exchanger) until(timeout time.Duration, done func([2]map[string]int) bool) [2]map[string]int {
	e.t.Helper()
	got := [2]map[string]int{{}, {}}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	end := time.After(timeout)
	for {
		if done != nil && done(got) {
			return got
		}
		select {
		case <-tick.C:
			e.seq++
			for i, tr := range e.tr {
				self := membership.NodeID(i)
				hb := membership.Heartbeat{System: "sys-netns", From: self, Incarnation: 1, Seq: e.seq, State: membership.StateJoining}
				for _, name := range links {
					tr.Send(name, hb) // a link that is down fails; the count shows it
				}
			}
		case r := <-e.tr[0].Received():
			got[0][r.Link]++
			e.check(r, membership.Node1)
		case r := <-e.tr[1].Received():
			got[1][r.Link]++
			e.check(r, membership.Node0)
		case <-end:
			if done != nil {
				e.t.Fatalf("timed out after %v: node0 heard %v, node1 heard %v", timeout, got[0], got[1])
			}
			return got
		}
	}
}

func (e *exchanger) check(r Received, from membership.NodeID) {
	if r.Heartbeat.From != from || !r.From.Addr().IsLinkLocalUnicast() || r.From.Addr().Zone() != r.Link || r.From.Port() != DefaultPort {
		e.t.Errorf("heartbeat %+v from %v on %s", r.Heartbeat, r.From, r.Link)
	}
}
