// Package hybrid writes the system area that makes an ISO9660 image boot as
// a raw disk (USB stick) as well as a CD: the "isohybrid" MBR, laid out the
// way xorriso -isohybrid-mbr ... -isohybrid-gpt-basdat does for Debian's
// installer images, and optionally a GPT.
//
// MBR (sector 0):
//
//	0..431    isohdpfx.bin boot code (syslinux), which loads isolinux.bin
//	432..439  LBA of isolinux.bin in 512-byte sectors, 64-bit little endian
//	440..443  disk signature
//	446       partition 1: active, type 0x00, sectors 0..end: the whole image
//	462       partition 2: type 0xEF, exactly the El Torito EFI image (ESP)
//	510       0x55 0xAA
//
// Partition 1 is type 0 (not 0x17) because EDK2/OVMF rejects a typed
// partition overlapping the ESP; type 0 entries are skipped by UEFI but keep
// BIOSes that want an active partition happy.
//
// GPT (optional): header at LBA 1, 248 entries at LBA 2..63 (all inside the
// ISO's 32 KiB system area), backup entries and header in the last 63
// sectors, with no protective 0xEE MBR entry (xorriso's layout): a "Basic
// data" partition for the ISO from sector 0 to just before the backup, and an
// "EFI System" partition for the ESP. Firmware that insists on a protective
// MBR ignores this GPT and uses the MBR above.
package hybrid

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	// Sector is the disk sector size the layout is written for.
	Sector = 512
	// Align is what the image size should be a multiple of (iso.Options.AlignTo):
	// one cylinder of the 64 heads x 32 sectors geometry isohybrid uses.
	Align = 1 << 20
	// SystemArea is the ISO9660 system area that holds the MBR and primary GPT.
	SystemArea = 32 << 10

	mbrCodeSize   = 432
	mbrBootLBA    = 432
	mbrDiskID     = 440
	mbrPartitions = 446
	heads         = 64
	sectors       = 32

	gptEntries     = 248 // fills LBA 2..63: the rest of the system area
	gptEntrySize   = 128
	gptEntrySecs   = gptEntries * gptEntrySize / Sector // 62
	gptFirstUsable = SystemArea / Sector                // 64
	gptTailSecs    = gptEntrySecs + 1                   // backup entries + header

	// isolinux.bin's isohybrid signature at byte 0x40 (syslinux >= 3.72).
	isolinuxHybridMagic = 0x7078c0fb
)

// TailRoom returns how many bytes at the end of the image the layout needs
// (iso.Options.TailRoom): the backup GPT with gpt, else nothing.
func TailRoom(gpt bool) int64 {
	if gpt {
		return gptTailSecs * Sector
	}
	return 0
}

// Layout describes the image and where its boot pieces are.
type Layout struct {
	// ImageSize is the image's size in bytes, after padding; a multiple of 2048.
	ImageSize int64
	// BootFileLBA is the 2048-byte LBA of isolinux.bin (iso.Locate).
	BootFileLBA uint32
	// ESPOffset and ESPSize locate the FAT ESP image inside the image, in
	// bytes (iso.Locate of the El Torito EFI image). ESPSize 0: no ESP.
	ESPOffset, ESPSize int64
	// MBRCode is syslinux's isohdpfx.bin: its first 432 bytes (432 or 512
	// bytes may be passed) become the MBR boot code.
	MBRCode []byte
	// DiskID is the MBR disk signature; also seeds the GPT GUIDs. The caller
	// derives it deterministically (e.g. from a hash of the recipe).
	DiskID uint32
	// GPT also writes a GPT mirroring the partitions (see the package doc).
	GPT bool
}

func (l *Layout) check() error {
	switch {
	case l.ImageSize <= 0 || l.ImageSize%2048 != 0:
		return fmt.Errorf("hybrid: image size %d is not a positive multiple of 2048", l.ImageSize)
	case l.ImageSize/Sector > 1<<32-1:
		return fmt.Errorf("hybrid: image of %d bytes is too large for an MBR", l.ImageSize)
	case len(l.MBRCode) != mbrCodeSize && len(l.MBRCode) != Sector:
		return fmt.Errorf("hybrid: MBR code is %d bytes, want %d (isohdpfx.bin) or %d", len(l.MBRCode), mbrCodeSize, Sector)
	case bytes.Count(l.MBRCode[:mbrCodeSize], []byte{0}) == mbrCodeSize:
		return errors.New("hybrid: MBR code is all zeros")
	case l.BootFileLBA < SystemArea/2048 || (int64(l.BootFileLBA)+1)*2048 > l.ImageSize:
		return fmt.Errorf("hybrid: boot file LBA %d is outside the image", l.BootFileLBA)
	case l.ESPSize < 0 || l.ESPOffset < 0:
		return errors.New("hybrid: negative ESP offset or size")
	}
	if l.ESPSize > 0 {
		switch {
		case l.ESPOffset%Sector != 0:
			return fmt.Errorf("hybrid: ESP offset %d is not sector aligned", l.ESPOffset)
		case l.ESPOffset < SystemArea:
			return fmt.Errorf("hybrid: ESP offset %d lies in the system area", l.ESPOffset)
		case l.ESPOffset+l.ESPSize > l.ImageSize:
			return fmt.Errorf("hybrid: ESP (%d bytes at %d) ends past the image (%d bytes)", l.ESPSize, l.ESPOffset, l.ImageSize)
		}
	}
	if l.GPT {
		tail := l.ImageSize - TailRoom(true)
		if l.ESPSize > 0 && l.ESPOffset+l.ESPSize > tail {
			return fmt.Errorf("hybrid: ESP ends in the backup GPT area (last %d bytes); pad the image (hybrid.TailRoom)", TailRoom(true))
		}
		if (int64(l.BootFileLBA)+1)*2048 > tail {
			return errors.New("hybrid: boot file lies in the backup GPT area; pad the image (hybrid.TailRoom)")
		}
	}
	return nil
}

// Write writes the hybrid MBR (and with l.GPT the GPT) into f, an ISO image
// written by package iso (or any ISO9660 image with an empty system area).
// It checks that isolinux.bin at BootFileLBA carries syslinux's isohybrid
// signature, that the system area holds nothing but an earlier hybrid
// layout, and with GPT that the backup area at the end is free.
func Write(f interface {
	io.WriterAt
	io.ReaderAt
}, l Layout) error {
	if err := l.check(); err != nil {
		return err
	}
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], int64(l.BootFileLBA)*2048+0x40); err != nil {
		return fmt.Errorf("hybrid: reading boot file: %w", err)
	}
	if binary.LittleEndian.Uint32(magic[:]) != isolinuxHybridMagic {
		return fmt.Errorf("hybrid: no isohybrid signature in the boot file at LBA %d (not isolinux.bin, or syslinux older than 3.72)", l.BootFileLBA)
	}
	if err := checkFree(f, l); err != nil {
		return err
	}

	mbr := buildMBR(l)
	sysArea := make([]byte, SystemArea)
	copy(sysArea, mbr)
	if l.GPT {
		primary, backup := buildGPT(l)
		copy(sysArea[Sector:], primary)
		if _, err := f.WriteAt(backup, l.ImageSize-int64(len(backup))); err != nil {
			return fmt.Errorf("hybrid: writing backup GPT: %w", err)
		}
	}
	if _, err := f.WriteAt(sysArea, 0); err != nil {
		return fmt.Errorf("hybrid: writing system area: %w", err)
	}
	if !l.GPT && l.ImageSize >= SystemArea+TailRoom(true) {
		// Drop the backup GPT of an earlier Write with GPT.
		last := make([]byte, Sector)
		if _, err := f.ReadAt(last, l.ImageSize-Sector); err == nil && bytes.HasPrefix(last, []byte(gptSignature)) {
			if _, err := f.WriteAt(make([]byte, TailRoom(true)), l.ImageSize-TailRoom(true)); err != nil {
				return fmt.Errorf("hybrid: clearing old backup GPT: %w", err)
			}
		}
	}
	return nil
}

// checkFree makes sure Write overwrites nothing but zeros or its own work.
func checkFree(r io.ReaderAt, l Layout) error {
	sa := make([]byte, SystemArea)
	if _, err := r.ReadAt(sa, 0); err != nil {
		return fmt.Errorf("hybrid: reading system area: %w", err)
	}
	ours := sa[510] == 0x55 && sa[511] == 0xAA
	if !ours && !allZero(sa) {
		return errors.New("hybrid: the ISO's system area is not empty")
	}
	if l.GPT {
		tail := make([]byte, TailRoom(true))
		if _, err := r.ReadAt(tail, l.ImageSize-int64(len(tail))); err != nil {
			return fmt.Errorf("hybrid: reading the image's tail: %w", err)
		}
		hdr := tail[len(tail)-Sector:]
		if !allZero(tail) && !bytes.HasPrefix(hdr, []byte(gptSignature)) {
			return fmt.Errorf("hybrid: the last %d bytes of the image are not free for the backup GPT; pad the image (hybrid.TailRoom)", len(tail))
		}
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func buildMBR(l Layout) []byte {
	b := make([]byte, Sector)
	copy(b, l.MBRCode[:mbrCodeSize])
	binary.LittleEndian.PutUint64(b[mbrBootLBA:], uint64(l.BootFileLBA)*4)
	binary.LittleEndian.PutUint32(b[mbrDiskID:], l.DiskID)

	total := uint32(l.ImageSize / Sector)
	p1 := b[mbrPartitions:]
	p1[0] = 0x80
	copy(p1[1:4], chs(0))
	p1[4] = 0x00
	copy(p1[5:8], chs(total-1))
	binary.LittleEndian.PutUint32(p1[8:], 0)
	binary.LittleEndian.PutUint32(p1[12:], total)

	if l.ESPSize > 0 {
		p2 := b[mbrPartitions+16:]
		p2[0] = 0x00
		// xorriso leaves the ESP's CHS at "beyond 8 GiB", like LBA-only tools do.
		copy(p2[1:4], []byte{0xfe, 0xff, 0xff})
		p2[4] = 0xef
		copy(p2[5:8], []byte{0xfe, 0xff, 0xff})
		binary.LittleEndian.PutUint32(p2[8:], uint32(l.ESPOffset/Sector))
		binary.LittleEndian.PutUint32(p2[12:], espSectors(l))
	}
	b[510], b[511] = 0x55, 0xAA
	return b
}

func espSectors(l Layout) uint32 {
	return uint32((l.ESPSize + Sector - 1) / Sector)
}

// chs encodes lba in the 64 heads x 32 sectors geometry isohybrid uses; past
// cylinder 1023 it gives the customary 0xFE 0xFF 0xFF.
func chs(lba uint32) []byte {
	c := lba / (heads * sectors)
	if c > 1023 {
		return []byte{0xfe, 0xff, 0xff}
	}
	h := (lba / sectors) % heads
	s := lba%sectors + 1
	return []byte{byte(h), byte(s) | byte(c>>8)<<6, byte(c)}
}
