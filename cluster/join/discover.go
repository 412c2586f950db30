package join

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/pki"
)

// Discovery datagrams are a magic line and a JSON body:
//
//	LOCKSTEP-DISCOVER v1 query\n{"nonce":"…"}
//	LOCKSTEP-DISCOVER v1 reply\n{"nonce":"…","system_name":…,"system_id":…,"node_id":…,"join_port":…}
//
// They are not signed: a reply only says where to find a join server, and
// everything it claims is checked again over TLS and by the fingerprint.
// The nonce only pairs replies with this query.
const (
	discoverMagic = "LOCKSTEP-DISCOVER v1"
	kindQuery     = "query"
	kindReply     = "reply"
	// maxDatagram fits the IPv6 minimum MTU with room to spare.
	maxDatagram = 1024
)

// Discovery timing: a query every queryInterval until the first reply,
// then settle more for a second node or system to answer (which, on a
// point-to-point priv0, means something is miswired).
var (
	queryInterval = 250 * time.Millisecond
	settle        = 500 * time.Millisecond
)

// AllNodes is the link-local all-nodes multicast group.
var AllNodes = netip.MustParseAddr("ff02::1")

// Announcement is a responder's reply.
type Announcement struct {
	Nonce      string `json:"nonce"`
	SystemName string `json:"system_name"`
	SystemID   string `json:"system_id"`
	NodeID     int    `json:"node_id"`
	JoinPort   int    `json:"join_port"`
}

// Peer is a node that answered discovery.
type Peer struct {
	Addr netip.Addr // link-local, with the interface as zone
	Announcement
}

// JoinAddr is the peer's join server, e.g. "[fe80::1%priv0]:7410".
func (p Peer) JoinAddr() string {
	return netip.AddrPortFrom(p.Addr, uint16(p.JoinPort)).String()
}

func encodeDatagram(kind string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	out := append([]byte(discoverMagic+" "+kind+"\n"), b...)
	if len(out) > maxDatagram {
		return nil, fmt.Errorf("discovery %s: %d bytes, over %d", kind, len(out), maxDatagram)
	}
	return out, nil
}

// decodeDatagram splits a datagram into its kind and JSON body.
func decodeDatagram(b []byte) (kind string, body []byte, err error) {
	line, body, ok := bytes.Cut(b, []byte("\n"))
	rest, ok2 := bytes.CutPrefix(line, []byte(discoverMagic+" "))
	if !ok || !ok2 {
		return "", nil, errors.New("not a " + discoverMagic + " datagram")
	}
	switch k := string(rest); k {
	case kindQuery, kindReply:
		return k, body, nil
	default:
		return "", nil, fmt.Errorf("unknown discovery kind %q", k)
	}
}

// Discover finds the system's node on iface (priv0) with no address
// typed: it sends a query to ff02::1 on iface every 250 ms and collects
// replies from link-local addresses on that interface, returning shortly
// after the first one (a little longer, to notice a second). It waits as
// long as ctx allows; with no reply it returns an error saying where it
// looked.
func Discover(ctx context.Context, iface string, port int) ([]Peer, error) {
	if _, err := net.InterfaceByName(iface); err != nil {
		return nil, fmt.Errorf("discover on %s: %w", iface, err)
	}
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		return nil, fmt.Errorf("discover on %s: %w", iface, err)
	}
	defer conn.Close()
	dst := &net.UDPAddr{IP: AllNodes.AsSlice(), Port: port, Zone: iface}
	peers, err := discover(ctx, conn, dst, func(a netip.Addr) bool {
		return a.Is6() && a.IsLinkLocalUnicast() && a.Zone() == iface
	})
	if err != nil {
		return nil, fmt.Errorf("no Lockstep system answered on %s (ff02::1, UDP port %d); check the priv0 cable and that the other node is up: %w", iface, port, err)
	}
	return peers, nil
}

// discover is Discover on any packet conn, sending to dst and keeping
// replies whose source passes accept: tests run it over loopback and over
// a fake conn.
func discover(ctx context.Context, conn net.PacketConn, dst net.Addr, accept func(netip.Addr) bool) ([]Peer, error) {
	var nb [8]byte
	rand.Read(nb[:])
	nonce := hex.EncodeToString(nb[:])
	q, err := encodeDatagram(kindQuery, struct {
		Nonce string `json:"nonce"`
	}{nonce})
	if err != nil {
		return nil, err
	}
	var (
		peers    []Peer
		settleAt time.Time
		nextSend time.Time
		sendErr  error
		buf      = make([]byte, maxDatagram+1)
	)
	for {
		if err := ctx.Err(); err != nil {
			if len(peers) > 0 {
				return peers, nil
			}
			if sendErr != nil {
				return nil, fmt.Errorf("%w (last send: %v)", err, sendErr)
			}
			return nil, err
		}
		now := time.Now()
		if !settleAt.IsZero() && !now.Before(settleAt) {
			return peers, nil
		}
		deadline := settleAt
		if settleAt.IsZero() {
			if !now.Before(nextSend) {
				// A send may fail while priv0's link-local address is
				// still tentative; keep trying until ctx ends.
				if _, err := conn.WriteTo(q, dst); err != nil {
					sendErr = err
				}
				nextSend = now.Add(queryInterval)
			}
			deadline = nextSend
		}
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		conn.SetReadDeadline(deadline)
		n, src, err := conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return nil, err
		}
		p, ok := parseReply(buf[:n], src, nonce, accept)
		if !ok {
			continue
		}
		if !slices.ContainsFunc(peers, func(o Peer) bool { return o.Addr == p.Addr && o.SystemID == p.SystemID }) {
			peers = append(peers, p)
		}
		if settleAt.IsZero() {
			settleAt = time.Now().Add(settle)
		}
	}
}

// SinglePeer picks the one node that answered discovery. priv0 is a
// direct cable, so more than one answer means a miswired network (a switch,
// or another system's node on it); the join then stops and says who
// answered rather than guess.
func SinglePeer(peers []Peer) (Peer, error) {
	switch len(peers) {
	case 0:
		return Peer{}, errors.New("no Lockstep node answered discovery")
	case 1:
		return peers[0], nil
	}
	var who []string
	for _, p := range peers {
		who = append(who, fmt.Sprintf("node%d of system %q (%s) at %s", p.NodeID, p.SystemName, p.SystemID, p.Addr))
	}
	return Peer{}, fmt.Errorf("%d nodes answered on priv0, which should be a direct cable to the other node: %s",
		len(peers), strings.Join(who, "; "))
}

// parseReply accepts a well-formed reply to nonce from an accepted source.
func parseReply(b []byte, src net.Addr, nonce string, accept func(netip.Addr) bool) (Peer, bool) {
	ua, ok := src.(*net.UDPAddr)
	if !ok || len(b) > maxDatagram {
		return Peer{}, false
	}
	addr := ua.AddrPort().Addr()
	if !accept(addr) {
		return Peer{}, false
	}
	kind, body, err := decodeDatagram(b)
	if err != nil || kind != kindReply {
		return Peer{}, false
	}
	var a Announcement
	if json.Unmarshal(body, &a) != nil || a.Nonce != nonce ||
		pki.CheckSystemID(a.SystemID) != nil || pki.CheckSystemName(a.SystemName) != nil ||
		a.JoinPort <= 0 || a.JoinPort > 65535 || a.NodeID < 0 || a.NodeID > pki.MaxNodeID {
		return Peer{}, false
	}
	return Peer{Addr: addr, Announcement: a}, true
}

// Responder answers discovery queries on the existing node.
type Responder struct {
	SystemName string
	SystemID   string
	NodeID     int
	JoinPort   int
	// Iface restricts answers to queries from link-local addresses on
	// this interface (priv0): the system is not announced on ibiz0 or
	// business networks. "" answers any source (tests over loopback).
	Iface string
}

// ListenResponder opens the responder's socket: UDP port on all IPv6
// addresses, which receives both ff02::1 (every interface is in the
// all-nodes group) and unicast queries; Serve filters by interface.
func ListenResponder(port int) (net.PacketConn, error) {
	return net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: port})
}

// Serve answers queries on conn until ctx ends (then returns nil) or the
// conn fails. It does not close conn.
func (r *Responder) Serve(ctx context.Context, conn net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, maxDatagram+1)
	for {
		n, src, err := conn.ReadFrom(buf)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return err
		}
		if reply := r.answer(buf[:n], src); reply != nil {
			conn.WriteTo(reply, src) // best effort: the joiner asks again
		}
	}
}

// answer is the reply to one datagram, or nil to stay silent.
func (r *Responder) answer(b []byte, src net.Addr) []byte {
	ua, ok := src.(*net.UDPAddr)
	if !ok || len(b) > maxDatagram {
		return nil
	}
	if r.Iface != "" {
		a := ua.AddrPort().Addr()
		if !a.Is6() || !a.IsLinkLocalUnicast() || a.Zone() != r.Iface {
			return nil
		}
	}
	kind, body, err := decodeDatagram(b)
	if err != nil || kind != kindQuery {
		return nil
	}
	var q struct {
		Nonce string `json:"nonce"`
	}
	if json.Unmarshal(body, &q) != nil || q.Nonce == "" || len(q.Nonce) > 64 {
		return nil
	}
	out, err := encodeDatagram(kindReply, Announcement{
		Nonce: q.Nonce, SystemName: r.SystemName, SystemID: r.SystemID, NodeID: r.NodeID, JoinPort: r.JoinPort,
	})
	if err != nil {
		return nil
	}
	return out
}

// LinkLocal returns iface's IPv6 link-local address, zoned: the address
// the join server listens on and the one a joined peer is told about.
func LinkLocal(iface string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return netip.Addr{}, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Is6() && !ip.Is4In6() && ip.IsLinkLocalUnicast() {
				return ip.WithZone(iface), nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("%s has no IPv6 link-local address (is it up, and IPv6 enabled?)", iface)
}
