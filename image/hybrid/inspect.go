package hybrid

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

var mbrTypeNames = map[byte]string{
	0x00: "empty",
	0x0b: "FAT32",
	0x0c: "FAT32 LBA",
	0x17: "hidden NTFS/HPFS",
	0x83: "Linux",
	0xee: "GPT protective",
	0xef: "EFI (FAT)",
}

// Inspect describes the MBR and GPT of an image, for tests and the CLI. It
// reports structural problems (bad CRCs, a backup GPT that does not match)
// in the text, and returns an error only when r cannot be read.
func Inspect(r io.ReaderAt) (string, error) {
	var out strings.Builder
	mbr := make([]byte, Sector)
	if _, err := r.ReadAt(mbr, 0); err != nil {
		return "", fmt.Errorf("hybrid: reading MBR: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		out.WriteString("MBR: none (no 0x55AA signature)\n")
	} else {
		fmt.Fprintf(&out, "MBR: disk signature 0x%08x, isohybrid boot file at sector %d (2048-byte LBA %d)\n",
			binary.LittleEndian.Uint32(mbr[mbrDiskID:]), binary.LittleEndian.Uint64(mbr[mbrBootLBA:]),
			binary.LittleEndian.Uint64(mbr[mbrBootLBA:])/4)
		if allZero(mbr[:mbrCodeSize]) {
			out.WriteString("  no boot code\n")
		}
		for i := 0; i < 4; i++ {
			p := mbr[mbrPartitions+16*i : mbrPartitions+16*(i+1)]
			if allZero(p) {
				continue
			}
			boot := " "
			if p[0] == 0x80 {
				boot = "*"
			}
			start, size := binary.LittleEndian.Uint32(p[8:]), binary.LittleEndian.Uint32(p[12:])
			name := mbrTypeNames[p[4]]
			if name == "" {
				name = "?"
			}
			fmt.Fprintf(&out, "  %d %s type 0x%02x %-10s start %d sectors %d end %d chs %02x%02x%02x-%02x%02x%02x\n",
				i+1, boot, p[4], "("+name+")", start, size, uint64(start)+uint64(size)-1, p[1], p[2], p[3], p[5], p[6], p[7])
		}
	}

	hdr := make([]byte, Sector)
	if _, err := r.ReadAt(hdr, Sector); err != nil || !bytes.HasPrefix(hdr, []byte(gptSignature)) {
		out.WriteString("GPT: none\n")
		return out.String(), nil
	}
	g, problems, err := readGPT(r, hdr, 1)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&out, "GPT: disk GUID %s, header LBA %d, backup LBA %d, entries LBA %d (%d x %d bytes), usable %d..%d\n",
		guidString(g.hdr[56:72]), g.my, g.alt, g.entriesLBA, g.num, g.entrySize, g.firstUsable, g.lastUsable)
	for i, p := range g.parts {
		fmt.Fprintf(&out, "  %d type %s (%s) start %d end %d sectors %d attrs 0x%016x name %q guid %s\n",
			i+1, guidString(p.typ[:]), gptTypeName(p.typ), p.first, p.last, p.last-p.first+1, p.attrs, p.name, guidString(p.guid[:]))
	}
	if g.alt > 1 {
		bh := make([]byte, Sector)
		if _, err := r.ReadAt(bh, int64(g.alt)*Sector); err != nil || !bytes.HasPrefix(bh, []byte(gptSignature)) {
			problems = append(problems, fmt.Sprintf("no backup GPT header at LBA %d", g.alt))
		} else {
			b, bp, err := readGPT(r, bh, g.alt)
			if err != nil {
				return "", err
			}
			for _, p := range bp {
				problems = append(problems, "backup: "+p)
			}
			if b.alt != 1 || b.firstUsable != g.firstUsable || b.lastUsable != g.lastUsable ||
				!bytes.Equal(b.hdr[56:72], g.hdr[56:72]) || !bytes.Equal(b.entries, g.entries) {
				problems = append(problems, "backup GPT differs from the primary")
			}
		}
	}
	if len(problems) == 0 {
		out.WriteString("GPT: headers and entries consistent, CRCs ok\n")
	}
	for _, p := range problems {
		fmt.Fprintf(&out, "GPT problem: %s\n", p)
	}
	return out.String(), nil
}

type gptInfo struct {
	hdr                     []byte
	my, alt                 uint64
	firstUsable, lastUsable uint64
	entriesLBA              uint64
	num, entrySize          uint32
	entries                 []byte
	parts                   []gptPart
}

func readGPT(r io.ReaderAt, hdr []byte, at uint64) (*gptInfo, []string, error) {
	var problems []string
	g := &gptInfo{hdr: hdr}
	hsize := binary.LittleEndian.Uint32(hdr[12:])
	if hsize < gptHeaderSize || hsize > Sector {
		return g, []string{fmt.Sprintf("header size %d", hsize)}, nil
	}
	h := append([]byte{}, hdr[:hsize]...)
	want := binary.LittleEndian.Uint32(h[16:])
	binary.LittleEndian.PutUint32(h[16:], 0)
	if crc32.ChecksumIEEE(h) != want {
		problems = append(problems, "header CRC mismatch")
	}
	g.my = binary.LittleEndian.Uint64(hdr[24:])
	g.alt = binary.LittleEndian.Uint64(hdr[32:])
	g.firstUsable = binary.LittleEndian.Uint64(hdr[40:])
	g.lastUsable = binary.LittleEndian.Uint64(hdr[48:])
	g.entriesLBA = binary.LittleEndian.Uint64(hdr[72:])
	g.num = binary.LittleEndian.Uint32(hdr[80:])
	g.entrySize = binary.LittleEndian.Uint32(hdr[84:])
	if g.my != at {
		problems = append(problems, fmt.Sprintf("header at LBA %d says it is at LBA %d", at, g.my))
	}
	if g.entrySize < 128 || g.entrySize%8 != 0 || g.num > 4096 {
		return g, append(problems, fmt.Sprintf("implausible entry array %d x %d", g.num, g.entrySize)), nil
	}
	g.entries = make([]byte, int(g.num)*int(g.entrySize))
	if _, err := r.ReadAt(g.entries, int64(g.entriesLBA)*Sector); err != nil {
		return nil, nil, fmt.Errorf("hybrid: reading GPT entries at LBA %d: %w", g.entriesLBA, err)
	}
	if crc32.ChecksumIEEE(g.entries) != binary.LittleEndian.Uint32(hdr[88:]) {
		problems = append(problems, "entry array CRC mismatch")
	}
	for i := 0; i < int(g.num); i++ {
		e := g.entries[i*int(g.entrySize):]
		var p gptPart
		copy(p.typ[:], e[0:16])
		if p.typ == ([16]byte{}) {
			continue
		}
		copy(p.guid[:], e[16:32])
		p.first = binary.LittleEndian.Uint64(e[32:])
		p.last = binary.LittleEndian.Uint64(e[40:])
		p.attrs = binary.LittleEndian.Uint64(e[48:])
		u := make([]uint16, 0, 36)
		for j := 0; j < 36; j++ {
			c := binary.LittleEndian.Uint16(e[56+2*j:])
			if c == 0 {
				break
			}
			u = append(u, c)
		}
		p.name = string(utf16.Decode(u))
		g.parts = append(g.parts, p)
	}
	return g, problems, nil
}

func gptTypeName(t [16]byte) string {
	switch t {
	case typeBasicData:
		return "Basic data"
	case typeESP:
		return "EFI System"
	}
	return "?"
}
