package ha

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// tableWith is a table with biz0 (used by web) and an unused dmz.
func tableWith(t *testing.T) *Table {
	t.Helper()
	tab := (&Table{}).Clone()
	for name, ports := range map[string]map[string]string{
		"biz0": {"node0": "enp9s0", "node1": "52:54:00:AA:00:01"},
		"dmz":  {"node0": "enp10s0", "node1": "enp10s0"},
	} {
		if err := tab.CreateNetwork(name, ports); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	tab.VMs["web"] = &Record{Spec: api.VMSpec{Name: "web", NICs: []api.NICSpec{{Network: "dmz"}, {Network: "biz0"}}}}
	tab.VMs["app"] = &Record{Spec: api.VMSpec{Name: "app", NICs: []api.NICSpec{{Network: "biz0"}}}}
	return tab
}

// problems is the reasons of a *api.BadSpecError, or fails.
func problems(t *testing.T, err error) string {
	t.Helper()
	var bs *api.BadSpecError
	if !errors.As(err, &bs) {
		t.Fatalf("%v (%T), want a *api.BadSpecError", err, err)
	}
	return strings.Join(bs.Problems, "\n")
}

func TestCreateNetwork(t *testing.T) {
	tab := tableWith(t)
	if got := tab.Networks["biz0"]; got.Name != "biz0" || got.Ports["node1"] != "52:54:00:aa:00:01" {
		t.Errorf("biz0 stored as %+v: the MAC should be normalized", got)
	}
	for _, c := range []struct {
		name  string
		ports map[string]string
		want  string // every problem, one a line
	}{
		{"Biz", map[string]string{"node0": "eth1", "node1": "eth1"}, `network name "Biz": use 1 to 10 lower-case letters, digits and '-', starting with a letter`},
		{"0biz", nil, `network name "0biz"`},
		{"elevenchars", nil, `network name "elevenchars"`}, // lsbr-elevenchars is 16 bytes
		{"a-b", map[string]string{"node0": "priv0", "node1": "ibiz0"},
			"node0: port priv0: priv0 is the heartbeat port; management, heartbeat and replication ports cannot carry guests\n" +
				"node1: port ibiz0: ibiz0 is the management port; management, heartbeat and replication ports cannot carry guests"},
		{"x", map[string]string{"node0": "alink1", "node1": "enp11s0"}, "node0: port alink1: alink1 is a replication port; management, heartbeat and replication ports cannot carry guests"},
		{"x", map[string]string{"node0": "enp9s0", "node1": "52-54-00-aa-00-01"},
			"node0: port enp9s0 serves network biz0 already; a NIC serves one network\n" +
				"node1: port 52:54:00:aa:00:01 serves network biz0 already; a NIC serves one network"},
		{"x", map[string]string{"node0": "enp11s0"}, "node1: no port: a network needs a NIC on each node"},
		{"x", map[string]string{"node0": "en/p", "node1": "eth1", "node2": "eth1"},
			"node0: port \"en/p\": give the NIC's interface name (enp9s0) or its MAC address\nport on \"node2\": the nodes are node0 and node1"},
	} {
		err := tab.CreateNetwork(c.name, c.ports)
		if got := problems(t, err); !strings.HasPrefix(got, c.want) || (c.ports != nil && got != c.want) {
			t.Errorf("create %s %v:\n%s\nwant\n%s", c.name, c.ports, got, c.want)
		}
	}
	var cf *api.ConflictError
	if err := tab.CreateNetwork("dmz", map[string]string{"node0": "eth7", "node1": "eth7"}); !errors.As(err, &cf) || err.Error() != `network "dmz" exists` {
		t.Errorf("a second dmz: %v", err)
	}
	if names := tab.NetworkNames(); !slices.Equal(names, []string{"biz0", "dmz"}) {
		t.Errorf("refused networks were stored: %v", names)
	}
	// Another node's port may be the same NIC name: each node has its own.
	if err := tab.CreateNetwork("lan-2", map[string]string{"node0": "enp11s0", "node1": "enp9s0"}); err != nil {
		t.Error(err)
	}
}

func TestModifyNetwork(t *testing.T) {
	tab := tableWith(t)
	// biz0 is in use: a board swap gives node1 another NIC all the same.
	if err := tab.ModifyNetwork("biz0", map[string]string{"node1": "enp12s0"}); err != nil {
		t.Fatal(err)
	}
	if p := tab.Networks["biz0"].Ports; p["node0"] != "enp9s0" || p["node1"] != "enp12s0" {
		t.Errorf("ports %v", p)
	}
	if p := problems(t, tab.ModifyNetwork("biz0", map[string]string{"node0": "enp10s0"})); p != "node0: port enp10s0 serves network dmz already; a NIC serves one network" {
		t.Error(p)
	}
	// Its own port given again is no clash.
	if err := tab.ModifyNetwork("dmz", map[string]string{"node0": "enp10s0"}); err != nil {
		t.Error(err)
	}
	if p := problems(t, tab.ModifyNetwork("dmz", map[string]string{"node0": ""})); !strings.Contains(p, `node0: port "": give the NIC's interface name`) {
		t.Error(p)
	}
	if p := problems(t, tab.ModifyNetwork("dmz", nil)); p != "network dmz: give the port to change" {
		t.Error(p)
	}
	if err := tab.ModifyNetwork("nope", map[string]string{"node0": "eth1"}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("nope: %v", err)
	}
	if p := tab.Networks["biz0"].Ports; p["node0"] != "enp9s0" || p["node1"] != "enp12s0" {
		t.Errorf("a refused change was stored: %v", p)
	}
}

func TestDeleteNetwork(t *testing.T) {
	tab := tableWith(t)
	var cf *api.ConflictError
	err := tab.DeleteNetwork("biz0")
	if !errors.As(err, &cf) || err.Error() != "network biz0 is in use by VM app, web: move their NICs to another network or delete the VMs first" {
		t.Errorf("delete biz0: %v", err)
	}
	if err := tab.DeleteNetwork("nope"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("delete nope: %v", err)
	}
	delete(tab.VMs, "web")
	if err := tab.DeleteNetwork("dmz"); err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Networks["dmz"]; ok || tab.Networks["biz0"] == nil {
		t.Errorf("networks %v", tab.NetworkNames())
	}
}

func TestNICProblems(t *testing.T) {
	tab := tableWith(t)
	got := tab.NICProblems([]api.NICSpec{{Network: "biz0"}, {}, {Network: "biz9", MAC: "52:54:00:00:00:01"}})
	want := []string{`nic 1: name its network`, `nic 2: no business network "biz9"; the networks are biz0, dmz`}
	if !slices.Equal(got, want) {
		t.Errorf("%q\nwant %q", got, want)
	}
	if got := (&Table{}).NICProblems([]api.NICSpec{{Network: "biz0"}}); len(got) != 1 || !strings.Contains(got[0], "there is none yet") {
		t.Errorf("%q", got)
	}
	if got := tab.NICProblems([]api.NICSpec{{Network: "dmz"}}); got != nil {
		t.Errorf("%q", got)
	}
}

// A table saved before networks existed loads with none, and networks
// survive the file and the copy handed to the peer.
func TestNetworksPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vms.json")
	old := &Table{Generation: 3, VMs: map[string]*Record{}}
	if err := old.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadTable(path)
	if err != nil || got.Networks == nil || len(got.Networks) != 0 {
		t.Fatalf("%+v, %v", got, err)
	}
	tab := tableWith(t)
	if err := tab.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err = LoadTable(path)
	if err != nil || fmt.Sprint(got.Networks["biz0"].Ports) != "map[node0:enp9s0 node1:52:54:00:aa:00:01]" {
		t.Fatalf("%v, %v", got.Networks, err)
	}
	c := got.Clone()
	c.Networks["biz0"].Ports["node0"] = "changed"
	if got.Networks["biz0"].Ports["node0"] != "enp9s0" {
		t.Error("Clone shares the networks")
	}
}

// The table a node takes, its own change or the peer's, reaches its
// bridges before its volumes; an older one reaches nothing.
func TestSetTableAppliesNetworks(t *testing.T) {
	f := &fakes{}
	var applied []string
	m, err := New(Options{TablePath: filepath.Join(t.TempDir(), "vms.json"), Storage: f, Hypervisor: f, Membership: f,
		Domain: func(r *Record) (string, error) { return r.Spec.Name, nil },
		Networks: func(_ context.Context, tab *Table) {
			f.log = append(f.log, "networks")
			applied = append(applied, fmt.Sprintf("g%d %v", tab.Generation, tab.NetworkNames()))
		}})
	if err != nil {
		t.Fatal(err)
	}
	peer := tableWith(t)
	peer.Term, peer.Generation = 2, 5
	peer.VMs["web"].Volumes = []Volume{{Name: "root", Minor: 0}}
	if ok, err := m.SetTable(context.Background(), peer, false); !ok || err != nil {
		t.Fatalf("SetTable: %v %v", ok, err)
	}
	if want := []string{"networks", "ensure lsv0"}; !slices.Equal(f.log, want) {
		t.Errorf("calls %q, want %q", f.log, want)
	}
	stale := peer.Clone()
	stale.Generation = 4
	delete(stale.Networks, "dmz")
	if ok, _ := m.SetTable(context.Background(), stale, false); ok {
		t.Error("took an older table")
	}
	m.ApplyNetworks(context.Background())
	if want := []string{"g5 [biz0 dmz]", "g5 [biz0 dmz]"}; !slices.Equal(applied, want) {
		t.Errorf("applied %q, want %q", applied, want)
	}
}
