package heartbeat

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// fakeNet is an in-memory network of point-to-point segments named after
// the links (node0's priv0 is cabled to node1's priv0). Node n's address
// on every link is fe80::n+1. ff02::1 reaches every other socket of the
// segment; a unicast destination reaches the socket that has it.
type fakeNet struct {
	mu    sync.Mutex
	conns map[string][]*fakeConn // by segment
	cut   map[string]bool
	sent  []fakeSend
	from  map[string]netip.Addr // override of a node's source, by "node/link"
}

type fakeSend struct {
	Node int
	Link string
	Dst  netip.AddrPort
}

type datagram struct {
	b   []byte
	src netip.AddrPort
}

type fakeConn struct {
	net    *fakeNet
	node   int
	link   string
	addr   netip.Addr
	port   int
	in     chan datagram
	closed chan struct{}
	once   sync.Once
}

func newFakeNet() *fakeNet {
	return &fakeNet{conns: map[string][]*fakeConn{}, cut: map[string]bool{}, from: map[string]netip.Addr{}}
}

func nodeAddr(node int, link string) netip.Addr {
	return netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: byte(node + 1)}).WithZone(link)
}

// listener is node's ListenFunc.
func (n *fakeNet) listener(node int) ListenFunc {
	return func(iface string, port int) (PacketConn, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, c := range n.conns[iface] {
			if c.node == node {
				return nil, fmt.Errorf("%s already has a socket on node%d", iface, node)
			}
		}
		c := &fakeConn{net: n, node: node, link: iface, addr: nodeAddr(node, iface), port: port,
			in: make(chan datagram, 256), closed: make(chan struct{})}
		n.conns[iface] = append(n.conns[iface], c)
		return c, nil
	}
}

func (n *fakeNet) setCut(link string, cut bool) {
	n.mu.Lock()
	n.cut[link] = cut
	n.mu.Unlock()
}

// inject delivers raw bytes to node's socket on link as if sent from src.
func (n *fakeNet) inject(node int, link string, b []byte, src netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns[link] {
		if c.node == node {
			c.in <- datagram{append([]byte(nil), b...), src}
		}
	}
}

func (n *fakeNet) sends() []fakeSend {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]fakeSend(nil), n.sent...)
}

func (c *fakeConn) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	select {
	case d := <-c.in:
		return copy(b, d.b), d.src, nil
	case <-c.closed:
		return 0, netip.AddrPort{}, net.ErrClosed
	}
}

func (c *fakeConn) WriteTo(b []byte, dst netip.AddrPort) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	n := c.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if dst.Addr().Zone() != c.link {
		return 0, fmt.Errorf("destination %v is not on %s", dst, c.link)
	}
	n.sent = append(n.sent, fakeSend{c.node, c.link, dst})
	if n.cut[c.link] {
		return len(b), nil // the cable is out: gone without a trace
	}
	src := c.addr
	if a, ok := n.from[fmt.Sprintf("%d/%s", c.node, c.link)]; ok {
		src = a
	}
	for _, o := range n.conns[c.link] {
		if o == c || int(dst.Port()) != o.port {
			continue
		}
		if dst.Addr().WithZone("") == AllNodes || dst.Addr() == o.addr {
			select {
			case o.in <- datagram{append([]byte(nil), b...), netip.AddrPortFrom(src, uint16(c.port))}:
			default: // a full receive buffer drops, like the kernel's
			}
		}
	}
	return len(b), nil
}

func (c *fakeConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		n := c.net
		n.mu.Lock()
		defer n.mu.Unlock()
		n.conns[c.link] = slices.DeleteFunc(n.conns[c.link], func(o *fakeConn) bool { return o == c })
	})
	return nil
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
