// Package capacity decides whether a VM may be created or started on the
// system, by the rules of SPEC A4 (capacity, reserve, per-VM overhead) and
// A5 (per-VM limits, editions), which come from the seed FAQ
// (seed/000_0b0f61b74c1e9fe2.txt). It is pure arithmetic so that the agent,
// the API and the CLI all refuse a VM for the same reasons and with the
// same numbers.
package capacity

import (
	"errors"
	"fmt"
	"strings"
)

// Edition is the licence the system runs under (SPEC A5; seed lines 62-70).
type Edition string

const (
	Enterprise Edition = "enterprise" // FT and HA VMs side by side
	Express    Edition = "express"    // HA only: the low-cost HA product
	SinglePVM  Edition = "single-pvm" // one protected VM
)

// VM modes, spelled as the API spells them.
const (
	ModeFT = "ft"
	ModeHA = "ha"
)

// Per-VM limits, the seed's (lines 294-298): the same for FT and HA.
const (
	MaxVCPUs     = 20
	MinMemoryMiB = 256 // not in the seed: below this no supported guest boots
	MaxMemoryMiB = 256 * 1024
	MaxNICs      = 20
	MaxVolumes   = 12
	// MaxRunning is the seed's verified limit of VMs running at once (line
	// 401); defined VMs are unlimited.
	MaxRunning = 28
)

// Bounds of the system reserve: the seed says the system itself uses
// "2vCPU もしくは 4vCPU" and "2GB もしくは 4GB" (lines 177-178).
const (
	MinReserveVCPUs     = 2
	MaxReserveVCPUs     = 4
	MinReserveMemoryMiB = 2048
	MaxReserveMemoryMiB = 4096
)

// Node is one physical server as the capacity rules see it. Threads counts
// sockets x cores x 2 with hyper-threading, because that is how the seed
// counts the vCPUs a system can use (line 161).
type Node struct {
	Name      string
	Threads   int
	MemoryMiB int64
}

// VM is what the rules need of a VM's definition.
type VM struct {
	Name      string
	Mode      string // ModeFT or ModeHA
	VCPUs     int
	MemoryMiB int64
	NICs      int
	Volumes   int
}

// Reserve is what the system keeps for itself. A zero field takes the
// default for the lesser node, so an operator can override one and not the
// other.
type Reserve struct {
	VCPUs     int
	MemoryMiB int64
}

// System is the pair (or the one node known while the peer has not joined
// or is lost: then that node alone is all a VM can count on).
type System struct {
	Nodes   []Node
	Edition Edition
	Reserve Reserve
}

// Validate reports what makes the system's own description unusable; it
// is not about any VM.
func (s System) Validate() error {
	var p []string
	if len(s.Nodes) == 0 || len(s.Nodes) > 2 {
		p = append(p, fmt.Sprintf("a system has 1 or 2 nodes, not %d", len(s.Nodes)))
	}
	seen := map[string]bool{}
	for i, n := range s.Nodes {
		switch {
		case n.Name == "":
			p = append(p, fmt.Sprintf("node %d has no name", i))
		case seen[n.Name]:
			p = append(p, fmt.Sprintf("node %s is listed twice", n.Name))
		}
		seen[n.Name] = true
		if n.Threads <= 0 || n.MemoryMiB <= 0 {
			p = append(p, fmt.Sprintf("node %s has %d threads and %d MiB memory; both must be positive", n.Name, n.Threads, n.MemoryMiB))
		}
	}
	if _, ok := s.Edition.maxRunning(); !ok {
		p = append(p, unknownEdition(s.Edition))
	}
	if r := s.Reserve.VCPUs; r != 0 && (r < MinReserveVCPUs || r > MaxReserveVCPUs) {
		p = append(p, fmt.Sprintf("a reserve of %d vCPU is outside %d..%d", r, MinReserveVCPUs, MaxReserveVCPUs))
	}
	if r := s.Reserve.MemoryMiB; r != 0 && (r < MinReserveMemoryMiB || r > MaxReserveMemoryMiB) {
		p = append(p, fmt.Sprintf("a reserve of %d MiB memory is outside %d..%d MiB", r, MinReserveMemoryMiB, MaxReserveMemoryMiB))
	}
	if len(p) > 0 {
		return errors.New("capacity: " + strings.Join(p, "; "))
	}
	return nil
}

func unknownEdition(e Edition) string {
	return fmt.Sprintf("edition %q is unknown (want %s, %s or %s)", e, Enterprise, Express, SinglePVM)
}

// maxRunning is the edition's limit of running VMs; false for an unknown
// edition.
func (e Edition) maxRunning() (int, bool) {
	switch e {
	case Enterprise, Express:
		return MaxRunning, true
	case SinglePVM:
		return 1, true // seed line 402: only one VM runs under Single PVM
	}
	return 0, false
}

// Cost is what a VM takes from the system while it runs: the seed adds 2
// vCPU per FT VM and 1 per HA VM for the processes that keep it protected,
// and 20 % of its memory in either mode (lines 43-46, 302-306). The memory
// overhead is rounded up so that the sum never promises a MiB that is not
// there. An unknown mode adds no vCPU overhead; CheckLimits refuses it.
func Cost(vm VM) (vcpus int, memoryMiB int64) {
	return vm.VCPUs + overhead(vm.Mode), vm.MemoryMiB + memOverhead(vm.MemoryMiB)
}

func overhead(mode string) int {
	switch mode {
	case ModeFT:
		return 2
	case ModeHA:
		return 1
	}
	return 0
}

func memOverhead(mib int64) int64 {
	if mib <= 0 {
		return 0
	}
	return (mib + 4) / 5
}

// LimitError says a VM's spec is wrong in itself: no amount of free
// capacity would let it run, so the operator must change the VM (or the
// edition), not stop other VMs.
type LimitError struct {
	VM       string
	Problems []string
}

func (e *LimitError) Error() string { return vmPrefix(e.VM) + strings.Join(e.Problems, "; ") }

// Refusal says a valid VM does not fit now: the reasons carry the numbers
// that do not add up, so the operator can see what to stop or shrink.
type Refusal struct {
	VM      string
	Reasons []string
}

func (e *Refusal) Error() string { return vmPrefix(e.VM) + strings.Join(e.Reasons, "; ") }

func vmPrefix(name string) string { return fmt.Sprintf("vm %q: ", name) }

// CheckLimits checks a VM against the per-VM limits (SPEC A5) and the
// edition's mode rule, all problems at once so the operator fixes the spec
// in one go. It returns a *LimitError or nil.
func CheckLimits(vm VM, ed Edition) error {
	var p []string
	if vm.Name == "" {
		p = append(p, "a VM needs a name")
	}
	if vm.Mode != ModeFT && vm.Mode != ModeHA {
		p = append(p, fmt.Sprintf("mode %q is neither %q nor %q", vm.Mode, ModeFT, ModeHA))
	}
	if vm.VCPUs < 1 {
		p = append(p, fmt.Sprintf("%d vCPUs is fewer than the 1 a VM needs", vm.VCPUs))
	} else if vm.VCPUs > MaxVCPUs {
		p = append(p, fmt.Sprintf("%d vCPUs is more than the %d a VM may have", vm.VCPUs, MaxVCPUs))
	}
	if vm.MemoryMiB < MinMemoryMiB {
		p = append(p, fmt.Sprintf("%d MiB memory is less than the %d MiB a VM needs", vm.MemoryMiB, MinMemoryMiB))
	} else if vm.MemoryMiB > MaxMemoryMiB {
		p = append(p, fmt.Sprintf("%d MiB memory is more than the %d MiB (256 GiB) a VM may have", vm.MemoryMiB, MaxMemoryMiB))
	}
	p = countLimit(p, vm.NICs, MaxNICs, "NICs")
	p = countLimit(p, vm.Volumes, MaxVolumes, "volumes")
	switch ed {
	case Enterprise, SinglePVM:
	case Express:
		if vm.Mode == ModeFT {
			p = append(p, fmt.Sprintf("edition %s runs HA VMs only; %q is FT", ed, vm.Name))
		}
	default:
		p = append(p, unknownEdition(ed))
	}
	if len(p) > 0 {
		return &LimitError{VM: vm.Name, Problems: p}
	}
	return nil
}

func countLimit(p []string, n, max int, what string) []string {
	if n < 0 {
		return append(p, fmt.Sprintf("%d %s is not a count", n, what))
	}
	if n > max {
		return append(p, fmt.Sprintf("%d %s is more than the %d a VM may have", n, what, max))
	}
	return p
}

// Usage is the system's capacity account. Free may be negative: running
// VMs can exceed what the lesser node offers once a smaller peer joins or
// the reserve is raised, and the operator must see that rather than a 0.
type Usage struct {
	CapacityVCPUs     int
	CapacityMemoryMiB int64
	// VCPUNode and MemoryNode name the node that sets each capacity.
	VCPUNode, MemoryNode string
	ReserveVCPUs         int
	ReserveMemoryMiB     int64
	UsedVCPUs            int // with overhead
	UsedMemoryMiB        int64
	FreeVCPUs            int
	FreeMemoryMiB        int64
	Running, MaxRunning  int
	RunningNames         []string

	vcpuWhere, memWhere string // for messages: where the capacity comes from
}

// Usage accounts for the running VMs. Capacity is the lesser node's
// threads and memory, each taken separately (SPEC A4): an FT VM needs room
// on both nodes and an HA VM must be restartable on either, so only what
// both nodes have can be promised. A name listed twice counts once.
func (s System) Usage(running []VM) Usage {
	var u Usage
	for i, n := range s.Nodes {
		if i == 0 || n.Threads < u.CapacityVCPUs {
			u.CapacityVCPUs, u.VCPUNode = n.Threads, n.Name
		}
		if i == 0 || n.MemoryMiB < u.CapacityMemoryMiB {
			u.CapacityMemoryMiB, u.MemoryNode = n.MemoryMiB, n.Name
		}
	}
	u.vcpuWhere = s.where(u.VCPUNode, func(n Node) bool { return n.Threads == u.CapacityVCPUs })
	u.memWhere = s.where(u.MemoryNode, func(n Node) bool { return n.MemoryMiB == u.CapacityMemoryMiB })

	// The seed gives 2 or 4 vCPU and 2 or 4 GB without saying when; the
	// larger reserve goes to larger machines, whose host side (more
	// disks, more links to sync) has more to do.
	u.ReserveVCPUs, u.ReserveMemoryMiB = s.Reserve.VCPUs, s.Reserve.MemoryMiB
	if u.ReserveVCPUs == 0 {
		u.ReserveVCPUs = MinReserveVCPUs
		if u.CapacityVCPUs >= 16 {
			u.ReserveVCPUs = MaxReserveVCPUs
		}
	}
	if u.ReserveMemoryMiB == 0 {
		u.ReserveMemoryMiB = MinReserveMemoryMiB
		if u.CapacityMemoryMiB >= 64*1024 {
			u.ReserveMemoryMiB = MaxReserveMemoryMiB
		}
	}

	seen := map[string]bool{}
	for _, vm := range running {
		if seen[vm.Name] {
			continue
		}
		seen[vm.Name] = true
		c, m := Cost(vm)
		u.UsedVCPUs += c
		u.UsedMemoryMiB += m
		u.RunningNames = append(u.RunningNames, vm.Name)
	}
	u.Running = len(u.RunningNames)
	u.MaxRunning, _ = s.Edition.maxRunning()
	u.FreeVCPUs = u.CapacityVCPUs - u.ReserveVCPUs - u.UsedVCPUs
	u.FreeMemoryMiB = u.CapacityMemoryMiB - u.ReserveMemoryMiB - u.UsedMemoryMiB
	return u
}

// where says where a capacity comes from, for the operator: which node
// limits the system, or that both nodes are alike, or that the peer is
// missing.
func (s System) where(name string, same func(Node) bool) string {
	switch {
	case len(s.Nodes) == 1:
		return "on " + name + " alone"
	case len(s.Nodes) == 2 && same(s.Nodes[0]) && same(s.Nodes[1]):
		return "on each node"
	}
	return "on the lesser node " + name
}

// CheckCreate checks that a VM may be defined: its limits, and that it
// alone fits into the capacity less the reserve. Other VMs do not matter
// because defined VMs are unlimited in number; only running ones take
// capacity (seed line 401).
func (s System) CheckCreate(vm VM) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := CheckLimits(vm, s.Edition); err != nil {
		return err
	}
	u := s.Usage(nil)
	c, m := Cost(vm)
	var r []string
	if avail := u.CapacityVCPUs - u.ReserveVCPUs; c > avail {
		r = append(r, fmt.Sprintf("needs %s but at most %d can ever be free (capacity %d %s minus %d reserved)",
			vcpuNeed(vm), max(avail, 0), u.CapacityVCPUs, u.vcpuWhere, u.ReserveVCPUs))
	}
	if avail := u.CapacityMemoryMiB - u.ReserveMemoryMiB; m > avail {
		r = append(r, fmt.Sprintf("needs %s but at most %d MiB can ever be free (capacity %d MiB %s minus %d reserved)",
			memNeed(vm), max(avail, 0), u.CapacityMemoryMiB, u.memWhere, u.ReserveMemoryMiB))
	}
	return refusal(vm.Name, r)
}

// CheckStart checks that a VM may start while the given VMs run: its
// limits, that its cost fits beside theirs (vCPUs and memory separately),
// and the edition's running limit. The VM itself in running (a restart
// after failover, a repeated request) is not counted twice.
func (s System) CheckStart(running []VM, vm VM) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := CheckLimits(vm, s.Edition); err != nil {
		return err
	}
	others := make([]VM, 0, len(running))
	for _, o := range running {
		if o.Name != vm.Name {
			others = append(others, o)
		}
	}
	u := s.Usage(others)
	c, m := Cost(vm)
	var r []string
	if c > u.FreeVCPUs {
		r = append(r, fmt.Sprintf("needs %s but %d of %d are free (%s%d %s minus %d reserved)",
			vcpuNeed(vm), max(u.FreeVCPUs, 0), u.CapacityVCPUs-u.ReserveVCPUs,
			usedBy(u, fmt.Sprint(u.UsedVCPUs)), u.CapacityVCPUs, u.vcpuWhere, u.ReserveVCPUs))
	}
	if m > u.FreeMemoryMiB {
		r = append(r, fmt.Sprintf("needs %s but %d of %d MiB are free (%s%d MiB %s minus %d reserved)",
			memNeed(vm), max(u.FreeMemoryMiB, 0), u.CapacityMemoryMiB-u.ReserveMemoryMiB,
			usedBy(u, fmt.Sprint(u.UsedMemoryMiB)), u.CapacityMemoryMiB, u.memWhere, u.ReserveMemoryMiB))
	}
	if u.Running >= u.MaxRunning {
		if u.MaxRunning == 1 {
			r = append(r, fmt.Sprintf("edition %s runs 1 VM at a time; %q is running", s.Edition, u.RunningNames[0]))
		} else {
			r = append(r, fmt.Sprintf("edition %s runs at most %d VMs at a time; %d are running", s.Edition, u.MaxRunning, u.Running))
		}
	}
	return refusal(vm.Name, r)
}

func vcpuNeed(vm VM) string {
	c, _ := Cost(vm)
	return fmt.Sprintf("%d vCPU (%d + %d %s overhead)", c, vm.VCPUs, overhead(vm.Mode), strings.ToUpper(vm.Mode))
}

func memNeed(vm VM) string {
	_, m := Cost(vm)
	return fmt.Sprintf("%d MiB memory (%d + %d overhead)", m, vm.MemoryMiB, memOverhead(vm.MemoryMiB))
}

// usedBy names the running VMs that take the capacity, so the operator
// knows which to stop; it ends with "capacity " for the caller to go on.
func usedBy(u Usage, used string) string {
	if u.Running == 0 {
		return "capacity "
	}
	s := "s"
	if u.Running == 1 {
		s = ""
	}
	return fmt.Sprintf("%s used by %d running VM%s: %s; capacity ", used, u.Running, s, strings.Join(u.RunningNames, ", "))
}

func refusal(name string, reasons []string) error {
	if len(reasons) == 0 {
		return nil
	}
	return &Refusal{VM: name, Reasons: reasons}
}
