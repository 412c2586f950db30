package netcfg

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// AddBridge implements BridgeLinks.
func (n *Netlink) AddBridge(name string) (Link, error) {
	if err := n.h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		return Link{}, err
	}
	nl, err := n.h.LinkByName(name)
	if err != nil {
		return Link{}, err
	}
	a := nl.Attrs()
	return Link{Index: a.Index, Name: a.Name, MAC: a.HardwareAddr, Kind: nl.Type()}, nil
}

// bridgeSysctls keep the node's IP stack off a business network's bridge
// (see bridges.go): strict reverse-path filtering drops every packet, as
// no route leads to the bridge; arp_ignore 8 answers no ARP request; and
// the bridge has no IPv6 at all, link-local address included.
var bridgeSysctls = []struct{ path, value string }{
	{"ipv4/conf/%s/rp_filter", "1"},
	{"ipv4/conf/%s/arp_ignore", "8"},
	{"ipv6/conf/%s/disable_ipv6", "1"},
}

// ConfigureBridge implements BridgeLinks. The sysctls are written in the
// calling thread's network namespace (/proc/sys/net is per thread), which
// in the agent is the only one.
func (n *Netlink) ConfigureBridge(l Link) error {
	// STP first: the kernel refuses a forward delay below 2 s while STP
	// is on.
	if err := n.setBridgeAttr(l, nl.IFLA_BR_STP_STATE, 0); err != nil {
		return fmt.Errorf("STP off: %w", err)
	}
	if err := n.setBridgeAttr(l, nl.IFLA_BR_FORWARD_DELAY, 0); err != nil {
		return fmt.Errorf("forward delay 0: %w", err)
	}
	for _, s := range bridgeSysctls {
		p := filepath.Join("/proc/sys/net", fmt.Sprintf(s.path, l.Name))
		err := os.WriteFile(p, []byte(s.value), 0o644)
		if errors.Is(err, fs.ErrNotExist) && filepath.Base(filepath.Dir(filepath.Dir(p))) == "ipv6" {
			if _, serr := os.Stat("/proc/sys/net/ipv6"); errors.Is(serr, fs.ErrNotExist) {
				continue // a kernel without IPv6 (ipv6.disable=1)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// setBridgeAttr sets one IFLA_BR_* attribute, which vishvananda/netlink
// does not offer for STP and the forward delay.
func (n *Netlink) setBridgeAttr(l Link, attr int, v uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(l.Index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(attr, nl.Uint32Attr(v))
	req.AddData(info)
	req.Sockets = n.raw
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// AllAddrs implements BridgeLinks.
func (n *Netlink) AllAddrs(l Link) ([]net.IPNet, error) {
	as, err := n.addrList(l)
	if err != nil {
		return nil, err
	}
	var out []net.IPNet
	for _, a := range as {
		out = append(out, *a.IPNet)
	}
	return out, nil
}

// DelAddr implements BridgeLinks.
func (n *Netlink) DelAddr(l Link, a net.IPNet) error {
	nl, err := n.link(l)
	if err != nil {
		return err
	}
	return n.h.AddrDel(nl, &netlink.Addr{IPNet: &a})
}

// SetMaster implements BridgeLinks.
func (n *Netlink) SetMaster(l Link, master int) error {
	nl, err := n.link(l)
	if err != nil {
		return err
	}
	return n.h.LinkSetMasterByIndex(nl, master)
}

// Delete implements BridgeLinks.
func (n *Netlink) Delete(l Link) error {
	nl, err := n.link(l)
	if err != nil {
		return err
	}
	return n.h.LinkDel(nl)
}
