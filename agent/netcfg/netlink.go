package netcfg

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/lockstep-ft/lockstep/internal/rtnl"
)

// Netlink is Links over rtnetlink. Its sockets belong to the network
// namespace of the thread that created it, which is how the tests keep it
// inside their own namespace.
type Netlink struct{ h *netlink.Handle }

// NewNetlink opens rtnetlink in the calling thread's network namespace.
func NewNetlink() (*Netlink, error) {
	h, err := rtnl.Open()
	if err != nil {
		return nil, err
	}
	return &Netlink{h: h}, nil
}

// Close releases the sockets.
func (n *Netlink) Close() { n.h.Close() }

// List implements Links.
func (n *Netlink) List() ([]Link, error) {
	ls, err := n.h.LinkList()
	if err != nil {
		return nil, err
	}
	out := make([]Link, 0, len(ls))
	for _, l := range ls {
		a := l.Attrs()
		out = append(out, Link{
			Index:   a.Index,
			Name:    a.Name,
			MAC:     a.HardwareAddr,
			Up:      a.Flags&net.FlagUp != 0,
			Carrier: a.OperState == netlink.OperUp,
		})
	}
	return out, nil
}

func (n *Netlink) link(l Link) (netlink.Link, error) {
	nl, err := n.h.LinkByIndex(l.Index)
	if err != nil {
		return nil, fmt.Errorf("link %s (index %d): %w", l.Name, l.Index, err)
	}
	return nl, nil
}

// Rename implements Links.
func (n *Netlink) Rename(l Link, name string) error {
	nl, err := n.link(l)
	if err != nil {
		return err
	}
	if err := n.h.LinkSetDown(nl); err != nil {
		return fmt.Errorf("set down: %w", err)
	}
	return n.h.LinkSetName(nl, name)
}

// SetUp implements Links.
func (n *Netlink) SetUp(l Link) error {
	nl, err := n.link(l)
	if err != nil {
		return err
	}
	return n.h.LinkSetUp(nl)
}

// ReplaceAddr implements Links.
func (n *Netlink) ReplaceAddr(l Link, p netip.Prefix) error {
	nl, err := n.link(l)
	if err != nil {
		return err
	}
	return n.h.AddrReplace(nl, &netlink.Addr{IPNet: &net.IPNet{
		IP:   p.Addr().AsSlice(),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}})
}

// Addrs implements Links.
func (n *Netlink) Addrs(l Link) ([]netip.Prefix, error) {
	nl, err := n.link(l)
	if err != nil {
		return nil, err
	}
	as, err := n.h.AddrList(nl, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.Unmap().IsLinkLocalUnicast() {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

// ReplaceDefaultRoute implements Links.
func (n *Netlink) ReplaceDefaultRoute(l Link, gw netip.Addr) error {
	return n.h.RouteReplace(&netlink.Route{LinkIndex: l.Index, Gw: gw.AsSlice()})
}
