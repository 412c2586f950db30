package hybrid

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"
	"unicode/utf16"
)

const (
	gptSignature  = "EFI PART"
	gptRevision   = 0x00010000
	gptHeaderSize = 92

	// Partition attribute bits (UEFI 2.x, table "Defined GPT Partition Entry -
	// Attributes"; bit 60 "read-only" is a Basic data partition bit).
	attrRequired = 1 << 0
	attrReadOnly = 1 << 60
)

// Partition type GUIDs.
var (
	typeBasicData = mustGUID("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7")
	typeESP       = mustGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
)

// mustGUID encodes a textual GUID in GPT's on-disk (mixed endian) form.
func mustGUID(s string) [16]byte {
	var g [16]byte
	raw, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(raw) != 16 {
		panic("hybrid: bad GUID " + s)
	}
	binary.LittleEndian.PutUint32(g[0:], binary.BigEndian.Uint32(raw[0:]))
	binary.LittleEndian.PutUint16(g[4:], binary.BigEndian.Uint16(raw[4:]))
	binary.LittleEndian.PutUint16(g[6:], binary.BigEndian.Uint16(raw[6:]))
	copy(g[8:], raw[8:])
	return g
}

// guidString formats an on-disk GUID the usual way.
func guidString(g []byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X",
		binary.LittleEndian.Uint32(g[0:]), binary.LittleEndian.Uint16(g[4:]),
		binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:16])
}

// derivedGUID makes a version-4-shaped GUID from the disk ID, so that the
// same DiskID always gives the same GPT.
func derivedGUID(diskID uint32, what string) [16]byte {
	var seed [4]byte
	binary.LittleEndian.PutUint32(seed[:], diskID)
	sum := sha256.Sum256(append([]byte("lockstep hybrid GPT "+what+" "), seed[:]...))
	var g [16]byte
	copy(g[:], sum[:16])
	g[7] = g[7]&0x0f | 0x40 // version 4 (high nibble of the LE time_hi field)
	g[8] = g[8]&0x3f | 0x80 // RFC 4122 variant
	return g
}

type gptPart struct {
	typ         [16]byte
	guid        [16]byte
	first, last uint64
	attrs       uint64
	name        string
}

// buildGPT returns the primary GPT (header sector then entries, for LBA 1..63)
// and the backup (entries then header, for the last 63 sectors).
func buildGPT(l Layout) (primary, backup []byte) {
	n := uint64(l.ImageSize / Sector)
	lastUsable := n - gptTailSecs - 1
	parts := []gptPart{{
		typ:   typeBasicData,
		guid:  derivedGUID(l.DiskID, "partition 1"),
		first: 0,
		// whole 2048-byte blocks up to the one holding the backup GPT, as xorriso
		last:  lastUsable - 1,
		attrs: attrRequired | attrReadOnly,
		name:  "ISOHybrid",
	}}
	if l.ESPSize > 0 {
		first := uint64(l.ESPOffset / Sector)
		parts = append(parts, gptPart{
			typ:   typeESP,
			guid:  derivedGUID(l.DiskID, "partition 2"),
			first: first,
			last:  first + uint64(espSectors(l)) - 1,
			attrs: attrRequired,
			name:  "ISOHybrid1",
		})
	}
	entries := make([]byte, gptEntries*gptEntrySize)
	for i, p := range parts {
		e := entries[i*gptEntrySize:]
		copy(e[0:16], p.typ[:])
		copy(e[16:32], p.guid[:])
		binary.LittleEndian.PutUint64(e[32:], p.first)
		binary.LittleEndian.PutUint64(e[40:], p.last)
		binary.LittleEndian.PutUint64(e[48:], p.attrs)
		for j, u := range utf16.Encode([]rune(p.name)) {
			binary.LittleEndian.PutUint16(e[56+2*j:], u)
		}
	}
	entriesCRC := crc32.ChecksumIEEE(entries)
	diskGUID := derivedGUID(l.DiskID, "disk")
	header := func(my, alt, entriesLBA uint64) []byte {
		h := make([]byte, Sector)
		copy(h, gptSignature)
		binary.LittleEndian.PutUint32(h[8:], gptRevision)
		binary.LittleEndian.PutUint32(h[12:], gptHeaderSize)
		binary.LittleEndian.PutUint64(h[24:], my)
		binary.LittleEndian.PutUint64(h[32:], alt)
		binary.LittleEndian.PutUint64(h[40:], gptFirstUsable)
		binary.LittleEndian.PutUint64(h[48:], lastUsable)
		copy(h[56:72], diskGUID[:])
		binary.LittleEndian.PutUint64(h[72:], entriesLBA)
		binary.LittleEndian.PutUint32(h[80:], gptEntries)
		binary.LittleEndian.PutUint32(h[84:], gptEntrySize)
		binary.LittleEndian.PutUint32(h[88:], entriesCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:gptHeaderSize]))
		return h
	}
	primary = append(header(1, n-1, 2), entries...)
	backup = append(append([]byte{}, entries...), header(n-1, 1, n-gptTailSecs)...)
	return primary, backup
}
