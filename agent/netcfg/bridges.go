package netcfg

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

// Business networks are the networks guests use (SPEC vocabulary): each is
// a bridge of the same name on both nodes, with one NIC of the node as its
// port and the VMs' NICs as its other ports, so that a VM keeps its MAC
// and IP address on either node.
//
// A business network carries guests only. The bridge gets no address, and
// since Linux answers ARP and accepts packets for any of its addresses on
// any interface, its IPv4 is also made deaf (strict reverse-path filter,
// no ARP replies) and its IPv6 is disabled: a guest must not reach the
// node's management address or its services through its own network.

// BridgePrefix starts the name of every bridge the agent manages; it
// removes bridges with this prefix that no network needs, and nothing else.
const BridgePrefix = "lsbr-"

// BridgeName is the bridge of a business network on each node.
func BridgeName(network string) string { return BridgePrefix + network }

// BridgeOK is the state of a network whose bridge and port are in place.
const BridgeOK = "ok"

// PortRole says which role a link name belongs to when the link serves the
// node itself (priv0, ibiz0, the A-Links), or "" when it may carry guests.
func PortRole(name string) string {
	switch {
	case name == Priv0:
		return "priv0 is the heartbeat port"
	case name == Ibiz0:
		return "ibiz0 is the management port"
	case aLinkIndex(name) >= 0:
		return name + " is a replication port"
	}
	return ""
}

// ParsePort reads a business network's port as an administrator gives
// it: a MAC address, returned in lower-case colon form, or a kernel
// interface name. Interface names cannot contain ':', so the two never
// clash.
func ParsePort(s string) (string, error) {
	if mac, err := net.ParseMAC(s); err == nil {
		if len(mac) != 6 {
			return "", fmt.Errorf("port %q: a NIC's MAC address has six bytes", s)
		}
		return mac.String(), nil
	}
	// The kernel's dev_valid_name: at most 15 bytes, no '/', ':' or
	// white space, not "." or "..".
	if s == "" || len(s) > 15 || s == "." || s == ".." || strings.ContainsAny(s, "/: \t\n\r\v\f") {
		return "", fmt.Errorf("port %q: give the NIC's interface name (enp9s0) or its MAC address", s)
	}
	if s == "lo" || strings.HasPrefix(s, BridgePrefix) {
		return "", fmt.Errorf("port %q: give a NIC of the node", s)
	}
	return s, nil
}

// BusinessNet is one business network as this node serves it.
type BusinessNet struct {
	Name string
	Port string // this node's NIC, as ParsePort gives it; "" none
}

// BridgeLinks is what ReconcileBridges needs of the kernel beyond Links
// (Netlink is the real one).
type BridgeLinks interface {
	Links
	// AddBridge creates a bridge, down.
	AddBridge(name string) (Link, error)
	// ConfigureBridge turns STP off, sets the forward delay to 0 and
	// shuts the node's own IP stack off the bridge (see the top of this
	// file). It is idempotent.
	ConfigureBridge(l Link) error
	// AllAddrs lists every address of l, link-local ones too.
	AllAddrs(l Link) ([]net.IPNet, error)
	DelAddr(l Link, a net.IPNet) error
	// SetMaster enslaves l to the link of index master, or frees it (0).
	SetMaster(l Link, master int) error
	Delete(l Link) error
}

// ReconcileBridges makes this node's bridges match nets: each network's
// bridge exists, configured and up, with the network's port enslaved and
// up; ports that no longer belong leave their bridge, and bridges named
// BridgePrefix… that no network needs are deleted. VM NICs (tap devices)
// on a bridge are left alone. It returns each network's state: BridgeOK,
// "port X not found", "port X …" for a port that cannot serve, or
// "bridge error: …". A network without its port still gets its bridge:
// libvirt needs it to start the network's VMs, which then reach the other
// node's guests once the port is there.
func ReconcileBridges(ls BridgeLinks, nets []BusinessNet) (map[string]string, error) {
	nets = slices.Clone(nets)
	slices.SortFunc(nets, func(a, b BusinessNet) int { return strings.Compare(a.Name, b.Name) })
	states := map[string]string{}
	all, err := ls.List()
	if err != nil {
		for _, n := range nets {
			states[n.Name] = "bridge error: list network links: " + err.Error()
		}
		return states, fmt.Errorf("list network links: %w", err)
	}
	var errs []error
	fail := func(n BusinessNet, format string, args ...any) {
		states[n.Name] = "bridge error: " + fmt.Sprintf(format, args...)
		errs = append(errs, fmt.Errorf("network %s: %s", n.Name, states[n.Name]))
	}

	wanted := map[string]bool{}
	ours := map[int]bool{}    // bridge indexes of the wanted networks
	claimed := map[int]bool{} // ports given to a network in this run
	owner := map[int]string{}
	for _, n := range nets {
		name := BridgeName(n.Name)
		wanted[name] = true
		br, ok := byName(all, name)
		if ok && br.Kind != "bridge" {
			fail(n, "%s exists and is not a bridge (%s)", name, br.Kind)
			continue
		}
		if !ok {
			if br, err = ls.AddBridge(name); err != nil {
				fail(n, "create %s: %v", name, err)
				continue
			}
		}
		ours[br.Index] = true
		// The port is claimed before anything can fail, so that a bridge
		// error never releases the port the network keeps.
		var port Link
		problem := "no port on this node"
		if n.Port != "" {
			port, problem = findPort(all, n.Port)
		}
		if problem == "" && claimed[port.Index] {
			problem = fmt.Sprintf("port %s is network %s's port already", n.Port, owner[port.Index])
		}
		if problem == "" {
			claimed[port.Index], owner[port.Index] = true, n.Name
		}
		if err := ls.ConfigureBridge(br); err != nil {
			fail(n, "configure %s: %v", name, err)
			continue
		}
		if err := flushAddrs(ls, br); err != nil {
			fail(n, "%s: %v", name, err)
			continue
		}
		if !br.Up {
			if err := ls.SetUp(br); err != nil {
				fail(n, "set %s up: %v", name, err)
				continue
			}
		}
		if problem != "" {
			states[n.Name] = problem
			continue
		}
		if port.Master != br.Index {
			// A port held by another of our bridges moves (its network
			// was given another NIC); one held by anything else is not
			// ours to take.
			if m, ok := byIndex(all, port.Master); port.Master != 0 && (!ok || !strings.HasPrefix(m.Name, BridgePrefix)) {
				fail(n, "port %s is enslaved to %s", n.Port, cmp.Or(m.Name, fmt.Sprintf("link %d", port.Master)))
				continue
			}
			if err := ls.SetMaster(port, br.Index); err != nil {
				fail(n, "enslave %s to %s: %v", port.Name, name, err)
				continue
			}
		}
		if !port.Up {
			if err := ls.SetUp(port); err != nil {
				fail(n, "set %s up: %v", port.Name, err)
				continue
			}
		}
		states[n.Name] = BridgeOK
	}

	for _, l := range all {
		if ours[l.Master] && !claimed[l.Index] && l.Kind != "tuntap" {
			if err := ls.SetMaster(l, 0); err != nil {
				errs = append(errs, fmt.Errorf("release %s from its bridge: %w", l.Name, err))
			}
		}
	}
	for _, l := range all {
		if l.Kind == "bridge" && strings.HasPrefix(l.Name, BridgePrefix) && !wanted[l.Name] {
			if err := ls.Delete(l); err != nil {
				errs = append(errs, fmt.Errorf("delete %s: %w", l.Name, err))
			}
		}
	}
	return states, errors.Join(errs...)
}

// findPort finds a network's port among the links, or says why it cannot
// serve.
func findPort(all []Link, port string) (Link, string) {
	var match []Link
	if mac, err := net.ParseMAC(port); err == nil {
		for _, l := range all {
			// A bridge takes the MAC of a port, and a VLAN its parent's:
			// the NIC is the link that is neither.
			if l.Kind != "bridge" && l.Kind != "vlan" && l.Kind != "tuntap" && slices.Equal(l.MAC, mac) {
				match = append(match, l)
			}
		}
	} else if l, ok := byName(all, port); ok {
		match = append(match, l)
	}
	switch {
	case len(match) == 0:
		return Link{}, fmt.Sprintf("port %s not found", port)
	case len(match) > 1:
		var names []string
		for _, l := range match {
			names = append(names, l.Name)
		}
		return Link{}, fmt.Sprintf("port %s: several links have this MAC (%s)", port, strings.Join(names, ", "))
	}
	l := match[0]
	if role := PortRole(l.Name); role != "" {
		return Link{}, fmt.Sprintf("port %s refused: %s; management, heartbeat and replication ports cannot carry guests", port, role)
	}
	if l.Kind == "bridge" || l.Kind == "tuntap" {
		return Link{}, fmt.Sprintf("port %s refused: it is a %s, not a NIC", port, l.Kind)
	}
	return l, ""
}

func flushAddrs(ls BridgeLinks, l Link) error {
	as, err := ls.AllAddrs(l)
	if err != nil {
		return fmt.Errorf("addresses: %w", err)
	}
	for _, a := range as {
		if err := ls.DelAddr(l, a); err != nil {
			return fmt.Errorf("remove address %s: %w", a.String(), err)
		}
	}
	return nil
}

func byName(all []Link, name string) (Link, bool) {
	if i := indexOfName(all, name); i >= 0 {
		return all[i], true
	}
	return Link{}, false
}

func byIndex(all []Link, index int) (Link, bool) {
	for _, l := range all {
		if l.Index == index {
			return l, true
		}
	}
	return Link{}, false
}
