package main

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/capacity"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/agent/system"
)

func TestFTVMHasExactlyOneVolumeAndNIC(t *testing.T) {
	vol := api.VolumeSpec{Name: "root", SizeMiB: 1024}
	vols2 := []api.VolumeSpec{vol, {Name: "data", SizeMiB: 1}}
	nic := api.NICSpec{Network: "biz0"}
	for _, c := range []struct {
		spec api.VMSpec
		want []string // the rules broken
	}{
		{api.VMSpec{Name: "a", Mode: api.ModeFT, Volumes: []api.VolumeSpec{vol}, NICs: []api.NICSpec{nic}}, nil},
		{api.VMSpec{Name: "a", Mode: api.ModeFT, NICs: []api.NICSpec{nic}}, []string{"exactly one volume"}},
		{api.VMSpec{Name: "a", Mode: api.ModeFT, Volumes: vols2, NICs: []api.NICSpec{nic}}, []string{"exactly one volume"}},
		{api.VMSpec{Name: "a", Mode: api.ModeFT, Volumes: []api.VolumeSpec{vol}}, []string{"exactly one NIC"}},
		{api.VMSpec{Name: "a", Mode: api.ModeFT, Volumes: []api.VolumeSpec{vol}, NICs: []api.NICSpec{nic, nic}}, []string{"exactly one NIC"}},
		{api.VMSpec{Name: "a", Mode: api.ModeFT}, []string{"exactly one volume", "exactly one NIC"}},
		{api.VMSpec{Name: "a", Mode: api.ModeHA, Volumes: vols2, NICs: []api.NICSpec{nic, nic}}, nil},
		{api.VMSpec{Name: "a", Mode: api.ModeHA}, nil},
	} {
		p := ftProblems(c.spec)
		if len(p) != len(c.want) {
			t.Errorf("%s with %d volumes and %d NICs: problems %q, want %q", c.spec.Mode, len(c.spec.Volumes), len(c.spec.NICs), p, c.want)
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(p[i], w) {
				t.Errorf("problem %q does not say the rule %q", p[i], w)
			}
		}
	}
}

// The per-VM limits of SPEC A5 hold for FT VMs as for HA ones.
func TestFTVMLimits(t *testing.T) {
	for _, c := range []struct {
		vm   capacity.VM
		want string
	}{
		{capacity.VM{Name: "a", Mode: capacity.ModeFT, VCPUs: 21, MemoryMiB: 1024, Volumes: 1}, "21 vCPUs is more than the 20"},
		{capacity.VM{Name: "a", Mode: capacity.ModeFT, VCPUs: 2, MemoryMiB: 256*1024 + 1, Volumes: 1}, "256 GiB"},
		{capacity.VM{Name: "a", Mode: capacity.ModeFT, VCPUs: 20, MemoryMiB: 256 * 1024, Volumes: 1}, ""},
	} {
		err := capacity.CheckLimits(c.vm, capacity.Enterprise)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.vm, err, c.want)
		}
	}
}

func TestFTPortsAndTapsDoNotCollide(t *testing.T) {
	seen := map[int]bool{}
	for _, m := range []int{0, 1, 2, ftMaxMinor} {
		p, err := ftPortsFor(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{p.Mirror, p.Compare, p.Migration, p.NBD, p.QMP} {
			if seen[n] || n >= 32768 || n < ftPortBase {
				t.Errorf("minor %d: port %d reused or out of range", m, n)
			}
			seen[n] = true
		}
	}
	if _, err := ftPortsFor(ftMaxMinor + 1); err == nil {
		t.Error("a minor past the range got ports")
	}
	if n := ftTapName(ftMaxMinor, 19); len(n) > 15 {
		t.Errorf("tap %q is longer than an interface name may be", n)
	}
}

func TestBuildFTVM(t *testing.T) {
	r := ftRecord("web", "")
	r.UUID, r.Spec.CD = "u", "d.iso"
	r.Spec.NICs, r.MACs = []api.NICSpec{{Network: "biz0"}}, []string{"52:54:00:00:00:01"}
	n := ftNode{workDir: "/var/lib/lockstep/ft/web",
		rep:      netcfg.Replication{Local: netip.MustParsePrefix("169.254.100.1/24"), Peer: netip.MustParseAddr("169.254.100.2")},
		networks: map[string]*ha.Network{"biz0": {}}, vcd: func(n string) string { return "/vcd/" + n }}
	vm, err := buildFTVM(r, n)
	if err != nil {
		t.Fatal(err)
	}
	if vm.Disk != "/dev/storage0/lsv3" || vm.DiskBytes != 1024<<20 || vm.CD != "/vcd/d.iso" || vm.Link.Ports.Mirror != ftPortBase+3*ftPortsPerVM {
		t.Errorf("%+v", vm)
	}
	if want := (ftNIC{Bridge: "lsbr-biz0", MAC: "52:54:00:00:00:01", Tap: "lsft3n0"}); !slices.Equal(vm.NICs, []ftNIC{want}) {
		t.Errorf("NICs %+v", vm.NICs)
	}
	r.Volumes = append(r.Volumes, ha.Volume{Name: "data", Minor: 4})
	if _, err := buildFTVM(r, n); err == nil {
		t.Error("an FT VM with two volumes was defined")
	}
}

func TestClaimDisk(t *testing.T) {
	r := ftRecord("web", "")
	if ch, err := claimDisk(r, "node1"); !ch || err != nil || r.Volumes[0].Current != "node1" {
		t.Fatalf("first start: %v %v %q", ch, err, r.Volumes[0].Current)
	}
	if ch, err := claimDisk(r, "node1"); ch || err != nil {
		t.Errorf("same node again: %v %v", ch, err)
	}
	if _, err := claimDisk(r, "node0"); err == nil || !strings.Contains(err.Error(), "only node1 has the current data") {
		t.Errorf("other node: %v", err)
	}
	ha := &ha.Record{Spec: api.VMSpec{Name: "db", Mode: api.ModeHA}, Volumes: []ha.Volume{{Name: "root"}}}
	if ch, err := claimDisk(ha, "node0"); ch || err != nil {
		t.Errorf("HA VM: %v %v", ch, err)
	}
}

func TestFTVolumeStatus(t *testing.T) {
	v := ha.Volume{Name: "root", Replication: ha.ReplicationCOLO}
	for _, c := range []struct {
		current, on string
		ft          *api.FTStatus
		sync        string
		n0, n1      string
	}{
		{"", "", nil, "in-sync", "UpToDate", "UpToDate"},
		{"node1", "", nil, "degraded", "Outdated", "UpToDate"},
		{"node0", "node0", &api.FTStatus{State: api.FTProtected, SecondaryOn: "node1"}, "in-sync", "UpToDate", "UpToDate"},
		{"node0", "node0", &api.FTStatus{State: api.FTSyncing, SecondaryOn: "node1"}, "resyncing", "UpToDate", "Inconsistent"},
		{"node0", "node0", &api.FTStatus{State: api.FTSimplex}, "degraded", "UpToDate", "Outdated"},
	} {
		v.Current = c.current
		vs := ftVolumeStatus(v, c.ft, c.on)
		if vs.Sync != c.sync || vs.Disks["node0"] != c.n0 || vs.Disks["node1"] != c.n1 {
			t.Errorf("%+v: %+v", c, vs)
		}
	}
}

// fakeNodeStorage is a node's storage with a DRBD state per minor.
type fakeNodeStorage struct {
	states map[int]volumeState
	bytes  int64
}

func (f *fakeNodeStorage) Ensure(context.Context, ha.Volume) error                  { return nil }
func (f *fakeNodeStorage) Promote(context.Context, ha.Volume, bool) error           { return nil }
func (f *fakeNodeStorage) Demote(context.Context, ha.Volume) error                  { return nil }
func (f *fakeNodeStorage) Remove(context.Context, ha.Volume) error                  { return nil }
func (f *fakeNodeStorage) AllowTwoPrimaries(context.Context, ha.Volume, bool) error { return nil }
func (f *fakeNodeStorage) Groups(context.Context) ([]groupInfo, error)              { return nil, nil }
func (f *fakeNodeStorage) Status(v ha.Volume) volumeState                           { return f.states[v.Minor] }
func (f *fakeNodeStorage) DeviceBytes(ha.Volume) (int64, error) {
	if f.bytes == 0 {
		return 0, errors.New("not up")
	}
	return f.bytes, nil
}

func TestModeChangeKeepsTheData(t *testing.T) {
	st := &fakeNodeStorage{states: map[int]volumeState{}, bytes: 65 << 20}
	s := &vmService{c: &clusterd{id: &system.Identity{NodeID: 0}}, st: st}
	old := []ha.Volume{{Name: "root", SizeMiB: 64, Minor: 3}}

	// HA to FT: both copies UpToDate, so neither is ahead; the guest keeps
	// DRBD's size.
	st.states[3] = volumeState{Disk: "UpToDate", PeerDisk: "UpToDate", Connected: true}
	vols, err := s.volumesFor(old, api.ModeFT, old)
	if err != nil {
		t.Fatal(err)
	}
	if v := vols[0]; !v.COLO() || v.Current != "" || v.GuestBytes != 65<<20 || v.Bytes() != 65<<20 {
		t.Errorf("HA to FT: %+v", v)
	}
	if old[0].COLO() {
		t.Error("volumesFor changed its argument")
	}

	// Only the peer's copy is current: FT must start there.
	st.states[3] = volumeState{Disk: "Outdated", PeerDisk: "UpToDate", Connected: true}
	if vols, err := s.volumesFor(old, api.ModeFT, old); err != nil || vols[0].Current != "node1" {
		t.Errorf("HA to FT, peer ahead: %+v %v", vols, err)
	}

	// Unknown which copy is current: refused, with why.
	for _, bad := range []volumeState{{Disk: "UpToDate"}, {Disk: "Inconsistent", PeerDisk: "Inconsistent", Connected: true},
		{Disk: "UpToDate", PeerDisk: "UpToDate", Connected: true, SplitBrain: true}} {
		st.states[3] = bad
		var bs *api.BadSpecError
		if _, err := s.volumesFor(old, api.ModeFT, old); !errors.As(err, &bs) || !strings.Contains(bs.Problems[0], `volume "root"`) {
			t.Errorf("HA to FT with %+v: %v", bad, err)
		}
	}

	// FT to HA: DRBD again, and the copy FT left current stays named for
	// DRBD's first sync.
	ft := []ha.Volume{{Name: "root", SizeMiB: 64, Minor: 3, Replication: ha.ReplicationCOLO, Current: "node1"}}
	vols, err = s.volumesFor(ft, api.ModeHA, ft)
	if err != nil || vols[0].COLO() || vols[0].Current != "node1" {
		t.Errorf("FT to HA: %+v %v", vols, err)
	}

	// New volumes simply get the mode's engine.
	fresh := []ha.Volume{{Name: "new", Minor: 7}}
	if vols, _ := s.volumesFor(nil, api.ModeFT, fresh); !vols[0].COLO() {
		t.Errorf("new FT volume %+v", vols[0])
	}
}

// fakeLibvirt is the libvirt side of vmHypervisors.
type fakeLibvirt struct{ log *ftLog }

func (f fakeLibvirt) Start(_ context.Context, def string) error {
	f.log.add("libvirt start %s", def)
	return nil
}
func (f fakeLibvirt) Shutdown(_ context.Context, n string) error {
	f.log.add("libvirt shutdown %s", n)
	return nil
}
func (f fakeLibvirt) Destroy(_ context.Context, n string) error {
	f.log.add("libvirt destroy %s", n)
	return nil
}
func (f fakeLibvirt) Running(context.Context) ([]string, error) { return []string{"db"}, nil }
func (f fakeLibvirt) Migrate(_ context.Context, n, _ string) error {
	f.log.add("libvirt migrate %s", n)
	return nil
}

func TestHypervisorsDispatchByMode(t *testing.T) {
	h := newFTHarness(t, 0)
	hv := vmHypervisors{lv: fakeLibvirt{h.log}, ft: h.r, mode: func(n string) string {
		return map[string]string{"web": api.ModeFT, "db": api.ModeHA}[n]
	}}
	ctx := context.Background()
	db := &ha.Record{Spec: api.VMSpec{Name: "db", Mode: api.ModeHA}}
	if err := hv.StartRecord(ctx, db, "<domain/>"); err != nil {
		t.Fatal(err)
	}
	if err := hv.StartRecord(ctx, h.recs["web"], ""); err != nil {
		t.Fatal(err)
	}
	if !h.log.has("libvirt start <domain/>") || !h.log.has("start-active web") {
		t.Errorf("calls %q", h.log.all())
	}
	if got, _ := hv.Running(ctx); !slices.Equal(got, []string{"db", "web"}) {
		t.Errorf("running %q", got)
	}
	hv.Shutdown(ctx, "db")
	hv.Destroy(ctx, "web")
	if !h.log.has("libvirt shutdown db") || !h.log.has("kill active web") || h.log.has("libvirt destroy web") {
		t.Errorf("calls %q", h.log.all())
	}
}
