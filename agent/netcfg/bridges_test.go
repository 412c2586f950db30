package netcfg

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
)

// fakeBridges is BridgeLinks in memory: fakeLinks with the kernel's bridge
// rules that matter here (a port has one master; deleting a bridge frees
// its ports).
type fakeBridges struct {
	*fakeLinks
	configured map[int]bool
	addrs      map[int][]net.IPNet
	failOn     string // an op prefix that fails
}

func newBridges(ls ...Link) *fakeBridges {
	return &fakeBridges{fakeLinks: newFake(ls...), configured: map[int]bool{}, addrs: map[int][]net.IPNet{}}
}

func (f *fakeBridges) op(s string) error {
	f.ops = append(f.ops, s)
	if f.failOn != "" && strings.HasPrefix(s, f.failOn) {
		return errors.New("injected failure")
	}
	return nil
}

func (f *fakeBridges) name(index int) string {
	for _, k := range f.links {
		if k.Index == index {
			return k.Name
		}
	}
	return fmt.Sprint(index)
}

func (f *fakeBridges) AddBridge(name string) (Link, error) {
	if err := f.op("add " + name); err != nil {
		return Link{}, err
	}
	if f.byName(name) != nil {
		return Link{}, fmt.Errorf("name %s is taken", name)
	}
	l := Link{Index: 100 + len(f.links), Name: name, Kind: "bridge"}
	f.links = append(f.links, &l)
	return l, nil
}

func (f *fakeBridges) ConfigureBridge(l Link) error {
	if err := f.op("configure " + l.Name); err != nil {
		return err
	}
	f.configured[l.Index] = true
	return nil
}

func (f *fakeBridges) AllAddrs(l Link) ([]net.IPNet, error) {
	return slices.Clone(f.addrs[l.Index]), nil
}

func (f *fakeBridges) DelAddr(l Link, a net.IPNet) error {
	if err := f.op("deladdr " + l.Name + " " + a.String()); err != nil {
		return err
	}
	f.addrs[l.Index] = slices.DeleteFunc(f.addrs[l.Index], func(b net.IPNet) bool { return b.String() == a.String() })
	return nil
}

func (f *fakeBridges) SetMaster(l Link, master int) error {
	k, err := f.get(l)
	if err != nil {
		return err
	}
	s := "nomaster " + k.Name
	if master != 0 {
		s = "master " + k.Name + " " + f.name(master)
	}
	if err := f.op(s); err != nil {
		return err
	}
	k.Master = master
	return nil
}

func (f *fakeBridges) Delete(l Link) error {
	if err := f.op("delete " + l.Name); err != nil {
		return err
	}
	for _, k := range f.links {
		if k.Master == l.Index {
			k.Master = 0
		}
	}
	f.links = slices.DeleteFunc(f.links, func(k *Link) bool { return k.Index == l.Index })
	return nil
}

// master is the name of l's master, "" none.
func (f *fakeBridges) master(name string) string {
	k := f.byName(name)
	if k == nil || k.Master == 0 {
		return ""
	}
	return f.name(k.Master)
}

// node is a node's links: the role links, three NICs free for guests, a
// libvirt bridge with a VM on it, and a bridge of a network since deleted,
// with its port and a VM's NIC.
func node() *fakeBridges {
	return newBridges(
		Link{Index: 1, Name: "lo", Kind: "device", Up: true},
		Link{Index: 2, Name: "priv0", MAC: mac(macPriv), Kind: "device", Up: true},
		Link{Index: 3, Name: "ibiz0", MAC: mac(macIbiz), Kind: "device", Up: true},
		Link{Index: 4, Name: "alink0", MAC: mac(macALink0), Kind: "device", Up: true},
		Link{Index: 5, Name: "enp9s0", MAC: mac("52:54:00:00:00:09"), Kind: "device"},
		Link{Index: 6, Name: "enp10s0", MAC: mac("52:54:00:00:00:0a"), Kind: "device"},
		Link{Index: 7, Name: "enp11s0", MAC: mac("52:54:00:00:00:0b"), Kind: "device", Up: true, Master: 10},
		Link{Index: 8, Name: "virbr0", MAC: mac("52:54:00:00:00:0c"), Kind: "bridge", Up: true},
		Link{Index: 9, Name: "vnet9", MAC: mac("fe:54:00:00:00:0d"), Kind: "tuntap", Up: true, Master: 8},
		Link{Index: 10, Name: "lsbr-old", MAC: mac("52:54:00:00:00:0b"), Kind: "bridge", Up: true},
		Link{Index: 11, Name: "vnet3", MAC: mac("fe:54:00:00:00:0e"), Kind: "tuntap", Up: true, Master: 10},
	)
}

func TestReconcileBridges(t *testing.T) {
	f := node()
	nets := []BusinessNet{
		{Name: "biz1", Port: "52:54:00:00:00:0a"}, // by MAC
		{Name: "biz0", Port: "enp9s0"},
		{Name: "dmz", Port: "enp99s0"},
		{Name: "bad", Port: macPriv}, // priv0, by MAC: only the node can tell
		{Name: "mgmt", Port: "ibiz0"},
	}
	states, err := ReconcileBridges(f, nets)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"biz0": "ok", "biz1": "ok", "dmz": "port enp99s0 not found",
		"bad":  "port 52:54:00:00:00:01 refused: priv0 is the heartbeat port; management, heartbeat and replication ports cannot carry guests",
		"mgmt": "port ibiz0 refused: ibiz0 is the management port; management, heartbeat and replication ports cannot carry guests",
	}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("states %v\nwant   %v", states, want)
	}
	// In network order, each bridge configured before it goes up; the
	// stale bridge goes last, and nothing else is touched.
	wantOps := []string{
		"add lsbr-bad", "configure lsbr-bad", "up lsbr-bad",
		"add lsbr-biz0", "configure lsbr-biz0", "up lsbr-biz0", "master enp9s0 lsbr-biz0", "up enp9s0",
		"add lsbr-biz1", "configure lsbr-biz1", "up lsbr-biz1", "master enp10s0 lsbr-biz1", "up enp10s0",
		"add lsbr-dmz", "configure lsbr-dmz", "up lsbr-dmz",
		"add lsbr-mgmt", "configure lsbr-mgmt", "up lsbr-mgmt",
		"delete lsbr-old",
	}
	if !slices.Equal(f.ops, wantOps) {
		t.Errorf("ops %q\nwant %q", f.ops, wantOps)
	}
	for port, br := range map[string]string{"enp9s0": "lsbr-biz0", "enp10s0": "lsbr-biz1", "enp11s0": "", "vnet9": "virbr0", "priv0": "", "ibiz0": ""} {
		if got := f.master(port); got != br {
			t.Errorf("%s: master %q, want %q", port, got, br)
		}
	}
	if f.byName("virbr0") == nil || f.byName("lsbr-old") != nil || f.byName("lsbr-dmz") == nil {
		t.Errorf("links after: %v", f.links)
	}

	// A second run finds everything in place and only re-applies the
	// bridges' settings.
	f.ops = nil
	again, err := ReconcileBridges(f, nets)
	if err != nil || fmt.Sprint(again) != fmt.Sprint(want) {
		t.Errorf("second run: %v, %v", again, err)
	}
	for _, op := range f.ops {
		if !strings.HasPrefix(op, "configure ") {
			t.Errorf("second run changed something: %q", f.ops)
			break
		}
	}

	// No network left: every lsbr- bridge goes, nothing else.
	f.ops = nil
	if _, err := ReconcileBridges(f, nil); err != nil {
		t.Fatal(err)
	}
	slices.Sort(f.ops)
	if want := []string{"delete lsbr-bad", "delete lsbr-biz0", "delete lsbr-biz1", "delete lsbr-dmz", "delete lsbr-mgmt"}; !slices.Equal(f.ops, want) {
		t.Errorf("ops %q, want %q", f.ops, want)
	}
	if f.master("enp9s0") != "" || f.master("vnet9") != "virbr0" {
		t.Errorf("enp9s0 on %q, vnet9 on %q", f.master("enp9s0"), f.master("vnet9"))
	}
}

func TestReconcileBridgesPortChanges(t *testing.T) {
	f := node()
	if _, err := ReconcileBridges(f, []BusinessNet{{"biz0", "enp9s0"}, {"biz1", "enp10s0"}}); err != nil {
		t.Fatal(err)
	}
	// A VM runs on biz0.
	br0 := f.byName("lsbr-biz0")
	f.links = append(f.links, &Link{Index: 50, Name: "vnet0", Kind: "tuntap", Up: true, Master: br0.Index})

	// The networks swap their NICs (a board swap re-cabled them), and biz0
	// is named by MAC now: whatever the order, each ends on its new bridge.
	f.ops = nil
	states, err := ReconcileBridges(f, []BusinessNet{{"biz0", "52:54:00:00:00:0a"}, {"biz1", "enp9s0"}})
	if err != nil || states["biz0"] != "ok" || states["biz1"] != "ok" {
		t.Fatalf("%v, %v", states, err)
	}
	if f.master("enp10s0") != "lsbr-biz0" || f.master("enp9s0") != "lsbr-biz1" || f.master("vnet0") != "lsbr-biz0" {
		t.Errorf("enp10s0 on %q, enp9s0 on %q, vnet0 on %q; ops %q", f.master("enp10s0"), f.master("enp9s0"), f.master("vnet0"), f.ops)
	}

	// biz1 moves to a NIC that is not there: its old port leaves the
	// bridge, the bridge stays for the VMs.
	states, err = ReconcileBridges(f, []BusinessNet{{"biz0", "enp10s0"}, {"biz1", "enp12s0"}})
	if err != nil || states["biz1"] != "port enp12s0 not found" {
		t.Fatalf("%v, %v", states, err)
	}
	if f.master("enp9s0") != "" || f.byName("lsbr-biz1") == nil {
		t.Errorf("enp9s0 on %q; lsbr-biz1 %v", f.master("enp9s0"), f.byName("lsbr-biz1"))
	}
}

func TestReconcileBridgesRefusals(t *testing.T) {
	f := node()
	f.links = append(f.links,
		&Link{Index: 20, Name: "bond0", Kind: "bond", Up: true},
		&Link{Index: 21, Name: "enp12s0", MAC: mac("52:54:00:00:00:12"), Kind: "device", Master: 20},
		&Link{Index: 22, Name: "lsbr-odd", Kind: "veth"},
		&Link{Index: 23, Name: "enp9s0.10", MAC: mac("52:54:00:00:00:09"), Kind: "vlan"})
	// An address someone put on a bridge of ours goes.
	f.links = append(f.links, &Link{Index: 24, Name: "lsbr-biz0", Kind: "bridge", Up: true})
	f.addrs[24] = []net.IPNet{{IP: net.ParseIP("192.0.2.99").To4(), Mask: net.CIDRMask(24, 32)}, {IP: net.ParseIP("fe80::1"), Mask: net.CIDRMask(64, 128)}}

	states, err := ReconcileBridges(f, []BusinessNet{
		{"biz0", "52:54:00:00:00:09"}, // the VLAN shares the MAC: the NIC is meant
		{"biz1", "enp9s0"},            // the same NIC by name
		{"bonded", "enp12s0"},
		{"odd", "enp10s0"},
		{"self", "lsbr-biz0"},
	})
	want := map[string]string{
		"biz0":   "ok",
		"biz1":   "port enp9s0 is network biz0's port already",
		"bonded": "bridge error: port enp12s0 is enslaved to bond0",
		"odd":    "bridge error: lsbr-odd exists and is not a bridge (veth)",
		"self":   "port lsbr-biz0 refused: it is a bridge, not a NIC",
	}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("states %v\nwant   %v", states, want)
	}
	if err == nil || !strings.Contains(err.Error(), "network bonded: bridge error") {
		t.Errorf("err %v", err)
	}
	if f.master("enp9s0") != "lsbr-biz0" || f.master("enp12s0") != "bond0" || f.byName("lsbr-odd") == nil || len(f.addrs[24]) != 0 {
		t.Errorf("enp9s0 on %q, enp12s0 on %q, lsbr-odd %v, addresses %v", f.master("enp9s0"), f.master("enp12s0"), f.byName("lsbr-odd"), f.addrs[24])
	}
	if !slices.Contains(f.ops, "deladdr lsbr-biz0 fe80::1/64") {
		t.Errorf("ops %q", f.ops)
	}
}

// A bridge that cannot be configured is reported, and its port stays:
// releasing it on a passing error would cut the guests off.
func TestReconcileBridgesErrorKeepsThePort(t *testing.T) {
	f := node()
	if _, err := ReconcileBridges(f, []BusinessNet{{"biz0", "enp9s0"}}); err != nil {
		t.Fatal(err)
	}
	f.failOn = "configure lsbr-biz0"
	states, err := ReconcileBridges(f, []BusinessNet{{"biz0", "enp9s0"}})
	if err == nil || states["biz0"] != "bridge error: configure lsbr-biz0: injected failure" {
		t.Errorf("%v, %v", states, err)
	}
	if f.master("enp9s0") != "lsbr-biz0" {
		t.Errorf("enp9s0 left its bridge: %q", f.ops)
	}
	f.failOn = "add"
	states, _ = ReconcileBridges(f, []BusinessNet{{"dmz", "enp10s0"}})
	if states["dmz"] != "bridge error: create lsbr-dmz: injected failure" || f.master("enp10s0") != "" {
		t.Errorf("%v; enp10s0 on %q", states, f.master("enp10s0"))
	}
}

func TestParsePort(t *testing.T) {
	for in, want := range map[string]string{
		"enp9s0": "enp9s0", "52:54:00:AB:cd:01": "52:54:00:ab:cd:01", "52-54-00-ab-cd-01": "52:54:00:ab:cd:01", "eth0.100": "eth0.100",
	} {
		if got, err := ParsePort(in); got != want || err != nil {
			t.Errorf("ParsePort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a/b", "en p9", "sixteen-chars-xx", ".", "..", "lo", "lsbr-biz0", "00:00:00:00:fe:80:00:00:00:00:00:00:00:00:00:01"} {
		if got, err := ParsePort(bad); err == nil {
			t.Errorf("ParsePort(%q) = %q, want an error", bad, got)
		}
	}
	for name, want := range map[string]string{"priv0": "heartbeat", "ibiz0": "management", "alink3": "replication", "alink": "", "enp9s0": "", "alink01": ""} {
		if got := PortRole(name); (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("PortRole(%q) = %q, want %q", name, got, want)
		}
	}
}
