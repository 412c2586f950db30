package sysip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lockstep-ft/lockstep/internal/rtnl"
)

// Netlink is Addrs over rtnetlink, in the network namespace of the thread
// that opened it.
type Netlink struct{ h *netlink.Handle }

// NewNetlink opens rtnetlink in the calling thread's network namespace.
func NewNetlink() (*Netlink, error) {
	h, err := rtnl.Open()
	if err != nil {
		return nil, err
	}
	return &Netlink{h: h}, nil
}

// Close releases the socket.
func (n *Netlink) Close() { n.h.Close() }

func (n *Netlink) link(ifname string) (netlink.Link, error) {
	l, err := n.h.LinkByName(ifname)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("%s: %w", ifname, ErrNoLink)
	}
	return l, err
}

// Addrs implements Addrs.
func (n *Netlink) Addrs(ifname string) ([]Addr, error) {
	l, err := n.link(ifname)
	if err != nil {
		return nil, err
	}
	as, err := n.h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	out := make([]Addr, 0, len(as))
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, Addr{
			Prefix:        netip.PrefixFrom(ip.Unmap(), ones),
			Label:         a.Label,
			NoPrefixRoute: a.Flags&unix.IFA_F_NOPREFIXROUTE != 0,
		})
	}
	return out, nil
}

func nlAddr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
}

// AddAddr implements Addrs. An address that is there already is no error.
func (n *Netlink) AddAddr(ifname string, a Addr) error {
	l, err := n.link(ifname)
	if err != nil {
		return err
	}
	na := nlAddr(a.Prefix)
	na.Label = a.Label
	if a.NoPrefixRoute {
		na.Flags = unix.IFA_F_NOPREFIXROUTE
	}
	if err := n.h.AddrAdd(l, na); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// DelAddr implements Addrs. An address that is gone already is no error.
func (n *Netlink) DelAddr(ifname string, p netip.Prefix) error {
	l, err := n.link(ifname)
	if errors.Is(err, ErrNoLink) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := n.h.AddrDel(l, nlAddr(p)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return err
	}
	return nil
}

// Open returns a Manager on the real kernel, in the calling thread's
// network namespace. Close it when done.
func Open() (*Manager, error) {
	nl, err := NewNetlink()
	if err != nil {
		return nil, err
	}
	return &Manager{Addrs: nl, ARP: PacketAnnouncer{}}, nil
}
