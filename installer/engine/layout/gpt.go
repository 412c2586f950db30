package layout

// A small GPT codec (UEFI 2.10 §5.3). We do not use go-diskfs's
// partition/gpt: it imports github.com/google/uuid, which would need a
// go.mod change, and its protective MBR truncates the disk size to 32 bits
// on disks beyond 2 TiB. The layout needs little: one fixed-size entry
// array, read and written whole.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

const (
	gptSignature   = "EFI PART"
	gptRevision    = 0x00010000
	gptHeaderSize  = 92
	gptEntries     = 128
	gptEntrySize   = 128
	gptNameUnits   = 36 // UTF-16 code units in an entry's name
	gptHeaderLBA   = 1
	gptPrimaryLBA0 = 2 // first LBA of the primary entry array
)

// gptEntry is one used partition entry.
type gptEntry struct {
	index      int // 1-based
	typeGUID   string
	guid       string
	first      uint64 // LBAs, inclusive
	last       uint64
	attributes uint64
	name       string
}

// gptTable is a whole GPT as the layout uses it.
type gptTable struct {
	sectorSize  int64
	lastLBA     uint64 // the backup header's LBA: disk sectors - 1
	firstUsable uint64
	lastUsable  uint64
	diskGUID    string
	entries     []gptEntry // used entries, by index
}

func arraySectors(ss int64) uint64 { return uint64((gptEntries*gptEntrySize + ss - 1) / ss) }

// newGPTTable sizes an empty table for a disk of diskBytes.
func newGPTTable(diskBytes, ss int64, diskGUID string) *gptTable {
	last := uint64(diskBytes/ss) - 1
	n := arraySectors(ss)
	return &gptTable{
		sectorSize:  ss,
		lastLBA:     last,
		firstUsable: gptPrimaryLBA0 + n,
		lastUsable:  last - n - 1,
		diskGUID:    diskGUID,
	}
}

// encodeGUID stores a GUID the way the GPT does: the first three groups
// little-endian, the last two as written.
func encodeGUID(dst []byte, s string) error {
	b, err := guidBytes(s)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(dst[0:4], binary.BigEndian.Uint32(b[0:4]))
	binary.LittleEndian.PutUint16(dst[4:6], binary.BigEndian.Uint16(b[4:6]))
	binary.LittleEndian.PutUint16(dst[6:8], binary.BigEndian.Uint16(b[6:8]))
	copy(dst[8:16], b[8:16])
	return nil
}

func decodeGUID(src []byte) string {
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:4], binary.LittleEndian.Uint32(src[0:4]))
	binary.BigEndian.PutUint16(b[4:6], binary.LittleEndian.Uint16(src[4:6]))
	binary.BigEndian.PutUint16(b[6:8], binary.LittleEndian.Uint16(src[6:8]))
	copy(b[8:16], src[8:16])
	return formatGUID(b)
}

// array encodes the whole entry array.
func (t *gptTable) array() ([]byte, error) {
	buf := make([]byte, arraySectors(t.sectorSize)*uint64(t.sectorSize))
	for _, e := range t.entries {
		if e.index < 1 || e.index > gptEntries {
			return nil, fmt.Errorf("gpt: entry index %d out of range", e.index)
		}
		b := buf[(e.index-1)*gptEntrySize : e.index*gptEntrySize]
		if err := encodeGUID(b[0:16], e.typeGUID); err != nil {
			return nil, fmt.Errorf("gpt: type of entry %d: %w", e.index, err)
		}
		if err := encodeGUID(b[16:32], e.guid); err != nil {
			return nil, fmt.Errorf("gpt: GUID of entry %d: %w", e.index, err)
		}
		binary.LittleEndian.PutUint64(b[32:40], e.first)
		binary.LittleEndian.PutUint64(b[40:48], e.last)
		binary.LittleEndian.PutUint64(b[48:56], e.attributes)
		u := utf16.Encode([]rune(e.name))
		if len(u) > gptNameUnits {
			return nil, fmt.Errorf("gpt: name %q longer than %d UTF-16 units", e.name, gptNameUnits)
		}
		for i, c := range u {
			binary.LittleEndian.PutUint16(b[56+2*i:], c)
		}
	}
	return buf, nil
}

// header encodes the primary (primary=true) or backup header sector.
func (t *gptTable) header(primary bool, arrayCRC uint32) ([]byte, error) {
	h := make([]byte, t.sectorSize)
	copy(h[0:8], gptSignature)
	binary.LittleEndian.PutUint32(h[8:12], gptRevision)
	binary.LittleEndian.PutUint32(h[12:16], gptHeaderSize)
	my, alt, arrayLBA := uint64(gptHeaderLBA), t.lastLBA, uint64(gptPrimaryLBA0)
	if !primary {
		my, alt, arrayLBA = t.lastLBA, gptHeaderLBA, t.lastLBA-arraySectors(t.sectorSize)
	}
	binary.LittleEndian.PutUint64(h[24:32], my)
	binary.LittleEndian.PutUint64(h[32:40], alt)
	binary.LittleEndian.PutUint64(h[40:48], t.firstUsable)
	binary.LittleEndian.PutUint64(h[48:56], t.lastUsable)
	if err := encodeGUID(h[56:72], t.diskGUID); err != nil {
		return nil, fmt.Errorf("gpt: disk GUID: %w", err)
	}
	binary.LittleEndian.PutUint64(h[72:80], arrayLBA)
	binary.LittleEndian.PutUint32(h[80:84], gptEntries)
	binary.LittleEndian.PutUint32(h[84:88], gptEntrySize)
	binary.LittleEndian.PutUint32(h[88:92], arrayCRC)
	binary.LittleEndian.PutUint32(h[16:20], crc32.ChecksumIEEE(h[:gptHeaderSize]))
	return h, nil
}

// write puts the backup GPT, then the primary one, on w, syncing after
// each: a power cut leaves either the old primary with the new backup
// (readers that check CRCs see one consistent table) or the new table.
func (t *gptTable) write(w io.WriterAt, sync func() error) error {
	arr, err := t.array()
	if err != nil {
		return err
	}
	crc := crc32.ChecksumIEEE(arr)
	ss := t.sectorSize
	for _, primary := range []bool{false, true} {
		h, err := t.header(primary, crc)
		if err != nil {
			return err
		}
		hdrLBA, arrLBA := t.lastLBA, t.lastLBA-arraySectors(ss)
		if primary {
			hdrLBA, arrLBA = gptHeaderLBA, gptPrimaryLBA0
		}
		if _, err := w.WriteAt(arr, int64(arrLBA)*ss); err != nil {
			return err
		}
		if _, err := w.WriteAt(h, int64(hdrLBA)*ss); err != nil {
			return err
		}
		if err := sync(); err != nil {
			return err
		}
	}
	return nil
}

// readGPT reads the primary GPT at LBA 1, or the backup at the last LBA of
// a disk of size bytes (size < 0: unknown, then the primary header's
// alternate LBA is tried if the header itself is intact).
func readGPT(r io.ReaderAt, ss, size int64) (t *gptTable, fromBackup bool, err error) {
	t, alt, errP := readGPTAt(r, ss, gptHeaderLBA)
	if errP == nil {
		return t, false, nil
	}
	backup := uint64(0)
	switch {
	case size > 0:
		backup = uint64(size/ss) - 1
	case alt > gptHeaderLBA:
		backup = alt
	default:
		return nil, false, fmt.Errorf("primary GPT: %v (backup not tried: device size unknown)", errP)
	}
	t, _, errB := readGPTAt(r, ss, backup)
	if errB != nil {
		return nil, false, fmt.Errorf("primary GPT: %v; backup GPT: %v", errP, errB)
	}
	return t, true, nil
}

// readGPTAt reads and checks the header at lba and its entry array. alt is
// the header's alternate LBA when the header itself was valid.
func readGPTAt(r io.ReaderAt, ss int64, lba uint64) (t *gptTable, alt uint64, err error) {
	h := make([]byte, ss)
	if _, err := r.ReadAt(h, int64(lba)*ss); err != nil {
		return nil, 0, err
	}
	if string(h[0:8]) != gptSignature {
		return nil, 0, errors.New("no GPT signature")
	}
	hs := binary.LittleEndian.Uint32(h[12:16])
	if hs < gptHeaderSize || int64(hs) > ss {
		return nil, 0, fmt.Errorf("bad header size %d", hs)
	}
	want := binary.LittleEndian.Uint32(h[16:20])
	hc := bytes.Clone(h[:hs])
	binary.LittleEndian.PutUint32(hc[16:20], 0)
	if crc32.ChecksumIEEE(hc) != want {
		return nil, 0, errors.New("header CRC mismatch")
	}
	if my := binary.LittleEndian.Uint64(h[24:32]); my != lba {
		return nil, 0, fmt.Errorf("header at LBA %d says it is at LBA %d", lba, my)
	}
	alt = binary.LittleEndian.Uint64(h[32:40])
	n := binary.LittleEndian.Uint32(h[80:84])
	es := binary.LittleEndian.Uint32(h[84:88])
	if es < gptEntrySize || es%8 != 0 || n == 0 || uint64(n)*uint64(es) > 1<<20 {
		return nil, alt, fmt.Errorf("unsupported entry array: %d entries of %d bytes", n, es)
	}
	arr := make([]byte, uint64(n)*uint64(es))
	if _, err := r.ReadAt(arr, int64(binary.LittleEndian.Uint64(h[72:80]))*ss); err != nil {
		return nil, alt, err
	}
	if crc32.ChecksumIEEE(arr) != binary.LittleEndian.Uint32(h[88:92]) {
		return nil, alt, errors.New("entry array CRC mismatch")
	}
	backupLBA := alt // the backup header's LBA is the disk's last
	if lba != gptHeaderLBA {
		backupLBA = lba
	}
	t = &gptTable{
		sectorSize:  ss,
		lastLBA:     backupLBA,
		firstUsable: binary.LittleEndian.Uint64(h[40:48]),
		lastUsable:  binary.LittleEndian.Uint64(h[48:56]),
		diskGUID:    decodeGUID(h[56:72]),
	}
	for i := uint32(0); i < n; i++ {
		b := arr[i*es : i*es+gptEntrySize]
		if bytes.Equal(b[0:16], make([]byte, 16)) {
			continue // unused entry
		}
		u := make([]uint16, 0, gptNameUnits)
		for j := 0; j < gptNameUnits; j++ {
			c := binary.LittleEndian.Uint16(b[56+2*j:])
			if c == 0 {
				break
			}
			u = append(u, c)
		}
		t.entries = append(t.entries, gptEntry{
			index:      int(i) + 1,
			typeGUID:   decodeGUID(b[0:16]),
			guid:       decodeGUID(b[16:32]),
			first:      binary.LittleEndian.Uint64(b[32:40]),
			last:       binary.LittleEndian.Uint64(b[40:48]),
			attributes: binary.LittleEndian.Uint64(b[48:56]),
			name:       string(utf16.Decode(u)),
		})
	}
	return t, alt, nil
}
