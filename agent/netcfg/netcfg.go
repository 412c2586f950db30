// Package netcfg configures a node's network from its node config (SPEC I4,
// I5, A2): the NICs chosen at install are found by MAC (kernel names change
// between kernels and boots), renamed to their roles priv0, ibiz0 and
// alink0, alink1, … and brought up; ibiz0 gets the node's address, static or
// by DHCP.
//
// Every step is idempotent, because the agent retries a failed
// configuration and systemd restarts the agent on a node whose links are
// already configured.
package netcfg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// The role names the links get; the A-Links' are ALinkName(i).
const (
	Priv0 = "priv0"
	Ibiz0 = "ibiz0"
)

const aLinkPrefix = "alink"

// ALinkName is the name of the i-th A-Link (from 0): alink0, alink1, ….
func ALinkName(i int) string { return aLinkPrefix + strconv.Itoa(i) }

// aLinkIndex is the i of a name ALinkName(i) gave, or -1.
func aLinkIndex(name string) int {
	rest, ok := strings.CutPrefix(name, aLinkPrefix)
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || ALinkName(i) != name {
		return -1
	}
	return i
}

// HeartbeatLinks names the links that carry heartbeats to the peer (SPEC
// A2): priv0, then the A-Links in config order.
func HeartbeatLinks(n nodeconfig.Network) []string {
	names := []string{Priv0}
	for i := range n.ALinks {
		names = append(names, ALinkName(i))
	}
	return names
}

// roles lists the link names the config asks for, in the order they are
// renamed and set up, with their MACs as written in the config.
func roles(n nodeconfig.Network) (names, macs []string) {
	names, macs = []string{Priv0, Ibiz0}, []string{n.Priv0.MAC, n.Ibiz0.MAC}
	for i, a := range n.ALinks {
		names, macs = append(names, ALinkName(i)), append(macs, a.MAC)
	}
	return names, macs
}

// Link is a network interface as the configurator sees it.
type Link struct {
	Index   int // stable while the link exists; names are not
	Name    string
	MAC     net.HardwareAddr
	Up      bool // administratively up
	Carrier bool // operationally up: cable in, other end there
	// Kind is the link's type as netlink names it: "device" for a NIC,
	// "bridge", "veth", "vlan", "tuntap" (a VM's NIC), ….
	Kind   string
	Master int // index of the bridge (or bond) the link is a port of; 0 none
}

// State is the link's state for people: "up", "up, no carrier", "down".
func (l Link) State() string {
	switch {
	case !l.Up:
		return "down"
	case !l.Carrier:
		return "up, no carrier"
	}
	return "up"
}

// Links is the part of the kernel's network configuration netcfg uses
// (Netlink is the real one).
type Links interface {
	List() ([]Link, error)
	// Rename renames l; the kernel renames only links that are down, so
	// it takes the link down first.
	Rename(l Link, name string) error
	SetUp(l Link) error
	// ReplaceAddr adds p to l, or updates it when present.
	ReplaceAddr(l Link, p netip.Prefix) error
	// Addrs lists l's addresses except link-local ones.
	Addrs(l Link) ([]netip.Prefix, error)
	// ReplaceDefaultRoute sets the default route of gw's family via gw on l.
	ReplaceDefaultRoute(l Link, gw netip.Addr) error
}

// Lease is what a DHCP server gave.
type Lease struct {
	Addr    netip.Prefix
	Gateway netip.Addr // invalid when the server gave none
	DNS     []netip.Addr
	Time    int // seconds the lease is valid; 0 when unknown
}

// DHCP obtains a lease for a link that is up (DHCPClient is the real one).
type DHCP interface {
	Lease(ctx context.Context, l Link) (Lease, error)
}

// Configurator applies a node config's network section.
type Configurator struct {
	Links Links
	DHCP  DHCP // used when the node address is DHCP
	// ResolvConf is written with the DNS servers; "" leaves it alone.
	ResolvConf string
}

// Result is what Configure set up.
type Result struct {
	Ibiz0 netip.Prefix // the node address, static or leased
	DHCP  bool
	Lease Lease // when DHCP
	// Warnings are failures that leave the node reachable (resolv.conf).
	Warnings []error
}

// Configure renames and brings up priv0, ibiz0 and the A-Links and
// configures ibiz0's address, default route and the DNS servers. priv0 and
// the A-Links get no address: their IPv6 link-local addresses are all the
// cluster links need.
func (c *Configurator) Configure(ctx context.Context, n nodeconfig.Network) (Result, error) {
	var res Result
	order, macs := roles(n)
	want := map[string]net.HardwareAddr{}
	byMAC := map[string]string{}
	for i, role := range order {
		mac, err := net.ParseMAC(macs[i])
		if err != nil {
			return res, fmt.Errorf("%s: node config MAC %q: %w", role, macs[i], err)
		}
		// One link cannot carry two names; renaming it twice would leave
		// the first role without a link.
		if other, dup := byMAC[mac.String()]; dup {
			return res, fmt.Errorf("%s: node config MAC %s is %s's too", role, mac, other)
		}
		byMAC[mac.String()] = role
		want[role] = mac
	}
	var static netip.Prefix
	var gw netip.Addr
	if !n.Node.DHCP {
		var err error
		if static, gw, err = StaticAddress(n.Node); err != nil {
			return res, fmt.Errorf("%s: %w", Ibiz0, err)
		}
	}

	links, err := c.assign(order, want)
	if err != nil {
		return res, err
	}
	for _, role := range order {
		if l := links[role]; !l.Up {
			if err := c.Links.SetUp(l); err != nil {
				return res, fmt.Errorf("%s: set up: %w", role, err)
			}
			l.Up = true
			links[role] = l
		}
	}

	ibiz0 := links[Ibiz0]
	dns := parseAddrs(n.DNS)
	if n.Node.DHCP {
		if c.DHCP == nil {
			return res, errors.New("ibiz0: the node address is DHCP but no DHCP client is configured")
		}
		lease, err := c.DHCP.Lease(ctx, ibiz0)
		if err != nil {
			return res, fmt.Errorf("%s: DHCP: %w", Ibiz0, err)
		}
		res.DHCP, res.Lease = true, lease
		static, gw = lease.Addr, lease.Gateway
		if len(dns) == 0 { // servers typed at install win over the lease's
			dns = lease.DNS
		}
	}
	if err := c.Links.ReplaceAddr(ibiz0, static); err != nil {
		return res, fmt.Errorf("%s: address %s: %w", Ibiz0, static, err)
	}
	res.Ibiz0 = static
	if gw.IsValid() {
		if err := c.Links.ReplaceDefaultRoute(ibiz0, gw); err != nil {
			return res, fmt.Errorf("%s: default route via %s: %w", Ibiz0, gw, err)
		}
	}
	if c.ResolvConf != "" && len(dns) > 0 {
		if err := writeResolvConf(c.ResolvConf, dns); err != nil {
			res.Warnings = append(res.Warnings, fmt.Errorf("DNS: %w", err))
		}
	}
	return res, nil
}

// assign finds the links with the wanted MACs and gives them their role
// names, going through the roles in order so that errors and renames come
// in the same order on every run.
func (c *Configurator) assign(order []string, want map[string]net.HardwareAddr) (map[string]Link, error) {
	all, err := c.Links.List()
	if err != nil {
		return nil, fmt.Errorf("list network links: %w", err)
	}
	found := map[string]Link{}
	for _, role := range order {
		mac := want[role]
		var match []Link
		for _, l := range all {
			if bytes.Equal(l.MAC, mac) {
				match = append(match, l)
			}
		}
		switch {
		case len(match) == 0:
			return nil, fmt.Errorf("%s: no network link has MAC %s (the NIC chosen at install); links: %s", role, mac, describe(all))
		case len(match) > 1:
			// A bridge or VLAN may share the NIC's MAC; the one already
			// carrying the role name is the one renamed before.
			i := indexOfName(match, role)
			if i < 0 {
				return nil, fmt.Errorf("%s: several links have MAC %s: %s", role, mac, describe(match))
			}
			match = match[i : i+1]
		}
		found[role] = match[0]
	}

	// A role name held by another link (the config's NICs changed, or
	// two roles were swapped) is moved out of the way first.
	for _, role := range order {
		l := found[role]
		i := indexOfName(all, role)
		if i < 0 || all[i].Index == l.Index {
			continue
		}
		other := all[i]
		tmp := "lsold" + strconv.Itoa(other.Index)
		if err := c.Links.Rename(other, tmp); err != nil {
			return nil, fmt.Errorf("%s: rename %s (MAC %s) out of the way to %s: %w", role, other.Name, other.MAC, tmp, err)
		}
		for r, f := range found {
			if f.Index == other.Index {
				f.Name, f.Up = tmp, false
				found[r] = f
			}
		}
	}
	for _, role := range order {
		l := found[role]
		if l.Name == role {
			continue
		}
		if err := c.Links.Rename(l, role); err != nil {
			return nil, fmt.Errorf("%s: rename %s (MAC %s): %w", role, l.Name, l.MAC, err)
		}
		l.Name, l.Up = role, false
		found[role] = l
	}
	return found, nil
}

func indexOfName(ls []Link, name string) int {
	for i, l := range ls {
		if l.Name == name {
			return i
		}
	}
	return -1
}

func describe(ls []Link) string {
	var s []string
	for _, l := range ls {
		if len(l.MAC) > 0 {
			s = append(s, l.Name+" "+l.MAC.String())
		}
	}
	if len(s) == 0 {
		return "none with a MAC"
	}
	return strings.Join(s, ", ")
}

// StaticAddress is a static node address as a prefix and its gateway
// (invalid when none). The installer normalizes to a dotted netmask; CIDR
// and prefix-length forms are accepted too, as answers.Address documents.
func StaticAddress(a answers.Address) (netip.Prefix, netip.Addr, error) {
	var p netip.Prefix
	if strings.Contains(a.IP, "/") {
		var err error
		if p, err = netip.ParsePrefix(a.IP); err != nil {
			return p, netip.Addr{}, fmt.Errorf("node address %q: %w", a.IP, err)
		}
	} else {
		ip, err := netip.ParseAddr(a.IP)
		if err != nil {
			return p, netip.Addr{}, fmt.Errorf("node address %q: %w", a.IP, err)
		}
		bits, err := maskBits(a.Netmask, ip)
		if err != nil {
			return p, netip.Addr{}, err
		}
		p = netip.PrefixFrom(ip, bits)
	}
	var gw netip.Addr
	if a.Gateway != "" {
		var err error
		if gw, err = netip.ParseAddr(a.Gateway); err != nil {
			return p, gw, fmt.Errorf("gateway %q: %w", a.Gateway, err)
		}
	}
	return p, gw, nil
}

func maskBits(mask string, ip netip.Addr) (int, error) {
	if n, err := strconv.Atoi(strings.TrimPrefix(mask, "/")); err == nil {
		if n < 0 || n > ip.BitLen() {
			return 0, fmt.Errorf("netmask %q: prefix length out of range", mask)
		}
		return n, nil
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || !m.Is4() || !ip.Is4() {
		return 0, fmt.Errorf("netmask %q: want a dotted IPv4 netmask or a prefix length", mask)
	}
	ones, bits := net.IPMask(m.AsSlice()).Size()
	if bits == 0 {
		return 0, fmt.Errorf("netmask %q: the one bits are not contiguous", mask)
	}
	return ones, nil
}

// parseAddrs skips what does not parse: Validate checked the config, and a
// bad DNS server must not keep the node off the network.
func parseAddrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func writeResolvConf(path string, dns []netip.Addr) error {
	var b strings.Builder
	b.WriteString("# written by lockstepd from the node config\n")
	for _, a := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// Observed is the live state of the role links, for the status screen.
type Observed struct {
	Ibiz0      []netip.Prefix // addresses on ibiz0, read back from the kernel
	Priv0      string         // Link.State, or "missing"
	Ibiz0State string
	// ALinks are the links named alink0, alink1, … up to the highest one
	// present, a gap reading "missing". Observe does not read the config,
	// so configured A-Links after the last one present are not listed:
	// compare with HeartbeatLinks for that.
	ALinks []LinkState
}

// LinkState is a role link's state.
type LinkState struct {
	Name  string // the role name: alink0, …
	State string // Link.State, or "missing"
}

// Observe reads the role links' state.
func Observe(ls Links) (Observed, error) {
	o := Observed{Priv0: "missing", Ibiz0State: "missing"}
	all, err := ls.List()
	if err != nil {
		return o, fmt.Errorf("list network links: %w", err)
	}
	for _, l := range all {
		switch l.Name {
		case Priv0:
			o.Priv0 = l.State()
		case Ibiz0:
			o.Ibiz0State = l.State()
			if o.Ibiz0, err = ls.Addrs(l); err != nil {
				return o, fmt.Errorf("%s: addresses: %w", Ibiz0, err)
			}
		}
		// Bounded so that a stray "alink999" makes no long list of gaps.
		if i := aLinkIndex(l.Name); i >= 0 && i < answers.MaxALinks {
			for len(o.ALinks) <= i {
				o.ALinks = append(o.ALinks, LinkState{Name: ALinkName(len(o.ALinks)), State: "missing"})
			}
			o.ALinks[i].State = l.State()
		}
	}
	return o, nil
}
