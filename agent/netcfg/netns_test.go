package netcfg

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/lockstep-ft/lockstep/internal/netnstest"
)

// TestNetlinkInNamespace runs the configurator against the real kernel, in
// a network namespace of its own with veth pairs standing in for the NICs:
// priv0 and ibiz0, and two A-Links. It needs root, so it runs only when asked:
//
//	LOCKSTEP_NETWORK_TESTS=1 go test ./agent/netcfg/ -run TestNetlinkInNamespace -v
func TestNetlinkInNamespace(t *testing.T) {
	netnstest.Enter(t)

	nl, err := NewNetlink() // its sockets stay in the test namespace
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()

	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: "lstest0", HardwareAddr: mac(macPriv)},
		PeerName:         "lstest1",
		PeerHardwareAddr: mac(macIbiz),
	}
	if err := nl.h.LinkAdd(veth); err != nil {
		t.Fatalf("create veth pair: %v", err)
	}
	aveth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: "lstest2", HardwareAddr: mac(macALink0)},
		PeerName:         "lstest3",
		PeerHardwareAddr: mac(macALink1),
	}
	if err := nl.h.LinkAdd(aveth); err != nil {
		t.Fatalf("create the A-Links' veth pair: %v", err)
	}

	c := &Configurator{Links: nl}
	for run := 1; run <= 2; run++ { // the second run finds everything in place
		res, err := c.Configure(context.Background(), aLinkNet())
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if res.Ibiz0 != netip.MustParsePrefix("192.0.2.10/24") {
			t.Fatalf("run %d: ibiz0 %v", run, res.Ibiz0)
		}
	}

	for name, m := range map[string]string{"priv0": macPriv, "ibiz0": macIbiz, "alink0": macALink0, "alink1": macALink1} {
		l, err := nl.h.LinkByName(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(l.Attrs().HardwareAddr, mac(m)) || l.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("%s: MAC %s, flags %v; want %s, up", name, l.Attrs().HardwareAddr, l.Attrs().Flags, m)
		}
	}
	ibiz0, _ := nl.h.LinkByName("ibiz0")
	routes, err := nl.h.RouteList(ibiz0, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(routes, func(r netlink.Route) bool {
		return (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw.Equal(net.ParseIP("192.0.2.1"))
	}) {
		t.Errorf("no default route via 192.0.2.1 on ibiz0: %v", routes)
	}

	for _, name := range []string{"alink0", "alink1"} {
		l, _ := nl.h.LinkByName(name)
		if as, err := nl.Addrs(Link{Index: l.Attrs().Index, Name: name}); err != nil || len(as) != 0 {
			t.Errorf("%s: addresses %v, %v; want only the link-local one", name, as, err)
		}
	}

	o, err := Observe(nl)
	if err != nil {
		t.Fatal(err)
	}
	if o.Priv0 != "up" || !slices.Contains(o.Ibiz0, netip.MustParsePrefix("192.0.2.10/24")) ||
		len(o.ALinks) != 2 || o.ALinks[0] != (LinkState{"alink0", "up"}) || o.ALinks[1] != (LinkState{"alink1", "up"}) {
		t.Errorf("Observe = %+v", o)
	}
	t.Logf("observed: %+v", o)
}
