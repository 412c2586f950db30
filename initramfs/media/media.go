// Package media finds the installer's boot medium (CD, USB stick, IPMI
// virtual media) by its ISO9660 volume label and mounts it. Firmware does not
// tell the kernel which device it booted from, and IPMI virtual media shows up
// as a USB CD or a USB disk depending on the BMC, so we look at every block
// device, whole disks and partitions alike: a dd'ed stick carries the ISO9660
// tree at the start of the whole disk.
package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	pvdOffset = 16 * 2048
	// Volume identifier: bytes 40..71 of the primary volume descriptor, space padded.
	volIDStart, volIDEnd = 40, 72
)

// Label reads the ISO9660 volume label of r, or "" when r holds no ISO9660.
func Label(r io.ReaderAt) string {
	buf := make([]byte, 2048)
	if _, err := r.ReadAt(buf, pvdOffset); err != nil {
		return ""
	}
	if buf[0] != 1 || string(buf[1:6]) != "CD001" {
		return ""
	}
	return strings.TrimRight(string(buf[volIDStart:volIDEnd]), " \x00")
}

// Finder scans block devices.
type Finder struct {
	SysRoot string // "/sys"
	DevRoot string // "/dev"
	Log     func(format string, args ...any)
}

// Find polls until a device labelled label appears or ctx ends. USB and
// virtual media enumerate seconds after the kernel is up.
func (f Finder) Find(ctx context.Context, label string) (string, error) {
	for {
		if dev, err := f.scan(label); err == nil {
			return dev, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("media: no device with volume label %q found (looked at %s): %w", label, strings.Join(f.candidates(), ", "), ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

var errNotFound = errors.New("not found")

func (f Finder) candidates() []string {
	entries, _ := os.ReadDir(filepath.Join(f.SysRoot, "class", "block"))
	var names []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") {
			continue
		}
		names = append(names, n)
	}
	// CD drives first: on a machine booted from a DVD the installed disks may
	// also carry an old copy of the image.
	sort.SliceStable(names, func(i, j int) bool {
		return strings.HasPrefix(names[i], "sr") && !strings.HasPrefix(names[j], "sr")
	})
	return names
}

func (f Finder) scan(label string) (string, error) {
	for _, n := range f.candidates() {
		dev := filepath.Join(f.DevRoot, n)
		if got := readLabel(dev, Label); got == label {
			if f.Log != nil {
				f.Log("media: %s has label %q", dev, label)
			}
			return dev, nil
		}
	}
	return "", errNotFound
}

func readLabel(dev string, read func(io.ReaderAt) string) string {
	fh, err := os.Open(dev)
	if err != nil {
		return ""
	}
	defer fh.Close()
	return read(fh)
}
