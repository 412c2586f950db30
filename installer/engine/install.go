package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/diskfs/go-diskfs/filesystem"

	"github.com/lockstep-ft/lockstep/image/sysimage"
	"github.com/lockstep-ft/lockstep/installer/engine/abboot"
	"github.com/lockstep-ft/lockstep/installer/engine/layout"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// Formatter makes the STATE file system (ext4) inside the disk at offset,
// holding files (name → content, at its root). The engine writes GPT, FAT,
// the slots and the boot code itself; ext4 it leaves to e2fsprogs.
type Formatter interface {
	MakeExt4(ctx context.Context, disk *os.File, offset, size int64, label string, files map[string][]byte) error
}

// StateLabel is the STATE file system's label.
const StateLabel = "lockstep-state"

// Install writes a whole node: it is the engine behind "Create new
// system", "Replace PM" and "Recover PM" in the installer and behind
// `lockstep-build disk`, on a block device or a raw image file alike.
//
// The action is Config.Action. Create and Replace lay the disk out afresh
// and erase the storage partition's head and the storage group's disks'
// ends. Recover keeps the disk's own Lockstep layout (disk GUID and every
// partition boundary) and its data: it rewrites the boot partitions, the
// system slots and STATE, never the storage partition or the storage
// group's disks, and refuses a disk without such a layout before writing
// anything (see Check).
//
// Order, so that a power cut at any point leaves nothing bootable that is
// not complete (SPEC I7): layout.Write puts an INT 18h stub in the MBR and
// wipes the ESP and slot heads; the ESP gets GRUB and a boot state with
// slot A "installing" (GRUB boots nothing and hands back to the firmware);
// slot A and its kernel are written and verified; STATE is made; BIOS GRUB
// goes into the MBR; only then does the state say slot A is good.
type Install struct {
	Disk      *os.File // the whole disk (or image file), opened read-write
	DiskBytes int64    // its size; 0 means the file's size
	Source    *Source
	Format    Formatter
	Config    nodeconfig.Config // written to STATE as node.json
	// StateFiles are more files for STATE, by path relative to its root
	// (a joined node's certificates and system settings).
	StateFiles map[string][]byte
	// StorageDisks are the storage group's extra disks (Config.StorageDisks,
	// opened): Create and Replace erase their ends, Recover leaves them be.
	StorageDisks []StorageDisk
	Layout       layout.Options // for a fresh layout; Recover keeps the disk's
	Boot         BootOptions
}

// BootOptions shape grub.cfg.
type BootOptions struct {
	KernelArgs string // e.g. "console=tty0 console=ttyS0,115200n8"
	Serial     string // GRUB serial command arguments; "" for none
	Timeout    int    // menu seconds; see abboot.GrubParams.Timeout
}

// Percent ranges of the steps.
const (
	pctPartition = 2
	pctESP       = 5
	pctSlotStart = 6
	pctSlotEnd   = 90
	pctState     = 94
	pctBIOS      = 97
)

// Run implements the install; emit receives the progress.
func (in *Install) Run(ctx context.Context, emit func(Event)) (err error) {
	step := func(name, title string, pct int) { emit(Event{Step: name, Title: title, Percent: pct, Level: Info}) }
	size, err := in.size()
	if err != nil {
		return err
	}
	plan, err := in.plan(size)
	if err != nil {
		in.reportRefusal(err, emit)
		return err
	}
	l := plan.Layout
	if plan.Keep {
		emit(Event{Step: "partition", Title: "Rewriting the system partitions, keeping the data", Level: Info,
			Message: fmt.Sprintf("disk GUID %s kept; the %s partition [%d, %d) and the storage group's disks are not touched",
				l.DiskGUID, layout.NameStorage, l.Storage().Start, l.Storage().End())})
	} else {
		step("partition", "Partitioning the system disk", 0)
	}
	if err := layout.Write(in.Disk, l, l.DiskGUID); err != nil {
		return fmt.Errorf("partition: %w", err)
	}
	if !plan.Keep {
		if err := in.eraseStorage(l, emit); err != nil {
			return err
		}
	}
	step("bootloader", "Installing the boot loader (UEFI)", pctPartition)
	fs, err := espFS(in.Disk, l.ESP(), true)
	if err != nil {
		return err
	}
	for _, f := range []struct{ name, dst string }{
		{sysimage.BootShim, espFallback},
		{sysimage.BootGrub, "EFI/BOOT/grubx64.efi"},
		{sysimage.BootMok, "EFI/BOOT/mmx64.efi"},
	} {
		if err := copyBootFile(fs, in.Source, f.name, f.dst); err != nil {
			return err
		}
	}
	for _, stub := range []string{"EFI/BOOT/grub.cfg", "EFI/debian/grub.cfg"} {
		if err := writeESPFile(fs, stub, []byte(uefiStubGrub)); err != nil {
			return err
		}
	}
	if err := writeESPFile(fs, espGrubCfg, []byte(grubConfig(l, in.Boot))); err != nil {
		return err
	}
	st, err := abboot.New().BeginInstall(abboot.A)
	if err != nil {
		return err
	}
	blk, err := st.Marshal()
	if err != nil {
		return err
	}
	if err := writeESPFile(fs, abboot.EnvPath, blk); err != nil {
		return err
	}
	if err := in.Disk.Sync(); err != nil {
		return err
	}

	if err := writeSlot(ctx, in.Disk, l, fs, in.Source, abboot.A, func(done, total int64) {
		pct := pctSlotStart + int((pctSlotEnd-pctSlotStart)*done/max(total, 1))
		emit(Event{Step: "image", Title: "Writing the system image to slot A", Percent: pct, Level: Info,
			Message: fmt.Sprintf("%s of %s", layout.HumanBytes(done), layout.HumanBytes(total))})
	}); err != nil {
		return err
	}

	step("config", "Writing the node configuration", pctSlotEnd)
	cfg, err := in.Config.Marshal()
	if err != nil {
		return err
	}
	statePart := l.State()
	files := map[string][]byte{nodeconfig.FileName: cfg}
	for name, data := range in.StateFiles {
		if name == nodeconfig.FileName {
			return fmt.Errorf("STATE file %s is the node config; it cannot be given twice", name)
		}
		files[name] = data
	}
	if err := in.Format.MakeExt4(ctx, in.Disk, statePart.Start, statePart.Size, StateLabel, files); err != nil {
		return fmt.Errorf("STATE: %w", err)
	}

	step("bootloader", "Installing the boot loader (BIOS)", pctState)
	if err := installBIOS(in.Disk, l, in.Source); err != nil {
		return err
	}

	step("finish", "Marking the system bootable", pctBIOS)
	st, old, err := loadState(fs)
	if err != nil {
		return err
	}
	if st, err = st.FinishInstall(abboot.A, in.Source.Version(), false); err != nil {
		return err
	}
	if err := storeState(fs, old, st, nil); err != nil {
		return err
	}
	if err := in.Disk.Sync(); err != nil {
		return err
	}
	emit(Event{Step: "done", Title: "Installed", Percent: 100, Level: Info, Done: true,
		Message: fmt.Sprintf("system %s in slot A; remove the installation medium and reboot", in.Source.Version())})
	return nil
}

// grubConfig is the installed grub.cfg for layout l.
func grubConfig(l layout.Layout, b BootOptions) string {
	args := "boot=lockstep" +
		" lockstep.esp=PARTUUID=" + lower(l.ESP().GUID) +
		" lockstep.state=PARTUUID=" + lower(l.State().GUID)
	if b.KernelArgs != "" {
		args += " " + b.KernelArgs
	}
	return abboot.GrubConfig(abboot.GrubParams{
		A:          abboot.SlotBoot{Partition: l.SystemA().Number, PartUUID: l.SystemA().GUID},
		B:          abboot.SlotBoot{Partition: l.SystemB().Number, PartUUID: l.SystemB().GUID},
		KernelArgs: args,
		Serial:     b.Serial,
		Timeout:    b.Timeout,
	})
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// SlotOptions are for WriteSlot.
type SlotOptions struct {
	// TryOnce boots the slot once with the active slot as fallback (an
	// upgrade); without it the slot becomes active at once.
	TryOnce bool
	// TrialTimeout is how long the trial boot has to become healthy before
	// the trial guard reboots; 0 keeps the guard's default.
	TrialTimeout time.Duration
}

// WriteSlot writes src to slot s of an installed disk (the other slot than
// the running one: an upgrade, or a test's second version) with its kernel,
// then records it in the boot state. The state says "installing" before the
// first byte is written, so a slot cut off midway is never booted.
func WriteSlot(ctx context.Context, disk *os.File, src *Source, s abboot.Slot, opts SlotOptions, progress func(done, total int64)) error {
	l, err := layout.Read(disk)
	if err != nil {
		return err
	}
	fs, err := espFS(disk, l.ESP(), false)
	if err != nil {
		return err
	}
	st, old, err := loadState(fs)
	if err != nil {
		return err
	}
	if st, err = st.BeginInstall(s); err != nil {
		return err
	}
	if err := storeState(fs, old, st, nil); err != nil {
		return err
	}
	if err := disk.Sync(); err != nil {
		return err
	}
	if err := writeSlot(ctx, disk, l, fs, src, s, progress); err != nil {
		return err
	}
	st, old, err = loadState(fs)
	if err != nil {
		return err
	}
	if st, err = st.FinishInstall(s, src.Version(), opts.TryOnce); err != nil {
		return err
	}
	extra := map[string]string{abboot.KeyTrialTimeout: ""}
	if opts.TrialTimeout > 0 {
		extra[abboot.KeyTrialTimeout] = strconv.Itoa(int(opts.TrialTimeout / time.Second))
	}
	if err := storeState(fs, old, st, extra); err != nil {
		return err
	}
	return disk.Sync()
}

// writeSlot copies the image into the slot's partition, hashing what it
// reads from the medium, then reads the partition back and hashes it again;
// then the slot's kernel and initrd go to the ESP. Any mismatch with the
// manifest fails the install with the slot still "installing".
func writeSlot(ctx context.Context, disk *os.File, l layout.Layout, fs filesystem.FileSystem, src *Source, s abboot.Slot, progress func(done, total int64)) error {
	p, err := l.Slot(string(s))
	if err != nil {
		return err
	}
	m := src.Manifest.Image
	if m.Size > p.Size {
		return fmt.Errorf("system image is %s, slot %s holds %s", layout.HumanBytes(m.Size), s.Upper(), layout.HumanBytes(p.Size))
	}
	in, err := os.Open(src.Image)
	if err != nil {
		return err
	}
	defer in.Close()
	h := sha256.New()
	buf := make([]byte, 4<<20)
	var done int64
	last := time.Time{}
	for done < m.Size {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := io.ReadFull(in, buf[:min(int64(len(buf)), m.Size-done)])
		if n > 0 {
			h.Write(buf[:n])
			if _, err := disk.WriteAt(buf[:n], p.Start+done); err != nil {
				return fmt.Errorf("slot %s: write at %d: %w", s.Upper(), p.Start+done, err)
			}
			done += int64(n)
		}
		if rerr != nil {
			return fmt.Errorf("system image %s: read: %w", src.Image, rerr)
		}
		if progress != nil && (time.Since(last) > 500*time.Millisecond || done == m.Size) {
			progress(done, m.Size)
			last = time.Now()
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
		return fmt.Errorf("system image %s: sha256 %s, the manifest says %s: the medium is damaged", src.Image, got, m.SHA256)
	}
	if err := disk.Sync(); err != nil {
		return err
	}
	// Read back what the disk kept. (The page cache may answer for a
	// file; on a block device the sync above has pushed it to the disk.)
	h.Reset()
	if _, err := io.Copy(h, io.NewSectionReader(disk, p.Start, m.Size)); err != nil {
		return fmt.Errorf("slot %s: read back: %w", s.Upper(), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
		return fmt.Errorf("slot %s: reads back with sha256 %s, want %s: disk error", s.Upper(), got, m.SHA256)
	}
	dir := espKernelDir + "/" + string(s) + "/"
	for _, f := range []struct{ name, dst string }{
		{sysimage.BootKernel, dir + "vmlinuz"},
		{sysimage.BootInitrd, dir + "initrd.img"},
	} {
		if err := copyBootFile(fs, src, f.name, f.dst); err != nil {
			return err
		}
	}
	return disk.Sync()
}

// installBIOS puts GRUB's core.img into the BIOS boot partition and its
// boot code into the MBR, keeping the protective partition table.
func installBIOS(disk *os.File, l layout.Layout, src *Source) error {
	read := func(name string) ([]byte, error) {
		p, want := src.bootPath(name)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want.SHA256 {
			return nil, fmt.Errorf("boot file %s: sha256 %s, the manifest says %s", p, got, want.SHA256)
		}
		return b, nil
	}
	bootImg, err := read(sysimage.BootMBR)
	if err != nil {
		return err
	}
	core, err := read(sysimage.BootCore)
	if err != nil {
		return err
	}
	mbr := make([]byte, sector)
	if _, err := disk.ReadAt(mbr, 0); err != nil {
		return err
	}
	bp := l.BIOS()
	newMBR, newCore, err := BIOSBoot(mbr, bootImg[:sector], core, uint64(bp.Start/sector), bp.Size/sector)
	if err != nil {
		return err
	}
	if _, err := disk.WriteAt(newCore, bp.Start); err != nil {
		return err
	}
	if err := disk.Sync(); err != nil {
		return err
	}
	if _, err := disk.WriteAt(newMBR, 0); err != nil {
		return err
	}
	return disk.Sync()
}

// deviceBytes is the size of a block device or file.
func deviceBytes(f *os.File) (int64, error) {
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, errors.New("the disk has no size")
	}
	return n, nil
}

// ReadBootState reads the A/B boot state of an installed disk.
func ReadBootState(disk *os.File) (abboot.State, error) {
	l, err := layout.Read(disk)
	if err != nil {
		return abboot.State{}, err
	}
	fs, err := espFS(disk, l.ESP(), false)
	if err != nil {
		return abboot.State{}, err
	}
	st, _, err := loadState(fs)
	return st, err
}
