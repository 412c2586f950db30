package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/agent/storage"
	"github.com/lockstep-ft/lockstep/agent/storage/drbd"
	"github.com/lockstep-ft/lockstep/agent/storage/lvm"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

const (
	// firstGroup is the storage group made on the install's storage
	// partition and its storage disks (node.json's storage_disks). Not "sg0": a volume group's /dev/<name> must not be a
	// device node, and /dev/sg0 is the SCSI generic driver's.
	firstGroup = "storage0"
	// drbdConfDir is on the root's tmpfs: the configuration is rewritten
	// from the VM table at every start.
	drbdConfDir = "/run/lockstep/drbd"
	// justCreated is DRBD's current UUID of metadata no data was ever
	// written through (UUID_JUST_CREATED).
	justCreated = "0000000000000004"
)

// drbdStorage is a node's storage: LVM volume groups, one logical volume
// per VM volume, mirrored to the peer's by a DRBD resource over the
// replication link.
type drbdStorage struct {
	run  storage.Runner
	lvm  *lvm.Manager
	adm  *drbd.Adm
	rep  netcfg.Replication
	self int
	logf func(string, ...any)

	mu      sync.Mutex
	res     map[string]drbd.Resource // configured, by name
	confDir string                   // drbdConfDir
	// applied is what up/adjust last gave the kernel, by name.
	applied map[string]drbd.Resource
	states  map[string]drbd.State // from drbdsetup events2
	resync  map[string]int64      // bytes the last resync copied
	// colo are the FT volumes made ready in this agent run (ensureCOLO).
	colo    map[string]bool
	sysRoot string // "" is /sys
}

// newNodeStorage makes the first storage group if there is none yet, and
// starts following DRBD's events.
func newNodeStorage(ctx context.Context, c *clusterd, rep netcfg.Replication) (*drbdStorage, error) {
	run := storage.Exec{}
	s := &drbdStorage{run: run, lvm: &lvm.Manager{Runner: run}, adm: &drbd.Adm{Runner: run}, rep: rep,
		self: c.id.NodeID, logf: c.vmLogf,
		confDir: drbdConfDir, res: map[string]drbd.Resource{}, applied: map[string]drbd.Resource{}, states: map[string]drbd.State{}, resync: map[string]int64{}}
	groups, err := s.lvm.Groups(ctx)
	if err != nil {
		return nil, err
	}
	// The volumes must be there for DRBD whether or not udev's
	// auto-activation ran before the agent's LVM filter existed.
	for _, g := range groups {
		if _, err := storage.Output(ctx, run, "vgchange", "-a", "y", g.Name); err != nil {
			c.logf("storage: %v", err)
		}
	}
	if len(groups) == 0 {
		// The first start after a Create or Replace install (which erased
		// the old metadata): storage0 over partition 6 and the install's
		// storage disks.
		part, err := storagePartition("/proc", "/sys", nodeconfig.StateMount)
		if err != nil {
			return nil, err
		}
		if _, err := makeFirstGroup(ctx, run, s.lvm, part, c.cfg.StorageDisks, devDiskResolver{Root: "/dev/disk"}, c.vmLogf); err != nil {
			return nil, err
		}
	}
	if s.adm.Config, err = drbd.WriteConfig(drbdConfDir, nil); err != nil {
		return nil, err
	}
	go s.watch(ctx)
	return s, nil
}

// watch follows drbdsetup events2 for as long as ctx lives, restarting it
// if it ends (the state is then read again from scratch).
func (s *drbdStorage) watch(ctx context.Context) {
	for ctx.Err() == nil {
		argv := drbd.EventsCommand()
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		out, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err == nil {
			err = drbd.Watch(ctx, bufio.NewReader(out), s.update)
			io.Copy(io.Discard, out)
			cmd.Wait()
		}
		if ctx.Err() == nil {
			s.logf("storage: drbdsetup events2: %v; restarting it", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// update keeps a resource's state; a resync's size is what was out of
// sync when it started, since 8.4 sends no events while it runs.
func (s *drbdStorage) update(st drbd.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.states[st.Name]
	if st.Replication.Syncing() && !prev.Replication.Syncing() {
		s.resync[st.Name] = st.OutOfSyncKiB << 10
		s.logf("storage: %s resync started (%s, %d KiB out of sync)", st.Name, st.Replication, st.OutOfSyncKiB)
	}
	if !st.Replication.Syncing() && prev.Replication.Syncing() {
		s.logf("storage: %s resync done: disk %s, peer %s", st.Name, st.Disk, st.PeerDisk)
	}
	if st.SplitBrain && !prev.SplitBrain {
		s.logf("storage: %s: SPLIT BRAIN: both nodes wrote while apart; nothing was discarded, the mirror is stopped until an operator chooses", st.Name)
	}
	s.states[st.Name] = st
}

func (s *drbdStorage) resource(v ha.Volume) drbd.Resource {
	r := drbd.Resource{Name: v.Resource(), Minor: v.Minor, Port: v.Port()}
	disk := lvm.VolumePath(v.Group, v.Resource())
	r.Nodes[s.self] = drbd.Node{Address: s.rep.Local.Addr(), Disk: disk}
	r.Nodes[1-s.self] = drbd.Node{Address: s.rep.Peer, Disk: disk}
	return r
}

// configure adds or drops r in the configuration, which drbdadm needs
// whole.
func (s *drbdStorage) configure(r drbd.Resource, drop bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if drop {
		delete(s.res, r.Name)
	} else {
		s.res[r.Name] = r
	}
	var all []drbd.Resource
	for _, x := range s.res {
		all = append(all, x)
	}
	slices.SortFunc(all, func(a, b drbd.Resource) int { return a.Minor - b.Minor })
	_, err := drbd.WriteConfig(s.confDir, all)
	return err
}

// Ensure implements ha.Storage: the logical volume (made with room for
// DRBD's metadata), the resource in the configuration, its metadata (made
// once) and the resource up.
func (s *drbdStorage) Ensure(ctx context.Context, v ha.Volume) error {
	if v.COLO() {
		return s.ensureCOLO(ctx, v)
	}
	name := v.Resource()
	// A take-over runs Ensure just before the promotion: a resource that is
	// up, connected or connecting, with the configuration it was last
	// brought up or adjusted with needs nothing, and the lvs and drbdadm
	// runs that would check it cost seconds on a loaded node.
	if s.isApplied(s.resource(v)) {
		if st, err := s.adm.Status(ctx, name); err == nil && st.Disk != "" && st.Connection != drbd.ConnStandAlone {
			return nil
		}
	}
	vols, err := s.lvm.Volumes(ctx, v.Group)
	if err != nil {
		return err
	}
	fresh := false
	if !slices.ContainsFunc(vols, func(l lvm.Volume) bool { return l.Name == name }) {
		if _, err := s.lvm.CreateVolume(ctx, v.Group, name, drbd.BackingSize(v.SizeMiB<<20), nil); err != nil {
			return err
		}
		fresh = true
	}
	if err := s.configure(s.resource(v), false); err != nil {
		return err
	}
	if fresh {
		if err := s.adm.CreateMD(ctx, name); err != nil {
			return err
		}
	}
	st, err := s.adm.Status(ctx, name)
	if err != nil {
		return err
	}
	if st.Disk != "" {
		// Up already: adjust picks up a changed configuration.
		err = s.adm.Adjust(ctx, name)
	} else {
		err = s.adm.Up(ctx, name)
		if err != nil && !fresh && strings.Contains(err.Error(), "meta data") {
			// Cut between lvcreate and create-md.
			s.logf("storage: %s has no DRBD metadata; making it", name)
			if err := s.adm.CreateMD(ctx, name); err != nil {
				return err
			}
			err = s.adm.Up(ctx, name)
		}
	}
	s.setApplied(s.resource(v), err == nil)
	return err
}

// isApplied reports whether r is what the kernel was last given for its
// name (by up or adjust).
func (s *drbdStorage) isApplied(r drbd.Resource) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.applied[r.Name]
	return ok && a == r
}

func (s *drbdStorage) setApplied(r drbd.Resource, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		s.applied[r.Name] = r
	} else {
		delete(s.applied, r.Name)
	}
}

// Promote implements ha.Storage. A disk that is UpToDate (or whose peer
// is) is promoted plainly; --force is used only for a pair through which
// no data was ever written, where neither copy is "up to date" yet. A
// survivor with an Outdated or Inconsistent copy is never forced: that
// would serve old data as new, so the VM does not start and the operator
// is told why.
//
// peerLost is a take-over after the membership declared the peer lost:
// every link to it silent, the witness rule met. DRBD's own ping
// (ping-int 10 s) can take ten more seconds to notice, and until then a
// promotion is a cluster-wide state change waiting for the dead peer's
// answer; the connection is dropped first, without asking the peer. The
// peer's return reconnects it (Ensure's adjust, run for every volume when
// the peer joins).
func (s *drbdStorage) Promote(ctx context.Context, v ha.Volume, peerLost bool) error {
	if v.COLO() {
		return nil // the FT runner decides which side writes
	}
	name := v.Resource()
	st, err := s.adm.Status(ctx, name)
	if err != nil {
		return err
	}
	if st.Role == drbd.RolePrimary {
		return nil
	}
	if peerLost && st.Connection == drbd.ConnConnected {
		s.logf("storage: %s: dropping the connection to the lost peer (DRBD still sees it %s)", name, orUnknown(string(st.PeerRole)))
		if err := s.adm.DropPeer(ctx, name); err != nil {
			return err
		}
	}
	err = s.adm.Primary(ctx, name, false)
	if err == nil {
		return nil
	}
	out, gerr := storage.Output(ctx, s.run, "drbdadm", "-c", s.adm.Config, "get-gi", name)
	if gerr == nil && strings.HasPrefix(strings.TrimSpace(string(out)), justCreated) {
		if err := s.firstSyncFrom(v); err != nil {
			return err
		}
		s.logf("storage: %s is new: promoting it with --force (its initial sync starts from here)", name)
		return s.adm.Primary(ctx, name, true)
	}
	return fmt.Errorf("%w (this node's copy is %s, the peer's %s)", err, orUnknown(string(st.Disk)), orUnknown(string(st.PeerDisk)))
}

// Demote implements ha.Storage.
func (s *drbdStorage) Demote(ctx context.Context, v ha.Volume) error {
	if v.COLO() {
		return nil
	}
	st, err := s.adm.Status(ctx, v.Resource())
	if err != nil || st.Role != drbd.RolePrimary {
		return err
	}
	return s.adm.Secondary(ctx, v.Resource())
}

// Remove implements ha.Storage.
func (s *drbdStorage) Remove(ctx context.Context, v ha.Volume) error {
	if v.COLO() {
		return s.removeCOLO(ctx, v)
	}
	name := v.Resource()
	s.setApplied(s.resource(v), false)
	var cerr *storage.CmdError
	if err := s.adm.Down(ctx, name); err != nil && !errors.As(err, &cerr) {
		return err
	}
	if err := s.configure(s.resource(v), true); err != nil {
		return err
	}
	vols, err := s.lvm.Volumes(ctx, v.Group)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(vols, func(l lvm.Volume) bool { return l.Name == name }) {
		return s.lvm.RemoveVolume(ctx, v.Group, name)
	}
	return nil
}

// Status implements nodeStorage.
func (s *drbdStorage) Status(v ha.Volume) volumeState {
	if v.COLO() {
		return volumeState{} // COLO's state is the FT runner's (ftView)
	}
	s.mu.Lock()
	st, ok := s.states[v.Resource()]
	resynced := s.resync[v.Resource()]
	s.mu.Unlock()
	if !ok {
		return volumeState{}
	}
	if st.Replication.Syncing() {
		// 8.4 sends no events while a resync runs: ask for its progress.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if now, err := s.adm.Status(ctx, v.Resource()); err == nil && now.Name != "" {
			st = now
		}
		cancel()
	}
	vs := volumeState{Disk: string(st.Disk), PeerDisk: string(st.PeerDisk), Connected: st.Connection == drbd.ConnConnected,
		SplitBrain: st.SplitBrain, ResyncedBytes: resynced}
	if st.Replication.Syncing() {
		vs.ResyncPercent = st.Done
	}
	if !vs.Connected {
		vs.PeerDisk = ""
	}
	return vs
}

// Groups implements nodeStorage.
func (s *drbdStorage) Groups(ctx context.Context) ([]groupInfo, error) {
	gs, err := s.lvm.Groups(ctx)
	if err != nil {
		return nil, err
	}
	var out []groupInfo
	for _, g := range gs {
		out = append(out, groupInfo{Name: g.Name, GroupSpace: apiGroupSpace(g)})
	}
	return out, nil
}

func apiGroupSpace(g lvm.Group) api.GroupSpace {
	return api.GroupSpace{Devices: g.Devices, SizeBytes: g.SizeBytes, FreeBytes: g.FreeBytes}
}

// AllowTwoPrimaries implements ha.Storage.
func (s *drbdStorage) AllowTwoPrimaries(ctx context.Context, v ha.Volume, allow bool) error {
	if v.COLO() {
		return nil
	}
	return s.adm.AllowTwoPrimaries(ctx, v.Resource(), allow)
}
