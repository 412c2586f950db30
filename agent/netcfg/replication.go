package netcfg

import (
	"fmt"
	"net/netip"

	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// Replication is where the nodes mirror volumes and move VMs: the first
// A-Link, or priv0 in a system installed without one. DRBD and libvirt
// need plain IPv4 endpoints (a zoned IPv6 link-local address is not
// accepted by DRBD 8.4), so each node gets a fixed IPv4 link-local address
// there, derived from its node id: the cable is point-to-point and
// 169.254.0.0/16 is never routed, so the same addresses serve every system.
type Replication struct {
	Link  string
	Local netip.Prefix // this node's address
	Peer  netip.Addr
}

// ReplicationFor is node self's replication endpoint.
func ReplicationFor(n nodeconfig.Network, self int) Replication {
	link, third := Priv0, byte(99)
	if len(n.ALinks) > 0 {
		link, third = ALinkName(0), 100
	}
	addr := func(node int) netip.Addr { return netip.AddrFrom4([4]byte{169, 254, third, byte(node + 1)}) }
	return Replication{Link: link, Local: netip.PrefixFrom(addr(self), 24), Peer: addr(1 - self)}
}

// ApplyReplication puts r.Local on r.Link.
func ApplyReplication(ls Links, r Replication) error {
	all, err := ls.List()
	if err != nil {
		return err
	}
	for _, l := range all {
		if l.Name == r.Link {
			if err := ls.ReplaceAddr(l, r.Local); err != nil {
				return fmt.Errorf("%s: address %s: %w", r.Link, r.Local, err)
			}
			return nil
		}
	}
	return fmt.Errorf("replication link %s not found", r.Link)
}
