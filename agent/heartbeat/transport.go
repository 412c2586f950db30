package heartbeat

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// DefaultPort is the UDP port of heartbeats on every link.
const DefaultPort = 7400

// DefaultPeerForget rules when a link's heartbeats go to the peer's
// learned address rather than to ff02::1. It is the membership peer
// timeout (pass the configured one when it differs):
//
//   - An address is used once the peer has been heard from it without a
//     gap of PeerForget for PeerForget, and dropped after PeerForget of
//     silence (the link counts as down then), or when a send to it fails.
//     A peer that restarted with a new address is thus found by itself.
//   - Multicast needs no neighbour resolution, unicast does: while the
//     cable was out the kernel's neighbour entry for the peer failed, and
//     it retries only once a second (retrans_time). Staying on ff02::1 for
//     PeerForget after the link returns lets that retry happen first, so
//     the link comes back the moment the cable does, both ways.
const DefaultPeerForget = membership.DefaultPeerTimeout

// AllNodes is the link-local all-nodes group, where heartbeats go while
// the peer's address on a link is not known.
var AllNodes = netip.MustParseAddr("ff02::1")

// PacketConn is one link's socket. Addresses carry the link's name as
// zone. ListenUDP makes the real one; tests use an in-memory network.
type PacketConn interface {
	ReadFrom(b []byte) (n int, src netip.AddrPort, err error)
	WriteTo(b []byte, dst netip.AddrPort) (int, error)
	// Close makes a blocked ReadFrom return an error wrapping net.ErrClosed.
	Close() error
}

// ListenFunc opens the socket of one link on port.
type ListenFunc func(iface string, port int) (PacketConn, error)

// Config configures a Transport.
type Config struct {
	SystemID string
	Self     membership.NodeID
	// Key is the system's heartbeat key (KeySize bytes), the same on both
	// nodes.
	Key []byte
	// Links are the interfaces heartbeats travel on (priv0 and every A-Link).
	Links []string
	// Port is the UDP port on every link; zero means DefaultPort.
	Port int
	// MaxAge and MaxFuture bound the send time of accepted heartbeats
	// (zero: the defaults).
	MaxAge, MaxFuture time.Duration
	// PeerForget: zero means DefaultPeerForget.
	PeerForget time.Duration
	// Queue is the capacity of the Received channel; zero means 64.
	Queue int
	// Now is the clock (zero: time.Now).
	Now func() time.Time
	// Listen opens the sockets (zero: ListenUDP).
	Listen ListenFunc
}

// Received is a heartbeat that passed every receive rule.
type Received struct {
	Link      string
	From      netip.AddrPort // the peer's link-local address, zoned by Link
	Sent      time.Time      // by the sender's clock
	At        time.Time      // by this node's clock
	Heartbeat membership.Heartbeat
}

// Event is r as an input to membership.Machine.Step.
func (r Received) Event() membership.Received {
	return membership.Received{Link: r.Link, Heartbeat: r.Heartbeat}
}

// LinkStats counts what one link did.
type LinkStats struct {
	Name       string
	Sent       uint64
	SendErrors uint64
	Received   uint64 // datagrams read
	Accepted   uint64
	// Dropped counts rejected datagrams by Reason.
	Dropped      map[string]uint64
	LastDrop     string // the latest drop's error, for diagnosis
	LastAccepted time.Time
	Peer         netip.Addr // learned peer address; invalid if none in use
}

// Transport runs one Link per interface and delivers what they receive.
type Transport struct {
	cfg   Config
	links []*Link
	out   chan Received
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// Link is one interface's socket and state.
type Link struct {
	t    *Transport
	name string
	conn PacketConn
	dst  netip.AddrPort // ff02::1%name:port
	v    Verifier       // used by the reader goroutine only

	mu        sync.Mutex
	peer      netip.Addr // learned from accepted heartbeats
	peerSince time.Time  // heard from peer since then without a gap of PeerForget
	peerSeen  time.Time  // last heard
	stats     LinkStats
}

// New opens a socket for every link and starts receiving. The sockets are
// made in the calling thread's network namespace (tests lock the thread
// into a namespace before calling New).
func New(cfg Config) (*Transport, error) {
	if len(cfg.Key) != KeySize {
		return nil, fmt.Errorf("heartbeat key is %d bytes, must be %d", len(cfg.Key), KeySize)
	}
	if cfg.SystemID == "" || len(cfg.SystemID) > MaxSystemID {
		return nil, fmt.Errorf("system id must be 1 to %d bytes", MaxSystemID)
	}
	if cfg.Self != membership.Node0 && cfg.Self != membership.Node1 {
		return nil, fmt.Errorf("self is %v; a system has only node0 and node1", cfg.Self)
	}
	if len(cfg.Links) == 0 {
		return nil, errors.New("no links to send heartbeats on")
	}
	for i, n := range cfg.Links {
		if n == "" || len(n) > MaxLinkName {
			return nil, fmt.Errorf("link name %q must be 1 to %d bytes", n, MaxLinkName)
		}
		if slices.Contains(cfg.Links[:i], n) {
			return nil, fmt.Errorf("link %q listed twice", n)
		}
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("port %d out of range", cfg.Port)
	}
	if cfg.PeerForget <= 0 {
		cfg.PeerForget = DefaultPeerForget
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Listen == nil {
		cfg.Listen = ListenUDP
	}
	cfg.Key = slices.Clone(cfg.Key)
	cfg.Links = slices.Clone(cfg.Links)

	t := &Transport{cfg: cfg, out: make(chan Received, cfg.Queue), done: make(chan struct{})}
	for _, name := range cfg.Links {
		conn, err := cfg.Listen(name, cfg.Port)
		if err != nil {
			for _, l := range t.links {
				l.conn.Close()
			}
			return nil, fmt.Errorf("heartbeat socket on %s: %w", name, err)
		}
		t.links = append(t.links, &Link{
			t: t, name: name, conn: conn,
			dst:   netip.AddrPortFrom(AllNodes.WithZone(name), uint16(cfg.Port)),
			v:     Verifier{System: cfg.SystemID, Self: cfg.Self, MaxAge: cfg.MaxAge, MaxFuture: cfg.MaxFuture},
			stats: LinkStats{Name: name, Dropped: map[string]uint64{}},
		})
	}
	for _, l := range t.links {
		t.wg.Add(1)
		go l.receive()
	}
	return t, nil
}

// Received delivers accepted heartbeats; it is closed by Close. A link's
// reader waits while the channel is full: heartbeats then queue in (and
// beyond that are dropped by) the kernel's socket buffer, never in memory
// here, and the newest are the ones lost, as on a congested wire.
func (t *Transport) Received() <-chan Received { return t.out }

// Link returns the named link, or nil.
func (t *Transport) Link(name string) *Link {
	for _, l := range t.links {
		if l.name == name {
			return l
		}
	}
	return nil
}

// Links returns every link, in configuration order.
func (t *Transport) Links() []*Link { return slices.Clone(t.links) }

// Send sends hb on the named link (as membership.SendHeartbeat asks).
func (t *Transport) Send(link string, hb membership.Heartbeat) error {
	l := t.Link(link)
	if l == nil {
		return fmt.Errorf("heartbeat: no link %q", link)
	}
	return l.Send(hb)
}

// Stats returns every link's counters.
func (t *Transport) Stats() []LinkStats {
	out := make([]LinkStats, len(t.links))
	for i, l := range t.links {
		out[i] = l.Stats()
	}
	return out
}

// Close closes the sockets, waits for the receivers and closes the
// Received channel.
func (t *Transport) Close() error {
	var errs []error
	t.once.Do(func() {
		close(t.done)
		for _, l := range t.links {
			if err := l.conn.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", l.name, err))
			}
		}
		t.wg.Wait()
		close(t.out)
	})
	return errors.Join(errs...)
}

func (t *Transport) closed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// Name is the link's interface name.
func (l *Link) Name() string { return l.name }

// Peer is the peer's link-local address in use for sends, if any
// (DefaultPeerForget says when).
func (l *Link) Peer() (netip.Addr, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.peerAt(l.t.cfg.Now())
	return p, p.IsValid()
}

// peerAt is the learned address while it is to be used (mu held; see
// DefaultPeerForget).
func (l *Link) peerAt(now time.Time) netip.Addr {
	f := l.t.cfg.PeerForget
	if l.peer.IsValid() && now.Sub(l.peerSeen) < f && now.Sub(l.peerSince) >= f {
		return l.peer
	}
	return netip.Addr{}
}

// Stats returns the link's counters.
func (l *Link) Stats() LinkStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Dropped = make(map[string]uint64, len(l.stats.Dropped))
	for k, v := range l.stats.Dropped {
		s.Dropped[k] = v
	}
	s.Peer = l.peerAt(l.t.cfg.Now())
	return s
}

// Send sends hb on this link, stamped with the link's name and the time:
// to the peer's address while it is steadily heard on this link, else to
// ff02::1 (DefaultPeerForget).
func (l *Link) Send(hb membership.Heartbeat) error {
	t := l.t
	if t.closed() {
		return fmt.Errorf("heartbeat on %s: %w", l.name, net.ErrClosed)
	}
	if hb.System != t.cfg.SystemID || hb.From != t.cfg.Self {
		// A programming error: the receiver would drop it anyway.
		return fmt.Errorf("heartbeat on %s: sender %v of %q, but this transport is %v of %q", l.name, hb.From, hb.System, t.cfg.Self, t.cfg.SystemID)
	}
	now := t.cfg.Now()
	pkt, err := FromHeartbeat(hb, l.name, now).Seal(t.cfg.Key)
	if err != nil {
		return err
	}
	l.mu.Lock()
	peer := l.peerAt(now)
	l.mu.Unlock()
	dst := l.dst
	if peer.IsValid() {
		dst = netip.AddrPortFrom(peer, dst.Port())
	}
	_, err = l.conn.WriteTo(pkt, dst)
	if err != nil && peer.IsValid() {
		// The learned address may be gone (the peer's NIC was replaced):
		// forget it and reach whoever is on the link.
		l.mu.Lock()
		if l.peer == peer {
			l.peer = netip.Addr{}
		}
		l.mu.Unlock()
		dst = l.dst
		_, err = l.conn.WriteTo(pkt, dst)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.stats.SendErrors++
		return fmt.Errorf("heartbeat on %s to %v: %w", l.name, dst, err)
	}
	l.stats.Sent++
	return nil
}

// receive reads the link until the transport closes.
func (l *Link) receive() {
	defer l.t.wg.Done()
	buf := make([]byte, MaxDatagram+1) // one more: an oversized datagram is seen as such
	backoff := time.Duration(0)
	for {
		n, src, err := l.conn.ReadFrom(buf)
		if l.t.closed() {
			return
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient socket error must not spin: wait a little,
			// longer while it persists, shorter than a heartbeat interval.
			l.mu.Lock()
			l.stats.LastDrop = "read: " + err.Error()
			l.mu.Unlock()
			backoff = min(max(2*backoff, 5*time.Millisecond), 100*time.Millisecond)
			select {
			case <-time.After(backoff):
			case <-l.t.done:
				return
			}
			continue
		}
		backoff = 0
		r, err := l.handle(buf[:n], src)
		if err != nil {
			continue
		}
		select {
		case l.t.out <- r:
		case <-l.t.done:
			return
		}
	}
}

// handle applies the receive rules to one datagram.
func (l *Link) handle(pkt []byte, src netip.AddrPort) (Received, error) {
	now := l.t.cfg.Now()
	var m Message
	var err error
	if !(src.Addr().Is6() && src.Addr().IsLinkLocalUnicast()) {
		err = fmt.Errorf("%w: %v", ErrNotLinkLoc, src)
	} else if m, err = Open(l.t.cfg.Key, pkt); err == nil {
		err = l.v.Check(m, l.name, now)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Received++
	if err != nil {
		l.stats.Dropped[Reason(err)]++
		l.stats.LastDrop = err.Error()
		return Received{}, err
	}
	l.stats.Accepted++
	l.stats.LastAccepted = now
	// Only an accepted datagram teaches the peer's address: a forged or
	// replayed one from elsewhere must not redirect our heartbeats.
	addr := src.Addr().WithZone(l.name)
	if addr != l.peer || now.Sub(l.peerSeen) >= l.t.cfg.PeerForget {
		l.peerSince = now
	}
	l.peer, l.peerSeen = addr, now
	return Received{
		Link: l.name, From: netip.AddrPortFrom(l.peer, src.Port()),
		Sent: m.Sent, At: now, Heartbeat: m.Heartbeat(),
	}, nil
}
