// Package seqlog is the test guest's evidence format (ci/lab/guest): the
// sequence records its init writes to the guest's disk, and the LSGUEST
// lines it prints on the serial console. A failover test compares the two:
// every SEQ the console printed was acknowledged by the disk (write and
// fdatasync returned), so the next boot must find at least that sequence
// number on the disk.
//
// The disk holds a ring of Slots slots of SlotSize bytes from offset 0;
// record n lives in slot n%Slots. A slot holds Magic, the sequence number,
// the writer's boot id, the write time in Unix nanoseconds (little endian)
// and the CRC-32 (IEEE) of those bytes; the rest of the slot is zero. A slot
// is as large as a page so that each record is one aligned O_DIRECT write
// that no other record shares.
package seqlog

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

const (
	Magic    = "LSGSEQ01"
	Slots    = 1024
	SlotSize = 4096
	// RingSize is the disk space the ring uses.
	RingSize = Slots * SlotSize
	// RecordSize is the encoded record without the slot's zero padding.
	RecordSize = 8 + 8 + 16 + 8 + 4
)

// Record is one write of the sequence writer.
type Record struct {
	Seq      uint64
	BootID   [16]byte
	UnixNano int64
}

// Offset is where record seq goes on the disk.
func Offset(seq uint64) int64 { return int64(seq%Slots) * SlotSize }

// Encode writes r into slot, which must be at least RecordSize bytes; the
// caller hands in a zeroed SlotSize buffer (it is reused for every record:
// only the first RecordSize bytes change).
func (r Record) Encode(slot []byte) {
	copy(slot, Magic)
	binary.LittleEndian.PutUint64(slot[8:], r.Seq)
	copy(slot[16:32], r.BootID[:])
	binary.LittleEndian.PutUint64(slot[32:], uint64(r.UnixNano))
	binary.LittleEndian.PutUint32(slot[40:], crc32.ChecksumIEEE(slot[:40]))
}

// Decode reads the record at the start of slot; ok is false for an empty,
// torn or foreign slot, and for sequence number 0, which is never written.
func Decode(slot []byte) (r Record, ok bool) {
	if len(slot) < RecordSize || string(slot[:8]) != Magic ||
		binary.LittleEndian.Uint32(slot[40:]) != crc32.ChecksumIEEE(slot[:40]) {
		return Record{}, false
	}
	r.Seq = binary.LittleEndian.Uint64(slot[8:])
	copy(r.BootID[:], slot[16:32])
	r.UnixNano = int64(binary.LittleEndian.Uint64(slot[32:]))
	return r, r.Seq != 0
}

// MaxRead is the most Scan reads at once: few reads, and a bounded buffer
// that an O_DIRECT reader can keep aligned.
const MaxRead = 64 * SlotSize

// Scan reads the ring from d and returns the valid record with the highest
// sequence number (ok false if there is none). A record only counts in its
// own slot (Seq%Slots), so a record copied to the wrong place is not
// evidence. A disk shorter than the ring ends the scan early. Reads are
// SlotSize-aligned and at most MaxRead long.
func Scan(d io.ReaderAt) (last Record, ok bool, err error) {
	buf := make([]byte, MaxRead)
	for first := 0; first < Slots; first += MaxRead / SlotSize {
		n, err := d.ReadAt(buf, int64(first)*SlotSize)
		if err != nil && !errors.Is(err, io.EOF) {
			return Record{}, false, fmt.Errorf("seqlog: reading slot %d: %w", first, err)
		}
		for i := 0; (i+1)*SlotSize <= n; i++ {
			r, valid := Decode(buf[i*SlotSize:])
			if valid && r.Seq%Slots == uint64(first+i) && (!ok || r.Seq > last.Seq) {
				last, ok = r, true
			}
		}
		if n < len(buf) {
			break
		}
	}
	return last, ok, nil
}

// ParseBootID reads /proc/sys/kernel/random/boot_id's text form (a UUID).
func ParseBootID(s string) ([16]byte, error) {
	var id [16]byte
	h := strings.ReplaceAll(strings.TrimSpace(s), "-", "")
	if len(h) != 32 {
		return id, fmt.Errorf("seqlog: boot id %q is not a UUID", s)
	}
	if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return id, fmt.Errorf("seqlog: boot id %q: %w", s, err)
	}
	return id, nil
}

// ShortID is the boot id prefix the SEQ and TICK lines carry.
func ShortID(bootID string) string {
	if len(bootID) > 8 {
		return bootID[:8]
	}
	return bootID
}
