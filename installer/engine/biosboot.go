package engine

import (
	"encoding/binary"
	"fmt"
)

// GRUB's i386-pc boot chain, as grub-bios-setup installs it on a GPT disk
// with a BIOS boot partition: boot.img in the MBR loads the first sector of
// core.img (diskboot.img) from the LBA patched into it; diskboot.img loads
// the rest of core.img from the block list at the end of its sector. Offsets
// are GRUB's (include/grub/i386/pc/boot.h):
const (
	sector = 512
	// boot.img
	grubKernelSector = 0x5c  // uint64 LBA of core.img's first sector
	grubBootDrive    = 0x64  // 0xff: use the drive the BIOS booted
	grubDriveCheck   = 0x66  // a jump that works around BIOSes passing a floppy drive number
	mbrCodeEnd       = 0x1b8 // the disk signature and partition table start here
	// diskboot.img (core.img's first sector): the block list is at the end.
	blockListOff = sector - 12 // uint64 start, uint16 sectors, uint16 segment
	// diskboot.img loads the rest of core.img to this segment
	// (GRUB_BOOT_I386_PC_KERNEL_SEG + 0x20).
	coreSegment = 0x820
)

// BIOSBoot returns the MBR (boot.img with mbr's disk signature and
// partition table kept) and core.img patched to load from coreLBA, the
// first sector of the BIOS boot partition of at most maxSectors sectors.
// It is what grub-bios-setup does for a contiguous core.img, done without
// probing devices so the same code serves a disk and a raw image file.
func BIOSBoot(mbr, bootImg, coreImg []byte, coreLBA uint64, maxSectors int64) (newMBR, newCore []byte, err error) {
	if len(mbr) != sector || len(bootImg) != sector {
		return nil, nil, fmt.Errorf("bios boot: MBR and boot.img must be %d bytes (%d, %d)", sector, len(mbr), len(bootImg))
	}
	if bootImg[510] != 0x55 || bootImg[511] != 0xaa {
		return nil, nil, fmt.Errorf("bios boot: boot.img has no boot signature")
	}
	if len(coreImg) < 2*sector {
		return nil, nil, fmt.Errorf("bios boot: core.img is only %d bytes", len(coreImg))
	}
	n := (int64(len(coreImg)) + sector - 1) / sector
	if n > maxSectors {
		return nil, nil, fmt.Errorf("bios boot: core.img needs %d sectors, the BIOS boot partition has %d", n, maxSectors)
	}
	newCore = make([]byte, n*sector)
	copy(newCore, coreImg)
	bl := newCore[blockListOff:sector]
	// grub-mkimage leaves diskboot.img's default entry: start 2, the
	// sector count, segment 0x820. Anything else is not an i386-pc core.img.
	if binary.LittleEndian.Uint16(bl[10:12]) != coreSegment {
		return nil, nil, fmt.Errorf("bios boot: core.img has no diskboot block list (segment %#x): not a grub-mkimage -O i386-pc image",
			binary.LittleEndian.Uint16(bl[10:12]))
	}
	binary.LittleEndian.PutUint64(bl[0:8], coreLBA+1)
	binary.LittleEndian.PutUint16(bl[8:10], uint16(n-1))
	binary.LittleEndian.PutUint16(bl[10:12], coreSegment)

	newMBR = make([]byte, sector)
	copy(newMBR, bootImg[:mbrCodeEnd])
	copy(newMBR[mbrCodeEnd:], mbr[mbrCodeEnd:])
	newMBR[510], newMBR[511] = 0x55, 0xaa
	binary.LittleEndian.PutUint64(newMBR[grubKernelSector:], coreLBA)
	newMBR[grubBootDrive] = 0xff
	// A hard disk: no floppy check (grub-bios-setup does the same).
	newMBR[grubDriveCheck], newMBR[grubDriveCheck+1] = 0x90, 0x90
	return newMBR, newCore, nil
}
