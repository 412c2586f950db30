// Package sysip holds the system IP on the primary's ibiz0 (SPEC A3): the
// address clients and the API use for the system, whichever node serves
// it. Membership decides who holds it (BecomePrimary, StepDown); this
// package adds and removes the address and announces the move.
//
// # Rules
//
//   - Acquire adds the address (labelled "<ifname>:sys", so `ip addr`
//     shows which address is the system's) and then announces it with
//     gratuitous ARP: three ARP announcements 200 ms apart (RFC 5227 §3:
//     an ARP request, broadcast, with sender and target protocol address
//     both the system IP and sender hardware address this interface's
//     MAC). Every host and switch on the segment that still maps the
//     system IP to the old primary's MAC updates its entry, so the system
//     IP answers from the new primary without waiting for caches to
//     expire. Repeats cover a frame lost while a switch port or bond is
//     still settling after the failover.
//   - Only IPv4: ARP is IPv4's (an IPv6 system IP would need unsolicited
//     neighbour advertisements).
//   - The node's own address on the interface stays the interface's
//     source: when it already covers the system IP's subnet, the system IP
//     is added with IFA_F_NOPREFIXROUTE, so it never installs a subnet
//     route of its own (with itself as preferred source), not even when the
//     kernel promotes it after the node's address went. Traffic the node
//     starts itself must not leave from an address that moves to the peer
//     at the next failover. When nothing covers the subnet, the kernel's
//     prefix route is what makes the subnet's clients reachable, so it is
//     kept. A /32 never brings a route.
//   - A system IP with the same subnet length as the node's address is a
//     "secondary" address to the kernel: it is deleted together with the
//     node's address unless net.ipv4.conf.<if>.promote_secondaries is 1.
//     A /32 is independent of the node's address.
//   - Both operations are idempotent: Acquire of a held address adds
//     nothing and announces again (it is a retry, and a repeated
//     announcement is harmless); Release of an absent address, or on an
//     interface that is gone, does nothing. Acquire refuses an address
//     already on the interface with another prefix length: that is not
//     the system IP as configured (it may be the node's own address).
//   - No announcement leaves after Release: a late announcement would
//     pull the system IP's traffic back to a node that no longer holds
//     it, while the peer does. Announcements and Release exclude each
//     other, and an Acquire whose address was released (or acquired again)
//     meanwhile stops announcing.
package sysip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Announcement timing (RFC 5227 uses 2 announcements 2 s apart for a new
// address; a failover wants every cache updated within the first second).
const (
	DefaultAnnouncements = 3
	DefaultInterval      = 200 * time.Millisecond
)

var (
	// ErrNoLink: the interface does not exist.
	ErrNoLink = errors.New("no such interface")
	// ErrSuperseded: the address was released, or acquired again, while
	// an Acquire was still announcing it; that Acquire stopped.
	ErrSuperseded = errors.New("system IP released or acquired again while it was being announced")
)

// Addr is an address on an interface.
type Addr struct {
	Prefix        netip.Prefix
	Label         string
	NoPrefixRoute bool // IFA_F_NOPREFIXROUTE
}

// Addrs is the part of the kernel's address configuration sysip uses
// (Netlink is the real one).
type Addrs interface {
	// Addrs lists ifname's IPv4 addresses; ErrNoLink if it does not exist.
	Addrs(ifname string) ([]Addr, error)
	// AddAddr adds a to ifname.
	AddAddr(ifname string, a Addr) error
	// DelAddr removes p from ifname.
	DelAddr(ifname string, p netip.Prefix) error
}

// Announcer sends one gratuitous ARP announcement of ip from ifname
// (PacketAnnouncer is the real one).
type Announcer interface {
	Announce(ifname string, ip netip.Addr) error
}

// Manager acquires and releases the system IP. The zero values of the
// optional fields take the defaults. It is safe for concurrent use.
type Manager struct {
	Addrs Addrs
	ARP   Announcer
	// Announcements per Acquire and the interval between them.
	Announcements int
	Interval      time.Duration
	// Sleep waits d or until ctx ends (tests replace it).
	Sleep func(ctx context.Context, d time.Duration) error

	mu    sync.Mutex
	epoch uint64 // bumped by every Acquire and Release
}

// Label is the address label the system IP gets on ifname: "ibiz0:sys".
// The kernel wants labels to start with the interface name and fit
// IFNAMSIZ; a name too long for the suffix gets no label.
func Label(ifname string) string {
	if l := ifname + ":sys"; len(l) <= 15 {
		return l
	}
	return ""
}

// check rejects what cannot be a system IP.
func check(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return p, errors.New("system IP: no address given")
	}
	a := p.Addr().Unmap()
	if !a.Is4() {
		return p, fmt.Errorf("system IP %v: must be IPv4 (gratuitous ARP announces IPv4 only)", p)
	}
	bits := p.Bits()
	if p.Addr().Is4In6() {
		bits -= 96
	}
	p = netip.PrefixFrom(a, bits)
	if bits < 1 || !a.IsGlobalUnicast() {
		return p, fmt.Errorf("system IP %v: not a unicast host address", p)
	}
	if bits <= 30 {
		b := a.As4()
		host := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		mask := uint32(1)<<(32-bits) - 1
		if host&mask == 0 || host&mask == mask {
			return p, fmt.Errorf("system IP %v: the network or broadcast address of its subnet", p)
		}
	}
	return p, nil
}

// Acquire adds p to ifname (if it is not there) and announces it
// DefaultAnnouncements times. When the announcements fail (all or some),
// the error says so and the address stays: Acquire can simply be called
// again.
func (m *Manager) Acquire(ctx context.Context, ifname string, p netip.Prefix) error {
	p, err := check(p)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	m.epoch++
	epoch := m.epoch
	err = m.add(ifname, p)
	m.mu.Unlock()
	if err != nil {
		return err
	}

	n, interval, sleep := m.Announcements, m.Interval, m.Sleep
	if n <= 0 {
		n = DefaultAnnouncements
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	var errs []error
	for i := range n {
		if i > 0 {
			if err := sleep(ctx, interval); err != nil {
				return fmt.Errorf("system IP %v held on %s; announcements cut short after %d of %d: %w", p, ifname, i, n, err)
			}
		}
		m.mu.Lock()
		if m.epoch != epoch {
			m.mu.Unlock()
			return fmt.Errorf("system IP %v on %s: %w", p, ifname, ErrSuperseded)
		}
		err := m.ARP.Announce(ifname, p.Addr())
		m.mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("announcement %d: %w", i+1, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("system IP %v held on %s, but %d of %d gratuitous ARP announcements failed: %w", p, ifname, len(errs), n, errors.Join(errs...))
	}
	return nil
}

// add puts p on ifname unless it is there (mu held).
func (m *Manager) add(ifname string, p netip.Prefix) error {
	as, err := m.Addrs.Addrs(ifname)
	if err != nil {
		return fmt.Errorf("system IP %v on %s: %w", p, ifname, err)
	}
	covered := false
	for _, a := range as {
		if a.Prefix.Addr() == p.Addr() {
			if a.Prefix.Bits() == p.Bits() {
				return nil // held already
			}
			return fmt.Errorf("system IP %v: %s already has %v; not touching an address configured otherwise", p, ifname, a.Prefix)
		}
		if a.Prefix.Bits() < 32 && a.Prefix.Masked().Contains(p.Addr()) {
			covered = true
		}
	}
	a := Addr{Prefix: p, Label: Label(ifname), NoPrefixRoute: covered && p.Bits() < 32}
	if err := m.Addrs.AddAddr(ifname, a); err != nil {
		return fmt.Errorf("add system IP %v to %s: %w", p, ifname, err)
	}
	return nil
}

// Release removes p from ifname if it is there. After Release returns,
// no announcement of an earlier Acquire leaves any more.
func (m *Manager) Release(ifname string, p netip.Prefix) error {
	p, err := check(p)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.epoch++
	as, err := m.Addrs.Addrs(ifname)
	if errors.Is(err, ErrNoLink) {
		return nil // the interface went, and the address with it
	}
	if err != nil {
		return fmt.Errorf("release system IP %v on %s: %w", p, ifname, err)
	}
	for _, a := range as {
		if a.Prefix == p {
			if err := m.Addrs.DelAddr(ifname, p); err != nil {
				return fmt.Errorf("release system IP %v on %s: %w", p, ifname, err)
			}
		}
	}
	return nil
}

// Held reports whether p is on ifname.
func (m *Manager) Held(ifname string, p netip.Prefix) (bool, error) {
	p, err := check(p)
	if err != nil {
		return false, err
	}
	as, err := m.Addrs.Addrs(ifname)
	if errors.Is(err, ErrNoLink) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, a := range as {
		if a.Prefix == p {
			return true, nil
		}
	}
	return false, nil
}

// Close closes the Addrs implementation if it has anything to close.
func (m *Manager) Close() {
	if c, ok := m.Addrs.(interface{ Close() }); ok {
		c.Close()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
