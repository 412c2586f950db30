package checks

import (
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/probe"
	"github.com/lockstep-ft/lockstep/installer/probe/probetest"
)

const (
	e5v4  = "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz"
	perc  = "0000:00:02.0/0000:03:00.0"
	ahci  = "0000:00:1f.2"
	xhci  = "0000:00:14.0"
	nvme  = "0000:00:1d.0/0000:3d:00.0"
	hpsa  = "0000:00:01.0/0000:02:00.0"
	nicA  = "0000:00:1c.0/0000:01:00.0"
	nicB  = "0000:00:1c.0/0000:01:00.1"
	vmxFl = "vnmi preemption_timer invvpid ept_x_only ept_ad ept_1gb flexpriority tsc_offset vtpr mtf vapic ept vpid unrestricted_guest ple"
)

// server is scenario 1: a dual E5-2680 v4 Dell with 128 GiB, UEFI, the
// performance governor, a PERC H730P Mini virtual disk, two ports and the
// installer on a virtual DVD. Other scenarios change one part of it.
type server struct {
	cpu        probetest.CPU
	mem        int64
	legacy     bool
	governor   string
	noCPUFreq  bool
	disks      func(*probetest.Tree)
	nics       func(*probetest.Tree)
	mediumFrom string
}

func newServer() server {
	return server{
		cpu: probetest.CPU{Vendor: "GenuineIntel", Model: e5v4, Flags: probetest.XeonFlags, Sockets: 2, Cores: 14, Threads: 2, VMXFlags: vmxFl},
		mem: 128 << 30, governor: "performance",
		disks: func(tr *probetest.Tree) {
			tr.SCSIDisk(perc, "megaraid_sas", 0, 2, 0, 0, probetest.Disk{Name: "sda", SizeBytes: 558 << 30, Vendor: "DELL", Model: "PERC H730P Mini", WWID: "naa.6d0946606e1a2b002a1b3c4d5e6f7081", Rotational: true})
		},
		nics: func(tr *probetest.Tree) {
			tr.NIC(nicA, "eno1", "b0:26:28:00:00:01", "igb", 1000, true)
			tr.NIC(nicB, "eno2", "b0:26:28:00:00:02", "igb", 1000, true)
		},
		mediumFrom: "/dev/sr0",
	}
}

func (s server) facts(t *testing.T) Facts {
	t.Helper()
	tr := probetest.New(t)
	tr.CPUInfo(s.cpu)
	tr.MemInfo(s.mem)
	tr.DMI("Dell Inc.", "PowerEdge R730", "2.17.0")
	if !s.legacy {
		tr.UEFI(true, false, 0x000A, []uint16{0x0003, 0x000A}, map[uint16]string{3: "Integrated RAID Controller 1: Lockstep", 0xA: "Virtual Optical Drive"})
	}
	if !s.noCPUFreq {
		tr.Governor(4, s.governor, "")
	}
	// The installer medium: a BMC virtual DVD on the USB controller.
	tr.USBDisk(xhci, "4", 8, probetest.Disk{Name: "sr0", SizeBytes: 900 << 20, Vendor: "iDRAC", Model: "Virtual CD", Removable: true})
	tr.Mount("rootfs", "/", "rootfs")
	tr.Mount(s.mediumFrom, probe.MediumMount, "iso9660")
	if s.disks != nil {
		s.disks(tr)
	}
	tr.Loopback()
	if s.nics != nil {
		s.nics(tr)
	}
	f, err := Gather(tr.Proc, tr.Sys)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	return f
}

// expect checks the status of the named results, and for every result that
// a non-pass carries a fix and a pass none.
func expect(t *testing.T, rs []Result, want map[string]Status) {
	t.Helper()
	for id, st := range want {
		r, ok := Find(rs, id)
		if !ok {
			t.Errorf("no result %q in %s", id, ids(rs))
			continue
		}
		if r.Status != st {
			t.Errorf("%s: %s (%s), want %s", id, r.Status, r.Detail, st)
		}
	}
	for _, r := range rs {
		if r.Detail == "" || r.Title == "" {
			t.Errorf("%s: empty title or detail: %+v", r.ID, r)
		}
		if r.Status != Pass && r.Fix == "" {
			t.Errorf("%s: %s without a fix: %s", r.ID, r.Status, r.Detail)
		}
		if r.Status == Pass && r.Fix != "" {
			t.Errorf("%s: passed with a fix: %s", r.ID, r.Fix)
		}
	}
}

func ids(rs []Result) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.ID+"="+r.Status.String())
	}
	return strings.Join(s, " ")
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s %q does not mention %q", what, s, sub)
		}
	}
}

func result(t *testing.T, rs []Result, id string) Result {
	t.Helper()
	r, ok := Find(rs, id)
	if !ok {
		t.Fatalf("no result %q in %s", id, ids(rs))
	}
	return r
}

// Scenario 1.
func TestScenarioSupportedServerPasses(t *testing.T) {
	f := newServer().facts(t)
	if f.BootMedium != "sr0" {
		t.Errorf("boot medium %q", f.BootMedium)
	}
	rs := All(f, Options{})
	expect(t, rs, map[string]Status{"virt": Pass, "nx": Pass, "cpu-model": Pass, "sockets": Pass, "power": Pass, "boot-mode": Pass,
		"boot-order": Pass, "memory": Pass, "vcpus": Pass, "disk:sda": Pass, "system-disk": Pass, "nics": Pass})
	if Blocking(rs) || len(Warnings(rs)) != 0 {
		t.Errorf("blocking %v, warnings %s", Blocking(rs), ids(Warnings(rs)))
	}
	if len(rs) != 12 {
		t.Errorf("results: %s", ids(rs)) // sr0 (the medium) gets no disk check
	}
	mustContain(t, "cpu-model", result(t, rs, "cpu-model").Detail, e5v4, "E5-2xxx v1–v4")
	mustContain(t, "vcpus", result(t, rs, "vcpus").Detail, "2 sockets × 14 cores × 2 threads = 56 vCPUs")
	mustContain(t, "virt", result(t, rs, "virt").Detail, "VT-x", "EPT")
	mustContain(t, "disk:sda", result(t, rs, "disk:sda").Detail, "558.0 GiB", "DELL PERC H730P Mini", "megaraid_sas", "RAID level not reported", "confirm it is RAID 1", "wwn:naa.6d09")
	mustContain(t, "boot-mode", result(t, rs, "boot-mode").Detail, "UEFI", "Secure Boot off", "PowerEdge R730")
	mustContain(t, "boot-order", result(t, rs, "boot-order").Detail, "booted from Boot000A Virtual Optical Drive", "Boot0003 Integrated RAID Controller 1: Lockstep")
	mustContain(t, "memory", result(t, rs, "memory").Detail, "128.0 GiB")
}

// Scenario 2.
func TestScenarioNoVTx(t *testing.T) {
	s := newServer()
	s.cpu.Flags = probetest.Without(probetest.XeonFlags, "vmx")
	s.cpu.VMXFlags = ""
	f := s.facts(t)

	rs := BIOS(f, Options{})
	expect(t, rs, map[string]Status{"virt": Fail, "nx": Pass, "cpu-model": Pass})
	r := result(t, rs, "virt")
	if r.Fix != "Enable Intel Virtualization Technology (VT-x) in the BIOS setup (often under Processor Settings), then power-cycle." {
		t.Errorf("fix %q", r.Fix)
	}
	if !Blocking(rs) {
		t.Error("missing VT-x must block the install")
	}

	lab := BIOS(f, Options{Lab: true})
	expect(t, lab, map[string]Status{"virt": Warn})
	mustContain(t, "lab virt", result(t, lab, "virt").Detail, "lab mode")
	if Blocking(lab) {
		t.Errorf("lab mode still blocks: %s", ids(lab))
	}
}

func TestScenarioNoAMDV(t *testing.T) {
	s := newServer()
	s.cpu = probetest.CPU{Vendor: "AuthenticAMD", Model: "AMD EPYC 7302 16-Core Processor", Flags: []string{"fpu", "nx", "lm"}, Cores: 16, Threads: 2}
	rs := BIOS(s.facts(t), Options{})
	expect(t, rs, map[string]Status{"virt": Fail, "cpu-model": Warn})
	mustContain(t, "fix", result(t, rs, "virt").Fix, "SVM Mode (AMD-V)")
}

// Scenario 3.
func TestScenarioNXOff(t *testing.T) {
	s := newServer()
	s.cpu.Flags = probetest.Without(probetest.XeonFlags, "nx")
	rs := BIOS(s.facts(t), Options{Lab: true})
	expect(t, rs, map[string]Status{"nx": Fail, "virt": Pass})
	mustContain(t, "nx fix", result(t, rs, "nx").Fix, "NX/XD (Execute Disable Bit)", "BIOS")
	if !Blocking(rs) {
		t.Error("NX off must block, lab mode or not")
	}
}

// Scenario 4.
func TestScenarioDegradedMD(t *testing.T) {
	s := newServer()
	s.disks = func(tr *probetest.Tree) {
		tr.AHCIDisk(ahci, 1, 1, 0, probetest.Disk{Name: "sda", SizeBytes: 240 << 30, Vendor: "ATA", Model: "INTEL SSDSC2KB24", WWID: "naa.55cd2e414db5c701"})
		tr.Partition("sda", "sda1", 200<<30)
		tr.MDArray("md0", "raid1", 2, 1, "clean", "idle", 200<<30, probetest.MDMember{Disk: "sda", Part: "sda1", Slot: "0", State: "in_sync"})
	}
	rs := RAID(s.facts(t), Options{})
	expect(t, rs, map[string]Status{"md:md0": Warn, "system-disk": Pass})
	r := result(t, rs, "md:md0")
	mustContain(t, "md0", r.Detail, "md0 is degraded", "1 of 2 members missing", "slot 1", "sda1 (slot 0, in_sync)")
	mustContain(t, "md0 fix", r.Fix, "md0", "--add")
	if _, ok := Find(rs, "disk:sda"); ok {
		t.Errorf("sda is an md member and must not be checked as a disk: %s", ids(rs))
	}
}

func TestDegradedMDNamesFaultyMember(t *testing.T) {
	a := probe.MDArray{Name: "md1", Level: "raid1", RaidDisks: 2, Degraded: 1, ArrayState: "active", SyncAction: "idle", SizeBytes: 100 << 30,
		Members:      []probe.MDMember{{Name: "sda2", Disk: "sda", Slot: 0, State: "in_sync"}, {Name: "sdb2", Disk: "sdb", Slot: 1, State: "faulty"}},
		MissingSlots: []int{1}}
	r := checkMD(a)
	if r.Status != Warn {
		t.Errorf("%+v", r)
	}
	mustContain(t, "md1", r.Detail, "sdb2 faulty", "slot 1")
}

// Scenario 5.
func TestScenarioHPSALogicalDrive(t *testing.T) {
	s := newServer()
	s.disks = func(tr *probetest.Tree) {
		tr.SCSIDisk(hpsa, "hpsa", 0, 1, 0, 0, probetest.Disk{Name: "sda", SizeBytes: 279 << 30, Vendor: "HP", Model: "LOGICAL VOLUME", WWID: "naa.600508b1001c4d6a1b2c3d4e5f607182",
			Attrs: map[string]string{"raid_level": "RAID 1(1+0)"}})
	}
	f := s.facts(t)
	if d := f.Disks[0]; d.Name != "sda" || d.RAIDLevel != "1+0" || !d.Logical || d.Controller != "hpsa" {
		t.Errorf("hpsa disk = %+v", d)
	}
	rs := RAID(f, Options{})
	expect(t, rs, map[string]Status{"disk:sda": Pass, "system-disk": Pass})
	mustContain(t, "disk:sda", result(t, rs, "disk:sda").Detail, "RAID 1+0", "hpsa", "HP LOGICAL VOLUME")
}

// Scenario 6.
func TestScenarioNVMeOnly(t *testing.T) {
	s := newServer()
	s.disks = func(tr *probetest.Tree) {
		tr.NVMeDisk(nvme, 0, 1, probetest.Disk{Name: "nvme0n1", SizeBytes: 960 << 30, Model: "SAMSUNG MZQLB960HAJR-00007", Serial: "S437NA0M700001", WWID: "eui.344337304d7000010025384100000001"})
	}
	rs := RAID(s.facts(t), Options{})
	expect(t, rs, map[string]Status{"disk:nvme0n1": Warn, "system-disk": Pass})
	r := result(t, rs, "disk:nvme0n1")
	mustContain(t, "nvme", r.Detail, "non-RAID system disk", "nvme0n1", "eui.3443")
	mustContain(t, "nvme fix", r.Fix, "RAID 1")
}

// Scenario 7.
func TestScenarioOneNIC(t *testing.T) {
	s := newServer()
	s.nics = func(tr *probetest.Tree) { tr.NIC(nicA, "eno1", "b0:26:28:00:00:01", "igb", 1000, true) }
	rs := Network(s.facts(t))
	expect(t, rs, map[string]Status{"nics": Warn})
	mustContain(t, "nics", rs[0].Detail, "priv0", "ibiz0", "2×1G + 2×10G", "4×1G + 2×10G", "eno1 igb 1000 Mb/s")
}

func TestNoNICFails(t *testing.T) {
	s := newServer()
	s.nics = nil
	rs := Network(s.facts(t))
	expect(t, rs, map[string]Status{"nics": Fail})
}

// Scenario 8.
func TestScenarioDiskTooSmall(t *testing.T) {
	s := newServer()
	s.disks = func(tr *probetest.Tree) {
		tr.SCSIDisk(perc, "megaraid_sas", 0, 2, 0, 0, probetest.Disk{Name: "sda", SizeBytes: 32 << 30, Vendor: "DELL", Model: "PERC H330 Mini"})
	}
	rs := All(s.facts(t), Options{})
	expect(t, rs, map[string]Status{"system-disk": Fail, "disk:sda": Pass})
	mustContain(t, "system-disk", result(t, rs, "system-disk").Detail, "32.0 GiB", "64.0 GiB")
	if !Blocking(rs) {
		t.Error("a 32 GiB disk must block")
	}
}

func TestSmallButUsableDiskWarns(t *testing.T) {
	s := newServer()
	s.disks = func(tr *probetest.Tree) {
		tr.SCSIDisk(perc, "megaraid_sas", 0, 2, 0, 0, probetest.Disk{Name: "sda", SizeBytes: 100 << 30, Vendor: "DELL", Model: "PERC H330 Mini"})
	}
	expect(t, RAID(s.facts(t), Options{}), map[string]Status{"system-disk": Warn})
}

func TestNoDiskFails(t *testing.T) {
	s := newServer()
	s.disks = nil
	rs := RAID(s.facts(t), Options{})
	expect(t, rs, map[string]Status{"system-disk": Fail})
	if len(rs) != 1 {
		t.Errorf("the boot medium must not be a candidate: %s", ids(rs))
	}
}

// Scenario 9.
func TestScenarioQEMUCPUMax(t *testing.T) {
	for _, cpu := range []probetest.CPU{
		{Vendor: "AuthenticAMD", Model: "AMD EPYC-Rome Processor", Flags: []string{"fpu", "nx", "svm", "hypervisor", "lm"}, Cores: 4},
		{Vendor: "AuthenticAMD", Model: "QEMU Virtual CPU version 2.5+", Flags: []string{"fpu", "nx", "svm", "hypervisor", "lm"}, Cores: 4},
	} {
		t.Run(cpu.Model, func(t *testing.T) {
			s := newServer()
			s.cpu, s.noCPUFreq, s.mem = cpu, true, 16<<30
			rs := BIOS(s.facts(t), Options{})
			expect(t, rs, map[string]Status{"virt": Pass, "nx": Pass, "cpu-model": Warn, "power": Pass, "sockets": Pass, "vcpus": Warn, "memory": Pass})
			mustContain(t, "cpu-model", result(t, rs, "cpu-model").Detail, cpu.Model, "virtual CPU")
			mustContain(t, "cpu-model fix", result(t, rs, "cpu-model").Fix, "Xeon E3-1xxx")
			mustContain(t, "virt", result(t, rs, "virt").Detail, "AMD-V")
		})
	}
}

func TestLabVMWithoutNestedVirt(t *testing.T) {
	s := newServer()
	s.cpu = probetest.CPU{Vendor: "AuthenticAMD", Model: "QEMU Virtual CPU version 2.5+", Flags: []string{"fpu", "nx", "hypervisor", "lm"}, Cores: 2}
	s.noCPUFreq, s.mem = true, 4<<30
	f := s.facts(t)
	rs := BIOS(f, Options{})
	expect(t, rs, map[string]Status{"virt": Fail, "memory": Fail, "vcpus": Fail})
	mustContain(t, "virt fix", result(t, rs, "virt").Fix, "lockstep.lab=1")
	lab := BIOS(f, Options{Lab: true})
	expect(t, lab, map[string]Status{"virt": Warn, "memory": Warn, "vcpus": Warn})
	if Blocking(lab) {
		t.Errorf("a 2 vCPU, 4 GiB lab node must install in lab mode: %s", ids(lab))
	}
	s.mem = 1 << 30
	expect(t, BIOS(s.facts(t), Options{Lab: true}), map[string]Status{"memory": Fail})
}
