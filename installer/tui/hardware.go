package tui

import (
	"fmt"
	"strings"

	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/probe"
)

// nicRow is one NIC as the network screen shows it.
type nicRow struct {
	Name, MAC, Driver string
	Speed             int // Mb/s, 0 unknown
	Link              bool
	Probed            bool // driver/speed/link known
}

// ref is how the answers name the NIC: its MAC (stable), else its name.
func (n nicRow) ref() string {
	if n.MAC != "" {
		return n.MAC
	}
	return n.Name
}

// matches reports whether an answer (MAC or name) names this NIC.
func (n nicRow) matches(s string) bool {
	if s == "" {
		return false
	}
	return strings.EqualFold(s, n.MAC) || s == n.Name
}

// diskRow is one disk as the disk screen shows it.
type diskRow struct {
	answers.DiskInfo
	Model, Controller, RAID, State string
	Logical, Degraded              bool
}

// mergeHardware returns the Hardware the validator uses and the rows the
// screens show, filling whichever side the caller left empty.
func mergeHardware(cfg Config) (answers.Hardware, []nicRow, []diskRow) {
	hw := cfg.Hardware
	if len(hw.NICs) == 0 {
		for _, n := range cfg.NICs {
			hw.NICs = append(hw.NICs, answers.NIC{Name: n.Name, MAC: n.MAC})
		}
	}
	if len(hw.Disks) == 0 {
		for _, d := range cfg.Disks {
			if d.CDROM || d.ReadOnly {
				continue
			}
			hw.Disks = append(hw.Disks, answers.DiskInfo{ID: d.Stable(), Aliases: diskAliases(d), Name: d.Name, SizeBytes: d.SizeBytes})
		}
	}

	var nics []nicRow
	for _, n := range hw.NICs {
		r := nicRow{Name: n.Name, MAC: strings.ToLower(n.MAC)}
		for _, p := range cfg.NICs {
			if p.Name == n.Name || n.MAC != "" && strings.EqualFold(p.MAC, n.MAC) {
				r.Driver, r.Speed, r.Link, r.Probed = p.Driver, p.Speed, p.Link, true
				if r.Name == "" {
					r.Name = p.Name
				}
				break
			}
		}
		nics = append(nics, r)
	}

	var disks []diskRow
	for _, d := range hw.Disks {
		r := diskRow{DiskInfo: d}
		for _, p := range cfg.Disks {
			if p.Name != d.Name || d.Name == "" {
				continue
			}
			r.Model = strings.TrimSpace(strings.Join(strings.Fields(p.Vendor+" "+p.Model), " "))
			r.Controller = firstOf(p.Controller, p.Driver)
			r.RAID, r.State, r.Logical, r.Degraded = p.RAIDLevel, p.State, p.Logical, p.Degraded
			if r.SizeBytes == 0 {
				r.SizeBytes = p.SizeBytes
			}
			break
		}
		disks = append(disks, r)
	}
	return hw, nics, disks
}

// diskAliases are the other ids an answer file may use for d.
func diskAliases(d probe.Disk) []string {
	var out []string
	for _, s := range []string{d.WWN, d.Serial, d.ByPath} {
		if s != "" && s != d.Stable() {
			out = append(out, s)
		}
	}
	return out
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// speedText prints a link speed: "10G", "1G", "100M", "-" when unknown.
func speedText(mbps int) string {
	switch {
	case mbps <= 0:
		return "-"
	case mbps%1000 == 0:
		return fmt.Sprintf("%dG", mbps/1000)
	case mbps > 1000:
		return fmt.Sprintf("%.1fG", float64(mbps)/1000)
	}
	return fmt.Sprintf("%dM", mbps)
}

// recommend picks priv0 and ibiz0 (indexes into nics, -1 when none) the way
// the seed recommends (2x1G+2x10G, 4x1G+2x10G: priv0 on the first 10G port,
// ibiz0 on the first 1G port); with unknown speeds the first two NICs.
func recommend(cfg Config, nics []nicRow) (int, int) {
	find := func(s string) int {
		for i, n := range nics {
			if n.matches(s) {
				return i
			}
		}
		return -1
	}
	if cfg.Recommended != nil {
		p, b := cfg.Recommended(cfg.NICs)
		if pi, bi := find(p), find(b); pi >= 0 && bi >= 0 && pi != bi {
			return pi, bi
		}
	}
	fast, slow := -1, -1
	for i, n := range nics {
		if n.Speed >= 10000 && fast < 0 {
			fast = i
		}
		if n.Speed > 0 && n.Speed < 10000 && slow < 0 {
			slow = i
		}
	}
	if fast >= 0 && slow >= 0 {
		return fast, slow
	}
	switch len(nics) {
	case 0:
		return -1, -1
	case 1:
		return 0, -1
	}
	return 0, 1
}
