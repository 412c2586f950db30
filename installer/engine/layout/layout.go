// Package layout plans, writes and recognises the GPT of a Lockstep system
// disk (SPEC H1):
//
//	1 bios      BIOS boot partition: GRUB's core.img on legacy BIOS
//	2 esp       EFI System Partition: GRUB for UEFI, the fallback
//	            EFI/BOOT/BOOTX64.EFI, grub.cfg and the A/B boot-state block
//	3 system-a  system slot A: a squashfs image written raw
//	4 system-b  system slot B: same
//	5 state     node identity, configuration, logs, overlay upper dirs
//	6 storage   the rest: an LVM physical volume of the storage group
//
// Every partition starts and ends on a 1 MiB boundary, whatever the sector
// size, so RAID stripes, 4Kn disks and LVM extents line up. The partition
// GUIDs are derived from the disk GUID (DerivePartitionGUID), so a disk can be
// re-identified as one of ours and the boot loader can name its partitions by
// PARTUUID without reading them back.
//
// The partition numbers are part of the contract: GRUB finds a slot as
// (hdX,gptN) on the disk its own ESP is on, because GRUB 2.06 cannot search
// by partition label and a label search could pick another Lockstep disk.
package layout

import (
	"errors"
	"fmt"
)

// Partition names (the GPT partition names) in table order.
const (
	NameBIOS    = "bios"
	NameESP     = "esp"
	NameSystemA = "system-a"
	NameSystemB = "system-b"
	NameState   = "state"
	NameStorage = "storage"
)

// Partition numbers (1-based GPT entry indexes), fixed by the layout.
const (
	NumBIOS    = 1
	NumESP     = 2
	NumSystemA = 3
	NumSystemB = 4
	NumState   = 5
	NumStorage = 6
)

// Partition type GUIDs (upper case, as sgdisk prints them).
const (
	TypeBIOSBoot = "21686148-6449-6E6F-744E-656564454649" // sgdisk EF02
	TypeESP      = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" // sgdisk EF00
	// TypeLinuxData is "Linux filesystem data" (sgdisk 8300). The slots use
	// it rather than the "Linux root (x86-64)" type on purpose: two
	// partitions of the root type would invite systemd's GPT auto-discovery
	// (in the installer or a rescue system) to mount one of them as root.
	TypeLinuxData = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	TypeLinuxLVM  = "E6D6D379-F507-44C2-A23C-238F2A3DF928" // sgdisk 8E00
)

// Sizes.
const (
	MiB = int64(1) << 20
	GiB = int64(1) << 30

	// Align is the alignment of every partition's start and end.
	Align = MiB
	// BIOSBootSize is enough for GRUB's core.img with the modules it needs
	// (part_gpt, fat, biosdisk: about 40 KiB); 1 MiB is the usual size.
	BIOSBootSize = MiB
	// DefaultESPSize holds GRUB for both firmwares with room to spare.
	DefaultESPSize = 256 * MiB
	// DefaultESPSize4Kn is the ESP default on 4096-byte-sector disks: FAT32
	// needs at least 65525 clusters, and with 4 KiB sectors (the smallest
	// possible cluster) that is just over 256 MiB; some UEFI firmwares only
	// read FAT32 ESPs. 260 MiB is the size Microsoft documents for 4Kn.
	DefaultESPSize4Kn = 260 * MiB
	// DefaultSlotSize is the size of each system slot.
	DefaultSlotSize = 4 * GiB
	// DefaultStateSize is the size of the state partition.
	DefaultStateSize = 8 * GiB
	// DefaultMinStorageSize is the smallest storage partition Plan accepts:
	// a storage group with less than that cannot hold a VM volume.
	DefaultMinStorageSize = 1 * GiB

	// gptArrayBytes is the size of the GPT partition entry array (128
	// entries of 128 bytes), at both ends of the disk.
	gptArrayBytes = 128 * 128
)

// Options size the layout. Zero fields take the defaults.
type Options struct {
	// SectorSize is the disk's logical sector size: 512 (default) or 4096.
	SectorSize int64
	// ESPSize: default DefaultESPSize (DefaultESPSize4Kn on 4096-byte sectors).
	ESPSize int64
	// SlotSize is the size of each of system-a and system-b: default
	// DefaultSlotSize. It must hold the largest system image expected over
	// the node's life: an upgrade cannot grow the slots without moving the
	// storage partition.
	SlotSize int64
	// StateSize: default DefaultStateSize.
	StateSize int64
	// MinStorageSize is the smallest acceptable storage partition: default
	// DefaultMinStorageSize.
	MinStorageSize int64
}

// withDefaults fills zero fields and rounds sizes up to the alignment (the
// caller asks for "about 4 GiB"; keeping partitions aligned is our job).
func (o Options) withDefaults() (Options, error) {
	if o.SectorSize == 0 {
		o.SectorSize = 512
	}
	if o.SectorSize != 512 && o.SectorSize != 4096 {
		return o, fmt.Errorf("layout: unsupported sector size %d (want 512 or 4096)", o.SectorSize)
	}
	if o.ESPSize == 0 {
		o.ESPSize = DefaultESPSize
		if o.SectorSize == 4096 {
			o.ESPSize = DefaultESPSize4Kn
		}
	}
	if o.SlotSize == 0 {
		o.SlotSize = DefaultSlotSize
	}
	if o.StateSize == 0 {
		o.StateSize = DefaultStateSize
	}
	if o.MinStorageSize == 0 {
		o.MinStorageSize = DefaultMinStorageSize
	}
	for _, f := range []struct {
		name string
		v    *int64
		min  int64
	}{
		// 32 MiB: below that mkfs.fat makes FAT12/16, which some firmwares refuse.
		{"ESP size", &o.ESPSize, 32 * MiB},
		{"slot size", &o.SlotSize, 64 * MiB},
		{"state size", &o.StateSize, 64 * MiB},
		{"minimum storage size", &o.MinStorageSize, MiB},
	} {
		if *f.v < f.min {
			return o, fmt.Errorf("layout: %s %s is below the minimum %s", f.name, HumanBytes(*f.v), HumanBytes(f.min))
		}
		*f.v = alignUp(*f.v, Align)
	}
	return o, nil
}

// Partition is one entry of the layout. Offsets and sizes are in bytes.
type Partition struct {
	Number int    // GPT entry index, 1-based
	Name   string // GPT partition name
	Type   string // partition type GUID, upper case
	GUID   string // unique partition GUID, upper case; empty in a Plan (set by Write/Read)
	Start  int64  // byte offset on the disk
	Size   int64  // bytes
}

// End is the byte offset just past the partition.
func (p Partition) End() int64 { return p.Start + p.Size }

// Device is the Linux device name of the partition on disk dev
// ("/dev/sda" → "/dev/sda3", "/dev/nvme0n1" → "/dev/nvme0n1p3").
func (p Partition) Device(dev string) string {
	if dev != "" && dev[len(dev)-1] >= '0' && dev[len(dev)-1] <= '9' {
		return fmt.Sprintf("%sp%d", dev, p.Number)
	}
	return fmt.Sprintf("%s%d", dev, p.Number)
}

// Layout is a planned or read system disk.
type Layout struct {
	DiskSize   int64  // bytes, as planned or as the GPT describes the disk
	SectorSize int64  // logical sector size
	DiskGUID   string // empty in a Plan; set by Read
	// FromBackupGPT is set by Read when the primary GPT was damaged and the
	// layout came from the backup at the end of the disk: the caller should
	// rewrite the table (Write with the same layout and DiskGUID).
	FromBackupGPT bool
	// Partitions in table order: bios, esp, system-a, system-b, state, storage.
	Partitions []Partition
}

// Get returns the partition called name.
func (l Layout) Get(name string) (Partition, bool) {
	for _, p := range l.Partitions {
		if p.Name == name {
			return p, true
		}
	}
	return Partition{}, false
}

// must returns the partition called name, or the zero Partition for a
// layout that lacks it (not one built by Plan or Read).
func (l Layout) must(name string) Partition { p, _ := l.Get(name); return p }

// BIOS, ESP, SystemA, SystemB, State and Storage return the partitions.
func (l Layout) BIOS() Partition    { return l.must(NameBIOS) }
func (l Layout) ESP() Partition     { return l.must(NameESP) }
func (l Layout) SystemA() Partition { return l.must(NameSystemA) }
func (l Layout) SystemB() Partition { return l.must(NameSystemB) }
func (l Layout) State() Partition   { return l.must(NameState) }
func (l Layout) Storage() Partition { return l.must(NameStorage) }

// Slot returns system-a for "a" and system-b for "b".
func (l Layout) Slot(slot string) (Partition, error) {
	switch slot {
	case "a":
		return l.SystemA(), nil
	case "b":
		return l.SystemB(), nil
	}
	return Partition{}, fmt.Errorf("layout: unknown slot %q (want a or b)", slot)
}

// spec is the fixed part of the layout.
var spec = []struct {
	num  int
	name string
	typ  string
}{
	{NumBIOS, NameBIOS, TypeBIOSBoot},
	{NumESP, NameESP, TypeESP},
	{NumSystemA, NameSystemA, TypeLinuxData},
	{NumSystemB, NameSystemB, TypeLinuxData},
	{NumState, NameState, TypeLinuxData},
	{NumStorage, NameStorage, TypeLinuxLVM},
}

// ErrTooSmall is matched (errors.Is) by a *TooSmallError.
var ErrTooSmall = errors.New("disk too small for the Lockstep layout")

// TooSmallError says that a disk cannot hold the layout, with both sizes so
// that the installer can show them.
type TooSmallError struct {
	DiskBytes, MinBytes int64
}

func (e *TooSmallError) Error() string {
	return fmt.Sprintf("disk too small for the Lockstep layout: the disk has %s (%d bytes), the layout needs at least %s (%d bytes)",
		HumanBytes(e.DiskBytes), e.DiskBytes, HumanBytes(e.MinBytes), e.MinBytes)
}

// Is makes errors.Is(err, ErrTooSmall) true.
func (e *TooSmallError) Is(target error) bool { return target == ErrTooSmall }

// tailBytes is what the layout leaves at the end of the disk: the backup GPT
// (entry array and header), rounded up to the alignment.
func tailBytes(sectorSize int64) int64 {
	return alignUp(gptArrayBytes+sectorSize, Align)
}

// MinDiskBytes is the smallest disk that Plan accepts with these options.
func MinDiskBytes(opts Options) (int64, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return 0, err
	}
	return Align + BIOSBootSize + o.ESPSize + 2*o.SlotSize + o.StateSize + o.MinStorageSize + tailBytes(o.SectorSize), nil
}

// Plan lays out a disk of diskBytes bytes. It fails with a *TooSmallError
// when the storage partition would be smaller than opts.MinStorageSize.
func Plan(diskBytes int64, opts Options) (Layout, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Layout{}, err
	}
	minBytes, _ := MinDiskBytes(o)
	// A trailing partial sector is unusable, hence the comparison on whole sectors.
	sectors := diskBytes / o.SectorSize
	if sectors*o.SectorSize < minBytes {
		return Layout{}, &TooSmallError{DiskBytes: diskBytes, MinBytes: minBytes}
	}
	sizes := map[string]int64{
		NameBIOS:    BIOSBootSize,
		NameESP:     o.ESPSize,
		NameSystemA: o.SlotSize,
		NameSystemB: o.SlotSize,
		NameState:   o.StateSize,
	}
	// The last usable byte is just before the backup GPT's entry array; the
	// storage partition ends on the last alignment boundary before it.
	usableEnd := (sectors-1)*o.SectorSize - gptArrayBytes
	storageEnd := alignDown(usableEnd, Align)

	l := Layout{DiskSize: sectors * o.SectorSize, SectorSize: o.SectorSize}
	off := Align // the first MiB holds the MBR, the primary GPT and slack
	for _, s := range spec {
		size := sizes[s.name]
		if s.name == NameStorage {
			size = storageEnd - off
		}
		l.Partitions = append(l.Partitions, Partition{Number: s.num, Name: s.name, Type: s.typ, Start: off, Size: size})
		off += size
	}
	if err := l.Validate(); err != nil { // cannot happen after the size check
		return Layout{}, err
	}
	return l, nil
}

// Validate checks that l is a well-formed Lockstep layout: the six
// partitions in order with their names and types, aligned, not overlapping,
// inside the disk's usable area. Write calls it; a Layout from Read passes.
func (l Layout) Validate() error {
	if l.SectorSize != 512 && l.SectorSize != 4096 {
		return fmt.Errorf("layout: unsupported sector size %d", l.SectorSize)
	}
	if len(l.Partitions) != len(spec) {
		return fmt.Errorf("layout: %d partitions, want %d", len(l.Partitions), len(spec))
	}
	firstUsable := 2*l.SectorSize + gptArrayBytes
	lastUsableEnd := l.DiskSize - l.SectorSize - gptArrayBytes
	prevEnd := firstUsable
	for i, s := range spec {
		p := l.Partitions[i]
		if p.Number != s.num || p.Name != s.name || p.Type != s.typ {
			return fmt.Errorf("layout: partition %d is %d %q %s, want %d %q %s", i+1, p.Number, p.Name, p.Type, s.num, s.name, s.typ)
		}
		if p.Start%Align != 0 || p.Size%Align != 0 {
			return fmt.Errorf("layout: partition %s (start %d, size %d) is not aligned to %s", p.Name, p.Start, p.Size, HumanBytes(Align))
		}
		if p.Size <= 0 || p.Start < prevEnd || p.End() > lastUsableEnd {
			return fmt.Errorf("layout: partition %s [%d, %d) overlaps its neighbour or leaves the disk's usable area [%d, %d)", p.Name, p.Start, p.End(), firstUsable, lastUsableEnd)
		}
		prevEnd = p.End()
	}
	return nil
}

func alignUp(v, a int64) int64   { return (v + a - 1) / a * a }
func alignDown(v, a int64) int64 { return v / a * a }

// HumanBytes prints a size in binary units with one decimal ("17.3 GiB").
func HumanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
