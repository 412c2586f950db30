package layout

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
)

// guidBytes parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (any case) into its
// 16 bytes in textual order (the GPT's mixed-endian form is encodeGUID's job).
func guidBytes(s string) ([16]byte, error) {
	var b [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, fmt.Errorf("invalid GUID %q", s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(b[:], []byte(h)); err != nil {
		return b, fmt.Errorf("invalid GUID %q", s)
	}
	return b, nil
}

// formatGUID prints 16 bytes as an upper-case GUID, the form sgdisk prints.
func formatGUID(b [16]byte) string {
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// NormalizeGUID returns s in upper case after checking its syntax.
func NormalizeGUID(s string) (string, error) {
	b, err := guidBytes(s)
	if err != nil {
		return "", err
	}
	return formatGUID(b), nil
}

// NewDiskGUID returns a random (version 4) GUID for a new disk.
func NewDiskGUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b), nil
}

// DerivePartitionGUID is the unique GUID of partition name on the disk
// with GUID diskGUID: a name-based (RFC 4122 version 5, SHA-1) GUID with the
// disk GUID as namespace. It is deterministic, so Read can tell a table that
// Write produced from one that merely uses the same names, and the GRUB
// configuration and kernel command line can say root=PARTUUID=… before the
// table exists; and it differs from disk to disk, so two Lockstep disks in
// one machine never share a PARTUUID.
func DerivePartitionGUID(diskGUID, name string) (string, error) {
	ns, err := guidBytes(diskGUID)
	if err != nil {
		return "", fmt.Errorf("disk GUID: %w", err)
	}
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte("lockstep/" + name))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b), nil
}

// WithGUIDs returns a copy of l with the disk GUID set and every partition's
// GUID derived from it: what Write puts on the disk.
func (l Layout) WithGUIDs(diskGUID string) (Layout, error) {
	g, err := NormalizeGUID(diskGUID)
	if err != nil {
		return Layout{}, fmt.Errorf("layout: disk GUID: %w", err)
	}
	out := l
	out.DiskGUID = g
	out.Partitions = append([]Partition(nil), l.Partitions...)
	for i := range out.Partitions {
		pg, err := DerivePartitionGUID(g, out.Partitions[i].Name)
		if err != nil {
			return Layout{}, err
		}
		out.Partitions[i].GUID = pg
	}
	return out, nil
}
