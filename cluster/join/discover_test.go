package join

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const sysID = "0123456789abcdef0123456789abcdef"

func responder(iface string) *Responder {
	return &Responder{SystemName: "alpha", SystemID: sysID, NodeID: 0, JoinPort: DefaultPort, Iface: iface}
}

func udp(s string, port int) *net.UDPAddr {
	a := netip.MustParseAddr(s)
	return &net.UDPAddr{IP: a.AsSlice(), Zone: a.Zone(), Port: port}
}

func TestDatagramCodec(t *testing.T) {
	q, err := encodeDatagram(kindQuery, map[string]string{"nonce": "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "LOCKSTEP-DISCOVER v1 query\n{\"nonce\":\"n1\"}"; string(q) != want {
		t.Errorf("query %q, want %q", q, want)
	}
	kind, body, err := decodeDatagram(q)
	if err != nil || kind != kindQuery || string(body) != `{"nonce":"n1"}` {
		t.Errorf("decode: %q %q %v", kind, body, err)
	}
	for _, bad := range []string{
		"", "LOCKSTEP-DISCOVER v1 query", "LOCKSTEP-DISCOVER v2 query\n{}", "LOCKSTEP-DISCOVER v1 shout\n{}", "GET / HTTP/1.1\r\n",
	} {
		if _, _, err := decodeDatagram([]byte(bad)); err == nil {
			t.Errorf("decodeDatagram(%q) accepted", bad)
		}
	}
	if _, err := encodeDatagram(kindReply, Announcement{SystemName: strings.Repeat("x", maxDatagram)}); err == nil {
		t.Error("oversized datagram encoded")
	}
}

func TestResponderAnswer(t *testing.T) {
	query := []byte("LOCKSTEP-DISCOVER v1 query\n{\"nonce\":\"abc\"}")
	for _, tc := range []struct {
		name  string
		iface string
		msg   []byte
		src   string
		ok    bool
	}{
		{"query on priv0", "priv0", query, "fe80::1%priv0", true},
		{"query on another interface", "priv0", query, "fe80::1%ibiz0", false},
		{"query from a routable address", "priv0", query, "2001:db8::1", false},
		{"query over IPv4", "priv0", query, "192.0.2.1", false},
		{"no interface filter (tests)", "", query, "::1", true},
		{"a reply is not answered", "priv0", []byte("LOCKSTEP-DISCOVER v1 reply\n{\"nonce\":\"abc\"}"), "fe80::1%priv0", false},
		{"no nonce", "priv0", []byte("LOCKSTEP-DISCOVER v1 query\n{}"), "fe80::1%priv0", false},
		{"junk", "priv0", []byte("hello"), "fe80::1%priv0", false},
		{"oversized", "priv0", append(query, make([]byte, maxDatagram)...), "fe80::1%priv0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := responder(tc.iface).answer(tc.msg, udp(tc.src, 40000))
			if (out != nil) != tc.ok {
				t.Fatalf("answer = %q, want reply %v", out, tc.ok)
			}
			if out == nil {
				return
			}
			p, ok := parseReply(out, udp("fe80::2%priv0", DefaultPort), "abc", func(netip.Addr) bool { return true })
			if !ok || p.SystemName != "alpha" || p.SystemID != sysID || p.JoinPort != DefaultPort || p.NodeID != 0 {
				t.Errorf("reply %q parsed as %+v, %v", out, p, ok)
			}
			if p.JoinAddr() != "[fe80::2%priv0]:7410" {
				t.Errorf("JoinAddr %q", p.JoinAddr())
			}
		})
	}
}

// fakeLink is an in-memory priv0: datagrams to ff02::1 reach every other
// end, unicast reaches the end with that address; receivers see the
// sender's address zoned with "priv0", as the kernel reports it.
type fakeLink struct {
	mu   sync.Mutex
	ends []*fakeConn
}

type datagram struct {
	b   []byte
	src *net.UDPAddr
}

type fakeConn struct {
	link *fakeLink
	addr *net.UDPAddr
	in   chan datagram

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{} // closed when the deadline changes or the conn closes
	closed   bool
}

func (l *fakeLink) end(addr string, port int) *fakeConn {
	c := &fakeConn{link: l, addr: udp(addr+"%priv0", port), in: make(chan datagram, 64), wake: make(chan struct{})}
	l.mu.Lock()
	l.ends = append(l.ends, c)
	l.mu.Unlock()
	return c
}

func (c *fakeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, nil, net.ErrClosed
		}
		dl, wake := c.deadline, c.wake
		c.mu.Unlock()
		var timer <-chan time.Time
		stop := func() bool { return false }
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			tm := time.NewTimer(d)
			timer, stop = tm.C, tm.Stop
		}
		select {
		case d := <-c.in:
			stop()
			return copy(b, d.b), d.src, nil
		case <-timer:
			return 0, nil, os.ErrDeadlineExceeded
		case <-wake:
			stop()
		}
	}
}

func (c *fakeConn) WriteTo(b []byte, to net.Addr) (int, error) {
	ua := to.(*net.UDPAddr)
	src := *c.addr
	c.link.mu.Lock()
	defer c.link.mu.Unlock()
	for _, e := range c.link.ends {
		if e == c || e.addr.Port != ua.Port {
			continue
		}
		if ua.IP.IsMulticast() || ua.IP.Equal(e.addr.IP) {
			select {
			case e.in <- datagram{append([]byte(nil), b...), &src}:
			default: // a full queue drops, like a real link
			}
		}
	}
	return len(b), nil
}

func (c *fakeConn) setDeadline(t time.Time) {
	c.mu.Lock()
	c.deadline = t
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.wake)
	}
	return nil
}
func (c *fakeConn) LocalAddr() net.Addr                { return c.addr }
func (c *fakeConn) SetDeadline(t time.Time) error      { c.setDeadline(t); return nil }
func (c *fakeConn) SetReadDeadline(t time.Time) error  { c.setDeadline(t); return nil }
func (c *fakeConn) SetWriteDeadline(t time.Time) error { return nil }

func onPriv0(a netip.Addr) bool { return a.IsLinkLocalUnicast() && a.Zone() == "priv0" }

// runResponder serves r on c until the test ends.
func runResponder(t *testing.T, r *Responder, c net.PacketConn) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, c) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("responder: %v", err)
		}
	})
}

// TestDiscoverFakeLink runs Discover's logic and the Responder against
// each other over a fake PacketConn: multicast on the machine's own lo is
// not available here (lo has no MULTICAST flag and no link-local address),
// so real ff02::1 traffic is tested in a network namespace instead
// (TestDiscoverAndJoinInNamespace).
func TestDiscoverFakeLink(t *testing.T) {
	link := &fakeLink{}
	me := link.end("fe80::1", 50000)
	runResponder(t, responder("priv0"), link.end("fe80::2", DefaultPort))

	// Noise on the link: a stale reply (wrong nonce), junk, and a
	// well-formed reply from a global address.
	noise := link.end("fe80::3", DefaultPort)
	global := link.end("2001:db8::9", DefaultPort)
	stale, _ := encodeDatagram(kindReply, Announcement{Nonce: "stale", SystemName: "evil", SystemID: sysID, JoinPort: 1})
	go func() {
		for range 5 {
			noise.WriteTo(stale, me.addr)
			noise.WriteTo([]byte("junk"), me.addr)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	go answerAll(global)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	peers, err := discover(ctx, me, &net.UDPAddr{IP: AllNodes.AsSlice(), Port: DefaultPort, Zone: "priv0"}, onPriv0)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 {
		t.Fatalf("peers %+v, want one", peers)
	}
	p := peers[0]
	if p.Addr != netip.MustParseAddr("fe80::2%priv0") || p.SystemName != "alpha" || p.SystemID != sysID || p.JoinAddr() != "[fe80::2%priv0]:7410" {
		t.Errorf("peer %+v", p)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("discovery took %v", d)
	}
	global.Close()
	noise.Close()
}

// answerAll answers every query arriving at c, as a responder would,
// without any interface filter.
func answerAll(c *fakeConn) {
	r := responder("")
	buf := make([]byte, 2048)
	for {
		n, src, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		if out := r.answer(buf[:n], src); out != nil {
			c.WriteTo(out, src)
		}
	}
}

func TestDiscoverTwoSystems(t *testing.T) {
	link := &fakeLink{}
	me := link.end("fe80::1", 50000)
	runResponder(t, responder("priv0"), link.end("fe80::2", DefaultPort))
	other := responder("priv0")
	other.SystemName, other.SystemID = "beta", strings.Repeat("b", 32)
	runResponder(t, other, link.end("fe80::3", DefaultPort))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peers, err := discover(ctx, me, &net.UDPAddr{IP: AllNodes.AsSlice(), Port: DefaultPort, Zone: "priv0"}, onPriv0)
	if err != nil || len(peers) != 2 {
		t.Fatalf("peers %+v, %v; want both systems", peers, err)
	}
	if _, err := SinglePeer(peers); err == nil || !strings.Contains(err.Error(), `"beta"`) || !strings.Contains(err.Error(), `"alpha"`) {
		t.Errorf("SinglePeer with two systems: %v", err)
	} else {
		t.Log(err)
	}
	if p, err := SinglePeer(peers[:1]); err != nil || p != peers[0] {
		t.Errorf("SinglePeer with one: %v", err)
	}
	if _, err := SinglePeer(nil); err == nil {
		t.Error("SinglePeer with none succeeded")
	}
}

func TestDiscoverNobody(t *testing.T) {
	link := &fakeLink{}
	me := link.end("fe80::1", 50000)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := discover(ctx, me, &net.UDPAddr{IP: AllNodes.AsSlice(), Port: DefaultPort, Zone: "priv0"}, onPriv0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want deadline exceeded", err)
	}
	// Cancel without a deadline ends the search too.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := discover(ctx, me, &net.UDPAddr{IP: AllNodes.AsSlice(), Port: DefaultPort}, onPriv0); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want canceled", err)
	}
	if _, err := Discover(context.Background(), "no-such-if0", DefaultPort); err == nil {
		t.Error("Discover on a missing interface succeeded")
	}
}

// TestDiscoverLoopbackUDP runs the same code over real UDP sockets on ::1
// (unicast; the machine's lo has no multicast), checking the socket side:
// deadlines, source addresses, the responder's Serve loop and shutdown.
func TestDiscoverLoopbackUDP(t *testing.T) {
	rc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { rc.Close() }) // after the responder has stopped
	runResponder(t, responder(""), rc)
	me, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer me.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peers, err := discover(ctx, me, rc.LocalAddr(), netip.Addr.IsLoopback)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 || peers[0].Addr != netip.IPv6Loopback() || peers[0].JoinPort != DefaultPort {
		t.Errorf("peers %+v", peers)
	}
	b, _ := json.Marshal(peers[0])
	t.Logf("peer %s", b)
}
