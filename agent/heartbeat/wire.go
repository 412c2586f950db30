package heartbeat

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

const (
	magic = "LSHB"
	// Version is the datagram format this package writes and reads.
	Version = 1
	// KeySize is the length of the per-system heartbeat key.
	KeySize = 32
	// MaxDatagram bounds a heartbeat datagram both ways. The resource lists
	// make heartbeats grow with the number of VMs; above the link MTU the
	// kernel fragments them (IPv6 fragments are fine on a direct cable).
	MaxDatagram = 16 << 10
	// MaxSystemID is the longest system id (as cluster/membership allows).
	MaxSystemID = 128
	// MaxLinkName is the longest interface name (IFNAMSIZ-1).
	MaxLinkName = 15
	// MaxResourceName is the longest resource name in a heartbeat.
	MaxResourceName = 255

	fixedLen = len(magic) + 1 + 1 + 1 + 1 + 8 + 8 + 8 + 8 // up to the system id
	macLen   = sha256.Size
	minLen   = fixedLen + 1 + 1 + 2 + 2 + macLen

	flagPeerLost     = 1 << 0
	flagDisconnected = 1 << 1
	knownFlags       = flagPeerLost | flagDisconnected
)

// Errors of decoding and of the receive rules (see the package doc). The
// transport counts drops by them (Reason).
var (
	ErrMalformed   = errors.New("malformed heartbeat datagram")
	ErrVersion     = errors.New("unsupported heartbeat version")
	ErrBadMAC      = errors.New("bad heartbeat MAC: wrong key or altered datagram")
	ErrWrongSystem = errors.New("heartbeat of another system")
	ErrNotPeer     = errors.New("heartbeat not from the peer")
	ErrWrongLink   = errors.New("heartbeat names another link than the one it arrived on")
	ErrNotLinkLoc  = errors.New("heartbeat from a source that is not IPv6 link-local")
	ErrStale       = errors.New("heartbeat too old")
	ErrFuture      = errors.New("heartbeat sent in the future")
	ErrOldBoot     = errors.New("heartbeat of an older boot of the sender")
	ErrReplay      = errors.New("heartbeat replayed (sequence number already seen or too old)")
)

// Reason is a short name for a drop error, for counters and logs.
func Reason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{ErrMalformed, "malformed"}, {ErrVersion, "version"}, {ErrBadMAC, "bad-mac"},
		{ErrWrongSystem, "wrong-system"}, {ErrNotPeer, "not-peer"}, {ErrWrongLink, "wrong-link"},
		{ErrNotLinkLoc, "not-link-local"}, {ErrStale, "stale"}, {ErrFuture, "future"},
		{ErrOldBoot, "old-boot"}, {ErrReplay, "replay"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}

// Message is one heartbeat datagram: a membership heartbeat as sent on
// one link at one time.
type Message struct {
	System string
	From   membership.NodeID
	Link   string // the link it is sent on
	Boot   uint64 // the sender's incarnation (membership.Heartbeat.Incarnation)
	Seq    uint64 // membership.Heartbeat.Seq: grows with every heartbeat of a boot
	Sent   time.Time

	Term         uint64
	State        membership.State
	PeerLost     bool
	Disconnected bool
	Owned        []string
	Fenced       []string
}

// FromHeartbeat is hb as sent on link at sent.
func FromHeartbeat(hb membership.Heartbeat, link string, sent time.Time) Message {
	return Message{
		System: hb.System, From: hb.From, Link: link, Boot: hb.Incarnation, Seq: hb.Seq, Sent: sent,
		Term: hb.Term, State: hb.State, PeerLost: hb.PeerLost, Disconnected: hb.Disconnected,
		Owned: hb.Owned, Fenced: hb.Fenced,
	}
}

// Heartbeat is the membership heartbeat m carries.
func (m Message) Heartbeat() membership.Heartbeat {
	return membership.Heartbeat{
		System: m.System, From: m.From, Incarnation: m.Boot, Seq: m.Seq,
		Term: m.Term, State: m.State, PeerLost: m.PeerLost, Disconnected: m.Disconnected,
		Owned: m.Owned, Fenced: m.Fenced,
	}
}

// check reports why m cannot be encoded (decoding enforces the same).
func (m Message) check() error {
	switch {
	case m.System == "" || len(m.System) > MaxSystemID:
		return fmt.Errorf("system id must be 1 to %d bytes, is %d", MaxSystemID, len(m.System))
	case m.Link == "" || len(m.Link) > MaxLinkName:
		return fmt.Errorf("link name must be 1 to %d bytes, is %q", MaxLinkName, m.Link)
	case m.From != membership.Node0 && m.From != membership.Node1:
		return fmt.Errorf("sender %v is neither node0 nor node1", m.From)
	case m.State > membership.StatePrimary:
		return fmt.Errorf("unknown state %v", m.State)
	case m.Boot == 0:
		// Incarnation 0 means "never started": membership ignores it.
		return errors.New("boot (incarnation) is 0")
	}
	for _, list := range [][]string{m.Owned, m.Fenced} {
		if len(list) > 0xffff {
			return fmt.Errorf("%d resources in one list", len(list))
		}
		for _, r := range list {
			if len(r) > MaxResourceName {
				return fmt.Errorf("resource name %.40q… is longer than %d bytes", r, MaxResourceName)
			}
		}
	}
	return nil
}

// appendPayload writes everything the MAC covers.
func (m Message) appendPayload(b []byte) []byte {
	var flags byte
	if m.PeerLost {
		flags |= flagPeerLost
	}
	if m.Disconnected {
		flags |= flagDisconnected
	}
	b = append(b, magic...)
	b = append(b, Version, flags, byte(m.From), byte(m.State))
	b = binary.BigEndian.AppendUint64(b, m.Boot)
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Sent.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, m.Term)
	b = appendString(b, m.System)
	b = appendString(b, m.Link)
	for _, list := range [][]string{m.Owned, m.Fenced} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(list)))
		for _, r := range list {
			b = appendString(b, r)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}

// Seal encodes m and appends its MAC under key.
func (m Message) Seal(key []byte) ([]byte, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("heartbeat key is %d bytes, must be %d", len(key), KeySize)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	b := m.appendPayload(make([]byte, 0, 128))
	if len(b)+macLen > MaxDatagram {
		return nil, fmt.Errorf("heartbeat is %d bytes, more than %d", len(b)+macLen, MaxDatagram)
	}
	return append(b, mac(key, b)...), nil
}

func mac(key, payload []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(payload)
	return h.Sum(nil)
}

// Open authenticates a datagram under key and decodes it. It checks the
// MAC before it parses anything but the framing (rule 2), and it never
// panics, whatever the input. The receive rules beyond the MAC are
// Verifier's.
func Open(key, pkt []byte) (Message, error) {
	if len(pkt) < minLen || len(pkt) > MaxDatagram || !bytes.HasPrefix(pkt, []byte(magic)) {
		return Message{}, ErrMalformed
	}
	if v := pkt[len(magic)]; v != Version {
		return Message{}, fmt.Errorf("%w %d (this node speaks %d)", ErrVersion, v, Version)
	}
	if len(key) != KeySize {
		return Message{}, fmt.Errorf("%w: key is %d bytes", ErrBadMAC, len(key))
	}
	payload, sum := pkt[:len(pkt)-macLen], pkt[len(pkt)-macLen:]
	if !hmac.Equal(sum, mac(key, payload)) {
		return Message{}, ErrBadMAC
	}
	return parsePayload(payload)
}

// parsePayload decodes the MAC-covered part strictly: every length is
// bounded by what is left, nothing may follow the last field, and the
// result encodes back to exactly b.
func parsePayload(b []byte) (Message, error) {
	r := reader{b: b}
	if string(r.bytes(len(magic))) != magic || r.byte() != Version {
		return Message{}, ErrMalformed
	}
	flags, from, state := r.byte(), r.byte(), r.byte()
	m := Message{
		From:         membership.NodeID(from),
		State:        membership.State(state),
		PeerLost:     flags&flagPeerLost != 0,
		Disconnected: flags&flagDisconnected != 0,
		Boot:         r.u64(),
		Seq:          r.u64(),
		Sent:         time.Unix(0, int64(r.u64())),
		Term:         r.u64(),
		System:       r.string(),
		Link:         r.string(),
		Owned:        r.list(),
		Fenced:       r.list(),
	}
	if r.bad || len(r.b) != 0 || flags&^knownFlags != 0 {
		return Message{}, ErrMalformed
	}
	if err := m.check(); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return m, nil
}

// reader consumes b; once anything is short, bad is set and every further
// read returns zero values.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) byte() byte {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) string() string {
	n := int(r.byte())
	return string(r.bytes(n))
}

func (r *reader) list() []string {
	b := r.bytes(2)
	if b == nil {
		return nil
	}
	n := int(binary.BigEndian.Uint16(b))
	if n > len(r.b) { // every entry takes at least its length byte
		r.bad = true
		return nil
	}
	var out []string
	for range n {
		s := r.string()
		if r.bad {
			return nil
		}
		out = append(out, s)
	}
	return out
}
