// Package iso writes the installer's ISO9660 image: Rock Ridge names and
// attributes, El Torito boot records for BIOS (isolinux, no emulation, boot
// info table) and UEFI (a FAT ESP image, platform 0xEF), no Joliet. It uses
// go-diskfs for the filesystem and makes the result reproducible: the same
// staging tree and Options.Epoch give the same bytes (see Normalize).
//
// The image leaves the 32 KiB system area empty; package image/hybrid writes
// the MBR/GPT that makes it bootable from a USB stick. Write pads the image
// for that (Options.AlignTo, Options.TailRoom) and Locate tells where the boot
// file and the ESP landed.
package iso

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// MaxFileSize is the largest file an image can hold: ISO9660 records file
// sizes in 32 bits and go-diskfs writes no multi-extent files.
const MaxFileSize = 1<<32 - 1

// DefaultBootCatalog is where the El Torito boot catalog goes by default.
const DefaultBootCatalog = "isolinux/boot.cat"

// Options describe the image to write.
type Options struct {
	// VolumeID is the volume identifier, d-characters (A-Z 0-9 _), at most
	// 32, e.g. "LOCKSTEP_0_1". Required.
	VolumeID string
	// Publisher goes into the PVD publisher field (printable ASCII, at most 128).
	Publisher string
	// Epoch is every timestamp in the image (from the recipe or
	// SOURCE_DATE_EPOCH); it must lie in 1900..2155. Required.
	Epoch time.Time
	// BIOSBoot is the slash path in the staging tree of the no-emulation BIOS
	// boot file, e.g. "isolinux/isolinux.bin" (boot info table on, load size
	// 4 sectors); "" = no BIOS boot entry.
	BIOSBoot string
	// EFIBoot is the slash path of the FAT ESP image, e.g. "boot/efi.img"
	// (El Torito platform EFI 0xEF, no emulation); "" = no UEFI boot entry.
	EFIBoot string
	// BootCatalog is the El Torito catalog's path (created by Write, it must
	// not exist in the tree); default DefaultBootCatalog. Unused without
	// BIOSBoot and EFIBoot.
	BootCatalog string
	// AlignTo: the output file's size is rounded up to a multiple of this
	// many bytes (a multiple of 2048; 0 means 2048). The hybrid disk layout
	// wants hybrid.Align (1 MiB).
	AlignTo int64
	// TailRoom: at least this many zero bytes follow the ISO9660 data, e.g.
	// room for a backup GPT (hybrid.TailRoom).
	TailRoom int64
	// Progress, if set, is told about the big steps.
	Progress func(format string, args ...any)
}

func (o *Options) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(format, args...)
	}
}

// check validates and completes the options.
func (o Options) check() (Options, error) {
	if o.VolumeID == "" || len(o.VolumeID) > 32 {
		return o, fmt.Errorf("iso: volume ID %q must be 1 to 32 characters", o.VolumeID)
	}
	for _, c := range o.VolumeID {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return o, fmt.Errorf("iso: volume ID %q may only hold A-Z, 0-9 and _", o.VolumeID)
		}
	}
	if len(o.Publisher) > 128 {
		return o, fmt.Errorf("iso: publisher %q is longer than 128 characters", o.Publisher)
	}
	for _, c := range o.Publisher {
		if c < 0x20 || c > 0x7e {
			return o, fmt.Errorf("iso: publisher %q must be printable ASCII", o.Publisher)
		}
	}
	if o.Epoch.IsZero() {
		return o, errors.New("iso: Epoch is required")
	}
	if _, _, err := epochDates(o.Epoch); err != nil {
		return o, err
	}
	if o.AlignTo == 0 {
		o.AlignTo = SectorSize
	}
	if o.AlignTo < 0 || o.AlignTo%SectorSize != 0 {
		return o, fmt.Errorf("iso: AlignTo %d is not a positive multiple of %d", o.AlignTo, SectorSize)
	}
	if o.TailRoom < 0 {
		return o, fmt.Errorf("iso: negative TailRoom %d", o.TailRoom)
	}
	var err error
	for _, p := range []*string{&o.BIOSBoot, &o.EFIBoot} {
		if *p != "" {
			if *p, err = treePath(*p); err != nil {
				return o, err
			}
		}
	}
	if o.BIOSBoot != "" && o.BIOSBoot == o.EFIBoot {
		return o, fmt.Errorf("iso: BIOSBoot and EFIBoot are both %q", o.BIOSBoot)
	}
	if o.BootCatalog == "" {
		o.BootCatalog = DefaultBootCatalog
	}
	if o.BootCatalog, err = treePath(o.BootCatalog); err != nil {
		return o, err
	}
	return o, nil
}

// treePath cleans a slash path relative to the tree root.
func treePath(p string) (string, error) {
	c := path.Clean("/" + p)[1:]
	if c == "" || strings.Contains(p, "\\") {
		return "", fmt.Errorf("iso: bad path %q in the tree", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", fmt.Errorf("iso: path %q leaves the tree", p)
		}
	}
	return c, nil
}

// Write writes the ISO9660 image of the directory tree stageDir to out
// (replacing it). stageDir is not modified: Write hard-links its files into a
// throwaway workspace next to out (copying where linking fails, e.g. across
// filesystems) because go-diskfs removes the workspace it builds from.
//
// The image is reproducible: file data is laid out in go-diskfs's name
// order, and Normalize clears every build-time timestamp, owner and link
// count. The output is padded with zeros per AlignTo and TailRoom, and the
// primary volume descriptor's volume space size covers the padding (as
// xorriso does), so the whole file is one ISO9660 volume.
//
// Write refuses what go-diskfs would silently get wrong: files of 4 GiB or
// more, special files, and file names whose 8.3 forms go-diskfs would
// disambiguate in random order (see checkNames).
func Write(stageDir, out string, opt Options) (err error) {
	if opt, err = opt.check(); err != nil {
		return err
	}
	if absStage, err1 := filepath.Abs(stageDir); err1 == nil {
		if absOut, err2 := filepath.Abs(out); err2 == nil && strings.HasPrefix(absOut, absStage+string(filepath.Separator)) {
			return fmt.Errorf("iso: output %s lies inside the staging tree %s", out, stageDir)
		}
	}
	tree, err := scan(stageDir, opt)
	if err != nil {
		return err
	}
	opt.progress("iso: %d files, %d directories, %d symlinks, %d MiB of data", tree.files, tree.dirs, tree.symlinks, tree.bytes>>20)
	if tree.deepest != "" {
		opt.progress("iso: note: %s is nested deeper than ISO9660's 8 levels (fine for Rock Ridge readers: Linux, GRUB, xorriso)", tree.deepest)
	}

	ws, err := os.MkdirTemp(filepath.Dir(out), ".iso-workspace-")
	if err != nil {
		return fmt.Errorf("iso: workspace: %w", err)
	}
	// go-diskfs removes the workspace when it succeeds; this covers failures.
	defer os.RemoveAll(ws)
	et := elTorito(opt)
	catalog := ""
	if et != nil {
		catalog = opt.BootCatalog
	}
	if err := tree.mirror(ws, catalog); err != nil {
		return err
	}
	if tree.copied > 0 {
		opt.progress("iso: staged the tree (%d files copied: hard links failed)", tree.copied)
	}

	f, err := os.OpenFile(out, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("iso: %w", cerr)
		}
		if err != nil {
			os.Remove(out)
		}
	}()

	opt.progress("iso: writing %s", out)
	fsys, err := iso9660.Create(file.New(f, false), 0, 0, SectorSize, ws)
	if err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	fo := iso9660.FinalizeOptions{
		RockRidge: true,
		// go-diskfs's Rock Ridge relocation of directories deeper than 8
		// levels loses them (xorriso cannot find relocated files): keep
		// deep directories in place, as mkisofs -D does.
		DeepDirectories:     true,
		VolumeIdentifier:    opt.VolumeID,
		PublisherIdentifier: opt.Publisher,
	}
	if et != nil {
		fo.ElTorito = et
	}
	if err := fsys.Finalize(fo); err != nil {
		return fmt.Errorf("iso: %w", err)
	}

	opt.progress("iso: normalizing timestamps, owners and link counts")
	if err := Normalize(f, opt.Epoch); err != nil {
		return err
	}
	return pad(f, opt)
}

func elTorito(opt Options) *iso9660.ElTorito {
	et := &iso9660.ElTorito{BootCatalog: opt.BootCatalog}
	if opt.BIOSBoot != "" {
		e := &iso9660.ElToritoEntry{
			Platform:  iso9660.BIOS,
			Emulation: iso9660.NoEmulation,
			BootFile:  opt.BIOSBoot,
			BootTable: true,
		}
		e.SetLoadSize(4)
		et.Entries = append(et.Entries, e)
	}
	if opt.EFIBoot != "" {
		et.Entries = append(et.Entries, &iso9660.ElToritoEntry{
			Platform:  iso9660.EFI,
			Emulation: iso9660.NoEmulation,
			BootFile:  opt.EFIBoot,
		})
	}
	if len(et.Entries) == 0 {
		return nil
	}
	return et
}

// pad cuts the file to the volume size go-diskfs recorded (it may write one
// block of zeros past it), then extends it with zeros per AlignTo/TailRoom
// and records the padded size in the PVD.
func pad(f *os.File, opt Options) error {
	pvd := make([]byte, SectorSize)
	if _, err := f.ReadAt(pvd, vdStart*SectorSize); err != nil {
		return fmt.Errorf("iso: reading back the PVD: %w", err)
	}
	blocks := int64(le32(pvd[80:]))
	isoSize := blocks * SectorSize
	if st, err := f.Stat(); err != nil {
		return fmt.Errorf("iso: %w", err)
	} else if st.Size() < isoSize {
		return fmt.Errorf("iso: go-diskfs wrote %d bytes but recorded a volume of %d", st.Size(), isoSize)
	}
	final := (isoSize + opt.TailRoom + opt.AlignTo - 1) / opt.AlignTo * opt.AlignTo
	if final/SectorSize > 1<<32-1 {
		return fmt.Errorf("iso: image of %d bytes is too large for ISO9660", final)
	}
	if err := f.Truncate(isoSize); err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	if err := f.Truncate(final); err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	if final != isoSize {
		b := make([]byte, 8)
		put733(b, uint32(final/SectorSize))
		if _, err := f.WriteAt(b, vdStart*SectorSize+80); err != nil {
			return fmt.Errorf("iso: %w", err)
		}
	}
	opt.progress("iso: image is %d bytes (%d of ISO9660 data, %d of padding)", final, isoSize, final-isoSize)
	return f.Sync()
}
