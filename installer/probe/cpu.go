package probe

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// CPUInfo is what the installer needs to know about the processors.
type CPUInfo struct {
	Vendor string // "GenuineIntel", "AuthenticAMD"
	Model  string // "model name": "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz"
	Flags  []string
	// VMX (Intel VT-x) and SVM (AMD-V) are the flags as the kernel shows
	// them. When the firmware locks IA32_FEATURE_CONTROL without VMX the
	// kernel clears "vmx" (and prints no "vmx flags" line), so a missing
	// flag on a VT-x capable Xeon means "disabled in the BIOS".
	VMX, SVM    bool
	VirtEnabled bool     // VMX or SVM usable
	VMXFeatures []string // the "vmx flags" line (Linux ≥ 5.8): ept, unrestricted_guest…
	NX          bool     // "nx": cleared when Execute Disable is off in the BIOS
	Hypervisor  bool     // running in a VM (the QEMU lab)

	Sockets        int
	CoresPerSocket int
	ThreadsPerCore int
	Threads        int // logical CPUs the kernel brought up
}

// HasFlag reports whether /proc/cpuinfo listed flag.
func (c CPUInfo) HasFlag(flag string) bool {
	i := sort.SearchStrings(c.Flags, flag)
	return i < len(c.Flags) && c.Flags[i] == flag
}

// CPU reads procRoot/cpuinfo; sysRoot's topology fills in what cpuinfo
// leaves out (some hypervisors omit "physical id" and "cpu cores").
func CPU(procRoot, sysRoot string) (CPUInfo, error) {
	f, err := os.Open(filepath.Join(procRoot, "cpuinfo"))
	if err != nil {
		return CPUInfo{}, fmt.Errorf("probe: cpu: %w", err)
	}
	defer f.Close()

	var c CPUInfo
	packages := map[string]bool{}
	cores := map[string]bool{} // "package/core"
	coresField := 0
	var pkg, core string
	endCPU := func() {
		if pkg != "" && core != "" {
			cores[pkg+"/"+core] = true
		}
		pkg, core = "", ""
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024) // the flags line is long
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			endCPU()
			c.Threads++
		case "vendor_id":
			c.Vendor = v
		case "model name":
			c.Model = v
		case "flags":
			if c.Flags == nil {
				c.Flags = strings.Fields(v)
				sort.Strings(c.Flags)
			}
		case "vmx flags":
			if c.VMXFeatures == nil {
				c.VMXFeatures = strings.Fields(v)
			}
		case "physical id":
			pkg = v
			packages[v] = true
		case "core id":
			core = v
		case "cpu cores":
			if n, err := strconv.Atoi(v); err == nil && coresField == 0 {
				coresField = n
			}
		}
	}
	endCPU()
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("probe: cpu: %w", err)
	}
	if c.Threads == 0 {
		return c, fmt.Errorf("probe: cpu: no processor in %s", filepath.Join(procRoot, "cpuinfo"))
	}
	c.VMX, c.SVM = c.HasFlag("vmx"), c.HasFlag("svm")
	c.VirtEnabled = c.VMX || c.SVM
	c.NX = c.HasFlag("nx")
	c.Hypervisor = c.HasFlag("hypervisor")

	if len(packages) == 0 {
		packages, cores = sysTopology(sysRoot)
	}
	c.Sockets = max(len(packages), 1)
	switch {
	case coresField > 0:
		c.CoresPerSocket = coresField
	case len(cores) > 0:
		c.CoresPerSocket = max(len(cores)/c.Sockets, 1)
	default:
		c.CoresPerSocket = max(c.Threads/c.Sockets, 1)
	}
	c.ThreadsPerCore = max(c.Threads/(c.Sockets*c.CoresPerSocket), 1)
	return c, nil
}

// sysTopology counts packages and cores from cpu*/topology.
func sysTopology(sysRoot string) (packages, cores map[string]bool) {
	packages, cores = map[string]bool{}, map[string]bool{}
	dirs, _ := filepath.Glob(filepath.Join(sysRoot, "devices", "system", "cpu", "cpu[0-9]*", "topology"))
	for _, d := range dirs {
		p := readTrim(filepath.Join(d, "physical_package_id"))
		if p == "" {
			continue
		}
		packages[p] = true
		if c := readTrim(filepath.Join(d, "core_id")); c != "" {
			cores[p+"/"+c] = true
		}
	}
	return packages, cores
}

// Memory is MemTotal from procRoot/meminfo in bytes: what the kernel can use,
// a few percent under the installed memory (firmware and kernel reservations).
func Memory(procRoot string) (int64, error) {
	f, err := os.Open(filepath.Join(procRoot, "meminfo"))
	if err != nil {
		return 0, fmt.Errorf("probe: memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "MemTotal" {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			break
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("probe: memory: MemTotal %q: %w", v, err)
		}
		if len(fs) > 1 && fs[1] == "kB" { // meminfo's "kB" is KiB
			n *= 1024
		}
		return n, nil
	}
	return 0, fmt.Errorf("probe: memory: no MemTotal in %s", filepath.Join(procRoot, "meminfo"))
}
