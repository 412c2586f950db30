package hybrid

import (
	"os"
	"path/filepath"
	"time"

	"github.com/lockstep-ft/lockstep/image/iso"
)

// ISOOptions are the settings of a bootable hybrid ISO.
type ISOOptions struct {
	VolumeID string
	Epoch    time.Time
	BIOSBoot string // isolinux.bin in the tree
	EFIBoot  string // the ESP image in the tree
	MBRCode  []byte // syslinux's isohdpfx.bin
	DiskID   uint32
	GPT      bool
	Progress func(format string, args ...any)
}

// WriteISO writes a staged tree as a hybrid ISO: ISO9660 with both El
// Torito entries, then the MBR (and optional GPT) that make the same file boot
// from a USB stick or disk on BIOS and UEFI. It writes out.partial and
// renames it, so a failed build leaves no ISO behind.
func WriteISO(stage, out string, h ISOOptions) error {
	if h.Progress == nil {
		h.Progress = func(string, ...any) {}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	partial := out + ".partial"
	defer os.Remove(partial)
	if err := iso.Write(stage, partial, iso.Options{
		VolumeID:  h.VolumeID,
		Publisher: "Lockstep",
		Epoch:     h.Epoch,
		BIOSBoot:  h.BIOSBoot,
		EFIBoot:   h.EFIBoot,
		AlignTo:   Align,
		TailRoom:  TailRoom(h.GPT),
		Progress:  h.Progress,
	}); err != nil {
		return err
	}
	if err := writeSystemArea(partial, h); err != nil {
		return err
	}
	return os.Rename(partial, out)
}

// writeSystemArea writes the MBR/GPT once the boot files' extents are known.
func writeSystemArea(path string, h ISOOptions) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	bootLBA, _, err := iso.Locate(f, h.BIOSBoot)
	if err != nil {
		return err
	}
	espLBA, espSize, err := iso.Locate(f, h.EFIBoot)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := Write(f, Layout{
		ImageSize:   st.Size(),
		BootFileLBA: bootLBA,
		ESPOffset:   int64(espLBA) * iso.SectorSize,
		ESPSize:     int64(espSize),
		MBRCode:     h.MBRCode,
		DiskID:      h.DiskID,
		GPT:         h.GPT,
	}); err != nil {
		return err
	}
	return f.Sync()
}
