package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/capacity"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// nodeStorage is a node's storage as the VM service needs it: what the
// manager does with volumes, and what the API shows.
type nodeStorage interface {
	ha.Storage
	Groups(ctx context.Context) ([]groupInfo, error)
	// Status is a volume's mirror state as this node sees it.
	Status(v ha.Volume) volumeState
	// DeviceBytes is the size of an HA volume's device here (what its
	// guest sees), while its resource is up.
	DeviceBytes(v ha.Volume) (int64, error)
}

// groupInfo is one storage group of one node.
type groupInfo struct {
	Name string `json:"name"`
	api.GroupSpace
}

// volumeState is one volume's DRBD state seen from one node.
type volumeState struct {
	Disk, PeerDisk string // "UpToDate", …; "" unknown
	Connected      bool
	SplitBrain     bool
	ResyncPercent  float64
	ResyncedBytes  int64
}

// nodeResources is what a node offers VMs; each node reports its own.
type nodeResources struct {
	Threads   int         `json:"threads"`
	MemoryMiB int64       `json:"memory_mib"`
	Groups    []groupInfo `json:"groups"`
}

// vmService is the VMs on this node: the manager of this node's share,
// and, while this node is primary, the owner of the VM table.
type vmService struct {
	c          *clusterd
	mgr        *ha.Manager
	st         nodeStorage
	sg         *groupDisks // the storage-group verbs' part on this node
	br         *bridges
	consoleDir string
	rep        netcfg.Replication // this node's replication link
	ft         *ftRunner          // FT VMs' QEMU COLO pairs
	edit       sync.Mutex         // table changes, on the primary

	pmu    sync.Mutex
	pushed *ha.Table // the table the peer has, as far as this node knows
}

func (s *vmService) setPushed(t *ha.Table) {
	s.pmu.Lock()
	s.pushed = t
	s.pmu.Unlock()
}

// peerHasTable reports whether the peer got this node's current table.
func (s *vmService) peerHasTable() bool {
	s.pmu.Lock()
	p := s.pushed
	s.pmu.Unlock()
	t := s.mgr.Table()
	return p != nil && p.Term == t.Term && p.Generation == t.Generation
}

// consolePath is where a VM's serial console is logged on this node.
func (s *vmService) consolePath(name string) string {
	return filepath.Join(s.consoleDir, name+".log")
}

// localResources reads this node's threads and memory.
func (s *vmService) localResources(ctx context.Context) (nodeResources, error) {
	r := nodeResources{Threads: runtime.NumCPU()}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return r, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		var kib int64
		if _, err := fmt.Sscanf(l, "MemTotal: %d kB", &kib); err == nil {
			r.MemoryMiB = kib / 1024
		}
	}
	r.Groups, err = s.st.Groups(ctx)
	return r, err
}

// resources are both nodes' resources, this node's first; the peer's only
// while it answers.
func (s *vmService) resources(ctx context.Context) (map[string]nodeResources, error) {
	own, err := s.localResources(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]nodeResources{nodeName(s.c.id.NodeID): own}
	if s.c.runner.Status().Connected {
		var peer nodeResources
		if err := s.c.peerDo(ctx, "GET", "/peer/v1/resources", nil, &peer, 3*time.Second); err == nil {
			out[nodeName(1-s.c.id.NodeID)] = peer
		}
	}
	return out, nil
}

// where maps each running VM to its node, from what this node runs and
// what the peer's heartbeats say it runs.
func (s *vmService) where() map[string]string {
	out := map[string]string{}
	st := s.c.runner.Status()
	if st.PeerVisible {
		for _, r := range st.PeerOwned {
			if n, ok := strings.CutPrefix(r, ha.ResourcePrefix); ok {
				out[n] = nodeName(1 - s.c.id.NodeID)
			}
		}
	}
	for _, n := range s.mgr.Running() {
		out[n] = nodeName(s.c.id.NodeID)
	}
	return out
}

func (s *vmService) capacitySystem(res map[string]nodeResources) capacity.System {
	sys := capacity.System{Edition: capacity.Edition(s.c.id.Config.Edition)}
	if sys.Edition == "" {
		sys.Edition = capacity.Enterprise
	}
	for _, id := range []string{"node0", "node1"} {
		if r, ok := res[id]; ok {
			sys.Nodes = append(sys.Nodes, capacity.Node{Name: id, Threads: r.Threads, MemoryMiB: r.MemoryMiB})
		}
	}
	return sys
}

func capacityVM(spec api.VMSpec) capacity.VM {
	return capacity.VM{Name: spec.Name, Mode: spec.Mode, VCPUs: spec.VCPUs, MemoryMiB: spec.MemoryMiB,
		NICs: len(spec.NICs), Volumes: len(spec.Volumes)}
}

// capacityError turns the capacity package's verdicts into the API's.
func capacityError(err error) error {
	var le *capacity.LimitError
	var rf *capacity.Refusal
	switch {
	case errors.As(err, &le):
		return &api.BadSpecError{Problems: prefixed(le.VM, le.Problems)}
	case errors.As(err, &rf):
		return &api.CapacityError{Reasons: prefixed(rf.VM, rf.Reasons)}
	}
	return err
}

func prefixed(vm string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("vm %q: %s", vm, s)
	}
	return out
}

// view is a record as the API shows it; ft are the running FT VMs'
// protections (ftStatuses).
func (s *vmService) view(r *ha.Record, where map[string]string, ft map[string]api.FTStatus) api.VM {
	v := api.VM{VMSpec: r.Spec, State: api.VMStopped}
	if n, ok := where[r.Spec.Name]; ok {
		v.State, v.RunningOn = api.VMRunning, n
	} else if r.Want == ha.WantRunning {
		v.State = api.VMStarting
	}
	if st, ok := ft[r.Spec.Name]; ok && v.RunningOn != "" {
		v.FT = &st
	}
	self, peer := nodeName(s.c.id.NodeID), nodeName(1-s.c.id.NodeID)
	for _, vol := range r.Volumes {
		if vol.COLO() {
			v.Volumes = append(v.Volumes, ftVolumeStatus(vol, v.FT, v.RunningOn))
			continue
		}
		st := s.st.Status(vol)
		vs := api.VolumeStatus{Name: vol.Name, Disks: map[string]string{self: orUnknown(st.Disk), peer: orUnknown(st.PeerDisk)},
			ResyncPercent: st.ResyncPercent, ResyncedBytes: st.ResyncedBytes}
		switch {
		case st.SplitBrain:
			vs.Sync = "split-brain"
		case st.Disk == "UpToDate" && st.PeerDisk == "UpToDate":
			vs.Sync = "in-sync"
		case st.Connected && (st.Disk == "Inconsistent" || st.PeerDisk == "Inconsistent"):
			vs.Sync = "resyncing"
		default:
			vs.Sync = "degraded"
		}
		v.Volumes = append(v.Volumes, vs)
	}
	return v
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (b *clusterBackend) VMs(ctx context.Context) ([]api.VM, error) {
	s, err := b.svc()
	if err != nil {
		return nil, err
	}
	t, where := s.mgr.Table(), s.where()
	ft := s.ftStatuses(ctx, t, where)
	out := []api.VM{}
	for _, n := range t.Names() {
		out = append(out, s.view(t.VMs[n], where, ft))
	}
	return out, nil
}

func (b *clusterBackend) VM(ctx context.Context, name string) (api.VM, error) {
	s, err := b.svc()
	if err != nil {
		return api.VM{}, err
	}
	t := s.mgr.Table()
	r, ok := t.VMs[name]
	if !ok {
		return api.VM{}, fmt.Errorf("vm %q: %w", name, api.ErrNotFound)
	}
	where := s.where()
	return s.view(r, where, s.ftStatuses(ctx, t, where)), nil
}

// primaryOnly refuses a change of the VM table (its VMs and networks) on
// a node that is not the primary: only the primary writes the table.
func (s *vmService) primaryOnly() error {
	if s.c.runner.Status().State != membership.StatePrimary {
		return api.Conflict("this node is not the primary: send VM and network changes to the system IP " + s.c.id.Config.IP)
	}
	return nil
}

// commit stores a changed table here (stamped with the current term and
// the next generation) and hands it to the peer.
func (s *vmService) commit(ctx context.Context, t *ha.Table) error {
	cur := s.mgr.Table()
	t.Term, t.Generation = s.c.runner.Status().Term, cur.Generation+1
	if _, err := s.mgr.SetTable(ctx, t, true); err != nil {
		s.c.vmLogf("vms: preparing volumes: %v", err)
	}
	s.pushTable(ctx)
	return nil
}

// pushTable gives the peer this node's table; a peer that is away gets it
// when it joins.
func (s *vmService) pushTable(ctx context.Context) {
	if !s.c.runner.Status().Connected {
		return
	}
	t := s.mgr.Table()
	if err := s.c.peerDo(ctx, "PUT", "/peer/v1/vms", t, nil, 2*time.Minute); err != nil {
		s.c.vmLogf("vms: handing the VM table to the peer: %v", err)
		return
	}
	s.setPushed(t)
}

func (b *clusterBackend) CreateVM(ctx context.Context, spec api.VMSpec) (api.VM, error) {
	s, err := b.svc()
	if err != nil {
		return api.VM{}, err
	}
	if err := s.primaryOnly(); err != nil {
		return api.VM{}, err
	}
	s.edit.Lock()
	defer s.edit.Unlock()
	t := s.mgr.Table()
	if _, dup := t.VMs[spec.Name]; dup {
		return api.VM{}, api.Conflict(fmt.Sprintf("vm %q exists", spec.Name))
	}
	res, err := s.resources(ctx)
	if err != nil {
		return api.VM{}, err
	}
	rec, err := s.newRecord(spec, t, res)
	if err != nil {
		return api.VM{}, err
	}
	if p := ftProblems(rec.Spec); p != nil {
		return api.VM{}, &api.BadSpecError{Problems: p}
	}
	if rec.Volumes, err = s.volumesFor(nil, rec.Spec.Mode, rec.Volumes); err != nil {
		return api.VM{}, err
	}
	if err := s.capacitySystem(res).CheckCreate(capacityVM(rec.Spec)); err != nil {
		return api.VM{}, capacityError(err)
	}
	t.VMs[spec.Name] = rec
	if err := s.commit(ctx, t); err != nil {
		return api.VM{}, err
	}
	s.c.vmLogf("vms: created %s (%s, %d vCPU, %d MiB, %d volumes)", spec.Name, spec.Mode, spec.VCPUs, spec.MemoryMiB, len(rec.Volumes))
	if spec.Autostart {
		if err := b.VMAction(ctx, spec.Name, "start"); err != nil {
			s.c.vmLogf("vms: autostart %s: %v", spec.Name, err)
		}
	}
	return b.VM(ctx, spec.Name)
}

// newRecord checks a spec against the table and the storage groups and
// gives its volumes DRBD minors and its NICs MACs.
func (s *vmService) newRecord(spec api.VMSpec, t *ha.Table, res map[string]nodeResources) (*ha.Record, error) {
	var problems []string
	if p := ha.ValidName("vm", spec.Name); p != "" {
		problems = append(problems, p)
	}
	if spec.Node != "" && spec.Node != "node0" && spec.Node != "node1" {
		problems = append(problems, fmt.Sprintf("node %q: use node0, node1 or leave it empty", spec.Node))
	}
	rec := &ha.Record{Spec: spec, UUID: newUUID(), Want: ha.WantStopped}
	var taken []int
	seen := map[string]bool{}
	need := map[string]int64{} // MiB per group
	for _, v := range spec.Volumes {
		if p := ha.ValidName("volume", v.Name); p != "" {
			problems = append(problems, p)
		}
		if seen[v.Name] {
			problems = append(problems, fmt.Sprintf("volume %q is given twice", v.Name))
		}
		seen[v.Name] = true
		if v.SizeMiB < 1 {
			problems = append(problems, fmt.Sprintf("volume %q: size %d MiB: give at least 1 MiB", v.Name, v.SizeMiB))
		}
		g, p := pickGroup(v.Group, res)
		if p != "" {
			problems = append(problems, fmt.Sprintf("volume %q: %s", v.Name, p))
		}
		m := t.FreeMinor(taken...)
		taken = append(taken, m)
		rec.Volumes = append(rec.Volumes, ha.Volume{Name: v.Name, SizeMiB: v.SizeMiB, Group: g, Minor: m})
		rec.Spec.Volumes[len(rec.Volumes)-1].Group = g
		need[g] += v.SizeMiB
	}
	problems = append(problems, groupSpaceProblems(need, res)...)
	problems = append(problems, t.NICProblems(spec.NICs)...)
	for i, n := range spec.NICs {
		mac := n.MAC
		if mac == "" {
			mac = vmMAC(s.c.id.System.ID, spec.Name, i)
		}
		rec.MACs = append(rec.MACs, mac)
	}
	if spec.CD != "" {
		if _, err := os.Stat(s.c.vcdPath(spec.CD)); err != nil {
			problems = append(problems, fmt.Sprintf("VCD %q is not in the system", spec.CD))
		}
	}
	if len(problems) > 0 {
		return nil, &api.BadSpecError{Problems: problems}
	}
	return rec, nil
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (b *clusterBackend) ModifyVM(ctx context.Context, name string, ch api.VMSpec) (api.VM, error) {
	s, err := b.svc()
	if err != nil {
		return api.VM{}, err
	}
	if err := s.primaryOnly(); err != nil {
		return api.VM{}, err
	}
	s.edit.Lock()
	defer s.edit.Unlock()
	t := s.mgr.Table()
	r, ok := t.VMs[name]
	if !ok {
		return api.VM{}, fmt.Errorf("vm %q: %w", name, api.ErrNotFound)
	}
	if n, running := s.where()[name]; running || r.Want == ha.WantRunning {
		return api.VM{}, api.Conflict(fmt.Sprintf("vm %q runs on %s: shut it down before changing it", name, n))
	}
	if ch.Name != "" && ch.Name != name {
		return api.VM{}, &api.BadSpecError{Problems: []string{"a VM cannot be renamed"}}
	}
	spec := r.Spec
	if ch.Mode != "" {
		spec.Mode = ch.Mode
	}
	if ch.VCPUs != 0 {
		spec.VCPUs = ch.VCPUs
	}
	if ch.MemoryMiB != 0 {
		spec.MemoryMiB = ch.MemoryMiB
	}
	if ch.CD != "" {
		spec.CD = ch.CD
		if ch.CD == "-" {
			spec.CD = ""
		}
	}
	if ch.Node != "" {
		spec.Node = ch.Node
	}
	spec.Autostart = spec.Autostart || ch.Autostart
	res, err := s.resources(ctx)
	if err != nil {
		return api.VM{}, err
	}
	// Volumes and NICs are checked as a new VM's would be; volumes that
	// keep their name keep their data.
	probe := spec
	probe.Volumes, probe.NICs = nil, spec.NICs
	if ch.NICs != nil {
		probe.NICs = ch.NICs
	}
	// t still holds this VM, so new volumes get minors its old ones
	// do not have.
	others := t
	nr, err := s.newRecord(probe, others, res)
	if err != nil {
		return api.VM{}, err
	}
	spec.NICs, nr.Volumes = probe.NICs, r.Volumes
	if ch.Volumes != nil {
		nr.Volumes = nil
		var fresh []api.VolumeSpec
		for _, v := range ch.Volumes {
			if i := slices.IndexFunc(r.Volumes, func(o ha.Volume) bool { return o.Name == v.Name }); i >= 0 {
				if v.SizeMiB != 0 && v.SizeMiB != r.Volumes[i].SizeMiB {
					return api.VM{}, &api.BadSpecError{Problems: []string{fmt.Sprintf("volume %q: changing a volume's size is not supported; add a new volume", v.Name)}}
				}
				nr.Volumes = append(nr.Volumes, r.Volumes[i])
			} else {
				fresh = append(fresh, v)
			}
		}
		if len(fresh) > 0 {
			add, err := s.newRecord(api.VMSpec{Name: name, Volumes: fresh}, others, res)
			if err != nil {
				return api.VM{}, err
			}
			nr.Volumes = append(nr.Volumes, add.Volumes...)
		}
		spec.Volumes = nil
		for _, v := range nr.Volumes {
			spec.Volumes = append(spec.Volumes, api.VolumeSpec{Name: v.Name, SizeMiB: v.SizeMiB, Group: v.Group})
		}
	}
	if p := ftProblems(spec); p != nil {
		return api.VM{}, &api.BadSpecError{Problems: p}
	}
	if err := s.capacitySystem(res).CheckCreate(capacityVM(spec)); err != nil {
		return api.VM{}, capacityError(err)
	}
	// Last: a mode change reads the volumes' DRBD state, and only a
	// change that passed every other check should.
	if nr.Volumes, err = s.volumesFor(r.Volumes, spec.Mode, nr.Volumes); err != nil {
		return api.VM{}, err
	}
	r.Spec, r.Volumes, r.MACs = spec, nr.Volumes, nr.MACs
	if err := s.commit(ctx, t); err != nil {
		return api.VM{}, err
	}
	return b.VM(ctx, name)
}

func (b *clusterBackend) DeleteVM(ctx context.Context, name string) error {
	return b.editVM(name, func(s *vmService, t *ha.Table, r *ha.Record) error {
		if n, running := s.where()[name]; running || r.Want == ha.WantRunning {
			return api.Conflict(fmt.Sprintf("vm %q runs on %s: power it off before deleting it", name, n))
		}
		delete(t.VMs, name)
		return s.commit(ctx, t)
	})
}

// editVM runs fn on the primary, with the table held for a change and the
// VM's record found.
func (b *clusterBackend) editVM(name string, fn func(s *vmService, t *ha.Table, r *ha.Record) error) error {
	s, err := b.svc()
	if err != nil {
		return err
	}
	if err := s.primaryOnly(); err != nil {
		return err
	}
	s.edit.Lock()
	defer s.edit.Unlock()
	t := s.mgr.Table()
	r, ok := t.VMs[name]
	if !ok {
		return fmt.Errorf("vm %q: %w", name, api.ErrNotFound)
	}
	return fn(s, t, r)
}

// VMAction starts, shuts down or powers off a VM on whichever node runs
// (or is to run) it.
func (b *clusterBackend) VMAction(ctx context.Context, name, action string) error {
	return b.editVM(name, func(s *vmService, t *ha.Table, r *ha.Record) error {
		return s.action(ctx, t, r, action)
	})
}

func (s *vmService) action(ctx context.Context, t *ha.Table, r *ha.Record, action string) error {
	name := r.Spec.Name
	where := s.where()
	node, running := where[name]
	switch action {
	case "start":
		if running {
			return nil
		}
		res, err := s.resources(ctx)
		if err != nil {
			return err
		}
		var others []capacity.VM
		for n := range where {
			if o, ok := t.VMs[n]; ok {
				others = append(others, capacityVM(o.Spec))
			}
		}
		if err := s.capacitySystem(res).CheckStart(others, capacityVM(r.Spec)); err != nil {
			return capacityError(err)
		}
		node = s.placement(r)
		r.Want = ha.WantRunning
		return s.startPlaced(ctx, t, r, node, true)
	case "shutdown", "poweroff":
		r.Want = ha.WantStopped
		if err := s.commit(ctx, t); err != nil {
			return err
		}
		if !running {
			return nil
		}
		return s.onNode(ctx, node, name, action)
	case "migrate":
		if !running {
			return api.Conflict(fmt.Sprintf("vm %q is not running", name))
		}
		if !s.c.runner.Status().Connected {
			return api.Conflict(fmt.Sprintf("vm %q cannot move: the other node is not connected", name))
		}
		return s.migrate(ctx, name, node)
	}
	return &api.BadSpecError{Problems: []string{fmt.Sprintf("no VM action %q", action)}}
}

// placement picks the node for a VM to start on: its preferred node if it
// is healthy and not in maintenance, else the other healthy one.
//
// A VM whose disk has one current copy (an FT VM that ran unprotected, or
// one changed from FT to HA and not started since) goes where that copy is.
func (s *vmService) placement(r *ha.Record) string {
	self, peer := nodeName(s.c.id.NodeID), nodeName(1-s.c.id.NodeID)
	peerOK := s.c.runner.Status().Connected && !s.peerMaintenance()
	selfOK := !s.c.maintenance()
	pref := r.Spec.Node
	if c := currentCopy(r); c != "" {
		pref = c
	}
	switch {
	case pref == peer && peerOK, !selfOK && peerOK:
		return peer
	}
	return self
}

func (s *vmService) peerMaintenance() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	n, err := s.c.peerNode(ctx)
	return err == nil && n.State == api.StateMaintenance
}

// onNode runs a VM action on node: here, or through the peer service.
func (s *vmService) onNode(ctx context.Context, node, name, action string) error {
	if node == nodeName(s.c.id.NodeID) {
		return s.local(ctx, name, action)
	}
	return s.c.peerDo(ctx, "POST", "/peer/v1/vms/"+name+"/"+action, nil, nil, 3*time.Minute)
}

// local does a VM action on this node.
func (s *vmService) local(ctx context.Context, name, action string) error {
	switch action {
	case "start":
		return s.mgr.Start(ctx, name, s.c.runner.Status().PeerLost)
	case "prepare-in":
		s.rotateConsole(name)
		return s.mgr.PrepareIncoming(ctx, name)
	case "migrate-out":
		return s.mgr.MigrateOut(ctx, name)
	case "finish-in", "abort-in":
		return s.mgr.FinishIncoming(ctx, name, action == "finish-in", func() bool { return s.peerOwns(name) })
	case "shutdown":
		s.ft.Final(name)
		return s.mgr.Shutdown(ctx, name)
	case "poweroff":
		s.ft.Final(name)
		return s.mgr.PowerOff(ctx, name)
	}
	return fmt.Errorf("no VM action %q", action)
}

// stopped records a VM whose guest shut down by itself as stopped, so that
// neither node restarts it.
func (s *vmService) stopped(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.c.runner.Status().State != membership.StatePrimary {
		if err := s.c.peerDo(ctx, "POST", "/peer/v1/vms/"+name+"/stopped", nil, nil, 30*time.Second); err != nil {
			s.c.vmLogf("vms: telling the primary that %s stopped: %v", name, err)
		}
		return
	}
	s.markStopped(ctx, name)
}

func (s *vmService) markStopped(ctx context.Context, name string) {
	s.edit.Lock()
	defer s.edit.Unlock()
	t := s.mgr.Table()
	if r, ok := t.VMs[name]; ok && r.Want != ha.WantStopped {
		r.Want = ha.WantStopped
		s.commit(ctx, t)
		s.c.vmLogf("vms: %s stopped by itself", name)
	}
}

func (b *clusterBackend) VMConsole(ctx context.Context, name string, max int) ([]byte, error) {
	s, err := b.svc()
	if err != nil {
		return nil, err
	}
	if _, ok := s.mgr.Table().VMs[name]; !ok {
		return nil, fmt.Errorf("vm %q: %w", name, api.ErrNotFound)
	}
	peerTail := func() (consoleTail, error) {
		var out consoleTail
		err := s.c.peerDo(ctx, "GET", fmt.Sprintf("/peer/v1/vms/%s/console?bytes=%d", name, max), nil, &out, 10*time.Second)
		return out, err
	}
	if node, ok := s.where()[name]; ok {
		if node == nodeName(s.c.id.NodeID) {
			t, err := s.consoleTail(name, max)
			return t.Data, err
		}
		t, err := peerTail()
		return t.Data, err
	}
	// A stopped VM's console is the one written last: the node that ran
	// it last, whichever node answers.
	local, err := s.consoleTail(name, max)
	if err != nil {
		return nil, err
	}
	if s.c.runner.Status().Connected {
		if peer, err := peerTail(); err == nil && peer.ModTime.After(local.ModTime) {
			return peer.Data, nil
		}
	}
	return local.Data, nil
}

// consoleTail is a console's tail and when it was last written (zero if
// there is none), also as the peer service answers it.
type consoleTail struct {
	Data    []byte    `json:"data"`
	ModTime time.Time `json:"mod_time,omitzero"`
}

func (s *vmService) consoleTail(name string, max int) (consoleTail, error) {
	f, err := os.Open(s.consolePath(name))
	if errors.Is(err, os.ErrNotExist) {
		return consoleTail{Data: []byte{}}, nil
	}
	if err != nil {
		return consoleTail{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return consoleTail{}, err
	}
	off := max64(0, st.Size()-int64(max))
	b := make([]byte, st.Size()-off)
	n, err := f.ReadAt(b, off)
	if err != nil && n < len(b) {
		return consoleTail{}, err
	}
	return consoleTail{Data: b[:n], ModTime: st.ModTime()}, nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func (b *clusterBackend) Storage(ctx context.Context) ([]api.StorageGroup, error) {
	s, err := b.svc()
	if err != nil {
		return nil, err
	}
	res, err := s.resources(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*api.StorageGroup{}
	var names []string
	for node, r := range res {
		for _, g := range r.Groups {
			sg := byName[g.Name]
			if sg == nil {
				sg = &api.StorageGroup{Name: g.Name, Nodes: map[string]api.GroupSpace{}, SizeBytes: g.SizeBytes, FreeBytes: g.FreeBytes}
				byName[g.Name] = sg
				names = append(names, g.Name)
			}
			sg.Nodes[node] = g.GroupSpace
			sg.SizeBytes, sg.FreeBytes = min(sg.SizeBytes, g.SizeBytes), min(sg.FreeBytes, g.FreeBytes)
		}
	}
	slices.Sort(names)
	out := []api.StorageGroup{}
	for _, n := range names {
		if len(byName[n].Nodes) < len(res) {
			// On one node only (a verb cut short): no VM can use it.
			byName[n].SizeBytes, byName[n].FreeBytes = 0, 0
		}
		out = append(out, *byName[n])
	}
	return out, nil
}

func (b *clusterBackend) Capacity(ctx context.Context) (api.Capacity, error) {
	s, err := b.svc()
	if err != nil {
		return api.Capacity{}, err
	}
	res, err := s.resources(ctx)
	if err != nil {
		return api.Capacity{}, err
	}
	sys := s.capacitySystem(res)
	t := s.mgr.Table()
	var running []capacity.VM
	for n := range s.where() {
		if r, ok := t.VMs[n]; ok {
			running = append(running, capacityVM(r.Spec))
		}
	}
	u := sys.Usage(running)
	return api.Capacity{Edition: string(sys.Edition), VCPUs: u.CapacityVCPUs, MemoryMiB: u.CapacityMemoryMiB,
		ReserveVCPUs: u.ReserveVCPUs, ReserveMemoryMiB: u.ReserveMemoryMiB, UsedVCPUs: u.UsedVCPUs,
		UsedMemoryMiB: u.UsedMemoryMiB, FreeVCPUs: u.FreeVCPUs, FreeMemoryMiB: u.FreeMemoryMiB,
		RunningVMs: u.Running, MaxRunningVMs: u.MaxRunning}, nil
}

// usingCD lists the VCDs of VMs that are running or meant to run.
func (s *vmService) usingCD() []string {
	var out []string
	for _, r := range s.mgr.Table().VMs {
		if r.Spec.CD != "" && r.Want == ha.WantRunning {
			out = append(out, r.Spec.CD)
		}
	}
	return out
}

// svc is the node's VM service, or why there is none.
func (b *clusterBackend) svc() (*vmService, error) {
	if b.c.vms == nil {
		return nil, api.Conflict(fmt.Sprintf("node%d cannot run VMs: %v", b.c.id.NodeID, b.c.vmsErr))
	}
	return b.c.vms, nil
}

// migrate moves a running VM live from node src to the other node (see
// ha.Manager's PrepareIncoming for the steps).
func (s *vmService) migrate(ctx context.Context, name, src string) error {
	dst := nodeName(1 - s.c.id.NodeID)
	if src != nodeName(s.c.id.NodeID) {
		dst = nodeName(s.c.id.NodeID)
	}
	start := time.Now()
	if err := s.onNode(ctx, dst, name, "prepare-in"); err != nil {
		s.onNode(context.WithoutCancel(ctx), dst, name, "abort-in")
		return fmt.Errorf("vm %s: preparing %s: %w", name, dst, err)
	}
	if err := s.onNode(ctx, src, name, "migrate-out"); err != nil {
		s.onNode(context.WithoutCancel(ctx), dst, name, "abort-in")
		return err
	}
	if err := s.onNode(ctx, dst, name, "finish-in"); err != nil {
		return err
	}
	s.c.vmLogf("vms: %s moved live from %s to %s in %v", name, src, dst, time.Since(start).Round(time.Millisecond))
	return nil
}

// peerOwns reports whether the peer's heartbeats still announce name.
func (s *vmService) peerOwns(name string) bool {
	return slices.Contains(s.c.runner.Status().PeerOwned, ha.Resource(name))
}

// evacuate moves every VM running on node to the other one (workon).
func (s *vmService) evacuate(ctx context.Context, node string) error {
	var errs []error
	for name, n := range s.where() {
		if n != node {
			continue
		}
		s.edit.Lock()
		err := s.migrate(ctx, name, node)
		s.edit.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rotateConsole keeps one earlier console log: the log a VM shows is its
// stretch on this node, from a start or an arrival by migration.
func (s *vmService) rotateConsole(name string) {
	p := s.consolePath(name)
	if err := os.Rename(p, p+".1"); err != nil && !os.IsNotExist(err) {
		s.c.vmLogf("vms: %v", err)
	}
}
