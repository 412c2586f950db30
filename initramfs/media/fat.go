package media

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
)

// FATLabel reads the volume label of a FAT12/16/32 filesystem from its boot
// sector, or "" when r holds none. The label sits at a different offset in the
// FAT32 extended BPB (71) than in FAT12/16's (43); the filesystem-type string
// after it tells which layout this is.
func FATLabel(r io.ReaderAt) string {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, 0); err != nil {
		return ""
	}
	if b[510] != 0x55 || b[511] != 0xaa {
		return ""
	}
	switch {
	case strings.HasPrefix(string(b[82:90]), "FAT32"):
		return strings.TrimRight(string(b[71:82]), " \x00")
	case strings.HasPrefix(string(b[54:62]), "FAT1"):
		return strings.TrimRight(string(b[43:54]), " \x00")
	}
	return ""
}

// CfgLabels are the labels of an answer-file stick. FAT labels hold 11
// characters, so a FAT stick is labelled LOCKSTEPCFG; ISO9660 media can carry
// the full LOCKSTEP-CFG.
var CfgLabels = []string{"LOCKSTEP-CFG", "LOCKSTEPCFG", "LOCKSTEP_CFG"}

// FindLabelled polls for an ISO9660 or FAT filesystem carrying one of labels
// until ctx ends, and returns the device and the filesystem type to mount.
func (f Finder) FindLabelled(ctx context.Context, labels []string) (dev, fstype string, err error) {
	for {
		for _, n := range f.candidates() {
			d := filepath.Join(f.DevRoot, n)
			for _, l := range labels {
				if got := readLabel(d, FATLabel); got != "" && strings.EqualFold(got, l) {
					return d, "vfat", nil
				}
				if got := readLabel(d, Label); got != "" && strings.EqualFold(got, l) {
					return d, "iso9660", nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", "", fmt.Errorf("media: no filesystem labelled %s: %w", strings.Join(labels, " or "), ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
