// Package lvm manages a node's storage groups and VM volumes (SPEC A6): a
// storage group is an LVM volume group tagged "lockstep" over one or more of
// the node's logical disks; a VM volume is a logical volume in it, the
// backing device of one DRBD resource.
//
// Everything is read from LVM's JSON reports (--reportformat json) with
// sizes in bytes (--units b --nosuffix), which LVM prints as strings.
package lvm

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/storage"
)

// Tag marks the volume groups that are storage groups: a node may have
// other volume groups (left from an earlier install, or the admin's) that
// the agent must never touch.
const Tag = "lockstep"

// Group is a storage group.
type Group struct {
	Name        string
	SizeBytes   int64
	FreeBytes   int64
	ExtentBytes int64
	// PVCount is LVM's count of the group's devices; it is larger than
	// len(Devices) while a device is missing.
	PVCount int
	Devices []string
}

// Volume is a logical volume of a storage group.
type Volume struct {
	Group     string
	Name      string
	SizeBytes int64
	Tags      []string
}

// Path is the volume's block device.
func (v Volume) Path() string { return VolumePath(v.Group, v.Name) }

// VolumePath is the block device of volume name in group.
func VolumePath(group, name string) string { return "/dev/" + group + "/" + name }

// Manager manages the node's storage groups through LVM's commands.
type Manager struct {
	Runner storage.Runner
}

// report is LVM's JSON report: {"report":[{"vg":[{"vg_name":"…",…}]}]}.
type report struct {
	Report []struct {
		VG []map[string]string `json:"vg"`
		PV []map[string]string `json:"pv"`
		LV []map[string]string `json:"lv"`
	} `json:"report"`
}

func (m *Manager) report(ctx context.Context, name string, args ...string) (rows []map[string]string, err error) {
	out, err := storage.Output(ctx, m.Runner, name, append([]string{"--reportformat", "json"}, args...)...)
	if err != nil {
		return nil, err
	}
	var r report
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("%s: report: %w", name, err)
	}
	for _, rep := range r.Report {
		rows = append(rows, rep.VG...)
		rows = append(rows, rep.PV...)
		rows = append(rows, rep.LV...)
	}
	return rows, nil
}

var vgColumns = []string{"--units", "b", "--nosuffix", "-o", "vg_name,vg_size,vg_free,vg_extent_size,pv_count,vg_tags"}

// vg is a row of vgs.
type vg struct {
	Group
	tags []string
}

// vgs reports the volume groups named, or all of them.
func (m *Manager) vgs(ctx context.Context, names ...string) ([]vg, error) {
	rows, err := m.report(ctx, "vgs", append(slices.Clone(vgColumns), names...)...)
	if err != nil {
		return nil, err
	}
	var vgs []vg
	for _, r := range rows {
		var err error
		g := Group{
			Name:        r["vg_name"],
			SizeBytes:   num(r, "vg_size", &err),
			FreeBytes:   num(r, "vg_free", &err),
			ExtentBytes: num(r, "vg_extent_size", &err),
			PVCount:     int(num(r, "pv_count", &err)),
		}
		if err != nil {
			return nil, fmt.Errorf("vgs: volume group %q: %w", g.Name, err)
		}
		vgs = append(vgs, vg{g, splitTags(r["vg_tags"])})
	}
	return vgs, nil
}

// num reads a number from a report row; the first failure goes to *err.
func num(row map[string]string, key string, err *error) int64 {
	n, e := strconv.ParseInt(row[key], 10, 64)
	if e != nil && *err == nil {
		*err = fmt.Errorf("%s %q: not a number", key, row[key])
	}
	return n
}

// splitTags splits LVM's comma-separated tag list.
func splitTags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// pvs maps every physical volume to its volume group ("" for none).
func (m *Manager) pvs(ctx context.Context) (map[string]string, error) {
	rows, err := m.report(ctx, "pvs", "-o", "pv_name,vg_name")
	if err != nil {
		return nil, err
	}
	vgOf := map[string]string{}
	for _, r := range rows {
		vgOf[r["pv_name"]] = r["vg_name"]
	}
	return vgOf, nil
}

// Groups lists the node's storage groups: the volume groups tagged Tag.
func (m *Manager) Groups(ctx context.Context) ([]Group, error) {
	vgs, err := m.vgs(ctx)
	if err != nil {
		return nil, err
	}
	pvs, err := m.pvs(ctx)
	if err != nil {
		return nil, err
	}
	var gs []Group
	for _, v := range vgs {
		if !slices.Contains(v.tags, Tag) {
			continue
		}
		g := v.Group
		for pv, vg := range pvs {
			if vg == g.Name {
				g.Devices = append(g.Devices, pv)
			}
		}
		slices.Sort(g.Devices)
		gs = append(gs, g)
	}
	return gs, nil
}

// canonical resolves a device's symlinks (/dev/disk/by-id/…), because pvs
// names a device by the path LVM scanned, usually /dev/sdX.
func canonical(dev string) string {
	if p, err := filepath.EvalSymlinks(dev); err == nil {
		return p
	}
	return dev
}

// CreateGroup makes a storage group of devices. It refuses a name that any
// volume group has and a device that belongs to a volume group; a device
// that is already an unused physical volume is taken as it is. pvcreate is
// not forced: a device with a file system or partition table on it makes it
// fail (LVM's message says which), because wiping is for the admin to
// decide.
func (m *Manager) CreateGroup(ctx context.Context, name string, devices []string) (Group, error) {
	if err := ValidName(name); err != nil {
		return Group{}, err
	}
	if len(devices) == 0 {
		return Group{}, fmt.Errorf("storage group %q: no devices", name)
	}
	vgs, err := m.vgs(ctx)
	if err != nil {
		return Group{}, err
	}
	for _, v := range vgs {
		if v.Name == name {
			return Group{}, fmt.Errorf("storage group %q: a volume group of that name exists", name)
		}
	}
	fresh, err := m.freshDevices(ctx, name, devices)
	if err != nil {
		return Group{}, err
	}
	if len(fresh) > 0 {
		if _, err := storage.Output(ctx, m.Runner, "pvcreate", fresh...); err != nil {
			return Group{}, err
		}
	}
	if _, err := storage.Output(ctx, m.Runner, "vgcreate", append([]string{"--addtag", Tag, name}, devices...)...); err != nil {
		return Group{}, err
	}
	return m.group(ctx, name)
}

// PVs maps every physical volume, by its device with symlinks resolved,
// to its volume group ("" for a physical volume in none).
func (m *Manager) PVs(ctx context.Context) (map[string]string, error) {
	pvs, err := m.pvs(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for pv, vg := range pvs {
		out[canonical(pv)] = vg
	}
	return out, nil
}

// VolumeGroups maps every volume group of the node, storage group or not,
// to its tags.
func (m *Manager) VolumeGroups(ctx context.Context) (map[string][]string, error) {
	vgs, err := m.vgs(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, v := range vgs {
		out[v.Name] = v.tags
	}
	return out, nil
}

// ExtendGroup adds devices to a storage group, with CreateGroup's rules
// for the devices: none may belong to a volume group, an unused physical
// volume is taken as it is, and pvcreate is not forced.
func (m *Manager) ExtendGroup(ctx context.Context, name string, devices []string) (Group, error) {
	if err := ValidName(name); err != nil {
		return Group{}, err
	}
	if len(devices) == 0 {
		return Group{}, fmt.Errorf("storage group %q: no devices", name)
	}
	if _, err := m.group(ctx, name); err != nil {
		return Group{}, err
	}
	fresh, err := m.freshDevices(ctx, name, devices)
	if err != nil {
		return Group{}, err
	}
	if len(fresh) > 0 {
		if _, err := storage.Output(ctx, m.Runner, "pvcreate", fresh...); err != nil {
			return Group{}, err
		}
	}
	if _, err := storage.Output(ctx, m.Runner, "vgextend", append([]string{name}, devices...)...); err != nil {
		return Group{}, err
	}
	return m.group(ctx, name)
}

// freshDevices checks that no device is given twice or belongs to a
// volume group, and returns those that are no physical volume yet.
func (m *Manager) freshDevices(ctx context.Context, name string, devices []string) ([]string, error) {
	inUse, err := m.PVs(ctx)
	if err != nil {
		return nil, err
	}
	var fresh []string
	seen := map[string]bool{}
	for _, d := range devices {
		c := canonical(d)
		if seen[c] {
			return nil, fmt.Errorf("storage group %q: device %s given twice", name, d)
		}
		seen[c] = true
		vg, isPV := inUse[c]
		if vg != "" {
			return nil, fmt.Errorf("storage group %q: device %s belongs to volume group %q", name, d, vg)
		}
		if !isPV {
			fresh = append(fresh, d)
		}
	}
	return fresh, nil
}

// RemoveGroup removes a storage group that has no volumes, and the
// physical volume labels of its devices, which are then blank again. It
// is the undoing of a CreateGroup: it never removes a volume (vgremove is
// not forced), nor a volume group that is not a storage group.
func (m *Manager) RemoveGroup(ctx context.Context, name string) error {
	g, err := m.group(ctx, name)
	if err != nil {
		return err
	}
	vols, err := m.Volumes(ctx, name)
	if err != nil {
		return err
	}
	if len(vols) > 0 {
		return fmt.Errorf("storage group %q has %d volumes: not removed", name, len(vols))
	}
	if _, err := storage.Output(ctx, m.Runner, "vgremove", name); err != nil {
		return err
	}
	if len(g.Devices) == 0 {
		return nil
	}
	_, err = storage.Output(ctx, m.Runner, "pvremove", g.Devices...)
	return err
}

// ReduceGroup takes devices out of a storage group and removes their
// physical volume labels: the undoing of an ExtendGroup. LVM refuses a
// device that holds extents of a volume.
func (m *Manager) ReduceGroup(ctx context.Context, name string, devices []string) error {
	if _, err := m.group(ctx, name); err != nil {
		return err
	}
	if len(devices) == 0 {
		return nil
	}
	if _, err := storage.Output(ctx, m.Runner, "vgreduce", append([]string{name}, devices...)...); err != nil {
		return err
	}
	_, err := storage.Output(ctx, m.Runner, "pvremove", devices...)
	return err
}

// group reports one storage group, with its devices.
func (m *Manager) group(ctx context.Context, name string) (Group, error) {
	gs, err := m.Groups(ctx)
	if err != nil {
		return Group{}, err
	}
	for _, g := range gs {
		if g.Name == name {
			return g, nil
		}
	}
	return Group{}, fmt.Errorf("storage group %q not found", name)
}

// Volumes lists a storage group's volumes.
func (m *Manager) Volumes(ctx context.Context, group string) ([]Volume, error) {
	if err := ValidName(group); err != nil {
		return nil, err
	}
	rows, err := m.report(ctx, "lvs", "--units", "b", "--nosuffix", "-o", "lv_name,lv_size,lv_tags", group)
	if err != nil {
		return nil, err
	}
	var vs []Volume
	for _, r := range rows {
		v := Volume{Group: group, Name: r["lv_name"], Tags: splitTags(r["lv_tags"])}
		var err error
		if v.SizeBytes = num(r, "lv_size", &err); err != nil {
			return nil, fmt.Errorf("lvs: volume %s/%s: %w", group, v.Name, err)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// roundUp rounds size up to a whole number of the group's extents, the unit
// LVM allocates in: the size the caller is told is then the size the volume
// has.
func (m *Manager) roundUp(ctx context.Context, group string, size int64) (int64, error) {
	if size <= 0 {
		return 0, fmt.Errorf("volume size %d: not positive", size)
	}
	vgs, err := m.vgs(ctx, group)
	if err != nil {
		return 0, err
	}
	if len(vgs) != 1 || vgs[0].ExtentBytes <= 0 {
		return 0, fmt.Errorf("storage group %q: no extent size reported", group)
	}
	e := vgs[0].ExtentBytes
	return (size + e - 1) / e * e, nil
}

// CreateVolume creates a volume of at least sizeBytes (rounded up to the
// group's extent size). -W y and -Z y wipe signatures and zero the start,
// so that nothing of an earlier volume in the same place (a file system, a
// DRBD superblock) is seen on the new one; -y answers LVM's prompts.
func (m *Manager) CreateVolume(ctx context.Context, group, name string, sizeBytes int64, tags []string) (Volume, error) {
	if err := ValidName(group); err != nil {
		return Volume{}, err
	}
	if err := ValidName(name); err != nil {
		return Volume{}, err
	}
	for _, t := range tags {
		if err := validTag(t); err != nil {
			return Volume{}, err
		}
	}
	size, err := m.roundUp(ctx, group, sizeBytes)
	if err != nil {
		return Volume{}, err
	}
	args := []string{"-y", "-W", "y", "-Z", "y", "-n", name, "-L", strconv.FormatInt(size, 10) + "b"}
	for _, t := range tags {
		args = append(args, "--addtag", t)
	}
	if _, err := storage.Output(ctx, m.Runner, "lvcreate", append(args, group)...); err != nil {
		return Volume{}, err
	}
	return Volume{Group: group, Name: name, SizeBytes: size, Tags: slices.Clone(tags)}, nil
}

// RemoveVolume removes a volume. LVM refuses a volume that is open (a DRBD
// resource still up on it).
func (m *Manager) RemoveVolume(ctx context.Context, group, name string) error {
	if err := ValidName(group); err != nil {
		return err
	}
	if err := ValidName(name); err != nil {
		return err
	}
	_, err := storage.Output(ctx, m.Runner, "lvremove", "-y", group+"/"+name)
	return err
}

// ExtendVolume grows a volume to at least sizeBytes (rounded up to the
// group's extent size) and returns its new size. LVM refuses to shrink.
func (m *Manager) ExtendVolume(ctx context.Context, group, name string, sizeBytes int64) (int64, error) {
	if err := ValidName(group); err != nil {
		return 0, err
	}
	if err := ValidName(name); err != nil {
		return 0, err
	}
	size, err := m.roundUp(ctx, group, sizeBytes)
	if err != nil {
		return 0, err
	}
	if _, err := storage.Output(ctx, m.Runner, "lvextend", "-L", strconv.FormatInt(size, 10)+"b", group+"/"+name); err != nil {
		return 0, err
	}
	return size, nil
}

// ValidName checks LVM's rules for volume group and volume names. Checking
// here gives a clear message, and keeps a name from reaching a command line
// where it could read as an option.
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("LVM name is empty")
	case len(name) > 127:
		return fmt.Errorf("LVM name %q: longer than 127 characters", name)
	case name == "." || name == "..":
		return fmt.Errorf("LVM name %q: not allowed", name)
	case name[0] == '-':
		return fmt.Errorf("LVM name %q: starts with '-'", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+_.-", c)) {
			return fmt.Errorf("LVM name %q: character %q not allowed (only a-z A-Z 0-9 + _ . -)", name, c)
		}
	}
	return nil
}

// validTag checks LVM's tag rules (lvm(8), TAGS).
func validTag(t string) error {
	if t == "" || len(t) > 1024 {
		return fmt.Errorf("LVM tag %q: empty or longer than 1024 characters", t)
	}
	if t[0] == '-' {
		return fmt.Errorf("LVM tag %q: starts with '-'", t)
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_+.-/=!:&#", c)) {
			return fmt.Errorf("LVM tag %q: character %q not allowed", t, c)
		}
	}
	return nil
}
