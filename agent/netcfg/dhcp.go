package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"
)

// DHCPClient is DHCP with u-root's DHCPv4 client, as the installer uses it
// (installer/netup), on one link only. It only obtains the lease; the
// Configurator applies it, so the same code path sets static and leased
// addresses.
type DHCPClient struct {
	// Hostname is sent to the server (option 12), so that its lease table
	// names the node.
	Hostname string
}

// Lease implements DHCP.
func (d DHCPClient) Lease(ctx context.Context, l Link) (Lease, error) {
	nl, err := netlink.LinkByIndex(l.Index)
	if err != nil {
		return Lease{}, fmt.Errorf("link %s: %w", l.Name, err)
	}
	mods := []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("Lockstep"))}
	if d.Hostname != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(d.Hostname)))
	}
	const carrierWait = 10 * time.Second
	results := dhclient.SendRequests(ctx, []netlink.Link{nl}, true, false,
		dhclient.Config{Timeout: 5 * time.Second, Retries: 3, Modifiers4: mods}, carrierWait)
	// No result at all means the link never got a carrier.
	err = fmt.Errorf("no carrier within %s (cable, switch port?)", carrierWait)
	for r := range results {
		if r.Err != nil {
			err = r.Err
			continue
		}
		p, ok := r.Lease.(*dhclient.Packet4)
		if !ok {
			err = fmt.Errorf("unexpected lease type %T", r.Lease)
			continue
		}
		return leaseOf(p)
	}
	return Lease{}, err
}

func leaseOf(p *dhclient.Packet4) (Lease, error) {
	ipn := p.Lease()
	ip, ok := netip.AddrFromSlice(ipn.IP.To4())
	if !ok || ip.IsUnspecified() {
		return Lease{}, errors.New("the server's answer has no address")
	}
	ones, _ := ipn.Mask.Size()
	l := Lease{Addr: netip.PrefixFrom(ip, ones), Time: int(p.P.IPAddressLeaseTime(0) / time.Second)}
	// RFC 3442: classless static routes, when given, replace the Router option.
	if routes := p.P.ClasslessStaticRoute(); routes != nil {
		for _, r := range routes {
			if ones, _ := r.Dest.Mask.Size(); ones == 0 {
				l.Gateway, _ = netip.AddrFromSlice(r.Router.To4())
			}
		}
	} else if gws := p.P.Router(); len(gws) > 0 {
		l.Gateway, _ = netip.AddrFromSlice(gws[0].To4())
	}
	for _, a := range p.P.DNS() {
		if ip, ok := netip.AddrFromSlice(a.To4()); ok {
			l.DNS = append(l.DNS, ip)
		}
	}
	return l, nil
}
