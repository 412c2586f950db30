package iso

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// On-disk ISO9660 (ECMA-119) and SUSP (IEEE P1281) structures that
// Normalize and Locate read. Offsets are from ECMA-119 section 8.4 (primary
// volume descriptor) and 9.1 (directory record) and SUSP 1.12 section 5.

const (
	// SectorSize is the ISO9660 logical block size this package writes and reads.
	SectorSize = 2048

	vdStart      = 16 // first volume descriptor sector
	vdPrimary    = 1
	vdSupplement = 2
	vdTerminator = 255
	maxVDs       = 64 // sanity bound on the volume descriptor set

	pvdRootRecord   = 156 // 34-byte root directory record in a PVD/SVD
	pvdCreation     = 813 // 17-byte dec-datetime fields
	pvdModification = 830
	pvdExpiration   = 847
	pvdEffective    = 864

	drLen      = 0  // length of directory record
	drLocation = 2  // extent location, both-endian uint32 (LE at 2, BE at 6)
	drSize     = 10 // data length, both-endian uint32 (LE at 10, BE at 14)
	drDate     = 18 // 7-byte recording date
	drFlags    = 25
	drNameLen  = 32
	drName     = 33
	drMinLen   = 34

	flagDirectory  = 0x02
	flagMultiExtnt = 0x80

	maxDirSize   = 64 << 20 // refuse absurd directory extents
	maxCEDepth   = 32       // bound on chained continuation areas
	maxDirectory = 1 << 20  // bound on the number of directories visited
)

var errNotISO = errors.New("iso: no ISO9660 primary volume descriptor at sector 16")

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// put733 stores v as an ECMA-119 7.3.3 both-byte-order uint32 (8 bytes).
func put733(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b[0:4], v)
	binary.BigEndian.PutUint32(b[4:8], v)
}

// volumeDescriptors returns the sector numbers and contents of the volume
// descriptors up to (not including) the set terminator.
func volumeDescriptors(r io.ReaderAt) ([]int64, [][]byte, error) {
	var secs []int64
	var vds [][]byte
	for i := int64(0); i < maxVDs; i++ {
		sec := vdStart + i
		b := make([]byte, SectorSize)
		if _, err := r.ReadAt(b, sec*SectorSize); err != nil {
			if i == 0 {
				return nil, nil, errNotISO
			}
			return nil, nil, fmt.Errorf("iso: reading volume descriptor at sector %d: %w", sec, err)
		}
		if string(b[1:6]) != "CD001" {
			if i == 0 {
				return nil, nil, errNotISO
			}
			return nil, nil, fmt.Errorf("iso: sector %d is not a volume descriptor", sec)
		}
		if i == 0 && b[0] != vdPrimary {
			return nil, nil, errNotISO
		}
		if b[0] == vdTerminator {
			return secs, vds, nil
		}
		secs = append(secs, sec)
		vds = append(vds, b)
	}
	return nil, nil, errors.New("iso: volume descriptor set has no terminator")
}

// extent is a directory's location and size as recorded in a directory record.
type extent struct {
	loc  uint32
	size uint32
}

func recordExtent(rec []byte) extent {
	return extent{loc: le32(rec[drLocation:]), size: le32(rec[drSize:])}
}

// readExtent reads a whole directory extent (rounded up to full sectors).
func readExtent(r io.ReaderAt, e extent) ([]byte, error) {
	if e.size == 0 || e.size > maxDirSize {
		return nil, fmt.Errorf("iso: implausible directory size %d at LBA %d", e.size, e.loc)
	}
	n := (int64(e.size) + SectorSize - 1) / SectorSize * SectorSize
	b := make([]byte, n)
	if _, err := r.ReadAt(b, int64(e.loc)*SectorSize); err != nil {
		return nil, fmt.Errorf("iso: reading directory at LBA %d: %w", e.loc, err)
	}
	return b, nil
}

// records splits a directory extent into its directory records. Records do
// not cross sector boundaries; a zero length byte means "rest of the sector
// is padding".
func records(dir []byte, size uint32) ([][]byte, error) {
	var out [][]byte
	end := int(size)
	if end > len(dir) {
		end = len(dir)
	}
	for pos := 0; pos < end; {
		l := int(dir[pos+drLen])
		if l == 0 {
			pos = (pos/SectorSize + 1) * SectorSize
			continue
		}
		secEnd := (pos/SectorSize + 1) * SectorSize
		if l < drMinLen || pos+l > secEnd {
			return nil, fmt.Errorf("iso: malformed directory record (length %d) at offset %d", l, pos)
		}
		rec := dir[pos : pos+l]
		if drName+int(rec[drNameLen]) > l {
			return nil, fmt.Errorf("iso: directory record name overruns record at offset %d", pos)
		}
		out = append(out, rec)
		pos += l
	}
	return out, nil
}

func isDotRecord(rec []byte) bool {
	return rec[drNameLen] == 1 && (rec[drName] == 0 || rec[drName] == 1)
}

// systemUse returns the system use area of a record: after the name and the
// padding byte present when the name length is even, less the SP skip bytes.
func systemUse(rec []byte, skip int) []byte {
	nl := int(rec[drNameLen])
	start := drName + nl
	if nl%2 == 0 {
		start++
	}
	start += skip
	if start >= len(rec) {
		return nil
	}
	return rec[start:]
}

// suspWalker visits SUSP entries of system use areas, following CE
// continuation areas. With w set, continuation areas are written back after
// the callback ran over them (the callback may modify entries in place).
type suspWalker struct {
	r    io.ReaderAt
	w    io.WriterAt
	size int64 // image size bound for CE areas, 0 = unknown

	// The directory extent being processed, held in memory by the caller: a
	// continuation area inside it is used in place rather than read and
	// written separately (the caller writes the extent back afterwards).
	bufOff int64
	buf    []byte
}

func (s *suspWalker) walk(area []byte, fn func(entry []byte) error) error {
	return s.walkDepth(area, fn, 0)
}

func (s *suspWalker) walkDepth(area []byte, fn func(entry []byte) error, depth int) error {
	if depth > maxCEDepth {
		return errors.New("iso: SUSP continuation chain too long")
	}
	var ce []byte
	for i := 0; i+4 <= len(area); {
		l := int(area[i+2])
		if l < 4 || i+l > len(area) {
			break // padding or garbage: end of entries
		}
		e := area[i : i+l]
		sig := string(e[0:2])
		if sig == "ST" {
			break
		}
		if sig == "CE" && l >= 28 {
			ce = e
		} else if err := fn(e); err != nil {
			return err
		}
		i += l
	}
	if ce == nil {
		return nil
	}
	loc, off, n := int64(le32(ce[4:])), int64(le32(ce[12:])), int64(le32(ce[20:]))
	if n == 0 {
		return nil
	}
	if off+n > SectorSize {
		return fmt.Errorf("iso: SUSP continuation area (LBA %d, offset %d, length %d) crosses a block", loc, off, n)
	}
	abs := loc*SectorSize + off
	if s.size > 0 && abs+n > s.size {
		return fmt.Errorf("iso: SUSP continuation area at LBA %d lies outside the image", loc)
	}
	if s.buf != nil && abs >= s.bufOff && abs+n <= s.bufOff+int64(len(s.buf)) {
		return s.walkDepth(s.buf[abs-s.bufOff:abs-s.bufOff+n], fn, depth+1)
	}
	buf := make([]byte, n)
	if _, err := s.r.ReadAt(buf, abs); err != nil {
		return fmt.Errorf("iso: reading SUSP continuation area at LBA %d: %w", loc, err)
	}
	if err := s.walkDepth(buf, fn, depth+1); err != nil {
		return err
	}
	if s.w != nil {
		if _, err := s.w.WriteAt(buf, abs); err != nil {
			return fmt.Errorf("iso: writing SUSP continuation area at LBA %d: %w", loc, err)
		}
	}
	return nil
}

// spSkip returns the SUSP "bytes to skip" announced by the SP entry of the
// root directory's "." record, and whether SUSP is in use at all.
func spSkip(rootDot []byte) (int, bool) {
	su := systemUse(rootDot, 0)
	if len(su) >= 7 && string(su[0:2]) == "SP" && su[4] == 0xBE && su[5] == 0xEF {
		return int(su[6]), true
	}
	return 0, false
}

// imageSize returns the size of r if it can tell, else 0.
func imageSize(r io.ReaderAt) int64 {
	type sizer interface{ Size() int64 }
	if s, ok := r.(sizer); ok {
		return s.Size()
	}
	if s, ok := r.(io.Seeker); ok {
		cur, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0
		}
		end, err := s.Seek(0, io.SeekEnd)
		if _, err2 := s.Seek(cur, io.SeekStart); err != nil || err2 != nil {
			return 0
		}
		return end
	}
	return 0
}
