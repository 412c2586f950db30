package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/agent/system"
	"github.com/lockstep-ft/lockstep/cluster/pki"
)

// kernel is netcfg.BridgeLinks in memory: links by index, each with its
// master.
type kernel struct {
	links []netcfg.Link
	ops   []string
}

func (k *kernel) find(l netcfg.Link) *netcfg.Link {
	for i := range k.links {
		if k.links[i].Index == l.Index {
			return &k.links[i]
		}
	}
	panic(fmt.Sprintf("no link %d", l.Index))
}

func (k *kernel) byName(name string) *netcfg.Link {
	for i := range k.links {
		if k.links[i].Name == name {
			return &k.links[i]
		}
	}
	return nil
}

// master is the name of the bridge name is a port of, "" none.
func (k *kernel) master(name string) string {
	if l := k.byName(name); l != nil && l.Master != 0 {
		return k.find(netcfg.Link{Index: l.Master}).Name
	}
	return ""
}

func (k *kernel) List() ([]netcfg.Link, error)                      { return slices.Clone(k.links), nil }
func (k *kernel) Rename(netcfg.Link, string) error                  { return errors.New("not here") }
func (k *kernel) SetUp(l netcfg.Link) error                         { k.find(l).Up = true; return nil }
func (k *kernel) ReplaceAddr(netcfg.Link, netip.Prefix) error       { return errors.New("not here") }
func (k *kernel) Addrs(netcfg.Link) ([]netip.Prefix, error)         { return nil, nil }
func (k *kernel) ReplaceDefaultRoute(netcfg.Link, netip.Addr) error { return errors.New("not here") }
func (k *kernel) AddBridge(name string) (netcfg.Link, error) {
	k.ops = append(k.ops, "add "+name)
	l := netcfg.Link{Index: 100 + len(k.ops), Name: name, Kind: "bridge"}
	k.links = append(k.links, l)
	return l, nil
}
func (k *kernel) ConfigureBridge(netcfg.Link) error         { return nil }
func (k *kernel) AllAddrs(netcfg.Link) ([]net.IPNet, error) { return nil, nil }
func (k *kernel) DelAddr(netcfg.Link, net.IPNet) error      { return nil }
func (k *kernel) SetMaster(l netcfg.Link, master int) error {
	k.find(l).Master = master
	return nil
}
func (k *kernel) Delete(l netcfg.Link) error {
	k.ops = append(k.ops, "delete "+l.Name)
	for i := range k.links {
		if k.links[i].Master == l.Index {
			k.links[i].Master = 0
		}
	}
	k.links = slices.DeleteFunc(k.links, func(o netcfg.Link) bool { return o.Index == l.Index })
	return nil
}

// nothing is ha's storage, hypervisor and membership, doing nothing.
type nothing struct{}

func (nothing) Ensure(context.Context, ha.Volume) error                  { return nil }
func (nothing) Promote(context.Context, ha.Volume, bool) error           { return nil }
func (nothing) Demote(context.Context, ha.Volume) error                  { return nil }
func (nothing) Remove(context.Context, ha.Volume) error                  { return nil }
func (nothing) AllowTwoPrimaries(context.Context, ha.Volume, bool) error { return nil }
func (nothing) Start(context.Context, string) error                      { return nil }
func (nothing) Shutdown(context.Context, string) error                   { return nil }
func (nothing) Destroy(context.Context, string) error                    { return nil }
func (nothing) Running(context.Context) ([]string, error)                { return nil, nil }
func (nothing) Migrate(context.Context, string, string) error            { return nil }
func (nothing) SetResources([]string)                                    {}

// testVMService is node1's VM service with its bridges on k, as far as
// it goes without a membership: enough for the peer service's table
// hand-over and the checks of VM specs.
func testVMService(t *testing.T, k *kernel) *vmService {
	t.Helper()
	c := &clusterd{logf: t.Logf, println: func(string) {}, stateDir: t.TempDir(),
		id: &system.Identity{NodeID: 1, System: &pki.System{ID: "5f0c2a9e8d7b4c13a6e1f0b2c3d4e5f6"}}}
	s := &vmService{c: c, consoleDir: t.TempDir(), br: &bridges{links: k, node: "node1", logf: t.Logf}}
	var err error
	s.mgr, err = ha.New(ha.Options{TablePath: filepath.Join(t.TempDir(), "vms.json"), Storage: nothing{}, Hypervisor: nothing{},
		Membership: nothing{}, Domain: s.domain, Networks: s.br.apply})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func node1Links() *kernel {
	return &kernel{links: []netcfg.Link{
		{Index: 1, Name: "lo", Kind: "device", Up: true},
		{Index: 2, Name: "priv0", Kind: "device", Up: true},
		{Index: 3, Name: "ibiz0", Kind: "device", Up: true},
		{Index: 4, Name: "enp9s0", Kind: "device"},
		{Index: 5, Name: "enp10s0", Kind: "device"},
	}}
}

// The primary hands node1 a table with networks through the peer service:
// node1's bridges follow it, and it reports how they fare.
func TestPeerTableReconcilesBridges(t *testing.T) {
	k := node1Links()
	s := testVMService(t, k)
	mux := http.NewServeMux()
	s.vmPeerRoutes(mux)
	s.networkPeerRoutes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	put := func(tab *ha.Table) {
		t.Helper()
		b, _ := json.Marshal(tab)
		req, _ := http.NewRequest("PUT", srv.URL+"/peer/v1/vms", bytes.NewReader(b))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("PUT /peer/v1/vms: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	states := func() map[string]string {
		t.Helper()
		resp, err := http.Get(srv.URL + "/peer/v1/networks")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}

	tab := (&ha.Table{Term: 3, Generation: 7}).Clone()
	for name, ports := range map[string]map[string]string{
		"biz0": {"node0": "eth1", "node1": "enp9s0"},
		"dmz":  {"node0": "eth2", "node1": "enp99s0"},
	} {
		if err := tab.CreateNetwork(name, ports); err != nil {
			t.Fatal(err)
		}
	}
	put(tab)
	if k.master("enp9s0") != "lsbr-biz0" || k.byName("lsbr-dmz") == nil || !k.byName("lsbr-biz0").Up {
		t.Errorf("after the table: enp9s0 on %q, links %v", k.master("enp9s0"), k.links)
	}
	if got := fmt.Sprint(states()); got != "map[biz0:ok dmz:port enp99s0 not found]" {
		t.Errorf("states %s", got)
	}

	// An older table (the peer has not heard of the latest change) changes
	// nothing.
	old := tab.Clone()
	old.Generation = 6
	delete(old.Networks, "biz0")
	k.ops = nil
	put(old)
	if len(k.ops) != 0 || k.master("enp9s0") != "lsbr-biz0" {
		t.Errorf("an older table reached the bridges: %q", k.ops)
	}

	// A newer one without dmz takes its bridge away, and biz0 to its new
	// port.
	tab.Generation++
	delete(tab.Networks, "dmz")
	if err := tab.ModifyNetwork("biz0", map[string]string{"node1": "enp10s0"}); err != nil {
		t.Fatal(err)
	}
	put(tab)
	if k.byName("lsbr-dmz") != nil || k.master("enp10s0") != "lsbr-biz0" || k.master("enp9s0") != "" {
		t.Errorf("links %v", k.links)
	}
	if got := fmt.Sprint(states()); got != "map[biz0:ok]" {
		t.Errorf("states %s", got)
	}
}

func TestVMNICsOnBusinessNetworks(t *testing.T) {
	s := testVMService(t, node1Links())
	tab := s.mgr.Table()
	if err := tab.CreateNetwork("biz0", map[string]string{"node0": "eth1", "node1": "enp9s0"}); err != nil {
		t.Fatal(err)
	}
	spec := api.VMSpec{Name: "web", Mode: api.ModeHA, VCPUs: 1, MemoryMiB: 512, NICs: []api.NICSpec{{Network: "biz0"}, {Network: "biz1"}}}
	_, err := s.newRecord(spec, tab, nil)
	var bs *api.BadSpecError
	if !errors.As(err, &bs) || !slices.Equal(bs.Problems, []string{`nic 1: no business network "biz1"; the networks are biz0`}) {
		t.Fatalf("unknown network: %v", err)
	}
	spec.NICs = spec.NICs[:1]
	r, err := s.newRecord(spec, tab, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.mgr.SetTable(context.Background(), tab, true); err != nil {
		t.Fatal(err)
	}
	xml, err := s.domain(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(xml, `<source bridge="lsbr-biz0">`) || !strings.Contains(xml, `<mac address="`+r.MACs[0]+`">`) {
		t.Errorf("the NIC is not on biz0's bridge with its MAC:\n%s", xml)
	}
	// A VM on a network the table no longer has cannot start.
	tab.Networks = nil
	if _, err := s.mgr.SetTable(context.Background(), tab, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.domain(r); err == nil || !strings.Contains(err.Error(), `NIC 0: business network "biz0" does not exist`) {
		t.Errorf("domain of a VM on a network not in the table: %v", err)
	}
}

func TestNetworkView(t *testing.T) {
	tab := (&ha.Table{}).Clone()
	if err := tab.CreateNetwork("biz0", map[string]string{"node0": "eth1", "node1": "enp9s0"}); err != nil {
		t.Fatal(err)
	}
	tab.VMs["web"] = &ha.Record{Spec: api.VMSpec{Name: "web", NICs: []api.NICSpec{{Network: "biz0"}}}}
	// node1 is away.
	v := networkView(tab, "biz0", map[string]map[string]string{"node0": {"biz0": "port eth1 not found"}})
	want := api.Network{NetworkSpec: api.NetworkSpec{Name: "biz0", Ports: map[string]string{"node0": "eth1", "node1": "enp9s0"}},
		Bridge: "lsbr-biz0", State: map[string]string{"node0": "port eth1 not found", "node1": api.NetworkUnknown}, VMs: []string{"web"}}
	if fmt.Sprint(v) != fmt.Sprint(want) {
		t.Errorf("view %+v\nwant %+v", v, want)
	}
}
