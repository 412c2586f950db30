package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// MDArray is a Linux software RAID array.
type MDArray struct {
	Name       string // md0, md127
	Level      string // as md reports it: raid1, raid10, raid5, raid0, linear
	RaidDisks  int    // members the array is made of
	Degraded   int    // members missing or failed
	ArrayState string // clean, active, inactive, read-auto, broken…
	SyncAction string // idle, resync, recover, check, reshape; "" for levels without redundancy
	// SyncCompleted is md's progress of the running sync, "done / total"
	// sectors, or "none".
	SyncCompleted string
	SizeBytes     int64
	Members       []MDMember
	// MissingSlots are slots 0..RaidDisks-1 with no in-sync member: the
	// removed or failed disks, named by position since they are gone.
	MissingSlots []int
}

// MDMember is one component device of an array.
type MDMember struct {
	Name  string // the component: sda1
	Disk  string // the whole disk holding it: sda
	Slot  int    // -1 for a spare or a member without a role
	State string // in_sync, faulty, spare, write_mostly… (comma separated)
}

// InSync reports whether the member carries current data.
func (m MDMember) InSync() bool { return hasState(m.State, "in_sync") }

// Faulty reports whether md kicked the member out.
func (m MDMember) Faulty() bool { return hasState(m.State, "faulty") }

func hasState(states, s string) bool {
	for _, v := range strings.Split(states, ",") {
		if v == s {
			return true
		}
	}
	return false
}

// MD lists md arrays under sysRoot/block.
func MD(sysRoot string) ([]MDArray, error) {
	entries, err := os.ReadDir(filepath.Join(sysRoot, "block"))
	if err != nil {
		return nil, fmt.Errorf("probe: list md arrays: %w", err)
	}
	var out []MDArray
	for _, e := range entries {
		md := filepath.Join(sysRoot, "block", e.Name(), "md")
		if _, err := os.Stat(md); err != nil {
			continue
		}
		a := MDArray{
			Name:          e.Name(),
			Level:         readTrim(filepath.Join(md, "level")),
			ArrayState:    readTrim(filepath.Join(md, "array_state")),
			SyncAction:    readTrim(filepath.Join(md, "sync_action")),
			SyncCompleted: readTrim(filepath.Join(md, "sync_completed")),
		}
		a.RaidDisks, _ = strconv.Atoi(readTrim(filepath.Join(md, "raid_disks")))
		a.Degraded, _ = strconv.Atoi(readTrim(filepath.Join(md, "degraded")))
		sectors, _ := strconv.ParseInt(readTrim(filepath.Join(sysRoot, "block", e.Name(), "size")), 10, 64)
		a.SizeBytes = sectors * 512
		a.Members = mdMembers(sysRoot, md)
		filled := map[int]bool{}
		for _, m := range a.Members {
			if m.Slot >= 0 && m.InSync() {
				filled[m.Slot] = true
			}
		}
		for s := 0; s < a.RaidDisks; s++ {
			if !filled[s] {
				a.MissingSlots = append(a.MissingSlots, s)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

func mdMembers(sysRoot, md string) []MDMember {
	dirs, _ := filepath.Glob(filepath.Join(md, "dev-*"))
	var out []MDMember
	for _, d := range dirs {
		m := MDMember{Name: strings.TrimPrefix(filepath.Base(d), "dev-"), Slot: -1, State: readTrim(filepath.Join(d, "state"))}
		if n, err := strconv.Atoi(readTrim(filepath.Join(d, "slot"))); err == nil {
			m.Slot = n
		}
		m.Disk = DiskOf(m.Name)
		// The block link resolves to .../block/sda/sda1; a partition's
		// parent directory is its disk, whatever the naming scheme.
		if real, err := filepath.EvalSymlinks(filepath.Join(d, "block")); err == nil {
			if _, err := os.Stat(filepath.Join(real, "partition")); err == nil {
				m.Disk = filepath.Base(filepath.Dir(real))
			} else {
				m.Disk = filepath.Base(real)
			}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Slot != out[j].Slot {
			return out[i].Slot >= 0 && (out[j].Slot < 0 || out[i].Slot < out[j].Slot)
		}
		return out[i].Name < out[j].Name
	})
	return out
}
