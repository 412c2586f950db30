package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/storage"
	"github.com/lockstep-ft/lockstep/agent/storage/lvm"
	"github.com/lockstep-ft/lockstep/cluster/membership"
	"github.com/lockstep-ft/lockstep/internal/mountinfo"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// The storage-group verbs (SPEC A6): a storage group is made, or given
// more disks, on both nodes at once, since a VM's volume is mirrored
// between the two nodes' groups of one name. The primary checks its own
// disks and asks the peer to check its own (each node resolves its disks'
// stable ids itself); only when both sides pass does it write its side,
// then ask the peer to write its. If the peer's side fails, this node's
// is undone, so that a group is on both nodes or on neither.

// groupNameRE is a storage group's name: short, and safe everywhere it
// goes (an LVM volume group, /dev/<group>, DRBD's configuration).
var groupNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// lvmAdmits is the device names lvmLocalConf's global_filter lets LVM
// use: pvcreate refuses the others.
var lvmAdmits = regexp.MustCompile(`^(sd|vd|hd|xvd|nvme|md|cciss)`)

// maxGroupDisks bounds the disks of one node in one request.
const maxGroupDisks = 32

// Timeouts of the peer's calls: a check reads LVM's reports and each
// disk's signatures; an apply also wipes, pvcreates and vgcreates.
const (
	groupCheckTimeout = time.Minute
	groupApplyTimeout = 5 * time.Minute
)

// groupSide is one node's part of a storage-group verb, the body of the
// peer service's storage calls.
type groupSide struct {
	Group  string   `json:"group"`
	Disks  []string `json:"disks"` // this node's stable ids
	Erase  bool     `json:"erase,omitempty"`
	Extend bool     `json:"extend,omitempty"`
}

// sideCheck is one node's verdict on its part: its disks as they
// resolved, and what stands in the way.
type sideCheck struct {
	Disks    []diskCheck `json:"disks"`
	Problems []string    `json:"problems,omitempty"`
}

// diskCheck is one disk that passed the checks.
type diskCheck struct {
	ID     string `json:"id"`
	Device string `json:"device"`
	// Found is what is on it, which erasing wipes ("gpt partition
	// table"); only with erase is a disk with anything on it taken.
	Found []string `json:"found,omitempty"`
}

// groupDisks does this node's part of the storage-group verbs.
type groupDisks struct {
	run      storage.Runner
	lvm      *lvm.Manager
	resolver diskResolver
	// procRoot, sysRoot and devRoot are /proc, /sys and /dev (fixture
	// trees in tests).
	procRoot, sysRoot, devRoot string
	logf                       func(string, ...any)

	mu sync.Mutex // one verb at a time
}

func newGroupDisks(run storage.Runner, logf func(string, ...any)) *groupDisks {
	return &groupDisks{run: run, lvm: &lvm.Manager{Runner: run}, resolver: devDiskResolver{Root: "/dev/disk"},
		procRoot: "/proc", sysRoot: "/sys", devRoot: "/dev", logf: logf}
}

// Check checks side without changing anything.
func (g *groupDisks) Check(ctx context.Context, side groupSide) (sideCheck, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.check(ctx, side)
}

func (g *groupDisks) check(ctx context.Context, side groupSide) (sideCheck, error) {
	var out sideCheck
	problem := func(format string, args ...any) { out.Problems = append(out.Problems, fmt.Sprintf(format, args...)) }
	if !groupNameRE.MatchString(side.Group) { // the primary checked it; this is the peer's own guard
		problem("storage group name %q: use 1 to 32 lower-case letters, digits and '-', starting with a letter", side.Group)
		return out, nil
	}
	vgs, err := g.lvm.VolumeGroups(ctx)
	if err != nil {
		return out, err
	}
	tags, exists := vgs[side.Group]
	isGroup := exists && slices.Contains(tags, lvm.Tag)
	switch {
	case side.Extend && !isGroup:
		problem("no storage group %q here", side.Group)
	case side.Extend:
	case isGroup:
		problem("storage group %q exists; add disks to it with extend", side.Group)
	case exists:
		problem("a volume group named %q exists here (not a storage group); choose another name", side.Group)
	default:
		if _, err := os.Lstat(filepath.Join(g.devRoot, side.Group)); err == nil {
			problem("%s/%s exists: a storage group's /dev/<name> must not be taken; choose another name", g.devRoot, side.Group)
		}
	}
	pvs, err := g.lvm.PVs(ctx)
	if err != nil {
		return out, err
	}
	busy := g.diskUse()
	seen := map[string]string{} // device → id
	for _, id := range side.Disks {
		dev, err := g.resolver.Resolve(id)
		if err != nil {
			problem("%v", err)
			continue
		}
		what := fmt.Sprintf("disk %q (%s)", id, dev)
		if other, dup := seen[dev]; dup {
			problem("disks %q and %q are both %s", other, id, dev)
			continue
		}
		seen[dev] = id
		rel := strings.TrimPrefix(dev, g.devRoot+"/")
		name := strings.ReplaceAll(rel, "/", "!") // cciss/c0d0 is cciss!c0d0 in sysfs
		if !lvmAdmits.MatchString(rel) {
			problem("%s: LVM here uses sd*, vd*, hd*, xvd*, nvme*, md* and cciss* devices only", what)
			continue
		}
		if g.isPartition(name) {
			problem("%s is a partition: give a whole disk", what)
			continue
		}
		if why := busy[name]; why != "" {
			problem("%s is %s", what, why)
			continue
		}
		vg, isPV := pvs[dev]
		if vg != "" {
			kind := "volume group"
			if slices.Contains(vgs[vg], lvm.Tag) {
				kind = "storage group"
			}
			problem("%s is in %s %q already", what, kind, vg)
			continue
		}
		if h := g.holders(name); h != "" {
			problem("%s is in use: %s", what, h)
			continue
		}
		found, err := g.signatures(ctx, dev)
		if err != nil {
			return out, err
		}
		if isPV && !slices.ContainsFunc(found, func(s string) bool { return strings.HasPrefix(s, "LVM") }) {
			found = append(found, "LVM physical volume")
		}
		if len(found) > 0 && !side.Erase {
			problem("%s is not blank: %s; to use it, erase it (--erase)", what, strings.Join(found, ", "))
			continue
		}
		out.Disks = append(out.Disks, diskCheck{ID: id, Device: dev, Found: found})
	}
	return out, nil
}

// apply checks side again and, if it passes, wipes the disks that need it
// (only with erase) and makes or extends the group. A failure after a
// disk became a physical volume takes the label off again.
func (g *groupDisks) apply(ctx context.Context, side groupSide) (groupInfo, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, err := g.check(ctx, side)
	if err != nil {
		return groupInfo{}, err
	}
	if len(c.Problems) > 0 {
		return groupInfo{}, &api.BadSpecError{Problems: c.Problems}
	}
	var devs, wiped []string
	for _, d := range c.Disks {
		devs = append(devs, d.Device)
	}
	for _, d := range c.Disks {
		if len(d.Found) == 0 {
			continue
		}
		if _, err := storage.Output(ctx, g.run, "wipefs", "-a", d.Device); err != nil {
			return groupInfo{}, wipedToo(err, wiped)
		}
		wiped = append(wiped, d.Device)
		g.logf("storage: erased %s (%s): %s", d.Device, d.ID, strings.Join(d.Found, ", "))
	}
	var lg lvm.Group
	if side.Extend {
		lg, err = g.lvm.ExtendGroup(ctx, side.Group, devs)
	} else {
		lg, err = g.lvm.CreateGroup(ctx, side.Group, devs)
	}
	if err != nil {
		g.unlabel(context.WithoutCancel(ctx), devs)
		return groupInfo{}, wipedToo(err, wiped)
	}
	verb := "made storage group"
	if side.Extend {
		verb = "added disks to storage group"
	}
	g.logf("storage: %s %s: %s (%d MiB)", verb, lg.Name, strings.Join(devs, ", "), lg.SizeBytes>>20)
	return groupInfo{Name: lg.Name, GroupSpace: apiGroupSpace(lg)}, nil
}

func wipedToo(err error, wiped []string) error {
	if len(wiped) == 0 {
		return err
	}
	return fmt.Errorf("%w (%s had been erased already)", err, strings.Join(wiped, ", "))
}

// unlabel takes the physical volume label off those of devs that are a
// physical volume in no volume group: a check refuses such a device
// without erase, so the label was made by the verb that failed.
func (g *groupDisks) unlabel(ctx context.Context, devs []string) {
	pvs, err := g.lvm.PVs(ctx)
	if err != nil {
		g.logf("storage: %v", err)
		return
	}
	var stray []string
	for _, d := range devs {
		if vg, ok := pvs[d]; ok && vg == "" {
			stray = append(stray, d)
		}
	}
	if len(stray) == 0 {
		return
	}
	if _, err := storage.Output(ctx, g.run, "pvremove", stray...); err != nil {
		g.logf("storage: %v", err)
	}
}

// undo takes back an apply of side that succeeded on devs: a new group is
// removed (it is empty), disks added to a group are taken out again.
func (g *groupDisks) undo(ctx context.Context, side groupSide, devs []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if side.Extend {
		return g.lvm.ReduceGroup(ctx, side.Group, devs)
	}
	return g.lvm.RemoveGroup(ctx, side.Group)
}

// signatures lists what wipefs finds on dev, one entry per kind of
// thing: "gpt partition table", "ext4 file system (label "data")".
func (g *groupDisks) signatures(ctx context.Context, dev string) ([]string, error) {
	out, err := storage.Output(ctx, g.run, "wipefs", "-n", "-p", dev)
	if err != nil {
		return nil, err
	}
	var found []string
	for _, l := range strings.Split(string(out), "\n") {
		// offset,uuid,label,type; a header line starts with '#'.
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		f := strings.Split(l, ",")
		if len(f) < 4 {
			continue
		}
		typ, uuid, label := f[len(f)-1], f[1], strings.Join(f[2:len(f)-1], ",")
		s := describeSignature(typ)
		var detail []string
		if label != "" {
			detail = append(detail, fmt.Sprintf("label %q", label))
		}
		if uuid != "" && label == "" {
			detail = append(detail, "UUID "+uuid)
		}
		if len(detail) > 0 {
			s += " (" + strings.Join(detail, ", ") + ")"
		}
		if !slices.Contains(found, s) {
			found = append(found, s)
		}
	}
	return found, nil
}

// describeSignature names a signature type of blkid's for an operator.
func describeSignature(typ string) string {
	switch {
	case slices.Contains([]string{"gpt", "dos", "PMBR", "atari", "bsd", "mac", "sgi", "sun", "solaris", "minix", "ultrix"}, typ):
		return typ + " partition table"
	case typ == "LVM2_member" || typ == "LVM1_member":
		return "LVM physical volume"
	case typ == "drbd":
		return "DRBD metadata"
	case typ == "linux_raid_member":
		return "md RAID metadata"
	case strings.HasSuffix(typ, "_raid_member"):
		return strings.TrimSuffix(typ, "_raid_member") + " RAID metadata"
	case typ == "swap":
		return "swap area"
	case typ == "crypto_LUKS":
		return "LUKS encryption header"
	case typ == "zfs_member":
		return "ZFS pool member"
	case slices.Contains([]string{"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "ntfs", "exfat", "iso9660", "udf", "f2fs", "jfs", "reiserfs", "squashfs"}, typ):
		return typ + " file system"
	}
	return typ + " signature"
}

// isPartition reports whether the block device is a partition.
func (g *groupDisks) isPartition(name string) bool {
	_, err := os.Stat(filepath.Join(g.sysRoot, "class/block", name, "partition"))
	return err == nil
}

// partitions lists a disk's partitions by their kernel names.
func (g *groupDisks) partitions(name string) []string {
	ents, _ := os.ReadDir(filepath.Join(g.sysRoot, "class/block", name))
	var out []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(g.sysRoot, "class/block", name, e.Name(), "partition")); err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// holders says which devices are built on the disk or its partitions
// (device-mapper, md, bcache), "" none.
func (g *groupDisks) holders(name string) string {
	var out []string
	for _, p := range append([]string{""}, g.partitions(name)...) {
		ents, _ := os.ReadDir(filepath.Join(g.sysRoot, "class/block", name, p, "holders"))
		for _, e := range ents {
			if p == "" {
				out = append(out, "held by "+e.Name())
			} else {
				out = append(out, p+" held by "+e.Name())
			}
		}
	}
	return strings.Join(out, ", ")
}

// diskUse maps the disks that are in use, by kernel name, to why: the
// system disk (its partitions hold the node's own file systems), a
// partition mounted elsewhere, swap.
func (g *groupDisks) diskUse() map[string]string {
	use := map[string]string{}
	diskOf := func(path string) (disk, part string) {
		if _, err := os.Stat(filepath.Join(path, "partition")); err == nil {
			return filepath.Base(filepath.Dir(path)), filepath.Base(path)
		}
		return filepath.Base(path), ""
	}
	if f, err := os.Open(filepath.Join(g.procRoot, "self/mountinfo")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// id parent major:minor root mountpoint ...
			fs := strings.Fields(sc.Text())
			if len(fs) < 5 {
				continue
			}
			path, err := filepath.EvalSymlinks(filepath.Join(g.sysRoot, "dev/block", fs[2]))
			if err != nil {
				continue // not a block device: proc, tmpfs, overlay
			}
			disk, part := diskOf(path)
			mp := mountinfo.Unescape(fs[4])
			switch {
			case mp == "/" || mp == nodeconfig.StateMount || mp == "/boot" || strings.HasPrefix(mp, "/boot/"):
				use[disk] = fmt.Sprintf("the system disk (it holds %s)", mp)
			case !strings.HasPrefix(use[disk], "the system disk"):
				use[disk] = fmt.Sprintf("in use: %s is mounted at %s", cmp.Or(part, disk), mp)
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile(filepath.Join(g.procRoot, "swaps")); err == nil {
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) == 0 || !strings.HasPrefix(fs[0], "/dev/") {
				continue
			}
			name := filepath.Base(fs[0])
			path, err := filepath.EvalSymlinks(filepath.Join(g.sysRoot, "class/block", name))
			if err != nil {
				continue
			}
			if disk, part := diskOf(path); use[disk] == "" {
				use[disk] = fmt.Sprintf("in use: %s is swap", cmp.Or(part, disk))
			}
		}
	}
	return use
}

// groupPeer is the other node's part of the verbs.
type groupPeer interface {
	check(ctx context.Context, side groupSide) (sideCheck, error)
	apply(ctx context.Context, side groupSide) (groupInfo, error)
	groups(ctx context.Context) ([]groupInfo, error)
}

// groupVerb runs a storage-group verb from the primary.
type groupVerb struct {
	self, peer string // node names
	local      *groupDisks
	remote     groupPeer
	logf       func(string, ...any)
}

// groupSpecProblems checks a request in itself, before any node looks at
// its disks.
func groupSpecProblems(spec api.StorageGroupSpec) []string {
	var p []string
	if !groupNameRE.MatchString(spec.Name) {
		p = append(p, fmt.Sprintf("storage group name %q: use 1 to 32 lower-case letters, digits and '-', starting with a letter", spec.Name))
	}
	for _, node := range slices.Sorted(maps.Keys(spec.Disks)) {
		if !slices.Contains(ha.Nodes, node) {
			p = append(p, fmt.Sprintf("disks of %q: the nodes are node0 and node1", node))
		}
	}
	for _, node := range ha.Nodes {
		ids := spec.Disks[node]
		if len(ids) == 0 {
			p = append(p, fmt.Sprintf("%s: no disks: a storage group needs disks on both nodes (--disk %s=<id>)", node, node))
		}
		if len(ids) > maxGroupDisks {
			p = append(p, fmt.Sprintf("%s: %d disks: at most %d at a time", node, len(ids), maxGroupDisks))
		}
		seen := map[string]bool{}
		for _, id := range ids {
			switch {
			case strings.TrimSpace(id) == "":
				p = append(p, fmt.Sprintf("%s: an empty disk id", node))
			case seen[id]:
				p = append(p, fmt.Sprintf("%s: disk %q is given twice", node, id))
			}
			seen[id] = true
		}
	}
	return p
}

// run checks both sides, then applies this node's and the peer's; if the
// peer's fails, this node's is undone.
func (v groupVerb) run(ctx context.Context, spec api.StorageGroupSpec, extend bool) error {
	side := func(node string) groupSide {
		return groupSide{Group: spec.Name, Disks: spec.Disks[node], Erase: spec.Erase, Extend: extend}
	}
	own, err := v.local.Check(ctx, side(v.self))
	if err != nil {
		return fmt.Errorf("%s: checking its disks: %w; nothing was changed", v.self, err)
	}
	theirs, err := v.remote.check(ctx, side(v.peer))
	if err != nil {
		return api.Conflict(fmt.Sprintf("%s could not check its disks: %v; nothing was changed", v.peer, err))
	}
	var problems []string
	for _, node := range ha.Nodes {
		c := own
		if node == v.peer {
			c = theirs
		}
		for _, p := range c.Problems {
			problems = append(problems, node+": "+p)
		}
	}
	if len(problems) > 0 {
		return &api.BadSpecError{Problems: problems}
	}

	// From here on the verb runs to its end (or its undoing) even if the
	// client goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*groupApplyTimeout)
	defer cancel()
	mine, err := v.local.apply(ctx, side(v.self))
	if err != nil {
		return fmt.Errorf("%s: %w; nothing was changed on %s", v.self, err, v.peer)
	}
	_, err = v.remote.apply(ctx, side(v.peer))
	if err == nil {
		return nil
	}
	var answered *api.ConflictError
	if !errors.As(err, &answered) {
		// No answer: the peer may have done its side all the same.
		gs, gerr := v.remote.groups(ctx)
		if gerr != nil {
			return fmt.Errorf("%s did not answer (%v), nor after (%v): whether it has its side of storage group %s is not known, and %s's side is kept; "+
				"'lockstep storage list' shows each node's side", v.peer, err, gerr, spec.Name, v.self)
		}
		if hasSide(gs, spec.Name, theirs.Disks) {
			v.logf("storage: %s did not answer (%v), but has its side of storage group %s", v.peer, err, spec.Name)
			return nil
		}
	}
	devs := slices.Clone(mine.Devices)
	if extend {
		devs = nil
		for _, d := range own.Disks {
			devs = append(devs, d.Device)
		}
	}
	undone := "storage group " + spec.Name + " removed again"
	if extend {
		undone = "its disks taken out of " + spec.Name + " again"
	}
	if uerr := v.local.undo(ctx, side(v.self), devs); uerr != nil {
		return fmt.Errorf("%s: %v; undoing %s's side failed too (%v): %s has storage group %s with %s, %s has not",
			v.peer, err, v.self, uerr, v.self, spec.Name, strings.Join(devs, ", "), v.peer)
	}
	v.logf("storage: %s failed on %s (%s); %s's side undone", spec.Name, v.peer, unwrapPeer(err), v.self)
	return fmt.Errorf("%s: %v; %s's side was undone (%s)", v.peer, unwrapPeer(err), v.self, undone)
}

// hasSide reports whether groups has group with every device of disks.
func hasSide(groups []groupInfo, group string, disks []diskCheck) bool {
	i := slices.IndexFunc(groups, func(g groupInfo) bool { return g.Name == group })
	if i < 0 {
		return false
	}
	for _, d := range disks {
		if !slices.Contains(groups[i].Devices, d.Device) {
			return false
		}
	}
	return true
}

// unwrapPeer is the peer's own message of an answered error.
func unwrapPeer(err error) string {
	var cf *api.ConflictError
	if errors.As(err, &cf) {
		return strings.TrimPrefix(cf.Reason, "peer: ")
	}
	return err.Error()
}

// peerGroupSide calls the peer's part through the peer service.
type peerGroupSide struct{ c *clusterd }

func (p peerGroupSide) check(ctx context.Context, side groupSide) (sideCheck, error) {
	var out sideCheck
	err := p.c.peerDo(ctx, "POST", "/peer/v1/storage/check", side, &out, groupCheckTimeout)
	return out, err
}

func (p peerGroupSide) apply(ctx context.Context, side groupSide) (groupInfo, error) {
	var out groupInfo
	err := p.c.peerDo(ctx, "POST", "/peer/v1/storage/apply", side, &out, groupApplyTimeout)
	return out, err
}

func (p peerGroupSide) groups(ctx context.Context) ([]groupInfo, error) {
	var r nodeResources
	err := p.c.peerDo(ctx, "GET", "/peer/v1/resources", nil, &r, 30*time.Second)
	return r.Groups, err
}

// storagePeerRoutes are the peer's part of the storage-group verbs.
func (s *vmService) storagePeerRoutes(mux *http.ServeMux) {
	storagePeerRoutes(mux, s.sg)
}

func storagePeerRoutes(mux *http.ServeMux, g *groupDisks) {
	decode := func(w http.ResponseWriter, r *http.Request) (groupSide, bool) {
		var side groupSide
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&side); err != nil {
			writePeer(w, http.StatusBadRequest, api.Error{Error: "storage request: " + err.Error(), Code: api.CodeBadRequest})
			return side, false
		}
		if g == nil {
			writePeer(w, http.StatusConflict, api.Error{Error: "this node has no storage service", Code: api.CodeConflict})
			return side, false
		}
		return side, true
	}
	mux.HandleFunc("POST /peer/v1/storage/check", func(w http.ResponseWriter, r *http.Request) {
		side, ok := decode(w, r)
		if !ok {
			return
		}
		c, err := g.Check(r.Context(), side)
		if err != nil {
			writePeer(w, http.StatusInternalServerError, api.Error{Error: err.Error(), Code: api.CodeInternal})
			return
		}
		writePeer(w, http.StatusOK, c)
	})
	mux.HandleFunc("POST /peer/v1/storage/apply", func(w http.ResponseWriter, r *http.Request) {
		side, ok := decode(w, r)
		if !ok {
			return
		}
		gi, err := g.apply(r.Context(), side)
		if err != nil {
			writePeer(w, http.StatusConflict, api.Error{Error: err.Error(), Code: api.CodeConflict})
			return
		}
		writePeer(w, http.StatusOK, gi)
	})
}

func (b *clusterBackend) CreateStorageGroup(ctx context.Context, spec api.StorageGroupSpec) (api.StorageGroup, error) {
	return b.storageVerb(ctx, spec, false)
}

func (b *clusterBackend) ExtendStorageGroup(ctx context.Context, name string, spec api.StorageGroupSpec) (api.StorageGroup, error) {
	spec.Name = name
	return b.storageVerb(ctx, spec, true)
}

// storageVerb runs a storage-group verb on the primary, with both nodes
// connected; VM changes wait meanwhile (they check the groups).
func (b *clusterBackend) storageVerb(ctx context.Context, spec api.StorageGroupSpec, extend bool) (api.StorageGroup, error) {
	s, err := b.svc()
	if err != nil {
		return api.StorageGroup{}, err
	}
	st := s.c.runner.Status()
	self, peer := nodeName(s.c.id.NodeID), nodeName(1-s.c.id.NodeID)
	var groups []api.StorageGroup
	if extend {
		if groups, err = b.Storage(ctx); err != nil {
			return api.StorageGroup{}, err
		}
	}
	if err := storageVerbRefusal(verbState{primary: st.State == membership.StatePrimary, connected: st.Connected,
		systemIP: s.c.id.Config.IP, peer: peer, groups: groups}, spec, extend); err != nil {
		return api.StorageGroup{}, err
	}
	s.edit.Lock()
	defer s.edit.Unlock()
	v := groupVerb{self: self, peer: peer, local: s.sg, remote: peerGroupSide{s.c}, logf: s.c.vmLogf}
	if err := v.run(ctx, spec, extend); err != nil {
		return api.StorageGroup{}, err
	}
	if groups, err = b.Storage(ctx); err != nil {
		return api.StorageGroup{}, err
	}
	for _, g := range groups {
		if g.Name == spec.Name {
			return g, nil
		}
	}
	return api.StorageGroup{}, fmt.Errorf("storage group %s was made, but is not listed", spec.Name)
}

// verbState is what a storage-group verb needs of the system before it
// starts.
type verbState struct {
	primary, connected bool
	systemIP, peer     string
	groups             []api.StorageGroup // for extend
}

// storageVerbRefusal is why a verb cannot start, nil if it can: this node
// is not the primary, the request is wrong in itself, the peer is away.
func storageVerbRefusal(st verbState, spec api.StorageGroupSpec, extend bool) error {
	if !st.primary {
		return api.Conflict("this node is not the primary: send storage changes to the system IP " + st.systemIP)
	}
	if extend {
		if p := unknownGroup(spec.Name, st.groups); p != "" {
			return &api.BadSpecError{Problems: []string{p}}
		}
	}
	if p := groupSpecProblems(spec); len(p) > 0 {
		return &api.BadSpecError{Problems: p}
	}
	if !st.connected {
		return api.Conflict(fmt.Sprintf("%s is not connected: a storage group is on both nodes, so both must be up to make or extend one; nothing was changed", st.peer))
	}
	return nil
}

// unknownGroup is the problem of naming a group that is not listed, "" if
// it is.
func unknownGroup(name string, groups []api.StorageGroup) string {
	var names []string
	for _, g := range groups {
		if g.Name == name {
			return ""
		}
		names = append(names, g.Name)
	}
	if len(names) == 0 {
		return fmt.Sprintf("no storage group %q; there are none", name)
	}
	return fmt.Sprintf("no storage group %q; the storage groups are %s", name, strings.Join(names, ", "))
}

// pickGroup resolves a volume's storage group: the named one, which must
// be on every node known, or by default the install's group (storage0),
// else the first group, by name, that the nodes share.
func pickGroup(name string, res map[string]nodeResources) (string, string) {
	if len(res) == 0 {
		return name, ""
	}
	nodes := slices.Sorted(maps.Keys(res))
	var shared []string
	for _, g := range res[nodes[0]].Groups {
		if !slices.ContainsFunc(nodes, func(n string) bool { return !hasGroup(res[n], g.Name) }) {
			shared = append(shared, g.Name)
		}
	}
	slices.Sort(shared)
	switch {
	case name != "" && slices.Contains(shared, name):
		return name, ""
	case name == "" && slices.Contains(shared, firstGroup):
		return firstGroup, ""
	case name == "" && len(shared) > 0:
		return shared[0], ""
	case name == "" && len(nodes) == 1:
		return "", nodes[0] + " has no storage group"
	case name == "":
		return "", "the nodes share no storage group"
	}
	var on, off []string
	for _, n := range nodes {
		if hasGroup(res[n], name) {
			on = append(on, n)
		} else {
			off = append(off, n)
		}
	}
	list := "there are none"
	if len(shared) > 0 {
		list = "the storage groups are " + strings.Join(shared, ", ")
	}
	if len(on) == 0 {
		return name, fmt.Sprintf("no storage group %q; %s", name, list)
	}
	return name, fmt.Sprintf("storage group %q is on %s only, not on %s; %s", name, strings.Join(on, ", "), strings.Join(off, ", "), list)
}

func hasGroup(r nodeResources, name string) bool {
	return slices.ContainsFunc(r.Groups, func(g groupInfo) bool { return g.Name == name })
}

// groupSpaceProblems checks that each group has room for the volumes to
// be made in it (need, MiB by group) on every node known: a group's usable
// space is its lesser node's.
func groupSpaceProblems(need map[string]int64, res map[string]nodeResources) []string {
	var p []string
	for _, g := range slices.Sorted(maps.Keys(need)) {
		mib := need[g]
		// The mirror's metadata takes a little more than the volume;
		// 1 % covers DRBD's bitmap and activity log.
		want := (mib + mib/100 + 4) << 20
		least, node := int64(-1), ""
		for _, n := range slices.Sorted(maps.Keys(res)) {
			for _, gi := range res[n].Groups {
				if gi.Name == g && (least < 0 || gi.FreeBytes < least) {
					least, node = gi.FreeBytes, n
				}
			}
		}
		if least >= 0 && want > least {
			p = append(p, fmt.Sprintf("storage group %s on %s has %d MiB free; the volumes need %d MiB", g, node, least>>20, mib))
		}
	}
	return p
}
