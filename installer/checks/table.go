package checks

import "regexp"

// Every threshold and the supported-CPU list live here, so a change of
// policy is a change of this file only.

const (
	GiB = int64(1) << 30
	TiB = int64(1) << 40
)

// Sockets: SPEC I2 supports one- and two-socket servers.
const (
	MinSockets = 1
	MaxSockets = 2
)

// Memory. MemTotal is what the kernel can use: firmware and kernel
// reservations take a few percent, so an 8 GiB server reports about 7.6 GiB.
// Thresholds are in installed memory and compared with MemTotal after
// MemTotalPercent of slack.
const (
	MinMemoryBytes  = 8 * GiB  // fail below: the system itself reserves 2–4 GB (SPEC A4)
	WarnMemoryBytes = 16 * GiB // warn below: little room left for protected VMs
	// LabMinMemoryBytes: in lab mode memory under MinMemoryBytes is a
	// warning down to this floor, so small QEMU lab nodes still install.
	LabMinMemoryBytes = 2 * GiB
	MemTotalPercent   = 90
)

// vCPUs: logical CPUs (sockets × cores × threads). The system reserves 2–4
// vCPU and every FT VM costs 2 more than it has (SPEC A4).
const (
	MinVCPUs    = 4 // fail below
	WarnVCPUs   = 8 // warn below
	LabMinVCPUs = 2 // lab mode: a warning down to this floor
)

// Disks. SPEC I3: the system itself needs about 50–100 GB.
const (
	MinSystemDiskBytes  = 64 * GiB  // fail when no disk is at least this large
	WarnSystemDiskBytes = 128 * GiB // warn when the largest is under this
	// LabMinSystemDiskBytes: in lab mode a small disk is a warning down to
	// this floor (the same as answers.LabMinDiskBytes), so lab VMs stay small.
	LabMinSystemDiskBytes = 20 * GiB
	// LegacyBootMaxDiskBytes: an MBR addresses 2 TiB; legacy BIOS boot from
	// a larger disk needs GPT, which some older BIOSes will not boot.
	LegacyBootMaxDiskBytes = 2 * TiB
)

// NICs. Lockstep needs priv0 (direct cable to the peer) and ibiz0
// (management) at least; SPEC I4 recommends 2×1G+2×10G or 4×1G+2×10G.
const (
	MinNICs         = 2 // warn below, fail with none
	RecommendedNICs = 4 // under this the detail names the recommended layouts
	RecommendedText = "recommended: 2×1G + 2×10G or 4×1G + 2×10G ports"
)

// CPUFamily is one line of the supported-CPU list, matched against the
// "model name" of /proc/cpuinfo.
type CPUFamily struct {
	Name string
	// Pattern matches the model name; its first group, if any, captures
	// the generation ("v4"'s 4). No group or no version means v1: the
	// first generation has no suffix ("E5-2670 0 @", "E31230 @").
	Pattern    *regexp.Regexp
	MinV, MaxV int
}

// SupportedCPUs is SPEC I2's list, plus the E5-2xxx and E5-4xxx of the same
// generations: SPEC I2 allows two sockets, and the E5-1xxx it names are
// single-socket parts, so the two-socket servers of those generations carry
// E5-2xxx (and sometimes E5-4xxx) chips with the same cores and VT-x/EPT.
var SupportedCPUs = []CPUFamily{
	// "Intel(R) Xeon(R) CPU E3-1230 V2 @ 3.30GHz", "E3-1240 v6",
	// "E3-1505M v5", Sandy Bridge's "E31230".
	{Name: "Xeon E3-1xxx v1–v6", Pattern: regexp.MustCompile(`\bE3-?1\d{3}[A-Z]{0,2}(?:\s+[vV](\d+))?\b`), MinV: 1, MaxV: 6},
	{Name: "Xeon E5-1xxx v1–v4", Pattern: regexp.MustCompile(`\bE5-1\d{3}[A-Z]{0,2}(?:\s+[vV](\d+))?\b`), MinV: 1, MaxV: 4},
	{Name: "Xeon E5-2xxx v1–v4", Pattern: regexp.MustCompile(`\bE5-2\d{3}[A-Z]{0,2}(?:\s+[vV](\d+))?\b`), MinV: 1, MaxV: 4}, // added, see above
	{Name: "Xeon E5-4xxx v1–v4", Pattern: regexp.MustCompile(`\bE5-4\d{3}[A-Z]{0,2}(?:\s+[vV](\d+))?\b`), MinV: 1, MaxV: 4}, // added, see above
	// Xeon Scalable, every generation: "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz".
	{Name: "Xeon Gold 6xxx", Pattern: regexp.MustCompile(`\bXeon\(R\)\s+Gold\s+6\d{3}[A-Z]{0,2}\b`)},
	{Name: "Xeon Gold 5xxx", Pattern: regexp.MustCompile(`\bXeon\(R\)\s+Gold\s+5\d{3}[A-Z]{0,2}\b`)},
	{Name: "Xeon Silver 4xxx", Pattern: regexp.MustCompile(`\bXeon\(R\)\s+Silver\s+4\d{3}[A-Z]{0,2}\b`)},
	{Name: "Xeon Bronze 3xxx", Pattern: regexp.MustCompile(`\bXeon\(R\)\s+Bronze\s+3\d{3}[A-Z]{0,2}\b`)},
}

// SupportedCPUText lists the families for the fix text.
const SupportedCPUText = "Xeon E3-1xxx v1–v6, E5-1xxx/2xxx/4xxx v1–v4, Gold 5xxx/6xxx, Silver 4xxx or Bronze 3xxx"

// nonRedundantLevels are RAID levels that lose data with one drive.
var nonRedundantLevels = map[string]bool{"0": true, "linear": true, "jbod": true}
