package iso

import (
	"fmt"
	"io"
	"math/bits"
	"time"
)

// ReadWriterAt is an image opened for reading and in-place patching.
type ReadWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

const (
	sIFMT  = 0o170000
	sIFDIR = 0o040000
	sIFREG = 0o100000
)

// Normalize rewrites, in place, everything in an ISO9660 image that depends
// on when, where or by whom it was built, so that the same tree and epoch give
// the same bytes:
//
//   - the 17-byte volume creation, modification and effective dates of every
//     primary/supplementary volume descriptor become epoch (UTC); the
//     expiration date becomes "not specified" (all '0' digits, offset 0);
//   - the 7-byte recording date of every directory record (including "." and
//     "..", and the root record inside the volume descriptor) becomes epoch;
//   - every Rock Ridge TF timestamp (short or long form) becomes epoch;
//   - Rock Ridge PX: uid and gid become 0; non-directories get nlink 1 (the
//     staging tree's hard links, and the ones Write makes, must not leak);
//     directories get nlink 2 + number of subdirectories (independent of the
//     build host's filesystem) and mode 0755 where it was 0700; a regular
//     file without any permission bits (go-diskfs's boot catalog) gets 0444.
//
// Rock Ridge entries are found by walking the whole tree from each volume
// descriptor's root, following SUSP continuation (CE) areas. No size or
// location changes.
func Normalize(f ReadWriterAt, epoch time.Time) error {
	d7, d17, err := epochDates(epoch)
	if err != nil {
		return err
	}
	secs, vds, err := volumeDescriptors(f)
	if err != nil {
		return err
	}
	n := &normalizer{f: f, d7: d7, d17: d17, size: imageSize(f)}
	for i, vd := range vds {
		if vd[0] != vdPrimary && vd[0] != vdSupplement {
			continue
		}
		copy(vd[pvdCreation:], d17)
		copy(vd[pvdModification:], d17)
		copy(vd[pvdExpiration:], "0000000000000000\x00")
		copy(vd[pvdEffective:], d17)
		root := vd[pvdRootRecord : pvdRootRecord+drMinLen]
		copy(root[drDate:], d7)
		if _, err := f.WriteAt(vd, secs[i]*SectorSize); err != nil {
			return fmt.Errorf("iso: writing volume descriptor: %w", err)
		}
		if err := n.tree(recordExtent(root)); err != nil {
			return err
		}
	}
	return nil
}

// epochDates encodes t as an ECMA-119 9.1.5 7-byte recording date and an
// 8.4.26.1 17-byte dec-datetime, both UTC.
func epochDates(t time.Time) ([]byte, []byte, error) {
	t = t.UTC()
	if t.Year() < 1900 || t.Year() > 2155 {
		return nil, nil, fmt.Errorf("iso: epoch %s is outside the ISO9660 date range (1900-2155)", t.Format(time.RFC3339))
	}
	d7 := []byte{byte(t.Year() - 1900), byte(t.Month()), byte(t.Day()),
		byte(t.Hour()), byte(t.Minute()), byte(t.Second()), 0}
	d17 := []byte(fmt.Sprintf("%04d%02d%02d%02d%02d%02d%02d\x00",
		t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1e7))
	return d7, d17, nil
}

type normalizer struct {
	f        ReadWriterAt
	d7, d17  []byte
	size     int64
	subdirs  map[uint32]uint32 // directory extent -> number of subdirectories
	skip     int               // SUSP SP skip bytes
	suspUsed bool
}

// tree normalizes the directory hierarchy rooted at root: a first read-only
// pass counts subdirectories (for directory link counts), the second patches.
func (n *normalizer) tree(root extent) error {
	rootDir, err := readExtent(n.f, root)
	if err != nil {
		return err
	}
	recs, err := records(rootDir, root.size)
	if err != nil {
		return err
	}
	n.skip, n.suspUsed = 0, false
	if len(recs) > 0 {
		n.skip, n.suspUsed = spSkip(recs[0])
	}
	n.subdirs = map[uint32]uint32{}
	ro := &suspWalker{r: n.f, size: n.size}
	if err := walkDirs(n.f, root, func(dir extent, buf []byte, recs [][]byte) (bool, error) {
		for _, rec := range recs {
			if isDotRecord(rec) {
				continue
			}
			isDir := rec[drFlags]&flagDirectory != 0
			var re, cl bool
			if n.suspUsed {
				if err := ro.walk(systemUse(rec, n.skip), func(e []byte) error {
					switch string(e[0:2]) {
					case "RE":
						re = true
					case "CL":
						cl = true
					}
					return nil
				}); err != nil {
					return false, err
				}
			}
			// Rock Ridge semantics: a relocated directory (RE) counts in its
			// original parent, where a CL placeholder stands for it.
			if (isDir && !re) || cl {
				n.subdirs[dir.loc]++
			}
		}
		return false, nil
	}); err != nil {
		return err
	}

	rw := &suspWalker{r: n.f, w: n.f, size: n.size}
	return walkDirs(n.f, root, func(dir extent, buf []byte, recs [][]byte) (bool, error) {
		rw.bufOff, rw.buf = int64(dir.loc)*SectorSize, buf
		for _, rec := range recs {
			copy(rec[drDate:], n.d7)
			if !n.suspUsed {
				continue
			}
			target := recordExtent(rec).loc
			if err := rw.walk(systemUse(rec, n.skip), func(e []byte) error {
				switch string(e[0:2]) {
				case "TF":
					n.fixTF(e)
				case "PX":
					n.fixPX(e, target)
				}
				return nil
			}); err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

func (n *normalizer) fixTF(e []byte) {
	if len(e) < 5 {
		return
	}
	sz := 7
	stamp := n.d7
	if e[4]&0x80 != 0 {
		sz = 17
		stamp = n.d17
	}
	count := bits.OnesCount8(e[4] & 0x7f)
	for k := 0; k < count; k++ {
		off := 5 + k*sz
		if off+sz > len(e) {
			return
		}
		copy(e[off:off+sz], stamp)
	}
}

func (n *normalizer) fixPX(e []byte, target uint32) {
	if len(e) < 36 {
		return
	}
	mode := le32(e[4:])
	if mode&sIFMT == sIFDIR {
		if mode&0o777 == 0o700 {
			mode = mode&^0o777 | 0o755
		}
		put733(e[4:], mode)
		put733(e[12:], 2+n.subdirs[target])
	} else {
		if mode == sIFREG {
			// go-diskfs gives the boot catalog no permissions at all
			put733(e[4:], sIFREG|0o444)
		}
		put733(e[12:], 1)
	}
	put733(e[20:], 0)
	put733(e[28:], 0)
}

// walkDirs visits every directory reachable from root (breadth first, each
// extent once) with its records; if visit reports a change, the extent is
// written back.
func walkDirs(f io.ReaderAt, root extent, visit func(dir extent, buf []byte, recs [][]byte) (bool, error)) error {
	w, _ := f.(io.WriterAt)
	seen := map[uint32]bool{root.loc: true}
	queue := []extent{root}
	for len(queue) > 0 {
		if len(seen) > maxDirectory {
			return fmt.Errorf("iso: more than %d directories", maxDirectory)
		}
		dir := queue[0]
		queue = queue[1:]
		buf, err := readExtent(f, dir)
		if err != nil {
			return err
		}
		recs, err := records(buf, dir.size)
		if err != nil {
			return fmt.Errorf("%w (directory at LBA %d)", err, dir.loc)
		}
		for _, rec := range recs {
			if isDotRecord(rec) || rec[drFlags]&flagDirectory == 0 {
				continue
			}
			child := recordExtent(rec)
			if !seen[child.loc] {
				seen[child.loc] = true
				queue = append(queue, child)
			}
		}
		changed, err := visit(dir, buf, recs)
		if err != nil {
			return err
		}
		if changed {
			if w == nil {
				return fmt.Errorf("iso: image is not writable")
			}
			if _, err := w.WriteAt(buf, int64(dir.loc)*SectorSize); err != nil {
				return fmt.Errorf("iso: writing directory at LBA %d: %w", dir.loc, err)
			}
		}
	}
	return nil
}
