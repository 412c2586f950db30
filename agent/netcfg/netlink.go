package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/lockstep-ft/lockstep/internal/rtnl"
)

// Netlink is Links over rtnetlink. Its sockets belong to the network
// namespace of the thread that created it, which is how the tests keep it
// inside their own namespace.
type Netlink struct {
	h *netlink.Handle
	// raw is for the requests the library has no call for (a bridge's
	// STP and forward delay), opened beside h and so in its namespace.
	raw map[int]*nl.SocketHandle
}

// NewNetlink opens rtnetlink in the calling thread's network namespace.
func NewNetlink() (*Netlink, error) {
	h, err := rtnl.Open()
	if err != nil {
		return nil, err
	}
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("open rtnetlink: %w", err)
	}
	tv := unix.NsecToTimeval(rtnl.Timeout.Nanoseconds())
	if err := errors.Join(s.SetSendTimeout(&tv), s.SetReceiveTimeout(&tv)); err != nil {
		s.Close()
		h.Close()
		return nil, fmt.Errorf("rtnetlink socket timeout: %w", err)
	}
	return &Netlink{h: h, raw: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}}, nil
}

// Close releases the sockets.
func (n *Netlink) Close() {
	n.h.Close()
	n.raw[unix.NETLINK_ROUTE].Close()
}

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
			Kind:    l.Type(),
			Master:  a.MasterIndex,
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
	as, err := n.addrList(l)
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

// addrList is every address of l, of both families.
func (n *Netlink) addrList(l Link) ([]netlink.Addr, error) {
	nl, err := n.link(l)
	if err != nil {
		return nil, err
	}
	return n.h.AddrList(nl, netlink.FAMILY_ALL)
}

// ReplaceDefaultRoute implements Links.
func (n *Netlink) ReplaceDefaultRoute(l Link, gw netip.Addr) error {
	return n.h.RouteReplace(&netlink.Route{LinkIndex: l.Index, Gw: gw.AsSlice()})
}
