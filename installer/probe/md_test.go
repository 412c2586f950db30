package probe

import (
	"reflect"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/probe/probetest"
)

func degradedMirror(t *testing.T) *probetest.Tree {
	tr := probetest.New(t)
	tr.AHCIDisk("0000:00:1f.2", 1, 1, 0, probetest.Disk{Name: "sda", SizeBytes: 240 << 30, Vendor: "ATA", Model: "SSD A", WWID: "naa.5001"})
	tr.AHCIDisk("0000:00:1f.2", 2, 2, 1, probetest.Disk{Name: "sdb", SizeBytes: 240 << 30, Vendor: "ATA", Model: "SSD B", WWID: "naa.5002"})
	tr.Partition("sda", "sda1", 200<<30)
	tr.Partition("sdb", "sdb1", 200<<30)
	// sdb1 failed and was removed; sda1 carries slot 0.
	tr.MDArray("md0", "raid1", 2, 1, "clean", "idle", 200<<30, probetest.MDMember{Disk: "sda", Part: "sda1", Slot: "0", State: "in_sync"})
	return tr
}

func TestMDDegradedMirror(t *testing.T) {
	tr := degradedMirror(t)
	arrays, err := MD(tr.Sys)
	if err != nil {
		t.Fatal(err)
	}
	if len(arrays) != 1 {
		t.Fatalf("arrays %+v", arrays)
	}
	a := arrays[0]
	if a.Name != "md0" || a.Level != "raid1" || a.RaidDisks != 2 || a.Degraded != 1 || a.ArrayState != "clean" || a.SyncAction != "idle" || a.SizeBytes != 200<<30 {
		t.Errorf("md0 = %+v", a)
	}
	if want := []MDMember{{Name: "sda1", Disk: "sda", Slot: 0, State: "in_sync"}}; !reflect.DeepEqual(a.Members, want) {
		t.Errorf("members %+v", a.Members)
	}
	if !reflect.DeepEqual(a.MissingSlots, []int{1}) {
		t.Errorf("missing slots %v", a.MissingSlots)
	}

	disks, err := Disks(tr.Sys)
	if err != nil {
		t.Fatal(err)
	}
	md := diskByName(t, disks, "md0")
	if !md.Logical || md.RAIDLevel != "1" || md.Transport != "md" || !md.Degraded || md.ByPath != "" {
		t.Errorf("md0 as a disk = %+v", md)
	}
	if sda := diskByName(t, disks, "sda"); !reflect.DeepEqual(sda.Holders, []string{"md0"}) {
		t.Errorf("sda holders %v", sda.Holders)
	}
	if sdb := diskByName(t, disks, "sdb"); sdb.Holders != nil {
		t.Errorf("sdb holders %v", sdb.Holders)
	}
}

func TestMDFaultyAndSpareMembers(t *testing.T) {
	tr := probetest.New(t)
	for i, n := range []string{"sda", "sdb", "sdc", "sdd"} {
		tr.AHCIDisk("0000:00:1f.2", i+1, i+1, i, probetest.Disk{Name: n, SizeBytes: 100 << 30})
		tr.Partition(n, n+"2", 90<<30)
	}
	tr.MDArray("md1", "raid5", 3, 1, "active", "recover", 180<<30,
		probetest.MDMember{Disk: "sda", Part: "sda2", Slot: "0", State: "in_sync"},
		probetest.MDMember{Disk: "sdb", Part: "sdb2", Slot: "1", State: "faulty"},
		probetest.MDMember{Disk: "sdc", Part: "sdc2", Slot: "2", State: "in_sync"},
		probetest.MDMember{Disk: "sdd", Part: "sdd2", Slot: "none", State: "spare"})
	arrays, err := MD(tr.Sys)
	if err != nil || len(arrays) != 1 {
		t.Fatal(arrays, err)
	}
	a := arrays[0]
	if !reflect.DeepEqual(a.MissingSlots, []int{1}) || a.SyncAction != "recover" {
		t.Errorf("md1 = %+v", a)
	}
	var got []string
	for _, m := range a.Members {
		got = append(got, m.Name)
	}
	if !reflect.DeepEqual(got, []string{"sda2", "sdb2", "sdc2", "sdd2"}) || !a.Members[1].Faulty() || a.Members[3].Slot != -1 {
		t.Errorf("members %+v", a.Members)
	}
}

func TestMDNone(t *testing.T) {
	tr := mixedTree(t)
	arrays, err := MD(tr.Sys)
	if err != nil || len(arrays) != 0 {
		t.Errorf("MD = %+v, %v", arrays, err)
	}
}
