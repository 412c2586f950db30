package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/storage/lvm"
	"github.com/lockstep-ft/lockstep/agent/storage/storagetest"
)

// devTree makes a fixture /dev with udev's /dev/disk links as a node has
// them: the lab's two virtio disks, a SATA SSD, an NVMe drive, a partition
// link, and two disks that report the same serial.
func devTree(t *testing.T) (dev string, r devDiskResolver) {
	t.Helper()
	dev = filepath.Join(t.TempDir(), "dev")
	for _, d := range []string{"vda", "vda6", "vdb", "sdb", "sdb1", "sdc", "sdd", "nvme0n1"} {
		os.MkdirAll(dev, 0o755)
		if err := os.WriteFile(filepath.Join(dev, d), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"by-id/virtio-lockstep-sys":                         "vda",
		"by-id/virtio-lockstep-sys-part6":                   "vda6",
		"by-id/virtio-lockstep-data":                        "vdb",
		"by-path/pci-0000:00:03.0":                          "vdb",
		"by-path/virtio-pci-0000:00:03.0":                   "vdb",
		"by-id/ata-SAMSUNG_MZ7LH960HAJR-00005_S45NNA0M1234": "sdb",
		"by-id/scsi-SATA_SAMSUNG_MZ7LH960_S45NNA0M1234":     "sdb",
		"by-id/wwn-0x5002538e4a1b2c3d":                      "sdb",
		"by-id/ata-OTHER_MODEL_S45NNA0M1234-part1":          "sdb1",
		"by-id/ata-CHEAP_DISK_A_DUP0001":                    "sdc",
		"by-id/ata-CHEAP_DISK_B_DUP0001":                    "sdd",
		"by-id/nvme-eui.0025388b71b2d5a1":                   "nvme0n1",
		"by-id/nvme-Samsung_SSD_970_EVO_1TB_S4EWNX0N123456": "nvme0n1",
	} {
		p := filepath.Join(dev, "disk", link)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink("../../"+target, p); err != nil {
			t.Fatal(err)
		}
	}
	return dev, devDiskResolver{Root: filepath.Join(dev, "disk")}
}

func TestResolveStorageDisks(t *testing.T) {
	dev, r := devTree(t)
	for id, want := range map[string]string{
		"serial:lockstep-data":                 "vdb", // the lab's data disk
		"lockstep-data":                        "vdb",
		"path:pci-0000:00:03.0":                "vdb",
		"pci-0000:00:03.0":                     "vdb",
		"/dev/disk/by-id/virtio-lockstep-data": "vdb",
		"/dev/disk/by-path/pci-0000:00:03.0":   "vdb",
		"serial:S45NNA0M1234":                  "sdb", // three links to one disk; the partition's is not the disk
		"wwn:naa.5002538e4a1b2c3d":             "sdb",
		"naa.5002538e4a1b2c3d":                 "sdb",
		"wwn-0x5002538e4a1b2c3d":               "sdb",
		"wwn:eui.0025388b71b2d5a1":             "nvme0n1",
		"serial:S4EWNX0N123456":                "nvme0n1",
	} {
		got, err := r.Resolve(id)
		if err != nil || got != filepath.Join(dev, want) {
			t.Errorf("Resolve(%q) = %q, %v; want %s", id, got, err, want)
		}
	}
	for id, want := range map[string]string{
		"serial:nope":           "no such disk",
		"serial:lockstep":       "no such disk", // a prefix of a serial is not the serial
		"serial:1234":           "no such disk",
		"path:pci-0000:00:09.0": "no such disk",
		"serial:DUP0001":        "more than one disk",
		"name:vdb":              "kernel name",
	} {
		if got, err := r.Resolve(id); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), id) {
			t.Errorf("Resolve(%q) = %q, %v; want an error naming it: %q", id, got, err, want)
		}
	}
}

// LVM's reports before and after vgcreate.
const (
	vgsCmd      = "vgs --reportformat json --units b --nosuffix -o vg_name,vg_size,vg_free,vg_extent_size,pv_count,vg_tags"
	pvsCmd      = "pvs --reportformat json -o pv_name,vg_name"
	vgsNone     = `{"report":[{"vg":[]}]}`
	pvsNone     = `{"report":[{"pv":[]}]}`
	vgsStorage0 = `{"report":[{"vg":[{"vg_name":"storage0","vg_size":"34355544064","vg_free":"34355544064","vg_extent_size":"4194304","pv_count":"2","vg_tags":"lockstep"}]}]}`
)

// The first storage group is partition 6 plus the install's storage disks
// that resolve; one that does not is on the console and left out, after
// udev was given the chance to make its link.
func TestFirstGroupTakesTheStorageDisks(t *testing.T) {
	dev, r := devTree(t)
	part, vdb := filepath.Join(dev, "vda6"), filepath.Join(dev, "vdb")
	pvsAfter := `{"report":[{"pv":[{"pv_name":"` + part + `","vg_name":"storage0"},{"pv_name":"` + vdb + `","vg_name":"storage0"}]}]}`
	f := (&storagetest.Fake{}).
		On("udevadm settle --timeout=30", storagetest.Result{}).
		On(vgsCmd, storagetest.Result{Stdout: vgsNone}, storagetest.Result{Stdout: vgsStorage0}).
		On(pvsCmd, storagetest.Result{Stdout: pvsNone}, storagetest.Result{Stdout: pvsAfter}).
		On("pvcreate "+part+" "+vdb, storagetest.Result{}).
		On("vgcreate --addtag lockstep storage0 "+part+" "+vdb, storagetest.Result{})
	var console []string
	c := &clusterd{logf: t.Logf, println: func(s string) { console = append(console, s) }}
	g, err := makeFirstGroup(context.Background(), f, &lvm.Manager{Runner: f}, part,
		[]string{"serial:lockstep-data", "serial:lockstep-gone"}, r, c.vmLogf)
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != firstGroup || !slices.Equal(g.Devices, []string{part, vdb}) {
		t.Errorf("group %+v", g)
	}
	want := []string{"udevadm settle --timeout=30", vgsCmd, pvsCmd, "pvcreate " + part + " " + vdb,
		"vgcreate --addtag lockstep storage0 " + part + " " + vdb, vgsCmd, pvsCmd}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Errorf("ran\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(console) != 2 ||
		!strings.HasPrefix(console[0], `LOCKSTEP VMS storage: storage disk "serial:lockstep-gone": no such disk`) ||
		!strings.HasSuffix(console[0], "left out of storage group storage0") ||
		!strings.HasPrefix(console[1], "LOCKSTEP VMS storage: made storage group storage0 on "+part+", "+vdb+" (32764 MiB)") {
		t.Errorf("console:\n%s", strings.Join(console, "\n"))
	}
}

// Without storage disks, or with all of them found, udev is not waited
// for; a disk named twice (two ids of one disk) goes in once.
func TestFirstGroupDevices(t *testing.T) {
	dev, r := devTree(t)
	part := filepath.Join(dev, "vda6")
	settled := 0
	settle := func() error { settled++; return nil }
	var logs []string
	logf := func(f string, a ...any) { logs = append(logs, f) }
	if got := firstGroupDevices(part, nil, r, settle, logf); !slices.Equal(got, []string{part}) || settled != 0 || len(logs) != 0 {
		t.Errorf("no storage disks: %q, settled %d, logs %q", got, settled, logs)
	}
	got := firstGroupDevices(part, []string{"wwn:naa.5002538e4a1b2c3d", "serial:lockstep-data", "serial:S45NNA0M1234"}, r, settle, logf)
	if want := []string{part, filepath.Join(dev, "sdb"), filepath.Join(dev, "vdb")}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if settled != 0 || len(logs) != 1 || !strings.Contains(logs[0], "already") {
		t.Errorf("settled %d times, logs %q", settled, logs)
	}
}
