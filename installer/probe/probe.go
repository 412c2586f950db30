// Package probe reads hardware facts (disks, NICs) from /sys without changing
// anything. Every function takes the sysfs root so tests run on fixture trees.
package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Disk is one whole block device.
type Disk struct {
	Name      string // kernel name: vda, sda, nvme0n1
	SizeBytes int64
	Model     string
	Serial    string
	Driver    string // the controller's driver: virtio_blk, ahci, nvme, megaraid_sas...
	Removable bool
	ReadOnly  bool
	CDROM     bool
}

// NIC is one network interface with a device behind it.
type NIC struct {
	Name   string
	MAC    string
	Driver string
	Speed  int // Mb/s, 0 when unknown (link down or virtual)
	Link   bool
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// deviceDriver walks from a device towards the root and returns the first
// bound driver's name: for sda that is the SCSI disk's controller chain
// (sd -> ... -> ahci), so we skip the generic block drivers.
func deviceDriver(devPath string, skip ...string) string {
	p, err := filepath.EvalSymlinks(devPath)
	if err != nil {
		return ""
	}
	for ; p != "/" && p != "." && strings.Contains(p, "/devices/"); p = filepath.Dir(p) {
		link, err := os.Readlink(filepath.Join(p, "driver"))
		if err != nil {
			continue
		}
		d := filepath.Base(link)
		skipped := false
		for _, s := range skip {
			if d == s {
				skipped = true
			}
		}
		if !skipped {
			return d
		}
	}
	return ""
}

// Disks lists whole disks under sysRoot/block, skipping RAM and loop devices.
func Disks(sysRoot string) ([]Disk, error) {
	entries, err := os.ReadDir(filepath.Join(sysRoot, "block"))
	if err != nil {
		return nil, fmt.Errorf("probe: list disks: %w", err)
	}
	var out []Disk
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		base := filepath.Join(sysRoot, "block", name)
		sectors, _ := strconv.ParseInt(readTrim(filepath.Join(base, "size")), 10, 64)
		d := Disk{
			Name:      name,
			SizeBytes: sectors * 512, // sysfs "size" is always in 512-byte units
			Model:     readTrim(filepath.Join(base, "device", "model")),
			Serial:    firstNonEmpty(readTrim(filepath.Join(base, "device", "serial")), readTrim(filepath.Join(base, "serial")), readTrim(filepath.Join(base, "device", "wwid"))),
			Removable: readTrim(filepath.Join(base, "removable")) == "1",
			ReadOnly:  readTrim(filepath.Join(base, "ro")) == "1",
			CDROM:     strings.HasPrefix(name, "sr"),
		}
		d.Driver = deviceDriver(filepath.Join(base, "device"), "sd", "sr")
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// NICs lists interfaces that have a device (physical or virtio), not lo, bridges or veths.
func NICs(sysRoot string) ([]NIC, error) {
	entries, err := os.ReadDir(filepath.Join(sysRoot, "class", "net"))
	if err != nil {
		return nil, fmt.Errorf("probe: list NICs: %w", err)
	}
	var out []NIC
	for _, e := range entries {
		base := filepath.Join(sysRoot, "class", "net", e.Name())
		if _, err := os.Stat(filepath.Join(base, "device")); err != nil {
			continue
		}
		n := NIC{
			Name:   e.Name(),
			MAC:    readTrim(filepath.Join(base, "address")),
			Driver: deviceDriver(filepath.Join(base, "device")),
			Link:   readTrim(filepath.Join(base, "carrier")) == "1",
		}
		if s, err := strconv.Atoi(readTrim(filepath.Join(base, "speed"))); err == nil && s > 0 {
			n.Speed = s
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// HumanSize prints bytes in binary units, as disk tools do.
func HumanSize(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
