// Package probetest builds fake /proc and /sys trees laid out the way the
// kernel lays them out (class and block entries are relative symlinks into
// /sys/devices, drivers are symlinks into /sys/bus), so probe and the checks
// built on it are tested without root or real hardware.
package probetest

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

// Tree is a fixture with a proc and a sys root.
type Tree struct {
	t    testing.TB
	Proc string
	Sys  string
}

// New makes an empty tree in a test temporary directory.
func New(t testing.TB) *Tree {
	t.Helper()
	d := t.TempDir()
	r := &Tree{t: t, Proc: filepath.Join(d, "proc"), Sys: filepath.Join(d, "sys")}
	for _, p := range []string{r.Proc, filepath.Join(r.Sys, "block"), filepath.Join(r.Sys, "class", "net")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (r *Tree) write(full string, content []byte) {
	r.t.Helper()
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(full, content, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// SysFile writes a sysfs attribute (a trailing newline added, as the kernel does).
func (r *Tree) SysFile(p, content string) { r.write(filepath.Join(r.Sys, p), []byte(content+"\n")) }

// SysBytes writes a binary sysfs attribute (VPD pages, efivars).
func (r *Tree) SysBytes(p string, b []byte) { r.write(filepath.Join(r.Sys, p), b) }

// ProcFile writes a file under proc.
func (r *Tree) ProcFile(p, content string) { r.write(filepath.Join(r.Proc, p), []byte(content)) }

// SysLink makes p a relative symlink to target, both relative to the sys root.
func (r *Tree) SysLink(p, target string) {
	r.t.Helper()
	full := filepath.Join(r.Sys, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		r.t.Fatal(err)
	}
	rel, err := filepath.Rel(filepath.Dir(full), filepath.Join(r.Sys, target))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.Symlink(rel, full); err != nil && !os.IsExist(err) {
		r.t.Fatal(err)
	}
}

// Bind links dev's driver to a driver of bus.
func (r *Tree) Bind(dev, bus, driver string) {
	r.SysLink(dev+"/driver", "bus/"+bus+"/drivers/"+driver)
}

// PCIDevicePath is the sysfs path of a PCI function on the root bus
// ("0000:00:1f.2") or behind a root port ("0000:00:02.0/0000:03:00.0").
func PCIDevicePath(pci string) string { return "devices/pci0000:00/" + pci }

// CPU describes the processors for /proc/cpuinfo.
type CPU struct {
	Vendor, Model           string
	Flags                   []string
	Sockets, Cores, Threads int // per socket cores, threads per core; 0 means 1
	VMXFlags                string
	NoTopology              bool // leave out physical id, core id, cpu cores (some hypervisors)
}

// XeonFlags are the cpuinfo flags of a server CPU with VT-x and NX on.
var XeonFlags = []string{"fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca", "cmov", "pat", "pse36", "clflush", "dts", "acpi", "mmx", "fxsr", "sse", "sse2", "ss", "ht", "tm", "pbe", "syscall", "nx", "pdpe1gb", "rdtscp", "lm", "constant_tsc", "vmx", "smx", "est", "ssse3", "sse4_1", "sse4_2", "x2apic", "popcnt", "aes", "xsave", "avx", "f16c", "rdrand", "lahf_lm", "abm", "ept", "vpid", "avx2", "smep", "bmi2", "erms", "invpcid", "rtm"}

// Without returns flags minus the named ones.
func Without(flags []string, drop ...string) []string {
	var out []string
	for _, f := range flags {
		keep := true
		for _, d := range drop {
			if f == d {
				keep = false
			}
		}
		if keep {
			out = append(out, f)
		}
	}
	return out
}

// CPUInfo writes proc/cpuinfo with one entry per logical CPU, enumerated as
// Linux does (all first threads, then the hyperthread siblings).
func (r *Tree) CPUInfo(c CPU) {
	sockets, cores, threads := max(c.Sockets, 1), max(c.Cores, 1), max(c.Threads, 1)
	var b strings.Builder
	n := 0
	for t := 0; t < threads; t++ {
		for s := 0; s < sockets; s++ {
			for k := 0; k < cores; k++ {
				fmt.Fprintf(&b, "processor\t: %d\nvendor_id\t: %s\ncpu family\t: 6\nmodel name\t: %s\n", n, c.Vendor, c.Model)
				if !c.NoTopology {
					fmt.Fprintf(&b, "physical id\t: %d\nsiblings\t: %d\ncore id\t\t: %d\ncpu cores\t: %d\n", s, cores*threads, k, cores)
				}
				fmt.Fprintf(&b, "flags\t\t: %s\n", strings.Join(c.Flags, " "))
				if c.VMXFlags != "" {
					fmt.Fprintf(&b, "vmx flags\t: %s\n", c.VMXFlags)
				}
				b.WriteString("bogomips\t: 4800.00\n\n")
				n++
			}
		}
	}
	r.ProcFile("cpuinfo", b.String())
}

// MemInfo writes proc/meminfo with MemTotal.
func (r *Tree) MemInfo(bytes int64) {
	r.ProcFile("meminfo", fmt.Sprintf("MemTotal:       %d kB\nMemFree:        %d kB\nMemAvailable:   %d kB\n", bytes/1024, bytes/2048, bytes/2048))
}

// Governor gives n CPUs a cpufreq policy with governor and (if not "")
// energy_performance_preference, under the intel_pstate driver.
func (r *Tree) Governor(n int, governor, epp string) {
	r.SysFile("devices/system/cpu/intel_pstate/status", "active")
	for i := 0; i < n; i++ {
		pol := fmt.Sprintf("devices/system/cpu/cpufreq/policy%d", i)
		r.SysFile(pol+"/scaling_governor", governor)
		r.SysFile(pol+"/scaling_driver", "intel_pstate")
		if epp != "" {
			r.SysFile(pol+"/energy_performance_preference", epp)
		}
		r.SysLink(fmt.Sprintf("devices/system/cpu/cpu%d/cpufreq", i), pol)
	}
}

// DMI writes the DMI strings.
func (r *Tree) DMI(vendor, product, biosVersion string) {
	r.SysFile("class/dmi/id/sys_vendor", vendor)
	r.SysFile("class/dmi/id/product_name", product)
	r.SysFile("class/dmi/id/bios_version", biosVersion)
}

// EFIVar writes a global UEFI variable in efivarfs format (attributes first).
func (r *Tree) EFIVar(name string, data []byte) {
	attrs := []byte{0x07, 0, 0, 0} // non-volatile, boot service, runtime access
	r.SysBytes("firmware/efi/efivars/"+name+"-8be4df61-93ca-11d2-aa0d-00e098032b8c", append(attrs, data...))
}

// UEFI marks the firmware UEFI; with efivars it also writes SecureBoot,
// BootCurrent, BootOrder and the Boot#### entries named in entries.
func (r *Tree) UEFI(efivars, secureBoot bool, current uint16, order []uint16, entries map[uint16]string) {
	r.SysFile("firmware/efi/fw_platform_size", "64")
	if !efivars {
		return
	}
	sb := byte(0)
	if secureBoot {
		sb = 1
	}
	r.EFIVar("SecureBoot", []byte{sb})
	r.EFIVar("BootCurrent", binary.LittleEndian.AppendUint16(nil, current))
	var o []byte
	for _, n := range order {
		o = binary.LittleEndian.AppendUint16(o, n)
	}
	r.EFIVar("BootOrder", o)
	for n, desc := range entries {
		opt := binary.LittleEndian.AppendUint32(nil, 1) // LOAD_OPTION_ACTIVE
		opt = binary.LittleEndian.AppendUint16(opt, 4)
		for _, u := range utf16.Encode([]rune(desc)) {
			opt = binary.LittleEndian.AppendUint16(opt, u)
		}
		opt = append(opt, 0, 0, 0x7f, 0xff, 0x04, 0x00) // NUL, end-of-path node
		r.EFIVar(fmt.Sprintf("Boot%04X", n), opt)
	}
}

// Disk is what a fixture disk shows in sysfs.
type Disk struct {
	Name       string
	SizeBytes  int64
	Vendor     string // SCSI only
	Model      string
	Serial     string // nvme/virtio attribute, or VPD page 0x80 for SCSI
	WWID       string
	Rotational bool
	Removable  bool
	// Attrs are extra attributes of the SCSI/NVMe device (raid_level…).
	Attrs map[string]string
}

// block writes the gendisk at devPath/[block/]name and the sys/block link;
// device (if not "") becomes the disk's device link.
func (r *Tree) block(parent string, underBlock bool, d Disk, device string) string {
	dir := parent + "/" + d.Name
	if underBlock {
		dir = parent + "/block/" + d.Name
	}
	r.SysFile(dir+"/size", fmt.Sprint(d.SizeBytes/512))
	r.SysFile(dir+"/removable", b01(d.Removable))
	r.SysFile(dir+"/ro", "0")
	r.SysFile(dir+"/queue/rotational", b01(d.Rotational))
	if device != "" {
		r.SysLink(dir+"/device", device)
	}
	r.SysLink("block/"+d.Name, dir)
	r.SysLink("class/block/"+d.Name, dir)
	return dir
}

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// scsiDevice writes a SCSI device's attributes at dir.
func (r *Tree) scsiDevice(dir string, d Disk) {
	typ := "0"
	if strings.HasPrefix(d.Name, "sr") {
		typ = "5"
	}
	r.SysFile(dir+"/type", typ)
	r.SysFile(dir+"/vendor", d.Vendor)
	r.SysFile(dir+"/model", d.Model)
	r.SysFile(dir+"/state", "running")
	if d.WWID != "" {
		r.SysFile(dir+"/wwid", d.WWID)
	}
	if d.Serial != "" {
		r.SysBytes(dir+"/vpd_pg80", append([]byte{0, 0x80, 0, byte(len(d.Serial))}, d.Serial...))
	}
	for k, v := range d.Attrs {
		r.SysFile(dir+"/"+k, v)
	}
	drv := "sd"
	if typ == "5" {
		drv = "sr"
	}
	r.Bind(dir, "scsi", drv)
}

// VirtioDisk adds a virtio_blk disk (vda) on PCI function pci.
func (r *Tree) VirtioDisk(pci string, virtio int, d Disk) {
	dev := fmt.Sprintf("%s/virtio%d", PCIDevicePath(pci), virtio)
	r.SysFile(dev+"/device", "0x0002")
	r.Bind(dev, "virtio", "virtio_blk")
	r.Bind(PCIDevicePath(pci), "pci", "virtio-pci")
	dir := r.block(dev, true, d, dev)
	if d.Serial != "" {
		r.SysFile(dir+"/serial", d.Serial)
	}
}

// AHCIDisk adds a SATA disk or ATAPI drive (sr0) on port ataN of an AHCI
// controller at pci; portNo is the port number on that controller.
func (r *Tree) AHCIDisk(pci string, ata, portNo, host int, d Disk) {
	hba := PCIDevicePath(pci)
	r.Bind(hba, "pci", "ahci")
	ap := fmt.Sprintf("%s/ata%d", hba, ata)
	r.SysFile(fmt.Sprintf("%s/ata_port/ata%d/port_no", ap, ata), fmt.Sprint(portNo))
	dev := fmt.Sprintf("%s/host%d/target%d:0:0/%d:0:0:0", ap, host, host, host)
	r.scsiDevice(dev, d)
	r.block(dev, true, d, dev)
}

// SCSIDisk adds a disk at host:channel:target:lun of a SCSI HBA with the
// given driver at pci (megaraid_sas, hpsa, smartpqi, mpt3sas, virtio_scsi).
func (r *Tree) SCSIDisk(pci, driver string, host, channel, target, lun int, d Disk) {
	hba := PCIDevicePath(pci)
	r.Bind(hba, "pci", driver)
	dev := fmt.Sprintf("%s/host%d/target%d:%d:%d/%d:%d:%d:%d", hba, host, host, channel, target, host, channel, target, lun)
	r.scsiDevice(dev, d)
	r.block(dev, true, d, dev)
}

// RAIDClass adds the raid_class device (mpt3sas IR volumes) to a SCSI disk
// made with SCSIDisk.
func (r *Tree) RAIDClass(pci string, host, channel, target, lun int, level, state string) {
	addr := fmt.Sprintf("%d:%d:%d:%d", host, channel, target, lun)
	dir := fmt.Sprintf("%s/host%d/target%d:%d:%d/%s/raid_devices/%s", PCIDevicePath(pci), host, host, channel, target, addr, addr)
	r.SysFile(dir+"/level", level)
	r.SysFile(dir+"/state", state)
	r.SysFile(dir+"/resync", "0")
}

// SASDisk adds a disk behind a SAS HBA (mpt3sas) as an end device with sasAddr.
func (r *Tree) SASDisk(pci string, host, phy int, sasAddr string, d Disk) {
	hba := PCIDevicePath(pci)
	r.Bind(hba, "pci", "mpt3sas")
	end := fmt.Sprintf("end_device-%d:%d", host, phy)
	ed := fmt.Sprintf("%s/host%d/port-%d:%d/%s", hba, host, host, phy, end)
	r.SysFile(ed+"/sas_device/"+end+"/sas_address", sasAddr)
	dev := fmt.Sprintf("%s/target%d:0:%d/%d:0:%d:0", ed, host, phy, host, phy)
	r.scsiDevice(dev, d)
	r.block(dev, true, d, dev)
}

// USBDisk adds a usb-storage disk on usb port path port ("1" or "1.4") of
// the USB host controller at pci.
func (r *Tree) USBDisk(pci, port string, host int, d Disk) {
	usbdev := fmt.Sprintf("%s/usb1/1-%s", PCIDevicePath(pci), port)
	r.Bind(PCIDevicePath(pci), "pci", "xhci_hcd")
	iface := fmt.Sprintf("%s/1-%s:1.0", usbdev, port)
	r.Bind(iface, "usb", "usb-storage")
	dev := fmt.Sprintf("%s/host%d/target%d:0:0/%d:0:0:0", iface, host, host, host)
	r.scsiDevice(dev, d)
	r.block(dev, true, d, dev)
}

// NVMeDisk adds namespace nsid of controller nvme<ctrl> at pci (no multipath).
func (r *Tree) NVMeDisk(pci string, ctrl, nsid int, d Disk) {
	hba := PCIDevicePath(pci)
	r.Bind(hba, "pci", "nvme")
	c := fmt.Sprintf("%s/nvme/nvme%d", hba, ctrl)
	r.SysFile(c+"/model", d.Model)
	r.SysFile(c+"/serial", d.Serial)
	r.SysLink(fmt.Sprintf("class/nvme/nvme%d", ctrl), c)
	dir := r.block(c, false, d, c)
	r.SysFile(dir+"/nsid", fmt.Sprint(nsid))
	if d.WWID != "" {
		r.SysFile(dir+"/wwid", d.WWID)
	}
}

// Partition adds partition part (sda1) of sectors to the disk made earlier.
func (r *Tree) Partition(disk, part string, bytes int64) {
	real, err := filepath.EvalSymlinks(filepath.Join(r.Sys, "block", disk))
	if err != nil {
		r.t.Fatal(err)
	}
	rel, _ := filepath.Rel(r.Sys, real)
	dir := rel + "/" + part
	r.SysFile(dir+"/partition", "1")
	r.SysFile(dir+"/size", fmt.Sprint(bytes/512))
	r.SysLink("class/block/"+part, dir)
}

// MDMember is one member of a fixture md array.
type MDMember struct {
	Disk, Part string // the partition must exist (Partition)
	Slot       string // "0", "1", "none"
	State      string // in_sync, faulty, spare
}

// MDArray adds md array name with the given sysfs md/ attributes.
func (r *Tree) MDArray(name, level string, raidDisks, degraded int, arrayState, syncAction string, size int64, members ...MDMember) {
	dir := "devices/virtual/block/" + name
	r.SysFile(dir+"/size", fmt.Sprint(size/512))
	r.SysFile(dir+"/removable", "0")
	r.SysFile(dir+"/ro", "0")
	r.SysFile(dir+"/md/level", level)
	r.SysFile(dir+"/md/raid_disks", fmt.Sprint(raidDisks))
	r.SysFile(dir+"/md/degraded", fmt.Sprint(degraded))
	r.SysFile(dir+"/md/array_state", arrayState)
	r.SysFile(dir+"/md/sync_action", syncAction)
	r.SysFile(dir+"/md/sync_completed", "none")
	r.SysLink("block/"+name, dir)
	for _, m := range members {
		real, err := filepath.EvalSymlinks(filepath.Join(r.Sys, "block", m.Disk))
		if err != nil {
			r.t.Fatal(err)
		}
		rel, _ := filepath.Rel(r.Sys, real)
		part := rel + "/" + m.Part
		md := dir + "/md/dev-" + m.Part
		r.SysLink(md+"/block", part)
		r.SysFile(md+"/slot", m.Slot)
		r.SysFile(md+"/state", m.State)
		if m.Slot != "none" {
			r.SysLink(dir+"/md/rd"+m.Slot, md)
		}
		r.SysLink(dir+"/slaves/"+m.Part, part)
		r.SysLink(part+"/holders/"+name, dir)
	}
}

// NIC adds a network port on PCI function pci.
func (r *Tree) NIC(pci, name, mac, driver string, speed int, link bool) {
	dev := PCIDevicePath(pci)
	r.Bind(dev, "pci", driver)
	r.nic(dev, name, mac, speed, link)
}

// USBNIC adds a USB network adapter on port 1-<port> of the USB host at pci.
func (r *Tree) USBNIC(pci, port, name, mac, driver string) {
	iface := fmt.Sprintf("%s/usb2/2-%s/2-%s:1.0", PCIDevicePath(pci), port, port)
	r.Bind(iface, "usb", driver)
	r.nic(iface, name, mac, 0, false)
}

func (r *Tree) nic(dev, name, mac string, speed int, link bool) {
	dir := dev + "/net/" + name
	r.SysFile(dir+"/address", mac)
	r.SysFile(dir+"/carrier", b01(link))
	r.SysFile(dir+"/addr_assign_type", "0")
	if link {
		r.SysFile(dir+"/speed", fmt.Sprint(speed))
	} else {
		r.SysFile(dir+"/speed", "-1")
	}
	r.SysLink(dir+"/device", dev)
	r.SysLink("class/net/"+name, dir)
}

// Loopback adds lo, which has no device and is not a NIC.
func (r *Tree) Loopback() {
	r.SysFile("devices/virtual/net/lo/address", "00:00:00:00:00:00")
	r.SysLink("class/net/lo", "devices/virtual/net/lo")
}

// Mount adds a line to proc/self/mounts.
func (r *Tree) Mount(source, target, fstype string) {
	p := filepath.Join(r.Proc, "self", "mounts")
	old, _ := os.ReadFile(p)
	r.write(p, append(old, fmt.Sprintf("%s %s %s ro,relatime 0 0\n", source, target, fstype)...))
}
