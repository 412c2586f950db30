package vm

import (
	"fmt"
	"path/filepath"
	"regexp"

	"libvirt.org/go/libvirtxml"
)

// Domain is what DomainXML needs to know of a VM on this node.
type Domain struct {
	Name string
	// UUID is the VM's, the same on both nodes: the guest sees it as its
	// SMBIOS system UUID, which must not change when the VM moves.
	UUID      string
	Type      string // libvirt domain type: "kvm" ("" is kvm; tests use "test")
	Machine   string // "" is q35
	VCPUs     int
	MemoryMiB int64
	Disks     []Disk
	// CD is the ISO in the CD drive; "" leaves the drive empty. The drive is
	// always there: a VCD can only be inserted into an existing drive.
	// Paths (CD, ConsoleLog) must exist on both nodes: a migration opens
	// them on the destination.
	CD   string
	NICs []NIC
	// ConsoleLog receives the serial console's output (appended, so that
	// it spans restarts); "" keeps none.
	ConsoleLog string
}

// Disk is a VM volume: a block device present on both nodes (a DRBD device).
type Disk struct {
	Path   string // e.g. /dev/drbd3
	Target string // vda, vdb, …; "" is vd + the disk's letter
	// Serial is the ID the guest sees (/dev/disk/by-id/virtio-<serial>).
	Serial string
}

// NIC is a VM network interface on a business network's bridge.
type NIC struct {
	Bridge string
	MAC    string
}

// CDTarget is the CD drive's device name in the guest's XML.
const CDTarget = "sda"

var (
	uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	// libvirt refuses other characters; virtio-blk passes at most 20 bytes
	// of ID to the guest and QEMU drops the rest without a word.
	serialRE = regexp.MustCompile(`^[A-Za-z0-9_ .+-]{1,20}$`)
)

// DomainXML renders d as the XML of a transient libvirt domain.
//
// The device model, and why:
//   - disks are virtio-blk, raw, cache='none' io='native': no host page
//     cache, so a write whose flush the guest saw complete is on both nodes'
//     disks (DRBD protocol C acknowledges only then); cache='none' is also
//     what libvirt requires to call a migration over non-shared storage safe.
//   - CPU host-model, not host-passthrough: the nodes' CPUs may differ;
//     libvirt turns host-model into a named model plus features at start and
//     the destination of a migration checks that it can provide them, so a
//     migration to a lesser CPU is refused instead of the guest meeting a
//     missing instruction after it. host-passthrough migrates only between
//     identical CPUs (and microcode).
//   - on_poweroff and on_crash destroy, so a domain only exists while its
//     guest runs (the agent decides whether to start it again); on_reboot
//     restarts inside the same QEMU.
//   - a pvpanic device: without it a guest panic is invisible and on_crash
//     never applies.
//   - VNC on 127.0.0.1 only: the agent's console proxies it, and the
//     address exists on both nodes, so it survives a migration; std VGA,
//     which every installer drives.
//   - no USB controller (no tablet): fewer devices to migrate.
//   - memballoon none: capacity counts a VM's full memory, a balloon would
//     only make the guest's view disagree with it.
//   - virtio-rng from /dev/urandom: guests short of entropy at boot.
//   - the CD on SATA (q35 has no IDE); boot from the first disk, then the CD.
func DomainXML(d Domain) (string, error) {
	if d.Name == "" {
		return "", fmt.Errorf("domain: no name")
	}
	fail := func(format string, a ...any) (string, error) {
		return "", fmt.Errorf("domain %s: "+format, append([]any{d.Name}, a...)...)
	}
	if !uuidRE.MatchString(d.UUID) {
		return fail("bad UUID %q", d.UUID)
	}
	if d.VCPUs < 1 || d.MemoryMiB < 1 {
		return fail("needs at least 1 vCPU and 1 MiB of memory (has %d, %d MiB)", d.VCPUs, d.MemoryMiB)
	}
	if d.CD != "" && !filepath.IsAbs(d.CD) {
		return fail("CD %q is not an absolute path", d.CD)
	}
	typ, machine := d.Type, d.Machine
	if typ == "" {
		typ = "kvm"
	}
	if machine == "" {
		machine = "q35"
	}
	zero := uint(0)
	x := &libvirtxml.Domain{
		Type:          typ,
		Name:          d.Name,
		UUID:          d.UUID,
		Memory:        &libvirtxml.DomainMemory{Value: uint(d.MemoryMiB), Unit: "MiB"},
		CurrentMemory: &libvirtxml.DomainCurrentMemory{Value: uint(d.MemoryMiB), Unit: "MiB"},
		VCPU:          &libvirtxml.DomainVCPU{Placement: "static", Value: uint(d.VCPUs)},
		OS: &libvirtxml.DomainOS{
			Type: &libvirtxml.DomainOSType{Arch: "x86_64", Machine: machine, Type: "hvm"},
		},
		// ACPI: Shutdown presses the ACPI power button.
		Features:   &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}, APIC: &libvirtxml.DomainFeatureAPIC{}},
		CPU:        &libvirtxml.DomainCPU{Mode: "host-model"},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Controllers: []libvirtxml.DomainController{{Type: "usb", Model: "none"}},
			Graphics: []libvirtxml.DomainGraphic{{VNC: &libvirtxml.DomainGraphicVNC{
				Port: -1, AutoPort: "yes",
				Listeners: []libvirtxml.DomainGraphicListener{{Address: &libvirtxml.DomainGraphicListenerAddress{Address: "127.0.0.1"}}},
			}}},
			Videos:     []libvirtxml.DomainVideo{{Model: libvirtxml.DomainVideoModel{Type: "vga"}}},
			MemBalloon: &libvirtxml.DomainMemBalloon{Model: "none"},
			RNGs: []libvirtxml.DomainRNG{{Model: "virtio", Backend: &libvirtxml.DomainRNGBackend{
				Random: &libvirtxml.DomainRNGBackendRandom{Device: "/dev/urandom"},
			}}},
			Panics: []libvirtxml.DomainPanic{{Model: "isa"}},
		},
	}
	dev := x.Devices
	seen := map[string]bool{}
	for i, disk := range d.Disks {
		target := disk.Target
		if target == "" {
			if i >= 26 {
				return fail("disk %d has no target", i)
			}
			target = "vd" + string(rune('a'+i))
		}
		if seen[target] {
			return fail("two disks on %s", target)
		}
		seen[target] = true
		if !filepath.IsAbs(disk.Path) {
			return fail("disk %s: %q is not an absolute path", target, disk.Path)
		}
		if disk.Serial != "" && !serialRE.MatchString(disk.Serial) {
			return fail("disk %s: serial %q: at most 20 of A-Z a-z 0-9 _ . + - and space", target, disk.Serial)
		}
		x := libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw", Cache: "none", IO: "native"},
			Source: &libvirtxml.DomainDiskSource{Block: &libvirtxml.DomainDiskSourceBlock{Dev: disk.Path}},
			Target: &libvirtxml.DomainDiskTarget{Dev: target, Bus: "virtio"},
			Serial: disk.Serial,
		}
		if i == 0 {
			x.Boot = &libvirtxml.DomainDeviceBoot{Order: 1}
		}
		dev.Disks = append(dev.Disks, x)
	}
	cd := cdrom(d.CD)
	cd.Boot = &libvirtxml.DomainDeviceBoot{Order: 2}
	dev.Disks = append(dev.Disks, cd)
	for i, n := range d.NICs {
		mac, err := ParseMAC(n.MAC)
		if err != nil {
			return fail("NIC %d: %v", i, err)
		}
		if n.Bridge == "" {
			return fail("NIC %d: no bridge", i)
		}
		dev.Interfaces = append(dev.Interfaces, libvirtxml.DomainInterface{
			MAC:    &libvirtxml.DomainInterfaceMAC{Address: mac},
			Source: &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: n.Bridge}},
			Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
		})
	}
	// A pty, not a file: the log keeps the output while the pty lets the
	// agent (or virsh console) type into the guest's serial console.
	serial := libvirtxml.DomainSerial{
		Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
		Target: &libvirtxml.DomainSerialTarget{Type: "isa-serial", Port: &zero},
	}
	if d.ConsoleLog != "" {
		if !filepath.IsAbs(d.ConsoleLog) {
			return fail("console log %q is not an absolute path", d.ConsoleLog)
		}
		serial.Log = &libvirtxml.DomainChardevLog{File: d.ConsoleLog, Append: "on"}
	}
	dev.Serials = []libvirtxml.DomainSerial{serial}
	dev.Consoles = []libvirtxml.DomainConsole{{
		Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
		Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &zero},
	}}
	s, err := x.Marshal()
	if err != nil {
		return fail("%v", err)
	}
	return s + "\n", nil
}

// cdrom is the CD drive with iso in it ("" empty). ChangeMedia sends the
// same device with another source: libvirt finds the drive by its target.
func cdrom(iso string) libvirtxml.DomainDisk {
	d := libvirtxml.DomainDisk{
		Device:   "cdrom",
		Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
		Target:   &libvirtxml.DomainDiskTarget{Dev: CDTarget, Bus: "sata"},
		ReadOnly: &libvirtxml.DomainDiskReadOnly{},
	}
	if iso != "" {
		d.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: iso}}
	}
	return d
}
