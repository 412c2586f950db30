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
	Name      string // kernel name: vda, sda, nvme0n1 — changes between boots, never use it to choose a disk
	SizeBytes int64
	Vendor    string // SCSI vendor ("ATA" for every SATA disk, "DELL"/"AVAGO"/"HP" for RAID volumes)
	Model     string
	Serial    string
	// WWN is the kernel's wwid for the device: "naa.…"/"eui.…"/"t10.…" for
	// SCSI and SATA, "eui.…"/"nvme.…"/"uuid.…" for NVMe; whitespace collapsed.
	WWN string
	// ByPath names the port the disk hangs off, like udev's by-path links
	// ("pci-0000:00:1f.2-ata-1", "pci-0000:03:00.0-scsi-0:2:0:0"); it stays
	// put when the disk is swapped, which is what a replaced RAID volume needs.
	ByPath     string
	Driver     string // the controller's driver: virtio_blk, ahci, nvme, megaraid_sas...
	Controller string // the same driver, under the name the RAID checks use
	Transport  string // sata, sas, nvme, virtio, usb, scsi, md; "" when unknown
	Rotational bool
	Removable  bool
	ReadOnly   bool
	CDROM      bool
	// Logical: a RAID volume presented by a controller (or an md array),
	// not a raw disk.
	Logical bool
	// RAIDLevel is the level as the controller or md reports it, normalized:
	// "0", "1", "5", "6", "10", "1+0" (hpsa/smartpqi's mirror, RAID 1 or 10
	// by drive count), "1 ADM"… "" when unknown: megaraid_sas does not put
	// the level of its virtual drives in sysfs.
	RAIDLevel string
	// State is what sysfs says about the device: the SCSI state ("running",
	// "offline"), overridden by the RAID state where the driver reports one
	// (raid_class: "active", "degraded", "resyncing"), md's array_state.
	State    string
	Degraded bool
	// Holders are the block devices stacked on this disk or its partitions
	// (md0, dm-0): a member of an array is not itself a system disk.
	Holders []string
}

// Stable is the best identity for choosing this disk across reboots:
// "wwn:<wwid>", else "serial:<serial>", else "path:<by-path>", else
// "name:<kernel name>" as a last resort (virtual devices only).
func (d Disk) Stable() string {
	switch {
	case d.WWN != "":
		return "wwn:" + d.WWN
	case d.Serial != "":
		return "serial:" + d.Serial
	case d.ByPath != "":
		return "path:" + d.ByPath
	}
	return "name:" + d.Name
}

// Matches reports whether id names this disk: a Stable() string, or a bare
// WWN, serial or by-path as an answer file may carry them.
func (d Disk) Matches(id string) bool {
	if id == "" {
		return false
	}
	if id == d.Stable() {
		return true
	}
	kind, v, ok := strings.Cut(id, ":")
	if ok {
		switch kind {
		case "wwn":
			return v == d.WWN
		case "serial":
			return v == d.Serial
		case "path":
			return v == d.ByPath
		}
	}
	return id == d.WWN || id == d.Serial || id == d.ByPath
}

// Disks lists whole disks under sysRoot/block, skipping RAM, loop and
// device-mapper devices; md arrays are listed as logical disks.
func Disks(sysRoot string) ([]Disk, error) {
	entries, err := os.ReadDir(filepath.Join(sysRoot, "block"))
	if err != nil {
		return nil, fmt.Errorf("probe: list disks: %w", err)
	}
	var out []Disk
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") || strings.HasPrefix(name, "dm-") {
			continue
		}
		out = append(out, readDisk(sysRoot, name))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func readDisk(sysRoot, name string) Disk {
	base := filepath.Join(sysRoot, "block", name)
	dev := filepath.Join(base, "device")
	sectors, _ := strconv.ParseInt(readTrim(filepath.Join(base, "size")), 10, 64)
	d := Disk{
		Name:       name,
		SizeBytes:  sectors * 512, // sysfs "size" is always in 512-byte units
		Model:      readTrim(filepath.Join(dev, "model")),
		WWN:        strings.Join(strings.Fields(firstNonEmpty(readTrim(filepath.Join(base, "wwid")), readTrim(filepath.Join(dev, "wwid")))), " "),
		Rotational: readTrim(filepath.Join(base, "queue", "rotational")) == "1",
		Removable:  readTrim(filepath.Join(base, "removable")) == "1",
		ReadOnly:   readTrim(filepath.Join(base, "ro")) == "1",
		CDROM:      strings.HasPrefix(name, "sr"),
		State:      readTrim(filepath.Join(dev, "state")),
		Holders:    holders(base),
	}
	// nvme and virtio_blk have a serial attribute; SCSI and SATA disks only
	// have it in the raw VPD page 0x80 (libata translates the ATA serial there).
	d.Serial = firstNonEmpty(readTrim(filepath.Join(dev, "serial")), readTrim(filepath.Join(base, "serial")), vpdSerial(filepath.Join(dev, "vpd_pg80")))

	if _, err := os.Stat(filepath.Join(base, "md")); err == nil {
		readMDDisk(base, &d)
		return d
	}

	root, comps, ok := devicePath(sysRoot, base)
	if ok && isNVMeHead(comps) {
		// With native NVMe multipath the disk hangs off the virtual
		// subsystem; its port and driver are those of a controller under it.
		if croot, ccomps, ok2 := nvmeControllerPath(sysRoot, base, name); ok2 {
			root, comps = croot, append(ccomps, name)
			dev = filepath.Join(sysRoot, "class", "nvme", ccomps[len(ccomps)-1])
			d.Model = firstNonEmpty(d.Model, readTrim(filepath.Join(dev, "model")))
			d.Serial = firstNonEmpty(d.Serial, readTrim(filepath.Join(dev, "serial")))
		}
	}
	if ok {
		// Only SCSI devices have a vendor string; a virtio device's "vendor"
		// is the PCI vendor id (0x1af4).
		if locSCSI(comps) != nil {
			d.Vendor = readTrim(filepath.Join(dev, "vendor"))
		}
		loc := locate(root, comps, func() string { return nvmeNSID(base, name) })
		d.ByPath, d.Transport = loc.byPath, loc.transport
		d.readRAID(dev, loc)
	}
	d.Driver = deviceDriver(dev, "sd", "sr")
	d.Controller = d.Driver
	if d.Transport == "" && d.Driver == "virtio_blk" {
		d.Transport = "virtio"
	}
	// megaraid_sas puts its virtual drives on SCSI channels 2 and up and
	// pass-through (JBOD) disks on 0 and 1; the level is not in sysfs.
	if d.Controller == "megaraid_sas" && ok && len(locSCSI(comps)) == 4 && locSCSI(comps)[1] >= 2 {
		d.Logical = true
	}
	return d
}

// readRAID fills the RAID facts drivers expose on the SCSI device.
func (d *Disk) readRAID(dev string, loc location) {
	// hpsa and smartpqi: "RAID 1(+0)" on logical drives, "N/A" on physical
	// drives shown in HBA mode.
	if lvl := readTrim(filepath.Join(dev, "raid_level")); lvl != "" && lvl != "N/A" && !strings.Contains(lvl, "PHYS") {
		d.Logical = true
		d.RAIDLevel = NormalizeRAIDLevel(lvl)
	}
	// The kernel's raid_class (mpt3sas Integrated RAID volumes) gives level
	// and state on a class device under the SCSI device.
	if m, _ := filepath.Glob(filepath.Join(dev, "raid_devices", "*")); len(m) > 0 {
		d.Logical = true
		if lvl := readTrim(filepath.Join(m[0], "level")); lvl != "" && lvl != "unknown" {
			d.RAIDLevel = NormalizeRAIDLevel(lvl)
		}
		if st := readTrim(filepath.Join(m[0], "state")); st != "" && st != "unknown" {
			d.State = st
			d.Degraded = st == "degraded"
		}
	}
}

// NormalizeRAIDLevel turns the spellings of controllers and md ("RAID 5",
// "raid10", "RAID 1(1+0)", "ADG") into short levels: "5", "10", "1+0", "6".
// Unknown levels give "".
func NormalizeRAIDLevel(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 4 && strings.EqualFold(s[:4], "raid") {
		s = strings.TrimSpace(s[4:])
	}
	switch u := strings.ToUpper(s); {
	case u == "" || u == "UNKNOWN":
		return ""
	// hpsa uses one code for RAID 1 and 1+0; older kernels print "1(1+0)",
	// newer "1(+0)"; ADM is HPE's triple mirror.
	case strings.Contains(u, "ADM"):
		return "1 ADM"
	case u == "1(+0)" || u == "1(1+0)" || u == "1+0":
		return "1+0"
	case u == "ADG": // HPE's name for RAID 6 on older Smart Arrays
		return "6"
	default:
		return strings.ToLower(s)
	}
}

// vpdSerial reads the unit serial number from a raw VPD page 0x80: a
// 4-byte header whose last byte is the length, then ASCII.
func vpdSerial(p string) string {
	b, err := os.ReadFile(p)
	if err != nil || len(b) < 4 || b[1] != 0x80 {
		return ""
	}
	n := int(b[3])
	if 4+n > len(b) {
		n = len(b) - 4
	}
	return strings.TrimSpace(strings.Trim(string(b[4:4+n]), "\x00"))
}

// holders lists devices stacked on the disk or on any of its partitions.
func holders(base string) []string {
	var out []string
	add := func(dir string) {
		es, _ := os.ReadDir(filepath.Join(dir, "holders"))
		for _, e := range es {
			out = append(out, e.Name())
		}
	}
	add(base)
	es, _ := os.ReadDir(base)
	for _, e := range es {
		if _, err := os.Stat(filepath.Join(base, e.Name(), "partition")); err == nil {
			add(filepath.Join(base, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

func readMDDisk(base string, d *Disk) {
	d.Logical = true
	d.Transport, d.Driver, d.Controller = "md", "md", "md"
	d.RAIDLevel = NormalizeRAIDLevel(readTrim(filepath.Join(base, "md", "level")))
	d.State = readTrim(filepath.Join(base, "md", "array_state"))
	if n, _ := strconv.Atoi(readTrim(filepath.Join(base, "md", "degraded"))); n > 0 {
		d.Degraded = true
	}
	if uuid := readTrim(filepath.Join(base, "md", "uuid")); uuid != "" {
		d.WWN = "md-uuid." + uuid
	}
}
