package lvm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/storage"
	"github.com/lockstep-ft/lockstep/agent/storage/storagetest"
)

// The testdata reports were printed by LVM 2.03.16 (Debian 12) with the
// same columns; only names and sizes are made up.
const (
	vgsAll = "vgs --reportformat json --units b --nosuffix -o vg_name,vg_size,vg_free,vg_extent_size,pv_count,vg_tags"
	vgsLs0 = vgsAll + " ls0"
	pvsAll = "pvs --reportformat json -o pv_name,vg_name"
	lvsLs0 = "lvs --reportformat json --units b --nosuffix -o lv_name,lv_size,lv_tags ls0"
)

func data(t *testing.T, name string) storagetest.Result {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return storagetest.Result{Stdout: string(b)}
}

func TestGroups(t *testing.T) {
	f := (&storagetest.Fake{}).On(vgsAll, data(t, "vgs.json")).On(pvsAll, data(t, "pvs.json"))
	gs, err := (&Manager{Runner: f}).Groups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// backup is tagged lockstep-old, not lockstep; debian-vg is untagged.
	want := []Group{{
		Name: "ls0", SizeBytes: 3999688294400, FreeBytes: 3980352552960, ExtentBytes: 4 << 20,
		PVCount: 2, Devices: []string{"/dev/sdb", "/dev/sdc"},
	}}
	if !reflect.DeepEqual(gs, want) {
		t.Errorf("Groups = %+v, want %+v", gs, want)
	}
}

func TestGroupsNone(t *testing.T) {
	empty := storagetest.Result{Stdout: "  {\n      \"report\": [\n          {\n              \"vg\": [\n              ]\n          }\n      ]\n  }\n"}
	f := (&storagetest.Fake{}).On(vgsAll, empty).On(pvsAll, data(t, "pvs.json"))
	gs, err := (&Manager{Runner: f}).Groups(context.Background())
	if err != nil || len(gs) != 0 {
		t.Errorf("Groups = %v, %v; want none", gs, err)
	}
}

func TestCreateGroup(t *testing.T) {
	f := (&storagetest.Fake{}).
		On(vgsAll, data(t, "vgs.json"), data(t, "vgs-created.json")).
		On(pvsAll, data(t, "pvs.json"), data(t, "pvs-created.json")).
		On("pvcreate /dev/sdf", storagetest.Result{}).
		On("vgcreate --addtag lockstep ls1 /dev/sde /dev/sdf", storagetest.Result{})
	// sde is already an unused PV, so it is not pvcreated again.
	g, err := (&Manager{Runner: f}).CreateGroup(context.Background(), "ls1", []string{"/dev/sde", "/dev/sdf"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "ls1" || !reflect.DeepEqual(g.Devices, []string{"/dev/sde", "/dev/sdf"}) {
		t.Errorf("CreateGroup = %+v", g)
	}
	want := []string{vgsAll, pvsAll, "pvcreate /dev/sdf", "vgcreate --addtag lockstep ls1 /dev/sde /dev/sdf", vgsAll, pvsAll}
	if got := f.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCreateGroupRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		devices []string
		want    string
	}{
		{"ls0", []string{"/dev/sdf"}, `a volume group of that name exists`},
		{"debian-vg", []string{"/dev/sdf"}, `a volume group of that name exists`},
		{"ls1", []string{"/dev/sdf", "/dev/sdc"}, `device /dev/sdc belongs to volume group "ls0"`},
		{"ls1", []string{"/dev/sdd"}, `device /dev/sdd belongs to volume group "backup"`},
		{"ls1", []string{"/dev/sdf", "/dev/sdf"}, `given twice`},
		{"ls1", nil, `no devices`},
		{"-ls1", []string{"/dev/sdf"}, `starts with '-'`},
	} {
		f := (&storagetest.Fake{}).On(vgsAll, data(t, "vgs.json")).On(pvsAll, data(t, "pvs.json"))
		_, err := (&Manager{Runner: f}).CreateGroup(context.Background(), tc.name, tc.devices)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CreateGroup(%s, %v) = %v, want %q", tc.name, tc.devices, err, tc.want)
		}
		for _, c := range f.Calls() {
			if !strings.HasPrefix(c, "vgs ") && !strings.HasPrefix(c, "pvs ") {
				t.Errorf("CreateGroup(%s, %v) ran %q", tc.name, tc.devices, c)
			}
		}
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"ls0", "vm-web_disk.0+1", strings.Repeat("a", 127), "a-"} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "-a", "a b", "a/b", "é", strings.Repeat("a", 128)} {
		if ValidName(bad) == nil {
			t.Errorf("ValidName(%q) = nil", bad)
		}
	}
}

func TestVolumes(t *testing.T) {
	f := (&storagetest.Fake{}).On(lvsLs0, data(t, "lvs-ls0.json"))
	vs, err := (&Manager{Runner: f}).Volumes(context.Background(), "ls0")
	if err != nil {
		t.Fatal(err)
	}
	want := []Volume{
		{Group: "ls0", Name: "vm-db-disk0", SizeBytes: 8594128896},
		{Group: "ls0", Name: "vm-web-disk0", SizeBytes: 10741612544, Tags: []string{"lockstep-vm=web", "lockstep-disk=0"}},
	}
	if !reflect.DeepEqual(vs, want) {
		t.Errorf("Volumes = %+v, want %+v", vs, want)
	}
	if p := vs[1].Path(); p != "/dev/ls0/vm-web-disk0" {
		t.Errorf("Path = %s", p)
	}
}

func TestCreateVolumeRoundsToExtent(t *testing.T) {
	// 10 GiB of data plus DRBD's metadata: 10 GiB + 1 MiB, which LVM
	// would round up to 2561 extents of 4 MiB anyway.
	const lvcreate = "lvcreate -y -W y -Z y -n vm-web-disk0 -L 10741612544b --addtag lockstep-vm=web ls0"
	f := (&storagetest.Fake{}).On(vgsLs0, data(t, "vgs-ls0.json")).On(lvcreate, storagetest.Result{})
	v, err := (&Manager{Runner: f}).CreateVolume(context.Background(), "ls0", "vm-web-disk0", 10<<30+1<<20, []string{"lockstep-vm=web"})
	if err != nil {
		t.Fatal(err)
	}
	if v.SizeBytes != 2561*4<<20 || v.Path() != "/dev/ls0/vm-web-disk0" {
		t.Errorf("CreateVolume = %+v", v)
	}
	if got := f.Calls(); len(got) != 2 || got[1] != lvcreate {
		t.Errorf("calls = %q", got)
	}
}

func TestCreateVolumeRefuses(t *testing.T) {
	l := &Manager{Runner: &storagetest.Fake{}}
	ctx := context.Background()
	for _, err := range []error{
		func() error { _, err := l.CreateVolume(ctx, "ls0", "-rf", 1<<30, nil); return err }(),
		func() error { _, err := l.CreateVolume(ctx, "ls0", "v", 1<<30, []string{"a,b"}); return err }(),
		func() error { _, err := l.CreateVolume(ctx, "ls0/x", "v", 1<<30, nil); return err }(),
	} {
		if err == nil {
			t.Error("CreateVolume accepted a bad name or tag")
		}
	}
	f := (&storagetest.Fake{}).On(vgsLs0, data(t, "vgs-ls0.json"))
	if _, err := (&Manager{Runner: f}).CreateVolume(ctx, "ls0", "v", 0, nil); err == nil {
		t.Error("CreateVolume accepted size 0")
	}
}

func TestRemoveVolume(t *testing.T) {
	f := (&storagetest.Fake{}).On("lvremove -y ls0/vm-web-disk0", storagetest.Result{})
	if err := (&Manager{Runner: f}).RemoveVolume(context.Background(), "ls0", "vm-web-disk0"); err != nil {
		t.Fatal(err)
	}
}

func TestExtendVolume(t *testing.T) {
	f := (&storagetest.Fake{}).On(vgsLs0, data(t, "vgs-ls0.json")).
		On("lvextend -L 21474836480b ls0/vm-web-disk0", storagetest.Result{})
	size, err := (&Manager{Runner: f}).ExtendVolume(context.Background(), "ls0", "vm-web-disk0", 20<<30-100)
	if err != nil || size != 20<<30 {
		t.Errorf("ExtendVolume = %d, %v", size, err)
	}
}

func TestErrorCarriesCommandAndStderr(t *testing.T) {
	exit := &exec.ExitError{}
	f := (&storagetest.Fake{}).On(vgsLs0, data(t, "vgs-ls0.json")).
		On("lvcreate -y -W y -Z y -n big -L 4398046511104b ls0", storagetest.Result{
			Stderr: "  Volume group \"ls0\" has insufficient free space (948990 extents): 1048576 required.\n",
			Err:    exit,
		})
	_, err := (&Manager{Runner: f}).CreateVolume(context.Background(), "ls0", "big", 4<<40, nil)
	var ce *storage.CmdError
	if !errors.As(err, &ce) || !errors.Is(err, exit) {
		t.Fatalf("error %v is not a CmdError wrapping the exit error", err)
	}
	for _, want := range []string{"lvcreate -y -W y -Z y -n big -L 4398046511104b ls0", "insufficient free space"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestBadReport(t *testing.T) {
	f := (&storagetest.Fake{}).On(vgsAll, storagetest.Result{Stdout: `{"report":[{"vg":[{"vg_name":"ls0","vg_size":"<1.00t"}]}]}`})
	if _, err := (&Manager{Runner: f}).Groups(context.Background()); err == nil || !strings.Contains(err.Error(), "vg_size") {
		t.Errorf("Groups on a report with units = %v", err)
	}
}

func TestExtendGroup(t *testing.T) {
	f := (&storagetest.Fake{}).
		On(vgsAll, data(t, "vgs.json")).
		On(pvsAll, data(t, "pvs.json")).
		On("pvcreate /dev/sdf", storagetest.Result{}).
		On("vgextend ls0 /dev/sde /dev/sdf", storagetest.Result{})
	if _, err := (&Manager{Runner: f}).ExtendGroup(context.Background(), "ls0", []string{"/dev/sde", "/dev/sdf"}); err != nil {
		t.Fatal(err)
	}
	// sde is an unused PV already: vgextend takes it as it is.
	want := []string{vgsAll, pvsAll, pvsAll, "pvcreate /dev/sdf", "vgextend ls0 /dev/sde /dev/sdf", vgsAll, pvsAll}
	if got := f.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, tc := range []struct {
		name    string
		devices []string
		want    string
	}{
		{"backup", []string{"/dev/sdf"}, `storage group "backup" not found`}, // not tagged lockstep
		{"nope", []string{"/dev/sdf"}, `storage group "nope" not found`},
		{"ls0", []string{"/dev/sdd"}, `device /dev/sdd belongs to volume group "backup"`},
		{"ls0", []string{"/dev/sdf", "/dev/sdf"}, `given twice`},
		{"ls0", nil, `no devices`},
	} {
		f := (&storagetest.Fake{}).On(vgsAll, data(t, "vgs.json")).On(pvsAll, data(t, "pvs.json"))
		_, err := (&Manager{Runner: f}).ExtendGroup(context.Background(), tc.name, tc.devices)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ExtendGroup(%s, %v) = %v, want %q", tc.name, tc.devices, err, tc.want)
		}
		for _, c := range f.Calls() {
			if !strings.HasPrefix(c, "vgs ") && !strings.HasPrefix(c, "pvs ") {
				t.Errorf("ExtendGroup(%s, %v) ran %q", tc.name, tc.devices, c)
			}
		}
	}
}

func TestRemoveAndReduceGroup(t *testing.T) {
	const lvsLs1 = "lvs --reportformat json --units b --nosuffix -o lv_name,lv_size,lv_tags ls1"
	empty := storagetest.Result{Stdout: `{"report":[{"lv":[]}]}`}
	f := (&storagetest.Fake{}).
		On(vgsAll, data(t, "vgs-created.json")).
		On(pvsAll, data(t, "pvs-created.json")).
		On(lvsLs1, empty).
		On("vgremove ls1", storagetest.Result{}).
		On("pvremove /dev/sde /dev/sdf", storagetest.Result{})
	m := &Manager{Runner: f}
	if err := m.RemoveGroup(context.Background(), "ls1"); err != nil {
		t.Fatal(err)
	}
	want := []string{vgsAll, pvsAll, lvsLs1, "vgremove ls1", "pvremove /dev/sde /dev/sdf"}
	if got := f.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A group with volumes, or a volume group that is not a storage
	// group, is never removed.
	f = (&storagetest.Fake{}).On(vgsAll, data(t, "vgs.json")).On(pvsAll, data(t, "pvs.json")).On(lvsLs0, data(t, "lvs-ls0.json"))
	m = &Manager{Runner: f}
	if err := m.RemoveGroup(context.Background(), "ls0"); err == nil || !strings.Contains(err.Error(), "has 2 volumes") {
		t.Errorf("RemoveGroup of a group with volumes: %v", err)
	}
	if err := m.RemoveGroup(context.Background(), "debian-vg"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("RemoveGroup of a foreign volume group: %v", err)
	}
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, "vgremove") || strings.HasPrefix(c, "pvremove") {
			t.Errorf("ran %q", c)
		}
	}

	f = (&storagetest.Fake{}).
		On(vgsAll, data(t, "vgs-created.json")).
		On(pvsAll, data(t, "pvs-created.json")).
		On("vgreduce ls1 /dev/sdf", storagetest.Result{}).
		On("pvremove /dev/sdf", storagetest.Result{})
	if err := (&Manager{Runner: f}).ReduceGroup(context.Background(), "ls1", []string{"/dev/sdf"}); err != nil {
		t.Fatal(err)
	}
	want = []string{vgsAll, pvsAll, "vgreduce ls1 /dev/sdf", "pvremove /dev/sdf"}
	if got := f.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestVolumeGroupsAndPVs(t *testing.T) {
	f := (&storagetest.Fake{}).On(vgsAll, data(t, "vgs.json")).On(pvsAll, data(t, "pvs.json"))
	m := &Manager{Runner: f}
	vgs, err := m.VolumeGroups(context.Background())
	if err != nil || len(vgs) != 3 || !reflect.DeepEqual(vgs["backup"], []string{"lockstep-old", "offsite"}) || vgs["debian-vg"] != nil {
		t.Errorf("VolumeGroups = %v, %v", vgs, err)
	}
	pvs, err := m.PVs(context.Background())
	if err != nil || pvs["/dev/sdd"] != "backup" || pvs["/dev/sde"] != "" || len(pvs) != 5 {
		t.Errorf("PVs = %v, %v", pvs, err)
	}
}
