package heartbeat

import (
	"errors"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

var links = []string{"priv0", "alink0"}

func testConfig(self membership.NodeID, n *fakeNet, clock *fakeClock) Config {
	return Config{
		SystemID: "sys-1234", Self: self, Key: testKey, Links: links,
		Now: clock.Now, Listen: n.listener(int(self)),
	}
}

func newPair(t *testing.T) (*fakeNet, *fakeClock, *Transport, *Transport) {
	t.Helper()
	n, clock := newFakeNet(), &fakeClock{t: t0}
	tr0, err := New(testConfig(membership.Node0, n, clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr0.Close() })
	tr1, err := New(testConfig(membership.Node1, n, clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr1.Close() })
	return n, clock, tr0, tr1
}

func hbOf(self membership.NodeID, seq uint64) membership.Heartbeat {
	return membership.Heartbeat{
		System: "sys-1234", From: self, Incarnation: 3, Seq: seq, Term: 2,
		State: membership.StatePrimary, Owned: []string{"vm-" + self.String()},
	}
}

// receive collects what tr delivers within d.
func receive(t *testing.T, tr *Transport, want int, d time.Duration) []Received {
	t.Helper()
	var out []Received
	deadline := time.After(d)
	for len(out) < want {
		select {
		case r, ok := <-tr.Received():
			if !ok {
				t.Fatal("Received closed")
			}
			out = append(out, r)
		case <-deadline:
			return out
		}
	}
	return out
}

// quiet fails if tr delivers anything within d.
func quiet(t *testing.T, tr *Transport, d time.Duration) {
	t.Helper()
	select {
	case r := <-tr.Received():
		t.Errorf("unexpected heartbeat on %s: %+v", r.Link, r.Heartbeat)
	case <-time.After(d):
	}
}

func sendAll(t *testing.T, tr *Transport, hb membership.Heartbeat) {
	t.Helper()
	for _, l := range links {
		if err := tr.Send(l, hb); err != nil {
			t.Fatalf("send on %s: %v", l, err)
		}
	}
}

func lastDst(n *fakeNet, node int, link string) netip.AddrPort {
	s := n.sends()
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].Node == node && s[i].Link == link {
			return s[i].Dst
		}
	}
	return netip.AddrPort{}
}

func TestTransportExchange(t *testing.T) {
	n, clock, tr0, tr1 := newPair(t)

	// Nothing known yet: node0 reaches whoever is on each link.
	sendAll(t, tr0, hbOf(membership.Node0, 1))
	for _, l := range links {
		if d := lastDst(n, 0, l); d != netip.MustParseAddrPort("[ff02::1%"+l+"]:7400") {
			t.Errorf("first send on %s went to %v, want ff02::1", l, d)
		}
	}
	got := receive(t, tr1, 2, 2*time.Second)
	if len(got) != 2 {
		t.Fatalf("node1 received %d heartbeats, want 2", len(got))
	}
	seen := map[string]bool{}
	for _, r := range got {
		seen[r.Link] = true
		if !reflect.DeepEqual(r.Heartbeat, hbOf(membership.Node0, 1)) {
			t.Errorf("%s: heartbeat %+v", r.Link, r.Heartbeat)
		}
		if r.From != netip.AddrPortFrom(nodeAddr(0, r.Link), 7400) || !r.Sent.Equal(t0) || !r.At.Equal(t0) {
			t.Errorf("%s: from %v sent %v at %v", r.Link, r.From, r.Sent, r.At)
		}
		if ev := r.Event(); ev.Link != r.Link || !reflect.DeepEqual(ev.Heartbeat, r.Heartbeat) {
			t.Errorf("event %+v", ev)
		}
	}
	if !seen["priv0"] || !seen["alink0"] {
		t.Errorf("links seen: %v", seen)
	}

	// node1 has heard node0, but only just: it answers by multicast too.
	sendAll(t, tr1, hbOf(membership.Node1, 1))
	for _, l := range links {
		if d := lastDst(n, 1, l); d.Addr().WithZone("") != AllNodes {
			t.Errorf("node1's first answer on %s went to %v, want ff02::1", l, d)
		}
	}
	if got := receive(t, tr0, 2, 2*time.Second); len(got) != 2 {
		t.Fatalf("node0 received %d heartbeats, want 2", len(got))
	}
	// Heard steadily for PeerForget, the peer is reached by unicast.
	seq := uint64(1)
	exchange := func() {
		t.Helper()
		seq++
		sendAll(t, tr0, hbOf(membership.Node0, seq))
		sendAll(t, tr1, hbOf(membership.Node1, seq))
		if a, b := receive(t, tr0, 2, 2*time.Second), receive(t, tr1, 2, 2*time.Second); len(a) != 2 || len(b) != 2 {
			t.Fatalf("seq %d: node0 received %d, node1 %d; want 2 each", seq, len(a), len(b))
		}
	}
	clock.Add(DefaultPeerForget / 2)
	exchange()
	for _, l := range links {
		if d := lastDst(n, 0, l); d.Addr().WithZone("") != AllNodes {
			t.Errorf("node0 on %s after %v went to %v, want still ff02::1", l, DefaultPeerForget/2, d)
		}
	}
	clock.Add(DefaultPeerForget / 2)
	exchange()
	for node, tr := range []*Transport{tr0, tr1} {
		for _, l := range links {
			peer := nodeAddr(1-node, l)
			if d := lastDst(n, node, l); d.Addr() != peer {
				t.Errorf("node%d on %s after %v went to %v, want the peer's %v", node, l, DefaultPeerForget, d, peer)
			}
			if p, ok := tr.Link(l).Peer(); !ok || p != peer {
				t.Errorf("node%d's peer on %s: %v %v", node, l, p, ok)
			}
		}
	}

	// A peer unheard for PeerForget is forgotten: back to ff02::1.
	clock.Add(DefaultPeerForget - time.Millisecond)
	sendAll(t, tr0, hbOf(membership.Node0, 10))
	if d := lastDst(n, 0, "priv0"); d.Addr() != nodeAddr(1, "priv0") {
		t.Errorf("just before PeerForget of silence node0 sent to %v, want node1", d)
	}
	if got := receive(t, tr1, 2, 2*time.Second); len(got) != 2 {
		t.Fatalf("node1 received %d, want 2", len(got))
	}
	clock.Add(time.Millisecond)
	sendAll(t, tr0, hbOf(membership.Node0, 11))
	if d := lastDst(n, 0, "priv0"); d.Addr().WithZone("") != AllNodes {
		t.Errorf("after PeerForget of silence node0 sent to %v, want ff02::1", d)
	}
	if got := receive(t, tr1, 2, 2*time.Second); len(got) != 2 {
		t.Fatalf("node1 received %d after the fallback, want 2", len(got))
	}
	// node1 heard node0 without a gap and keeps its address; node0 hears
	// node1 again after a gap and waits until it is steady again.
	sendAll(t, tr1, hbOf(membership.Node1, 10))
	if d := lastDst(n, 1, "priv0"); d.Addr() != nodeAddr(0, "priv0") {
		t.Errorf("node1 sent to %v, want node0", d)
	}
	if got := receive(t, tr0, 2, 2*time.Second); len(got) != 2 {
		t.Fatalf("node0 received %d, want 2", len(got))
	}
	sendAll(t, tr0, hbOf(membership.Node0, 12))
	if d := lastDst(n, 0, "priv0"); d.Addr().WithZone("") != AllNodes {
		t.Errorf("node0 hearing node1 again after a gap sent to %v, want ff02::1", d)
	}
	receive(t, tr1, 2, 2*time.Second)

	st := tr1.Link("priv0").Stats()
	if st.Sent != 4 || st.Accepted != 6 || st.Received != 6 || len(st.Dropped) != 0 {
		t.Errorf("node1 priv0 stats %+v", st)
	}
}

func TestTransportCutLink(t *testing.T) {
	n, _, tr0, tr1 := newPair(t)
	sendAll(t, tr0, hbOf(membership.Node0, 1))
	if got := receive(t, tr1, 2, 2*time.Second); len(got) != 2 {
		t.Fatalf("received %d before the cut", len(got))
	}
	n.setCut("alink0", true)
	for seq := uint64(2); seq <= 4; seq++ {
		sendAll(t, tr0, hbOf(membership.Node0, seq))
	}
	got := receive(t, tr1, 3, 2*time.Second)
	for _, r := range got {
		if r.Link != "priv0" {
			t.Errorf("heartbeat on %s after alink0 was cut", r.Link)
		}
	}
	if len(got) != 3 {
		t.Errorf("priv0 delivered %d of 3", len(got))
	}
	quiet(t, tr1, 50*time.Millisecond)
	if a := tr1.Link("alink0").Stats().Accepted; a != 1 {
		t.Errorf("alink0 accepted %d, want 1 (before the cut)", a)
	}
}

// waitReceived waits until link has read n datagrams.
func waitReceived(t *testing.T, l *Link, n uint64) LinkStats {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		s := l.Stats()
		if s.Received >= n || time.Now().After(deadline) {
			return s
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTransportDrops(t *testing.T) {
	n, clock, tr0, _ := newPair(t)
	peerSrc := netip.AddrPortFrom(nodeAddr(1, "priv0"), 7400)
	seal := func(m Message, key []byte) []byte {
		t.Helper()
		b, err := m.Seal(key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := FromHeartbeat(hbOf(membership.Node1, 1), "priv0", clock.Now())
	other := good
	other.System = "sys-9999"
	mine := FromHeartbeat(hbOf(membership.Node0, 1), "priv0", clock.Now())
	wrongLink := FromHeartbeat(hbOf(membership.Node1, 2), "alink0", clock.Now())
	stale := FromHeartbeat(hbOf(membership.Node1, 3), "priv0", clock.Now().Add(-DefaultMaxAge-time.Second))
	oldBoot := FromHeartbeat(hbOf(membership.Node1, 9), "priv0", clock.Now())
	oldBoot.Boot = 2

	inject := []struct {
		pkt  []byte
		src  netip.AddrPort
		want string // "" accepted
	}{
		{seal(good, testKey), netip.MustParseAddrPort("[2001:db8::2]:7400"), "not-link-local"},
		{seal(good, testKey), peerSrc, ""},
		{seal(good, testKey), peerSrc, "replay"},
		{seal(good, otherKey), peerSrc, "bad-mac"},
		{seal(other, testKey), peerSrc, "wrong-system"},
		{seal(mine, testKey), netip.AddrPortFrom(nodeAddr(0, "priv0"), 7400), "not-peer"},
		{seal(wrongLink, testKey), peerSrc, "wrong-link"},
		{seal(stale, testKey), peerSrc, "stale"},
		{seal(oldBoot, testKey), peerSrc, "old-boot"},
		{[]byte("garbage"), peerSrc, "malformed"},
	}
	for _, in := range inject {
		n.inject(0, "priv0", in.pkt, in.src)
	}
	l := tr0.Link("priv0")
	st := waitReceived(t, l, uint64(len(inject)))
	want := map[string]uint64{}
	for _, in := range inject {
		if in.want != "" {
			want[in.want]++
		}
	}
	if st.Accepted != 1 || !reflect.DeepEqual(st.Dropped, want) {
		t.Errorf("accepted %d, dropped %v; want 1, %v (last: %s)", st.Accepted, st.Dropped, want, st.LastDrop)
	}
	if got := receive(t, tr0, 2, 100*time.Millisecond); len(got) != 1 || got[0].Heartbeat.Seq != 1 {
		t.Errorf("delivered %+v, want only the good heartbeat", got)
	}
	// The address is learned only from the accepted datagram.
	l.mu.Lock()
	p := l.peer
	l.mu.Unlock()
	if p != nodeAddr(1, "priv0") {
		t.Errorf("peer %v", p)
	}
}

// failUnicast fails sends to anything but multicast, like a vanished peer.
type failUnicast struct{ PacketConn }

func (f failUnicast) WriteTo(b []byte, dst netip.AddrPort) (int, error) {
	if !dst.Addr().IsMulticast() {
		return 0, errors.New("no route to host")
	}
	return f.PacketConn.WriteTo(b, dst)
}

func TestTransportUnicastFailureFallsBack(t *testing.T) {
	n, clock := newFakeNet(), &fakeClock{t: t0}
	cfg := testConfig(membership.Node0, n, clock)
	listen := cfg.Listen
	cfg.Listen = func(iface string, port int) (PacketConn, error) {
		c, err := listen(iface, port)
		return failUnicast{c}, err
	}
	tr0, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr0.Close()
	tr1, err := New(testConfig(membership.Node1, n, clock))
	if err != nil {
		t.Fatal(err)
	}
	defer tr1.Close()
	for seq := uint64(1); seq <= 3; seq++ { // heard steadily for PeerForget
		sendAll(t, tr1, hbOf(membership.Node1, seq))
		receive(t, tr0, 2, 2*time.Second)
		if seq < 3 {
			clock.Add(DefaultPeerForget / 2)
		}
	}
	if _, ok := tr0.Link("priv0").Peer(); !ok {
		t.Fatal("node0 does not use node1's address")
	}
	if err := tr0.Send("priv0", hbOf(membership.Node0, 1)); err != nil {
		t.Fatalf("send with fallback: %v", err)
	}
	if d := lastDst(n, 0, "priv0"); d.Addr().WithZone("") != AllNodes {
		t.Errorf("fallback went to %v", d)
	}
	if _, ok := tr0.Link("priv0").Peer(); ok {
		t.Error("the failing address is still in use")
	}
	if got := receive(t, tr1, 1, 2*time.Second); len(got) != 1 {
		t.Error("node1 did not get the fallback heartbeat")
	}
}

func TestTransportConcurrentSendsAndClose(t *testing.T) {
	_, _, tr0, tr1 := newPair(t)
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(1); seq <= 50; seq++ {
				if err := tr0.Send(l, hbOf(membership.Node0, seq)); err != nil {
					t.Errorf("send %s: %v", l, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := receive(t, tr1, 100, 5*time.Second); len(got) != 100 {
		t.Errorf("received %d of 100", len(got))
	}
	for _, s := range tr1.Stats() {
		if s.Accepted != 50 {
			t.Errorf("%s accepted %d", s.Name, s.Accepted)
		}
	}
	if err := tr1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-tr1.Received(); ok {
		t.Error("Received still open after Close")
	}
	if err := tr1.Send("priv0", hbOf(membership.Node1, 1)); err == nil {
		t.Error("send after Close succeeded")
	}
	tr1.Close() // twice is fine
}

func TestTransportSendRefuses(t *testing.T) {
	_, _, tr0, _ := newPair(t)
	if err := tr0.Send("eth9", hbOf(membership.Node0, 1)); err == nil {
		t.Error("send on an unknown link")
	}
	if err := tr0.Send("priv0", hbOf(membership.Node1, 1)); err == nil {
		t.Error("node0 sent node1's heartbeat")
	}
	hb := hbOf(membership.Node0, 1)
	hb.Incarnation = 0
	if err := tr0.Send("priv0", hb); err == nil {
		t.Error("sent a heartbeat of incarnation 0")
	}
}

func TestNewRefuses(t *testing.T) {
	n, clock := newFakeNet(), &fakeClock{t: t0}
	base := testConfig(membership.Node0, n, clock)
	for name, mutate := range map[string]func(c *Config){
		"short key":  func(c *Config) { c.Key = testKey[:16] },
		"no system":  func(c *Config) { c.SystemID = "" },
		"node 2":     func(c *Config) { c.Self = 2 },
		"no links":   func(c *Config) { c.Links = nil },
		"twice":      func(c *Config) { c.Links = []string{"priv0", "priv0"} },
		"long name":  func(c *Config) { c.Links = []string{"a-very-long-ifname"} },
		"bad port":   func(c *Config) { c.Port = 70000 },
		"listen err": func(c *Config) { c.Links = []string{"priv0", "priv0x"}; c.Listen = failOn("priv0x", c.Listen) },
	} {
		c := base
		mutate(&c)
		if tr, err := New(c); err == nil {
			tr.Close()
			t.Errorf("%s: accepted", name)
		}
	}
	// The failed New closed the socket it had opened: priv0 can be opened again.
	tr, err := New(base)
	if err != nil {
		t.Fatalf("after a failed New: %v", err)
	}
	tr.Close()
}

func failOn(iface string, listen ListenFunc) ListenFunc {
	return func(name string, port int) (PacketConn, error) {
		if name == iface {
			return nil, errors.New("no such device")
		}
		return listen(name, port)
	}
}
