package checks

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lockstep-ft/lockstep/installer/probe"
)

// BIOS runs SPEC I2's checks: virt, nx, cpu-model, sockets, power,
// boot-mode, boot-order, memory, vcpus.
func BIOS(f Facts, o Options) []Result {
	return []Result{
		checkVirt(f.CPU, o),
		checkNX(f.CPU),
		checkCPUModel(f.CPU),
		checkSockets(f.CPU),
		checkPower(f.Power, f.CPU),
		checkBootMode(f),
		checkBootOrder(f.Firmware),
		checkMemory(f.MemoryBytes, o),
		checkVCPUs(f.CPU, o),
	}
}

func checkVirt(c probe.CPUInfo, o Options) Result {
	r := Result{ID: "virt", Title: "Hardware virtualization (VT-x/AMD-V)"}
	switch {
	case c.VMX:
		r.Detail = "Intel VT-x is enabled (vmx)"
		if containsString(c.VMXFeatures, "ept") {
			r.Detail += ", with EPT"
		}
		return r
	case c.SVM:
		r.Detail = "AMD-V is enabled (svm)"
		return r
	}
	r.Status = Fail
	r.Detail = "the CPU shows neither vmx nor svm: hardware virtualization is off in the BIOS"
	switch {
	case c.Hypervisor:
		r.Detail = "this is a virtual machine whose CPU shows neither vmx nor svm: nested virtualization is not offered"
		r.Fix = "Give the VM nested virtualization (QEMU: -enable-kvm -cpu host, kvm_intel/kvm_amd nested=1 on the host), or boot the installer with lockstep.lab=1 for a lab install."
	case c.Vendor == "AuthenticAMD":
		r.Fix = "Enable SVM Mode (AMD-V) in the BIOS setup (often under Advanced → CPU Configuration), then power-cycle."
	default:
		r.Fix = "Enable Intel Virtualization Technology (VT-x) in the BIOS setup (often under Processor Settings), then power-cycle."
	}
	if o.Lab {
		r.Status = Warn
		r.Detail += "; lab mode: guests run under QEMU's software emulation (TCG), far slower, and this node is marked as a lab node"
	}
	return r
}

func checkNX(c probe.CPUInfo) Result {
	r := Result{ID: "nx", Title: "NX/XD (Execute Disable)"}
	if c.NX {
		r.Detail = "NX is enabled (nx)"
		return r
	}
	r.Status = Fail
	r.Detail = "the CPU does not show the nx flag: Execute Disable is off in the BIOS"
	r.Fix = "Enable NX/XD (Execute Disable Bit) in the BIOS setup (often under Processor Settings; AMD: NX Mode), then power-cycle."
	return r
}

// MatchCPU finds the supported family of a /proc/cpuinfo model name.
// supported is false for a family member of an unsupported generation
// (family is still named) and for unknown models (family is "").
func MatchCPU(model string) (family string, supported bool) {
	for _, fam := range SupportedCPUs {
		m := fam.Pattern.FindStringSubmatch(model)
		if m == nil {
			continue
		}
		if fam.MaxV == 0 {
			return fam.Name, true
		}
		v := 1
		if len(m) > 1 && m[1] != "" {
			v, _ = strconv.Atoi(m[1])
		}
		return fam.Name, v >= fam.MinV && v <= fam.MaxV
	}
	return "", false
}

func checkCPUModel(c probe.CPUInfo) Result {
	r := Result{ID: "cpu-model", Title: "CPU model"}
	model := c.Model
	if model == "" {
		model = "unknown model"
	}
	family, ok := MatchCPU(c.Model)
	if ok && c.Vendor != "AuthenticAMD" {
		r.Detail = fmt.Sprintf("%s (%s)", model, family)
		if c.Hypervisor {
			r.Detail += ", seen through a hypervisor"
		}
		return r
	}
	r.Status = Warn
	switch {
	case family != "":
		r.Detail = fmt.Sprintf("%s: a generation outside the supported %s", model, family)
	default:
		r.Detail = fmt.Sprintf("%s (%s) is not on the supported list", model, strings.TrimSpace(c.Vendor))
	}
	if c.Hypervisor {
		r.Detail += "; this is a virtual CPU (QEMU/KVM), as in the lab"
	}
	r.Fix = "Use a supported CPU (" + SupportedCPUText + "); other CPUs may work but are not tested with Lockstep."
	return r
}

func checkSockets(c probe.CPUInfo) Result {
	r := Result{ID: "sockets", Title: "CPU sockets"}
	switch n := c.Sockets; {
	case n == 0:
		r.Status = Warn
		r.Detail = "the number of sockets could not be read"
		r.Fix = "Check the CPU configuration in the BIOS system summary."
	case n >= MinSockets && n <= MaxSockets:
		r.Detail = fmt.Sprintf("%d socket%s", n, plural(n))
	default:
		r.Status = Fail
		r.Detail = fmt.Sprintf("%d sockets: Lockstep supports %d–%d", n, MinSockets, MaxSockets)
		r.Fix = "Use a server with one or two populated CPU sockets."
	}
	return r
}

const powerFix = "Set the BIOS power profile to Maximum Performance (Dell: System Profile \"Performance\"; HPE: Power Regulator \"Static High Performance\"; Lenovo/Supermicro: \"Maximum Performance\"), then power-cycle."

func checkPower(p probe.Power, c probe.CPUInfo) Result {
	r := Result{ID: "power", Title: "Power management"}
	seen := powerSeen(p)
	switch p.Mode {
	case probe.PowerPerformance:
		r.Detail = "the CPUs run at full performance (" + seen + ")"
	case probe.PowerDynamic:
		r.Status = Warn
		r.Detail = "the firmware leaves CPU frequency scaling to the OS with a power-saving profile (" + seen + "): not Maximum Performance; FT checkpointing suffers from slow frequency ramp-up"
		r.Fix = powerFix
	default:
		if c.Hypervisor {
			r.Detail = "virtual machine: no CPU frequency control to check"
			return r
		}
		r.Status = Warn
		r.Detail = "the OS sees no CPU frequency scaling (no cpufreq): the firmware keeps power management to itself, as Maximum Performance or \"OS control disabled\" profiles do, but a firmware-managed balanced profile looks the same"
		r.Fix = "Confirm in the BIOS that the power profile is Maximum Performance (Dell: System Profile \"Performance\"; HPE: Power Regulator \"Static High Performance\")."
	}
	return r
}

func powerSeen(p probe.Power) string {
	var parts []string
	if len(p.Governors) > 0 {
		parts = append(parts, "governor "+strings.Join(p.Governors, "/"))
	}
	if len(p.EPP) > 0 {
		parts = append(parts, "energy preference "+strings.Join(p.EPP, "/"))
	}
	if p.Driver != "" {
		parts = append(parts, "driver "+p.Driver)
	}
	if p.PState != "" {
		parts = append(parts, "intel_pstate "+p.PState)
	}
	return strings.Join(parts, ", ")
}

func checkBootMode(f Facts) Result {
	r := Result{ID: "boot-mode", Title: "Boot mode"}
	fw := f.Firmware
	platform := strings.TrimSpace(strings.Join([]string{fw.Vendor, fw.Product}, " "))
	if fw.BIOSVersion != "" {
		platform = strings.TrimSpace(platform + ", BIOS " + fw.BIOSVersion)
	}
	if fw.UEFI {
		r.Detail = "UEFI"
		switch {
		case !fw.EFIVars:
			r.Detail += ", Secure Boot state unknown (UEFI variables not readable)"
		case fw.SecureBoot:
			r.Detail += ", Secure Boot on"
		default:
			r.Detail += ", Secure Boot off"
		}
	} else {
		r.Detail = "legacy BIOS"
		if d, ok := largestCandidate(f); ok && d.SizeBytes > LegacyBootMaxDiskBytes {
			r.Status = Warn
			r.Detail += fmt.Sprintf(", and %s is %s: booting it needs GPT, which some BIOSes will not boot in legacy mode", d.Name, probe.HumanSize(d.SizeBytes))
			r.Fix = "Switch the boot mode to UEFI in the BIOS setup (Boot Settings → Boot Mode), or make the system volume smaller than 2 TiB in the RAID utility."
		}
	}
	if platform != "" {
		r.Detail += "; " + platform
	}
	return r
}

// checkBootOrder only informs: the installer sets the boot entry it needs.
func checkBootOrder(fw probe.FirmwareInfo) Result {
	r := Result{ID: "boot-order", Title: "Boot order"}
	switch {
	case !fw.UEFI:
		r.Detail = "not readable from the OS with legacy BIOS; after installing, put the system disk first in the BIOS boot order"
		return r
	case len(fw.BootOrder) == 0 && fw.BootCurrent == "":
		r.Detail = "UEFI boot variables not readable"
		return r
	}
	name := func(id string) string {
		if e, ok := fw.Entry(id); ok && e.Description != "" {
			return id + " " + e.Description
		}
		return id
	}
	var order []string
	for _, id := range fw.BootOrder {
		order = append(order, name(id))
	}
	if fw.BootCurrent != "" {
		r.Detail = "booted from " + name(fw.BootCurrent) + "; "
	}
	r.Detail += "order: " + strings.Join(order, ", ")
	return r
}

// memAtLeast compares MemTotal with an installed-memory threshold.
func memAtLeast(memTotal, installed int64) bool {
	return memTotal*100 >= installed*MemTotalPercent
}

func checkMemory(mem int64, o Options) Result {
	r := Result{ID: "memory", Title: "Memory"}
	r.Detail = probe.HumanSize(mem) + " usable"
	const addFix = "Install more memory and check in the BIOS memory summary that every DIMM is detected."
	switch {
	case mem <= 0:
		r.Status = Warn
		r.Detail = "the amount of memory could not be read"
		r.Fix = "Check the memory summary in the BIOS setup."
	case !memAtLeast(mem, MinMemoryBytes):
		r.Status = Fail
		r.Detail += fmt.Sprintf(": under the minimum of %s", probe.HumanSize(MinMemoryBytes))
		r.Fix = fmt.Sprintf("Install at least %s of memory (%s or more recommended); check in the BIOS memory summary that every DIMM is detected.", probe.HumanSize(MinMemoryBytes), probe.HumanSize(WarnMemoryBytes))
		if o.Lab && memAtLeast(mem, LabMinMemoryBytes) {
			r.Status = Warn
			r.Detail += "; accepted in lab mode"
		}
	case !memAtLeast(mem, WarnMemoryBytes):
		r.Status = Warn
		r.Detail += fmt.Sprintf(": under the recommended %s; the system reserves 2–4 GB and each VM needs 20 %% more than its size", probe.HumanSize(WarnMemoryBytes))
		r.Fix = addFix
	}
	return r
}

func checkVCPUs(c probe.CPUInfo, o Options) Result {
	r := Result{ID: "vcpus", Title: "vCPUs"}
	n := c.Threads
	r.Detail = fmt.Sprintf("%d socket%s × %d cores × %d thread%s = %d vCPUs", c.Sockets, plural(c.Sockets), c.CoresPerSocket, c.ThreadsPerCore, plural(c.ThreadsPerCore), c.Sockets*c.CoresPerSocket*c.ThreadsPerCore)
	if n != c.Sockets*c.CoresPerSocket*c.ThreadsPerCore {
		r.Detail += fmt.Sprintf(" (%d online)", n)
	}
	fix := fmt.Sprintf("Use a CPU with at least %d logical CPUs (%d or more recommended)", MinVCPUs, WarnVCPUs)
	if c.ThreadsPerCore == 1 && c.Vendor == "GenuineIntel" && !c.Hypervisor {
		fix = "Enable Hyper-Threading (Logical Processor) in the BIOS setup, or use a CPU with more cores"
	}
	switch {
	case n == 0:
		r.Status = Warn
		r.Detail = "the number of CPUs could not be read"
		r.Fix = "Check the CPU configuration in the BIOS system summary."
	case n < MinVCPUs:
		r.Status = Fail
		r.Detail += fmt.Sprintf(": under the minimum of %d (the system reserves 2–4, each FT VM needs 2 more than it has)", MinVCPUs)
		r.Fix = fix + "."
		if o.Lab && n >= LabMinVCPUs {
			r.Status = Warn
			r.Detail += "; accepted in lab mode"
		}
	case n < WarnVCPUs:
		r.Status = Warn
		r.Detail += fmt.Sprintf(": under the recommended %d", WarnVCPUs)
		r.Fix = fix + "."
	}
	return r
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
