package layout

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ReaderAt is what Read needs: the disk's bytes. If it also has a size
// (Size() int64, as *io.SectionReader and *bytes.Reader do, or io.Seeker, as
// *os.File does for files and block devices), Read can fall back to the
// backup GPT when the primary one is damaged.
type ReaderAt interface {
	io.ReaderAt
}

// WriterAtReaderAt is what Write needs: an *os.File of the disk or image.
// If it has Sync() error (as *os.File does), Write flushes in between steps.
type WriterAtReaderAt interface {
	io.ReaderAt
	io.WriterAt
}

// ErrNotLockstep is matched (errors.Is) by Read's errors for a disk that
// does not carry a Lockstep layout; the message starts with its text.
var ErrNotLockstep = errors.New("not a Lockstep disk")

// wipeHead is how much of each boot-path partition Write zeroes: it covers
// a FAT boot sector, its backup (sector 6) and FSInfo, and a squashfs
// superblock (at offset 0), so no old file system is recognised there.
const wipeHead = MiB

// mbrStub is the legacy-BIOS boot code Write puts in the MBR until the boot
// loader replaces it: INT 18h ("boot failed": a BBS BIOS tries the next boot
// device), then CLI; HLT forever if the BIOS returns. A zeroed MBR with the
// 0x55AA signature would instead make the BIOS jump into zeros, so a disk
// whose install was interrupted would hang the machine rather than let it
// boot the next device (I7: nothing half-written is left bootable).
var mbrStub = []byte{0xCD, 0x18, 0xFA, 0xF4, 0xEB, 0xFD}

// Write puts layout l on dev with the given disk GUID (see NewDiskGUID; a
// re-write of a disk read with Read passes l.DiskGUID to keep every
// PARTUUID). It
//
//  1. zeroes the first MiB (MBR, primary GPT, the gap), the whole BIOS boot
//     partition and the first MiB of the ESP and of both system slots, so
//     that neither firmware finds a boot loader or an old system image on
//     the disk until the install has written new ones;
//  2. writes the backup, then the primary GPT, each synced;
//  3. writes the protective MBR last, with the INT 18h stub as boot code.
//
// The state and storage partitions are not touched: a Recover install keeps
// them, and a Create or Replace install formats them itself. The kernel is
// not told about the new table; the caller re-reads it (BLKRRPART/partx).
func Write(dev WriterAtReaderAt, l Layout, diskGUID string) error {
	if err := l.Validate(); err != nil {
		return err
	}
	l, err := l.WithGUIDs(diskGUID)
	if err != nil {
		return err
	}
	if size := deviceSize(dev); size >= 0 && size/l.SectorSize*l.SectorSize != l.DiskSize {
		return fmt.Errorf("layout: planned for a disk of %d bytes, the device has %d bytes", l.DiskSize, size)
	}
	sync := func() error {
		if s, ok := dev.(interface{ Sync() error }); ok {
			return s.Sync()
		}
		return nil
	}

	if err := zero(dev, 0, Align); err != nil {
		return fmt.Errorf("layout: wiping the first MiB: %w", err)
	}
	for _, p := range []Partition{l.BIOS(), l.ESP(), l.SystemA(), l.SystemB()} {
		if err := zero(dev, p.Start, min(p.Size, wipeHead)); err != nil {
			return fmt.Errorf("layout: wiping the start of %s: %w", p.Name, err)
		}
	}
	if err := sync(); err != nil {
		return fmt.Errorf("layout: sync: %w", err)
	}

	ss := l.SectorSize
	t := newGPTTable(l.DiskSize, ss, l.DiskGUID)
	for _, p := range l.Partitions {
		t.entries = append(t.entries, gptEntry{
			index:    p.Number,
			typeGUID: p.Type,
			guid:     p.GUID,
			first:    uint64(p.Start / ss),
			last:     uint64(p.End()/ss) - 1,
			name:     p.Name,
		})
	}
	if err := t.write(dev, sync); err != nil {
		return fmt.Errorf("layout: writing the GPT: %w", err)
	}

	if _, err := dev.WriteAt(protectiveMBR(l), 0); err != nil {
		return fmt.Errorf("layout: writing the protective MBR: %w", err)
	}
	return sync()
}

// protectiveMBR is sector 0 (512 bytes; on a 4Kn disk the rest of the
// sector is already zero): the boot stub, one partition of type 0xEE
// covering the disk from LBA 1, capped at 2^32-1 sectors as the UEFI
// specification says for disks beyond 2 TiB, and the 0x55AA signature.
func protectiveMBR(l Layout) []byte {
	b := make([]byte, 512)
	copy(b, mbrStub)
	e := b[446:462]
	e[0] = 0x00                         // not active: UEFI requires it
	e[1], e[2], e[3] = 0x00, 0x02, 0x00 // CHS of LBA 1
	e[4] = 0xEE                         // GPT protective
	e[5], e[6], e[7] = 0xFF, 0xFF, 0xFF // CHS "beyond addressable"
	binary.LittleEndian.PutUint32(e[8:12], 1)
	n := uint64(l.DiskSize/l.SectorSize) - 1
	if n > 0xFFFFFFFF {
		n = 0xFFFFFFFF
	}
	binary.LittleEndian.PutUint32(e[12:16], uint32(n))
	b[510], b[511] = 0x55, 0xAA
	return b
}

// Read recognises a Lockstep system disk: a valid GPT (the backup one if the
// primary is damaged and the device's size is known) with exactly the six
// partitions of the layout, by number, name and type, and partition GUIDs
// derived from the disk GUID. Anything else is an error matching
// ErrNotLockstep that says what differs.
func Read(dev ReaderAt) (Layout, error) {
	size := deviceSize(dev)
	ss := sectorSize(dev, size)
	if ss == 0 {
		return Layout{}, fmt.Errorf("%w: no GPT found", ErrNotLockstep)
	}
	t, fromBackup, err := readGPT(dev, ss, size)
	if err != nil {
		return Layout{}, fmt.Errorf("%w: %v", ErrNotLockstep, err)
	}
	l := Layout{
		DiskSize:      int64(t.lastLBA+1) * ss,
		SectorSize:    ss,
		DiskGUID:      t.diskGUID,
		FromBackupGPT: fromBackup,
	}
	if len(t.entries) != len(spec) {
		return Layout{}, fmt.Errorf("%w: %d partitions, want %d", ErrNotLockstep, len(t.entries), len(spec))
	}
	for i, s := range spec {
		p := t.entries[i]
		if p.index != s.num || p.name != s.name || p.typeGUID != s.typ {
			return Layout{}, fmt.Errorf("%w: partition %d is %q of type %s, want %q of type %s", ErrNotLockstep, p.index, p.name, p.typeGUID, s.name, s.typ)
		}
		want, err := DerivePartitionGUID(t.diskGUID, s.name)
		if err != nil {
			return Layout{}, fmt.Errorf("%w: %v", ErrNotLockstep, err)
		}
		if p.guid != want {
			return Layout{}, fmt.Errorf("%w: partition %s has GUID %s, not the one derived from the disk GUID %s (%s)", ErrNotLockstep, s.name, p.guid, t.diskGUID, want)
		}
		if p.last < p.first {
			return Layout{}, fmt.Errorf("%w: partition %s ends (LBA %d) before it starts (LBA %d)", ErrNotLockstep, s.name, p.last, p.first)
		}
		l.Partitions = append(l.Partitions, Partition{
			Number: p.index, Name: p.name, Type: p.typeGUID, GUID: p.guid,
			Start: int64(p.first) * ss,
			Size:  int64(p.last-p.first+1) * ss,
		})
	}
	if err := l.Validate(); err != nil {
		return Layout{}, fmt.Errorf("%w: %v", ErrNotLockstep, err)
	}
	return l, nil
}

// sectorSize finds the logical sector size from where the GPT header's
// "EFI PART" signature is: LBA 1 of the primary, or else the last LBA (the
// backup) when the size is known. 0 means no GPT.
func sectorSize(dev io.ReaderAt, size int64) int64 {
	sig := []byte("EFI PART")
	buf := make([]byte, len(sig))
	for _, ss := range []int64{512, 4096} {
		if n, _ := dev.ReadAt(buf, ss); n == len(buf) && bytes.Equal(buf, sig) {
			return ss
		}
	}
	if size > 0 {
		for _, ss := range []int64{512, 4096} {
			if n, _ := dev.ReadAt(buf, size/ss*ss-ss); n == len(buf) && bytes.Equal(buf, sig) {
				return ss
			}
		}
	}
	return 0
}

// deviceSize returns the device's size in bytes, or -1 when it cannot be
// known.
func deviceSize(dev any) int64 {
	if s, ok := dev.(interface{ Size() int64 }); ok {
		return s.Size()
	}
	if s, ok := dev.(io.Seeker); ok {
		cur, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		end, err := s.Seek(0, io.SeekEnd)
		if _, err2 := s.Seek(cur, io.SeekStart); err != nil || err2 != nil {
			return -1
		}
		return end
	}
	return -1
}

// zero writes n zero bytes at off, 1 MiB at a time.
func zero(w io.WriterAt, off, n int64) error {
	buf := make([]byte, min(n, MiB))
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := w.WriteAt(buf[:k], off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}
