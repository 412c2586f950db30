package probe

import (
	"path/filepath"
	"sort"
)

// Power modes as the OS sees them.
const (
	// PowerPerformance: every CPU runs the performance governor (or asks
	// for performance through its energy/performance preference).
	PowerPerformance = "performance"
	// PowerDynamic: the OS scales CPU frequency down when idle, so the
	// firmware handed power management to the OS with a balanced profile.
	PowerDynamic = "dynamic"
	// PowerUnknown: no cpufreq at all. On servers this usually means the
	// firmware keeps P-states to itself — what "Maximum Performance" or
	// "OS control disabled" profiles do — and in a VM there is nothing to scale.
	PowerUnknown = "unknown"
)

// Power is the CPU power management the OS sees.
type Power struct {
	Mode      string   // PowerPerformance, PowerDynamic or PowerUnknown
	Driver    string   // scaling_driver: intel_pstate, intel_cpufreq, acpi-cpufreq, amd-pstate
	Governors []string // distinct scaling_governor values
	EPP       []string // distinct energy_performance_preference values
	PState    string   // intel_pstate status: active, passive, off; "" without intel_pstate
}

// PowerProfile reads cpufreq state under sysRoot/devices/system/cpu.
func PowerProfile(sysRoot string) Power {
	cpu := filepath.Join(sysRoot, "devices", "system", "cpu")
	p := Power{Mode: PowerUnknown, PState: readTrim(filepath.Join(cpu, "intel_pstate", "status"))}
	dirs, _ := filepath.Glob(filepath.Join(cpu, "cpu[0-9]*", "cpufreq"))
	govs, epps := map[string]bool{}, map[string]bool{}
	for _, d := range dirs {
		if g := readTrim(filepath.Join(d, "scaling_governor")); g != "" {
			govs[g] = true
		}
		if e := readTrim(filepath.Join(d, "energy_performance_preference")); e != "" {
			epps[e] = true
		}
		if p.Driver == "" {
			p.Driver = readTrim(filepath.Join(d, "scaling_driver"))
		}
	}
	p.Governors, p.EPP = sortedKeys(govs), sortedKeys(epps)
	switch {
	case len(p.Governors) == 0:
	case len(p.Governors) == 1 && p.Governors[0] == "performance",
		len(p.EPP) == 1 && p.EPP[0] == "performance":
		p.Mode = PowerPerformance
	default:
		p.Mode = PowerDynamic
	}
	return p
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
