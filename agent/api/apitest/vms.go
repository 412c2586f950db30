package apitest

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// The limits of SPEC A5, which the fake checks as the agent would.
const (
	maxVCPUs     = 20
	maxMemoryMiB = 256 << 10
	maxVolumes   = 12
	maxNICs      = 20
)

var vmName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// seedVMs gives the fake system two VMs: web (FT, running on node0,
// mirrors in sync) and db (HA, stopped, its volume resyncing), two
// storage groups and the capacity those leave.
func (b *Backend) seedVMs() {
	const gib = 1 << 30
	b.Groups = []api.StorageGroup{
		{Name: "sg0", SizeBytes: 1536 * gib, FreeBytes: 1276 * gib, Nodes: map[string]api.GroupSpace{
			"node0": {Devices: []string{"/dev/sda3"}, SizeBytes: 2048 * gib, FreeBytes: 1788 * gib},
			"node1": {Devices: []string{"/dev/sdb", "/dev/sdc"}, SizeBytes: 1536 * gib, FreeBytes: 1276 * gib},
		}},
		{Name: "fast", SizeBytes: 894 * gib, FreeBytes: 894 * gib, Nodes: map[string]api.GroupSpace{
			"node0": {Devices: []string{"/dev/nvme0n1"}, SizeBytes: 894 * gib, FreeBytes: 894 * gib},
			"node1": {Devices: []string{"/dev/nvme0n1"}, SizeBytes: 894 * gib, FreeBytes: 894 * gib},
		}},
	}
	b.Cap = api.Capacity{Edition: "enterprise", VCPUs: 16, MemoryMiB: 64 << 10,
		ReserveVCPUs: 2, ReserveMemoryMiB: 4 << 10,
		UsedVCPUs: 6, UsedMemoryMiB: 9831, // web: 4+2 vCPU (FT), 8 GiB + 20 %
		FreeVCPUs: 8, FreeMemoryMiB: 51609,
		RunningVMs: 1, MaxRunningVMs: 28}
	web := b.newVM(api.VMSpec{Name: "web", Mode: api.ModeFT, VCPUs: 4, MemoryMiB: 8 << 10, CD: "debian-13.iso",
		Volumes: []api.VolumeSpec{{Name: "web-sys", SizeMiB: 40 << 10}}, // FT: one volume
		NICs:    []api.NICSpec{{Network: "biz0"}, {Network: "biz1", MAC: "52:54:00:aa:bb:cc"}}, Autostart: true})
	web.State, web.RunningOn, web.Since = api.VMRunning, "node0", T0.Add(-2*time.Hour)
	web.FT = &api.FTStatus{State: api.FTProtected, Reason: "COLO running, checkpoint at least every 20s",
		SecondaryOn: "node1", Since: T0.Add(-2 * time.Hour)}
	db := b.newVM(api.VMSpec{Name: "db", Mode: api.ModeHA, VCPUs: 2, MemoryMiB: 4 << 10, Node: "node1",
		Volumes: []api.VolumeSpec{{Name: "db-sys", SizeMiB: 20 << 10}}, NICs: []api.NICSpec{{Network: "biz0"}}})
	db.Since = T0.Add(-26 * time.Hour)
	db.Volumes[0] = api.VolumeStatus{Name: "db-sys", Disks: map[string]string{"node0": "UpToDate", "node1": "Inconsistent"},
		Sync: "resyncing", ResyncPercent: 42.5, ResyncedBytes: 9 << 30}
	b.VMList = []api.VM{db, web}
	b.Consoles = map[string]string{"web": "Debian GNU/Linux 13 web ttyS0\n\nweb login: "}
}

// newVM is a stopped VM of spec, with the defaults the system fills in:
// the first storage group, MACs, mirrors in sync.
func (b *Backend) newVM(spec api.VMSpec) api.VM {
	spec.Volumes, spec.NICs = slices.Clone(spec.Volumes), slices.Clone(spec.NICs)
	vm := api.VM{State: api.VMStopped, Since: T0}
	for i := range spec.Volumes {
		if spec.Volumes[i].Group == "" {
			spec.Volumes[i].Group = b.Groups[0].Name
		}
		vm.Volumes = append(vm.Volumes, api.VolumeStatus{Name: spec.Volumes[i].Name,
			Disks: map[string]string{"node0": "UpToDate", "node1": "UpToDate"}, Sync: "in-sync"})
	}
	for i := range spec.NICs {
		if spec.NICs[i].MAC == "" {
			b.macs++
			spec.NICs[i].MAC = fmt.Sprintf("52:54:00:4c:53:%02x", b.macs)
		}
	}
	vm.VMSpec = spec
	return vm
}

// find returns the index of the VM named name, or an error wrapping
// api.ErrNotFound.
func (b *Backend) find(name string) (int, error) {
	for i, vm := range b.VMList {
		if vm.Name == name {
			return i, nil
		}
	}
	return -1, fmt.Errorf("no VM %q: %w", name, api.ErrNotFound)
}

// problems checks spec as a whole, as CreateVM and ModifyVM see it.
func (b *Backend) problems(spec api.VMSpec) error {
	var p []string
	if !vmName.MatchString(spec.Name) {
		p = append(p, fmt.Sprintf("name %q: use up to 63 letters, digits, '.', '_' and '-', starting with a letter or digit", spec.Name))
	}
	if spec.Mode != api.ModeFT && spec.Mode != api.ModeHA {
		p = append(p, fmt.Sprintf("mode %q: want ft or ha", spec.Mode))
	}
	if spec.VCPUs < 1 || spec.VCPUs > maxVCPUs {
		p = append(p, fmt.Sprintf("vcpus %d: want 1 to %d", spec.VCPUs, maxVCPUs))
	}
	if spec.MemoryMiB < 1 || spec.MemoryMiB > maxMemoryMiB {
		p = append(p, fmt.Sprintf("memory %d MiB: want 1 to %d", spec.MemoryMiB, maxMemoryMiB))
	}
	if len(spec.Volumes) > maxVolumes {
		p = append(p, fmt.Sprintf("%d volumes: at most %d", len(spec.Volumes), maxVolumes))
	}
	if len(spec.NICs) > maxNICs {
		p = append(p, fmt.Sprintf("%d NICs: at most %d", len(spec.NICs), maxNICs))
	}
	seen := map[string]bool{}
	for _, v := range spec.Volumes {
		if seen[v.Name] || !vmName.MatchString(v.Name) {
			p = append(p, fmt.Sprintf("volume %q: a name used once, of letters, digits, '.', '_' and '-'", v.Name))
		}
		seen[v.Name] = true
		if v.SizeMiB < 1 {
			p = append(p, fmt.Sprintf("volume %s: size %d MiB", v.Name, v.SizeMiB))
		}
		if v.Group != "" && !slices.ContainsFunc(b.Groups, func(g api.StorageGroup) bool { return g.Name == v.Group }) {
			p = append(p, fmt.Sprintf("volume %s: no storage group %q", v.Name, v.Group))
		}
	}
	for _, n := range spec.NICs {
		if n.Network == "" {
			p = append(p, "a NIC without a network")
		} else if _, err := b.findNetwork(n.Network); err != nil {
			p = append(p, fmt.Sprintf("no business network %q", n.Network))
		}
	}
	if spec.Node != "" && spec.Node != "node0" && spec.Node != "node1" {
		p = append(p, fmt.Sprintf("node %q: want node0 or node1", spec.Node))
	}
	if len(p) > 0 {
		return &api.BadSpecError{Problems: p}
	}
	return nil
}

// fits checks spec against the free capacity; old is the VM's spec
// before a change, whose volumes already have their space.
func (b *Backend) fits(spec, old api.VMSpec) error {
	var r []string
	over := 1
	if spec.Mode == api.ModeFT {
		over = 2
	}
	if need := spec.VCPUs + over; need > b.Cap.FreeVCPUs {
		r = append(r, fmt.Sprintf("vCPUs: %d + %d for %s = %d needed, %d free", spec.VCPUs, over, strings.ToUpper(spec.Mode), need, b.Cap.FreeVCPUs))
	}
	if need := spec.MemoryMiB + (spec.MemoryMiB+4)/5; need > b.Cap.FreeMemoryMiB {
		r = append(r, fmt.Sprintf("memory: %d MiB + 20 %% = %d MiB needed, %d MiB free", spec.MemoryMiB, need, b.Cap.FreeMemoryMiB))
	}
	need := map[string]int64{}
	for _, v := range spec.Volumes {
		need[cmp.Or(v.Group, b.Groups[0].Name)] += v.SizeMiB
	}
	for _, v := range old.Volumes {
		need[v.Group] -= v.SizeMiB
	}
	for _, g := range b.Groups {
		if free := g.FreeBytes >> 20; need[g.Name] > free {
			r = append(r, fmt.Sprintf("storage group %s: %d MiB needed, %d MiB free", g.Name, need[g.Name], free))
		}
	}
	if len(r) > 0 {
		return &api.CapacityError{Reasons: r}
	}
	return nil
}

func (b *Backend) record(call string) error {
	b.Calls = append(b.Calls, call)
	return b.Err
}

func (b *Backend) VMs(context.Context) ([]api.VM, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.VMList), b.Err
}

func (b *Backend) VM(_ context.Context, name string) (api.VM, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return api.VM{}, b.Err
	}
	i, err := b.find(name)
	if err != nil {
		return api.VM{}, err
	}
	return b.VMList[i], nil
}

func (b *Backend) CreateVM(_ context.Context, spec api.VMSpec) (api.VM, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("vm create " + spec.Name); err != nil {
		return api.VM{}, err
	}
	if err := b.problems(spec); err != nil {
		return api.VM{}, err
	}
	if _, err := b.find(spec.Name); err == nil {
		return api.VM{}, api.Conflict(fmt.Sprintf("a VM named %q exists", spec.Name))
	}
	if err := b.fits(spec, api.VMSpec{}); err != nil {
		return api.VM{}, err
	}
	vm := b.newVM(spec)
	i, _ := slices.BinarySearchFunc(b.VMList, spec.Name, func(v api.VM, n string) int { return strings.Compare(v.Name, n) })
	b.VMList = slices.Insert(b.VMList, i, vm)
	return vm, nil
}

func (b *Backend) ModifyVM(_ context.Context, name string, change api.VMSpec) (api.VM, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("vm modify " + name); err != nil {
		return api.VM{}, err
	}
	i, err := b.find(name)
	if err != nil {
		return api.VM{}, err
	}
	vm := b.VMList[i]
	if vm.State != api.VMStopped && vm.State != api.VMFailed {
		return api.VM{}, api.Conflict(fmt.Sprintf("VM %s is %s: shut it down to change it", name, vm.State))
	}
	if change.Name != "" && change.Name != name {
		return api.VM{}, &api.BadSpecError{Problems: []string{"a VM cannot be renamed"}}
	}
	spec := vm.VMSpec
	spec.Mode = cmp.Or(change.Mode, spec.Mode)
	spec.CD = cmp.Or(change.CD, spec.CD)
	spec.Node = cmp.Or(change.Node, spec.Node)
	spec.Autostart = spec.Autostart || change.Autostart
	if change.VCPUs != 0 {
		spec.VCPUs = change.VCPUs
	}
	if change.MemoryMiB != 0 {
		spec.MemoryMiB = change.MemoryMiB
	}
	if change.Volumes != nil {
		spec.Volumes = change.Volumes
	}
	if change.NICs != nil {
		spec.NICs = change.NICs
	}
	if err := b.problems(spec); err != nil {
		return api.VM{}, err
	}
	if err := b.fits(spec, vm.VMSpec); err != nil {
		return api.VM{}, err
	}
	vm = b.newVM(spec)
	b.VMList[i] = vm
	return vm, nil
}

func (b *Backend) DeleteVM(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("vm delete " + name); err != nil {
		return err
	}
	i, err := b.find(name)
	if err != nil {
		return err
	}
	if st := b.VMList[i].State; st != api.VMStopped && st != api.VMFailed {
		return api.Conflict(fmt.Sprintf("VM %s is %s: shut it down or power it off first", name, st))
	}
	b.VMList = slices.Delete(b.VMList, i, i+1)
	return nil
}

// VMAction changes the state at once; the agent goes through starting
// and stopping.
func (b *Backend) VMAction(_ context.Context, name, action string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("vm " + action + " " + name); err != nil {
		return err
	}
	if err := b.ActionErr["vm "+action]; err != nil {
		return err
	}
	if !slices.Contains([]string{"start", "shutdown", "poweroff", "migrate"}, action) {
		return fmt.Errorf("no VM action %q", action)
	}
	i, err := b.find(name)
	if err != nil {
		return err
	}
	vm := &b.VMList[i]
	running := vm.State == api.VMRunning
	switch {
	case action == "start" && running:
		return api.Conflict(fmt.Sprintf("VM %s is already running on %s", name, vm.RunningOn))
	case action == "start":
		vm.State, vm.RunningOn = api.VMRunning, cmp.Or(vm.Node, "node0")
	case !running:
		return api.Conflict(fmt.Sprintf("VM %s is %s", name, vm.State))
	case action == "migrate":
		vm.RunningOn = map[string]string{"node0": "node1", "node1": "node0"}[vm.RunningOn]
	default: // shutdown, poweroff
		vm.State, vm.RunningOn = api.VMStopped, ""
	}
	vm.Since = T0
	return nil
}

func (b *Backend) VMConsole(_ context.Context, name string, max int) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	if _, err := b.find(name); err != nil {
		return nil, err
	}
	s := b.Consoles[name]
	return []byte(s[len(s)-min(max, len(s)):]), nil
}

func (b *Backend) Storage(context.Context) ([]api.StorageGroup, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.Groups), b.Err
}

func (b *Backend) Capacity(context.Context) (api.Capacity, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Cap, b.Err
}
