// Package probe reads hardware facts (CPU, memory, firmware, power, disks,
// software RAID, NICs, the boot medium) from /proc and /sys without changing
// anything. Every function takes its roots so tests run on fixture trees.
//
// The installer runs in a u-root initramfs without udev: there is no
// /dev/disk/by-id or by-path, so the stable names udev would give are rebuilt
// here from sysfs (see Disk.ByPath and Disk.Stable).
package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

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

// Names of sysfs device directories, used to read a device's position in the
// hardware tree from its resolved path.
var (
	rePCIAddr   = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)
	reSCSIAddr  = regexp.MustCompile(`^(\d+):(\d+):(\d+):(\d+)$`)
	reUSBIface  = regexp.MustCompile(`^\d+-[\d.]+:\d+\.\d+$`)
	reUSBDevice = regexp.MustCompile(`^(usb\d+|\d+-[\d.]+)$`)
	reHost      = regexp.MustCompile(`^host(\d+)$`)
	reATAPort   = regexp.MustCompile(`^ata(\d+)$`)
	reVirtio    = regexp.MustCompile(`^virtio\d+$`)
	reNVMeCtrl  = regexp.MustCompile(`^nvme\d+$`)
)

// devicePath resolves a sysfs entry (a class or block symlink) and returns
// the resolved sysfs root and the path's components below it, starting with
// "devices". Working on components rather than the absolute path keeps the
// fixture root's own directory names out of the matching.
func devicePath(sysRoot, entry string) (root string, comps []string, ok bool) {
	root, err := filepath.EvalSymlinks(sysRoot)
	if err != nil {
		return "", nil, false
	}
	real, err := filepath.EvalSymlinks(entry)
	if err != nil {
		return "", nil, false
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", nil, false
	}
	return root, strings.Split(rel, string(filepath.Separator)), true
}

// innermostPCI is the PCI function closest to the device: the HBA for a
// disk, the NIC function for a network port, the USB host for USB devices.
func innermostPCI(comps []string) string {
	for i := len(comps) - 1; i >= 0; i-- {
		if rePCIAddr.MatchString(comps[i]) {
			return comps[i]
		}
	}
	return ""
}

func hasUSB(comps []string) bool {
	for _, c := range comps {
		if reUSBIface.MatchString(c) {
			return true
		}
	}
	return false
}
