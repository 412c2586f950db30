package netcfg

import (
	"net/netip"
	"testing"

	"github.com/lockstep-ft/lockstep/nodeconfig"
)

func TestReplicationEndpoints(t *testing.T) {
	with := nodeconfig.Network{ALinks: []nodeconfig.NIC{{MAC: "52:54:00:00:00:01"}}}
	a, b := ReplicationFor(with, 0), ReplicationFor(with, 1)
	if a.Link != "alink0" || a.Local != netip.MustParsePrefix("169.254.100.1/24") || a.Peer != b.Local.Addr() || b.Peer != a.Local.Addr() {
		t.Errorf("with an A-Link: %+v %+v", a, b)
	}
	if r := ReplicationFor(nodeconfig.Network{}, 1); r.Link != "priv0" || r.Local != netip.MustParsePrefix("169.254.99.2/24") {
		t.Errorf("without: %+v", r)
	}
	f := newFake(Link{Index: 3, Name: "alink0"})
	if err := ApplyReplication(f, a); err != nil {
		t.Fatal(err)
	}
	if got := f.addrs[3]; len(got) != 1 || got[0] != a.Local {
		t.Errorf("addresses %v", got)
	}
	if err := ApplyReplication(f, ReplicationFor(nodeconfig.Network{}, 0)); err == nil {
		t.Error("no error for a missing priv0")
	}
}
