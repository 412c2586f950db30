package member

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/heartbeat"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// wire joins two fake transports: what one sends on a link the other
// receives on the same link, unless the link is cut.
type wire struct {
	mu  sync.Mutex
	cut map[string]bool
	end [2]*fakeTransport
}

type fakeTransport struct {
	w    *wire
	self int
	in   chan heartbeat.Received
}

func newWire() *wire {
	w := &wire{cut: map[string]bool{}}
	for i := range w.end {
		w.end[i] = &fakeTransport{w: w, self: i, in: make(chan heartbeat.Received, 256)}
	}
	return w
}

func (w *wire) setCut(link string, cut bool) {
	w.mu.Lock()
	w.cut[link] = cut
	w.mu.Unlock()
}

func (t *fakeTransport) Received() <-chan heartbeat.Received { return t.in }

func (t *fakeTransport) Send(link string, hb membership.Heartbeat) error {
	t.w.mu.Lock()
	cut := t.w.cut[link]
	t.w.mu.Unlock()
	if cut {
		return nil
	}
	select {
	case t.w.end[1-t.self].in <- heartbeat.Received{Link: link, Heartbeat: hb}:
	default:
	}
	return nil
}

// fakeIP records the system IP's state and every change.
type fakeIP struct {
	mu      sync.Mutex
	held    bool
	changes []bool
}

func (f *fakeIP) Acquire(ctx context.Context, ifname string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.held {
		f.changes = append(f.changes, true)
	}
	f.held = true
	return nil
}

func (f *fakeIP) Release(ifname string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held {
		f.changes = append(f.changes, false)
	}
	f.held = false
	return nil
}

func (f *fakeIP) isHeld() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held
}

type node struct {
	r      *Runner
	ip     *fakeIP
	cancel context.CancelFunc
	done   chan struct{}
	state  string
	mu     sync.Mutex
	events []Event
}

func startNode(t *testing.T, w *wire, self int, dir string) *node {
	t.Helper()
	n := &node{ip: &fakeIP{}, done: make(chan struct{}), state: filepath.Join(dir, "membership.json")}
	var err error
	n.r, err = New(Options{
		Config:    membership.Config{SystemID: "0123456789abcdef0123456789abcdef", Self: membership.NodeID(self), Links: []string{"priv0", "alink0"}},
		Transport: w.end[self], IP: n.ip, SystemIP: netip.MustParsePrefix("192.0.2.10/32"), Interface: "ibiz0",
		StatePath: n.state, Logf: t.Logf,
		Notify: func(e Event) { n.mu.Lock(); n.events = append(n.events, e); n.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { defer close(n.done); n.r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-n.done })
	return n
}

func (n *node) stop() { n.cancel(); <-n.done }

func (n *node) saw(k Kind) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range n.events {
		if e.Kind == k {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two runners over a fake wire: node0 becomes primary and holds the system
// IP, node1 is secondary; one link cut is only an alert; a graceful stop
// releases the IP; the incarnation grows with each start and the term is
// kept.
func TestPairFormsAndStops(t *testing.T) {
	w := newWire()
	d0, d1 := t.TempDir(), t.TempDir()
	n0, n1 := startNode(t, w, 0, d0), startNode(t, w, 1, d1)
	eventually(t, "node0 primary with the IP, node1 secondary, connected", func() bool {
		s0, s1 := n0.r.Status(), n1.r.Status()
		return s0.State == membership.StatePrimary && n0.ip.isHeld() && s1.State == membership.StateSecondary &&
			!n1.ip.isHeld() && s0.Connected && s1.Connected
	})
	if p, _ := n0.r.Primary(); !p {
		t.Error("Primary() says node0 is not primary")
	}

	w.setCut("priv0", true)
	eventually(t, "a link-down alert for priv0 on node1", func() bool {
		n1.mu.Lock()
		defer n1.mu.Unlock()
		for _, e := range n1.events {
			if e.Alert != nil && e.Alert.Kind == membership.AlertLinkDown && e.Alert.Link == "priv0" {
				return true
			}
		}
		return false
	})
	if s := n1.r.Status(); !s.Connected || s.State != membership.StateSecondary || n1.ip.isHeld() || !n0.ip.isHeld() {
		t.Fatalf("one link cut changed the roles: node1 %v connected=%v", s.State, s.Connected)
	}
	w.setCut("priv0", false)

	n0.stop()
	if n0.ip.isHeld() {
		t.Error("node0 still holds the system IP after its graceful stop")
	}
	eventually(t, "node1 sees node0 go", func() bool { return !n1.r.Status().Connected })
	if n1.ip.isHeld() {
		t.Error("node1 took the system IP without a witness (rule W0: node1 never takes over)")
	}
	var st persisted
	b, err := os.ReadFile(filepath.Join(d0, "membership.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Incarnation < uint64(time.Now().Add(-time.Minute).UnixMilli()) || st.Term == 0 {
		t.Fatalf("node0's state %s (%v): want an incarnation from the clock and its term", b, err)
	}

	// node0 comes back with a new incarnation; node1, running while node0
	// is only joining, takes the primary role (E2) and node0 rejoins as
	// secondary: no flip-flop back.
	n0 = startNode(t, w, 0, d0)
	eventually(t, "node1 primary with the IP, node0 secondary after its restart", func() bool {
		return n1.r.Status().State == membership.StatePrimary && n1.ip.isHeld() &&
			n0.r.Status().State == membership.StateSecondary && !n0.ip.isHeld() && n0.r.Status().Connected
	})
	if s := n0.r.Status(); s.Incarnation <= st.Incarnation || s.Term <= st.Term {
		t.Errorf("restarted node0: incarnation %d term %d (was incarnation %d, term %d)", s.Incarnation, s.Term, st.Incarnation, st.Term)
	}
	if !n1.saw(PeerJoined) {
		t.Error("node1 reported no peer-joined event")
	}
}

// A replaced board starts with an empty STATE, yet its first incarnation
// must exceed the old board's, or the peer would ignore it (membership T3).
func TestIncarnationOfAReplacedBoard(t *testing.T) {
	w := newWire()
	old := filepath.Join(t.TempDir(), "membership.json")
	if err := os.WriteFile(old, []byte(`{"incarnation": 41, "term": 3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, w, 0, filepath.Dir(old))
	eventually(t, "started", func() bool { return n.r.Status().Incarnation != 0 })
	first := n.r.Status().Incarnation
	n.stop()
	fresh := startNode(t, w, 0, t.TempDir()) // the new board: nothing on STATE
	eventually(t, "started", func() bool { return fresh.r.Status().Incarnation != 0 })
	if got := fresh.r.Status().Incarnation; got <= first || first <= 41 {
		t.Errorf("incarnations: old board %d, new board %d", first, got)
	}
}
