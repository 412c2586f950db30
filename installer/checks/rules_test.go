package checks

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/probe"
	"github.com/lockstep-ft/lockstep/installer/probe/probetest"
)

func TestMatchCPU(t *testing.T) {
	for _, tc := range []struct {
		model, family string
		ok            bool
	}{
		{"Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", "Xeon E5-2xxx v1–v4", true},
		{"Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz", "Xeon E5-2xxx v1–v4", true},
		{"Intel(R) Xeon(R) CPU E5-1650 v3 @ 3.50GHz", "Xeon E5-1xxx v1–v4", true},
		{"Intel(R) Xeon(R) CPU E5-4650 v2 @ 2.40GHz", "Xeon E5-4xxx v1–v4", true},
		{"Intel(R) Xeon(R) CPU E3-1230 V2 @ 3.30GHz", "Xeon E3-1xxx v1–v6", true},
		{"Intel(R) Xeon(R) CPU E3-1240 v6 @ 3.70GHz", "Xeon E3-1xxx v1–v6", true},
		{"Intel(R) Xeon(R) CPU E3-1505M v5 @ 2.80GHz", "Xeon E3-1xxx v1–v6", true},
		{"Intel(R) Xeon(R) CPU E31230 @ 3.20GHz", "Xeon E3-1xxx v1–v6", true},
		{"Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", "Xeon Gold 6xxx", true},
		{"Intel(R) Xeon(R) Gold 5218 CPU @ 2.30GHz", "Xeon Gold 5xxx", true},
		{"Intel(R) Xeon(R) Silver 4114 CPU @ 2.20GHz", "Xeon Silver 4xxx", true},
		{"Intel(R) Xeon(R) Bronze 3106 CPU @ 1.70GHz", "Xeon Bronze 3xxx", true},
		{"Intel(R) Xeon(R) CPU E5-2690 v5 @ 2.60GHz", "Xeon E5-2xxx v1–v4", false},
		{"Intel(R) Xeon(R) CPU E3-1230 v7 @ 3.30GHz", "Xeon E3-1xxx v1–v6", false},
		{"Intel(R) Xeon(R) Platinum 8280 CPU @ 2.70GHz", "", false},
		{"Intel(R) Xeon(R) CPU X5670 @ 2.93GHz", "", false},
		{"Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", "", false},
		{"Intel Xeon Processor (Skylake, IBRS)", "", false},
		{"QEMU Virtual CPU version 2.5+", "", false},
		{"AMD EPYC-Rome Processor", "", false},
	} {
		family, ok := MatchCPU(tc.model)
		if family != tc.family || ok != tc.ok {
			t.Errorf("MatchCPU(%q) = %q, %v; want %q, %v", tc.model, family, ok, tc.family, tc.ok)
		}
	}
}

func TestOldGenerationWarns(t *testing.T) {
	r := checkCPUModel(probe.CPUInfo{Vendor: "GenuineIntel", Model: "Intel(R) Xeon(R) CPU E5-2690 v5 @ 2.60GHz"})
	if r.Status != Warn || r.Fix == "" {
		t.Errorf("%+v", r)
	}
	mustContain(t, "detail", r.Detail, "generation outside the supported Xeon E5-2xxx v1–v4")
}

func TestSockets(t *testing.T) {
	for n, want := range map[int]Status{1: Pass, 2: Pass, 4: Fail, 0: Warn} {
		r := checkSockets(probe.CPUInfo{Sockets: n})
		if r.Status != want || (want != Pass && r.Fix == "") {
			t.Errorf("%d sockets: %+v", n, r)
		}
	}
}

func TestPower(t *testing.T) {
	for _, tc := range []struct {
		name string
		gov  string
		none bool
		hv   bool
		want Status
		says string
	}{
		{name: "performance", gov: "performance", want: Pass, says: "full performance"},
		{name: "powersave", gov: "powersave", want: Warn, says: "governor powersave"},
		{name: "no cpufreq on bare metal", none: true, want: Warn, says: "Maximum Performance or \"OS control disabled\""},
		{name: "no cpufreq in a VM", none: true, hv: true, want: Pass, says: "virtual machine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := probetest.New(t)
			if !tc.none {
				tr.Governor(2, tc.gov, "balance_performance")
			}
			r := checkPower(probe.PowerProfile(tr.Sys), probe.CPUInfo{Hypervisor: tc.hv})
			if r.Status != tc.want || (r.Status != Pass) != (r.Fix != "") {
				t.Errorf("%+v", r)
			}
			mustContain(t, "power", r.Detail, tc.says)
			if r.Status == Warn {
				mustContain(t, "power fix", r.Fix, "Maximum Performance")
			}
		})
	}
}

func TestLegacyBootWithAHugeVolumeWarns(t *testing.T) {
	s := newServer()
	s.legacy = true
	s.disks = func(tr *probetest.Tree) {
		tr.SCSIDisk(perc, "megaraid_sas", 0, 2, 0, 0, probetest.Disk{Name: "sda", SizeBytes: 3 << 40, Vendor: "DELL", Model: "PERC H730P Mini"})
	}
	rs := BIOS(s.facts(t), Options{})
	expect(t, rs, map[string]Status{"boot-mode": Warn, "boot-order": Pass})
	mustContain(t, "boot-mode", result(t, rs, "boot-mode").Detail, "legacy BIOS", "3.0 TiB")
	mustContain(t, "boot-mode fix", result(t, rs, "boot-mode").Fix, "UEFI")
	mustContain(t, "boot-order", result(t, rs, "boot-order").Detail, "legacy BIOS")

	s.disks = newServer().disks
	expect(t, BIOS(s.facts(t), Options{}), map[string]Status{"boot-mode": Pass})
}

func TestMemoryThresholds(t *testing.T) {
	for _, tc := range []struct {
		mem  int64
		lab  bool
		want Status
	}{
		{128 << 30, false, Pass},
		{16 << 30 * 95 / 100, false, Pass}, // a 16 GiB server's MemTotal
		{12 << 30, false, Warn},
		{8 << 30 * 95 / 100, false, Warn}, // an 8 GiB server's MemTotal
		{6 << 30, false, Fail},
		{6 << 30, true, Warn},
		{1 << 30, true, Fail},
		{0, false, Warn},
	} {
		r := checkMemory(tc.mem, Options{Lab: tc.lab})
		if r.Status != tc.want || (r.Status != Pass) != (r.Fix != "") {
			t.Errorf("memory %s lab %v: %+v, want %s", probe.HumanSize(tc.mem), tc.lab, r, tc.want)
		}
	}
}

func TestVCPUs(t *testing.T) {
	for _, tc := range []struct {
		c    probe.CPUInfo
		lab  bool
		want Status
		says string
	}{
		{probe.CPUInfo{Sockets: 1, CoresPerSocket: 4, ThreadsPerCore: 2, Threads: 8}, false, Pass, "1 socket × 4 cores × 2 threads = 8 vCPUs"},
		{probe.CPUInfo{Sockets: 1, CoresPerSocket: 4, ThreadsPerCore: 1, Threads: 4, Vendor: "GenuineIntel"}, false, Warn, "= 4 vCPUs"},
		{probe.CPUInfo{Sockets: 1, CoresPerSocket: 2, ThreadsPerCore: 1, Threads: 2, Vendor: "GenuineIntel"}, false, Fail, "under the minimum of 4"},
		{probe.CPUInfo{Sockets: 1, CoresPerSocket: 2, ThreadsPerCore: 1, Threads: 2}, true, Warn, "lab mode"},
		{probe.CPUInfo{Sockets: 1, CoresPerSocket: 1, ThreadsPerCore: 1, Threads: 1}, true, Fail, "1 vCPUs"},
	} {
		r := checkVCPUs(tc.c, Options{Lab: tc.lab})
		if r.Status != tc.want || (r.Status != Pass) != (r.Fix != "") {
			t.Errorf("%+v lab %v: %+v, want %s", tc.c, tc.lab, r, tc.want)
		}
		mustContain(t, "vcpus", r.Detail, tc.says)
	}
	r := checkVCPUs(probe.CPUInfo{Sockets: 1, CoresPerSocket: 4, ThreadsPerCore: 1, Threads: 4, Vendor: "GenuineIntel"}, Options{})
	mustContain(t, "fix", r.Fix, "Hyper-Threading")
}

func TestRAIDDiskRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    probe.Disk
		want Status
		says string
	}{
		{"raid0 volume", probe.Disk{Name: "sda", SizeBytes: 1 << 40, Controller: "hpsa", Logical: true, RAIDLevel: "0"}, Warn, "without redundancy"},
		{"raid5 volume", probe.Disk{Name: "sda", SizeBytes: 1 << 40, Controller: "smartpqi", Logical: true, RAIDLevel: "5"}, Pass, "RAID 5"},
		{"degraded IR volume", probe.Disk{Name: "sda", SizeBytes: 1 << 40, Controller: "mpt3sas", Logical: true, RAIDLevel: "1", State: "degraded", Degraded: true}, Warn, "degraded RAID volume"},
		{"megaraid JBOD", probe.Disk{Name: "sdb", SizeBytes: 1 << 40, Controller: "megaraid_sas", Transport: "scsi"}, Warn, "non-RAID system disk (pass-through/JBOD"},
		{"raw SATA", probe.Disk{Name: "sda", SizeBytes: 1 << 40, Controller: "ahci", Transport: "sata"}, Warn, "non-RAID system disk"},
		{"offline", probe.Disk{Name: "sda", SizeBytes: 1 << 40, Controller: "megaraid_sas", Logical: true, State: "offline"}, Warn, "offline"},
	} {
		r := checkDisk(tc.d)
		if r.Status != tc.want || (r.Status != Pass) != (r.Fix != "") {
			t.Errorf("%s: %+v, want %s", tc.name, r, tc.want)
		}
		mustContain(t, tc.name, r.Detail, tc.says)
	}
}

func TestMDRules(t *testing.T) {
	for _, tc := range []struct {
		a    probe.MDArray
		want Status
		says string
	}{
		{probe.MDArray{Name: "md0", Level: "raid1", RaidDisks: 2, ArrayState: "clean", SyncAction: "idle"}, Pass, "raid1"},
		{probe.MDArray{Name: "md0", Level: "raid0", RaidDisks: 2, ArrayState: "clean"}, Warn, "no redundancy"},
		{probe.MDArray{Name: "md0", Level: "raid1", RaidDisks: 2, ArrayState: "active", SyncAction: "resync", SyncCompleted: "1024 / 4096"}, Warn, "md0 is rebuilding (resync 1024 / 4096)"},
		{probe.MDArray{Name: "md127", Level: "raid1", RaidDisks: 2, ArrayState: "inactive"}, Warn, "md127 is not running"},
	} {
		r := checkMD(tc.a)
		if r.Status != tc.want || (r.Status != Pass) != (r.Fix != "") {
			t.Errorf("%+v: %+v, want %s", tc.a, r, tc.want)
		}
		mustContain(t, tc.a.Name, r.Detail, tc.says)
	}
}

// The medium is excluded even when the BMC presents it as a fixed disk.
func TestBootMediumIsNotACandidate(t *testing.T) {
	s := newServer()
	s.mediumFrom = "/dev/sdb1"
	base := s.disks
	s.disks = func(tr *probetest.Tree) {
		base(tr)
		tr.USBDisk(xhci, "5", 9, probetest.Disk{Name: "sdb", SizeBytes: 200 << 30, Vendor: "iDRAC", Model: "Virtual Disk"})
		tr.Partition("sdb", "sdb1", 1<<30)
	}
	f := s.facts(t)
	if f.BootMedium != "sdb" {
		t.Fatalf("boot medium %q", f.BootMedium)
	}
	rs := RAID(f, Options{})
	if _, ok := Find(rs, "disk:sdb"); ok {
		t.Errorf("boot medium checked as a disk: %s", ids(rs))
	}
	if _, ok := Find(rs, "disk:sda"); !ok {
		t.Errorf("sda missing: %s", ids(rs))
	}
}

func TestStatusAndHelpers(t *testing.T) {
	if Pass.String() != "pass" || Warn.String() != "warn" || Fail.String() != "fail" || Status(9).String() != "Status(9)" {
		t.Error("Status.String")
	}
	b, err := json.Marshal(Result{ID: "nx", Status: Fail})
	if err != nil || string(b) != `{"ID":"nx","Title":"","Status":"fail","Detail":"","Fix":""}` {
		t.Errorf("json %s %v", b, err)
	}
	rs := []Result{{ID: "a"}, {ID: "b", Status: Warn}, {ID: "c", Status: Warn}}
	if Blocking(rs) || len(Warnings(rs)) != 2 || Warnings(rs)[1].ID != "c" {
		t.Error("Blocking/Warnings without failures")
	}
	if !Blocking(append(rs, Result{ID: "d", Status: Fail})) {
		t.Error("Blocking with a failure")
	}
	if Warnings(nil) != nil {
		t.Error("Warnings(nil)")
	}
}

func TestGatherReportsProbeErrorsButKeepsTheRest(t *testing.T) {
	tr := probetest.New(t)
	tr.MemInfo(64 << 30)
	f, err := Gather(tr.Proc, tr.Sys)
	if err == nil {
		t.Fatal("want an error for the missing cpuinfo")
	}
	if f.MemoryBytes != 64<<30 {
		t.Errorf("memory lost: %d", f.MemoryBytes)
	}
}

func TestLabModeAcceptsASmallDiskWithAWarning(t *testing.T) {
	f := Facts{Disks: []probe.Disk{{Name: "vda", SizeBytes: 32 << 30, Transport: "virtio", Driver: "virtio_blk"}}}
	if r, _ := Find(RAID(f, Options{}), "system-disk"); r.Status != Fail {
		t.Fatalf("32 GiB without lab mode: %v, want fail", r.Status)
	}
	r, _ := Find(RAID(f, Options{Lab: true}), "system-disk")
	if r.Status != Warn || !strings.Contains(r.Detail, "lab mode") {
		t.Fatalf("32 GiB in lab mode: %v %q, want a lab-mode warning", r.Status, r.Detail)
	}
	f.Disks[0].SizeBytes = 8 << 30
	if r, _ := Find(RAID(f, Options{Lab: true}), "system-disk"); r.Status != Fail {
		t.Fatalf("8 GiB in lab mode: %v, want fail", r.Status)
	}
}
