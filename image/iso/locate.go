package iso

import (
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// Locate finds name (slash-separated, relative to the image root, e.g.
// "boot/efi.img") in an ISO9660 image and returns its extent: the 2048-byte
// LBA of its data and its size in bytes. Names are matched against Rock Ridge
// names (exactly) where the image has them, else against plain ISO9660 names
// (case-insensitively, without the ";1" version). Rock Ridge relocated
// directories are followed. A missing name gives an error wrapping
// fs.ErrNotExist; "" or "/" gives the root directory.
func Locate(r io.ReaderAt, name string) (lba uint32, size uint32, err error) {
	_, vds, err := volumeDescriptors(r)
	if err != nil {
		return 0, 0, err
	}
	cur := recordExtent(vds[0][pvdRootRecord : pvdRootRecord+drMinLen])
	rootBuf, err := readExtent(r, cur)
	if err != nil {
		return 0, 0, err
	}
	rootRecs, err := records(rootBuf, cur.size)
	if err != nil {
		return 0, 0, err
	}
	skip, susp := 0, false
	if len(rootRecs) > 0 {
		skip, susp = spSkip(rootRecs[0])
	}
	sw := &suspWalker{r: r, size: imageSize(r)}

	var parts []string
	for _, p := range strings.Split(name, "/") {
		if p != "" && p != "." {
			parts = append(parts, p)
		}
	}
	walked := ""
	for i, part := range parts {
		walked = strings.TrimPrefix(walked+"/"+part, "/")
		buf, err := readExtent(r, cur)
		if err != nil {
			return 0, 0, err
		}
		recs, err := records(buf, cur.size)
		if err != nil {
			return 0, 0, err
		}
		found := false
		for _, rec := range recs {
			if isDotRecord(rec) {
				continue
			}
			info, err := recordInfo(sw, rec, skip, susp)
			if err != nil {
				return 0, 0, err
			}
			if info.relocated {
				continue // reached through its CL placeholder instead
			}
			if !info.matches(part) {
				continue
			}
			found = true
			last := i == len(parts)-1
			switch {
			case info.symlink:
				return 0, 0, fmt.Errorf("iso: %s is a symbolic link", walked)
			case rec[drFlags]&flagMultiExtnt != 0:
				return 0, 0, fmt.Errorf("iso: %s has multiple extents (not supported)", walked)
			case info.childLoc != 0:
				dot, err := dotExtent(r, info.childLoc)
				if err != nil {
					return 0, 0, err
				}
				cur = dot
			case rec[drFlags]&flagDirectory != 0:
				cur = recordExtent(rec)
			default:
				if !last {
					return 0, 0, fmt.Errorf("iso: %s is not a directory", walked)
				}
				e := recordExtent(rec)
				return e.loc, e.size, nil
			}
			break
		}
		if !found {
			return 0, 0, fmt.Errorf("iso: %s: %w", walked, fs.ErrNotExist)
		}
	}
	return cur.loc, cur.size, nil
}

type recInfo struct {
	isoName   string
	rrName    string
	hasNM     bool
	symlink   bool
	relocated bool   // RE: the real place of a relocated directory
	childLoc  uint32 // CL: placeholder for a relocated directory
}

func (ri recInfo) matches(want string) bool {
	if ri.hasNM {
		return ri.rrName == want
	}
	return strings.EqualFold(ri.isoName, want)
}

func recordInfo(sw *suspWalker, rec []byte, skip int, susp bool) (recInfo, error) {
	var ri recInfo
	id := string(rec[drName : drName+int(rec[drNameLen])])
	if i := strings.IndexByte(id, ';'); i >= 0 {
		id = id[:i]
	}
	ri.isoName = strings.TrimSuffix(id, ".")
	if !susp {
		return ri, nil
	}
	var nm strings.Builder
	err := sw.walk(systemUse(rec, skip), func(e []byte) error {
		switch string(e[0:2]) {
		case "NM":
			if len(e) >= 5 && e[4]&0x06 == 0 { // not CURRENT/PARENT
				ri.hasNM = true
				nm.Write(e[5:])
			}
		case "SL":
			ri.symlink = true
		case "RE":
			ri.relocated = true
		case "CL":
			if len(e) >= 12 {
				ri.childLoc = le32(e[4:])
			}
		}
		return nil
	})
	ri.rrName = nm.String()
	return ri, err
}

// dotExtent reads the "." record at the start of the directory at loc.
func dotExtent(r io.ReaderAt, loc uint32) (extent, error) {
	b := make([]byte, SectorSize)
	if _, err := r.ReadAt(b, int64(loc)*SectorSize); err != nil {
		return extent{}, fmt.Errorf("iso: reading relocated directory at LBA %d: %w", loc, err)
	}
	recs, err := records(b, SectorSize)
	if err != nil || len(recs) == 0 || !isDotRecord(recs[0]) {
		return extent{}, fmt.Errorf("iso: no directory at LBA %d", loc)
	}
	return recordExtent(recs[0]), nil
}
