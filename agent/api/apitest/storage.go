package apitest

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// Disk is a logical disk of a fake node, for storage groups.
type Disk struct {
	Device    string
	SizeBytes int64
	// Found is what is on it ("gpt partition table"); "" blank. It
	// must be erased to join a group.
	Found string
}

var groupName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// seedDisks gives each fake node two disks in no group yet: one blank,
// one with an old partition table on it.
func (b *Backend) seedDisks() {
	const gib = 1 << 30
	b.Disks = map[string]map[string]Disk{
		"node0": {
			"serial:S5GXNF0R100001":    {Device: "/dev/sdd", SizeBytes: 1788 * gib},
			"wwn:naa.5002538e4a1b2c3d": {Device: "/dev/sde", SizeBytes: 894 * gib, Found: "gpt partition table, PMBR partition table"},
		},
		"node1": {
			"serial:S5GXNF0R200001":    {Device: "/dev/sdd", SizeBytes: 1788 * gib},
			"wwn:naa.5002538e4a1b9f00": {Device: "/dev/sde", SizeBytes: 894 * gib, Found: "ext4 file system (label \"old\")"},
		},
	}
}

func (b *Backend) findGroup(name string) int {
	return slices.IndexFunc(b.Groups, func(g api.StorageGroup) bool { return g.Name == name })
}

// groupProblems checks spec as the agent does, on both nodes, and
// returns each node's devices and their size.
func (b *Backend) groupProblems(spec api.StorageGroupSpec) (map[string][]string, map[string]int64, error) {
	var p []string
	for _, node := range slices.Sorted(maps.Keys(spec.Disks)) {
		if node != "node0" && node != "node1" {
			p = append(p, fmt.Sprintf("disks of %q: the nodes are node0 and node1", node))
		}
	}
	devs, size := map[string][]string{}, map[string]int64{}
	for _, node := range []string{"node0", "node1"} {
		ids := spec.Disks[node]
		if len(ids) == 0 {
			p = append(p, fmt.Sprintf("%s: no disks: a storage group needs disks on both nodes (--disk %s=<id>)", node, node))
		}
		for _, id := range ids {
			d, ok := b.Disks[node][id]
			switch {
			case !ok:
				p = append(p, fmt.Sprintf("%s: storage disk %q: no such disk under /dev/disk/by-id or /dev/disk/by-path", node, id))
			case d.Found != "" && !spec.Erase:
				p = append(p, fmt.Sprintf("%s: disk %q (%s) is not blank: %s; to use it, erase it (--erase)", node, id, d.Device, d.Found))
			default:
				devs[node] = append(devs[node], d.Device)
				size[node] += d.SizeBytes
			}
		}
	}
	if len(p) > 0 {
		return nil, nil, &api.BadSpecError{Problems: p}
	}
	return devs, size, nil
}

// takeDisks moves the disks of spec out of Disks: they are in a group now.
func (b *Backend) takeDisks(spec api.StorageGroupSpec) {
	for node, ids := range spec.Disks {
		for _, id := range ids {
			delete(b.Disks[node], id)
		}
	}
}

func (b *Backend) CreateStorageGroup(_ context.Context, spec api.StorageGroupSpec) (api.StorageGroup, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("storage create " + spec.Name); err != nil {
		return api.StorageGroup{}, err
	}
	if err := b.ActionErr["storage create"]; err != nil {
		return api.StorageGroup{}, err
	}
	var p []string
	if !groupName.MatchString(spec.Name) {
		p = append(p, fmt.Sprintf("storage group name %q: use 1 to 32 lower-case letters, digits and '-', starting with a letter", spec.Name))
	} else if b.findGroup(spec.Name) >= 0 {
		p = append(p, fmt.Sprintf("storage group %q exists; add disks to it with extend", spec.Name))
	}
	devs, size, err := b.groupProblems(spec)
	if err != nil {
		bs := err.(*api.BadSpecError)
		p = append(p, bs.Problems...)
	}
	if len(p) > 0 {
		return api.StorageGroup{}, &api.BadSpecError{Problems: p}
	}
	g := api.StorageGroup{Name: spec.Name, Nodes: map[string]api.GroupSpace{}, SizeBytes: min(size["node0"], size["node1"])}
	g.FreeBytes = g.SizeBytes
	for node, d := range devs {
		g.Nodes[node] = api.GroupSpace{Devices: d, SizeBytes: size[node], FreeBytes: size[node]}
	}
	b.takeDisks(spec)
	b.Groups = append(b.Groups, g)
	return g, nil
}

func (b *Backend) ExtendStorageGroup(_ context.Context, name string, spec api.StorageGroupSpec) (api.StorageGroup, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("storage extend " + name); err != nil {
		return api.StorageGroup{}, err
	}
	if err := b.ActionErr["storage extend"]; err != nil {
		return api.StorageGroup{}, err
	}
	i := b.findGroup(name)
	if i < 0 {
		var names []string
		for _, g := range b.Groups {
			names = append(names, g.Name)
		}
		return api.StorageGroup{}, &api.BadSpecError{Problems: []string{fmt.Sprintf("no storage group %q; the storage groups are %s", name, strings.Join(names, ", "))}}
	}
	devs, size, err := b.groupProblems(spec)
	if err != nil {
		return api.StorageGroup{}, err
	}
	g := &b.Groups[i]
	g.Nodes = maps.Clone(g.Nodes)
	for node, d := range devs {
		s := g.Nodes[node]
		s.Devices = append(slices.Clone(s.Devices), d...)
		s.SizeBytes += size[node]
		s.FreeBytes += size[node]
		g.Nodes[node] = s
	}
	g.SizeBytes, g.FreeBytes = min(g.Nodes["node0"].SizeBytes, g.Nodes["node1"].SizeBytes), min(g.Nodes["node0"].FreeBytes, g.Nodes["node1"].FreeBytes)
	b.takeDisks(spec)
	return *g, nil
}
