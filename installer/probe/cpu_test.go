package probe

import (
	"testing"

	"github.com/lockstep-ft/lockstep/installer/probe/probetest"
)

func TestCPUXeonTwoSockets(t *testing.T) {
	tr := probetest.New(t)
	tr.CPUInfo(probetest.CPU{Vendor: "GenuineIntel", Model: "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz",
		Flags: probetest.XeonFlags, Sockets: 2, Cores: 14, Threads: 2, VMXFlags: "vnmi preemption_timer invvpid ept_x_only ept_ad flexpriority tsc_offset vtpr mtf vapic ept vpid unrestricted_guest"})
	c, err := CPU(tr.Proc, tr.Sys)
	if err != nil {
		t.Fatal(err)
	}
	if c.Vendor != "GenuineIntel" || c.Model != "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz" {
		t.Errorf("vendor/model = %q %q", c.Vendor, c.Model)
	}
	if !c.VMX || c.SVM || !c.VirtEnabled || !c.NX || c.Hypervisor {
		t.Errorf("flags: vmx %v svm %v virt %v nx %v hypervisor %v", c.VMX, c.SVM, c.VirtEnabled, c.NX, c.Hypervisor)
	}
	if c.Sockets != 2 || c.CoresPerSocket != 14 || c.ThreadsPerCore != 2 || c.Threads != 56 {
		t.Errorf("topology %d×%d×%d = %d", c.Sockets, c.CoresPerSocket, c.ThreadsPerCore, c.Threads)
	}
	if len(c.VMXFeatures) == 0 || !c.HasFlag("ept") {
		t.Errorf("vmx features %v", c.VMXFeatures)
	}
}

func TestCPUVTxDisabledByFirmware(t *testing.T) {
	tr := probetest.New(t)
	// The kernel drops vmx from the flags when the BIOS locks VT-x off.
	tr.CPUInfo(probetest.CPU{Vendor: "GenuineIntel", Model: "Intel(R) Xeon(R) CPU E3-1230 V2 @ 3.30GHz", Flags: probetest.Without(probetest.XeonFlags, "vmx", "nx"), Cores: 4, Threads: 2})
	c, err := CPU(tr.Proc, tr.Sys)
	if err != nil {
		t.Fatal(err)
	}
	if c.VMX || c.VirtEnabled || c.NX {
		t.Errorf("vmx %v virt %v nx %v, want all false", c.VMX, c.VirtEnabled, c.NX)
	}
	if c.Sockets != 1 || c.CoresPerSocket != 4 || c.ThreadsPerCore != 2 || c.Threads != 8 {
		t.Errorf("topology %+v", c)
	}
}

func TestCPUQEMUWithoutTopologyUsesSysfs(t *testing.T) {
	tr := probetest.New(t)
	tr.CPUInfo(probetest.CPU{Vendor: "AuthenticAMD", Model: "AMD EPYC-Rome Processor", Flags: []string{"fpu", "nx", "svm", "hypervisor", "lm"}, Cores: 4, NoTopology: true})
	for i, pkg := range []string{"0", "0", "1", "1"} {
		tr.SysFile("devices/system/cpu/cpu"+string(rune('0'+i))+"/topology/physical_package_id", pkg)
		tr.SysFile("devices/system/cpu/cpu"+string(rune('0'+i))+"/topology/core_id", string(rune('0'+i%2)))
	}
	c, err := CPU(tr.Proc, tr.Sys)
	if err != nil {
		t.Fatal(err)
	}
	if !c.SVM || !c.VirtEnabled || !c.Hypervisor || c.VMX {
		t.Errorf("flags %+v", c)
	}
	if c.Sockets != 2 || c.CoresPerSocket != 2 || c.ThreadsPerCore != 1 || c.Threads != 4 {
		t.Errorf("topology %d×%d×%d = %d", c.Sockets, c.CoresPerSocket, c.ThreadsPerCore, c.Threads)
	}
}

func TestCPUMissing(t *testing.T) {
	tr := probetest.New(t)
	if _, err := CPU(tr.Proc, tr.Sys); err == nil {
		t.Error("want an error without cpuinfo")
	}
	tr.ProcFile("cpuinfo", "\n")
	if _, err := CPU(tr.Proc, tr.Sys); err == nil {
		t.Error("want an error for a cpuinfo without processors")
	}
}

func TestMemory(t *testing.T) {
	tr := probetest.New(t)
	tr.MemInfo(128 << 30)
	n, err := Memory(tr.Proc)
	if err != nil || n != 128<<30 {
		t.Errorf("Memory = %d, %v", n, err)
	}
	tr.ProcFile("meminfo", "MemFree: 10 kB\n")
	if _, err := Memory(tr.Proc); err == nil {
		t.Error("want an error without MemTotal")
	}
}
