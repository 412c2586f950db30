package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/storage"
	"github.com/lockstep-ft/lockstep/agent/storage/lvm"
)

// diskResolver finds the block device of a storage disk's stable id (as
// node.json's storage_disks holds them).
type diskResolver interface {
	Resolve(id string) (string, error)
}

// devDiskResolver resolves ids through udev's links under Root (/dev/disk
// on a node; a fixture tree in tests): by-id and by-path.
type devDiskResolver struct{ Root string }

var (
	// partLink is a by-id or by-path link to a partition, never a storage disk.
	partLink = regexp.MustCompile(`-part[0-9]+$`)
	// usbLUN ends a USB disk's by-id name after its serial: usb-…_<serial>-0:0.
	usbLUN = regexp.MustCompile(`^-[0-9]+:[0-9]+$`)
)

// Resolve implements diskResolver. The installer's ids are
//
//   - "path:<by-path>": by-path/<by-path>;
//   - "serial:<serial>": the by-id link that udev names after the serial:
//     virtio-<serial>, or <bus>-<model>_<serial> (ata-, nvme-, scsi-SATA_…,
//     usb-…_<serial>-0:0);
//   - "wwn:<wwid>" (the kernel's wwid): wwn-0x<hex> and scsi-3<hex> for
//     naa./eui. ids, nvme-<wwid> for NVMe, md-uuid-<uuid> for md arrays;
//
// and an answer file may give a bare WWN, serial, or a by-id or by-path
// name. The device is the link's target (/dev/sdb), the name LVM's filter
// admits. An id that matches links to two different devices is an error.
func (r devDiskResolver) Resolve(id string) (string, error) {
	for _, p := range []string{"/dev/disk/by-id/", "/dev/disk/by-path/"} {
		id = strings.TrimPrefix(id, p)
	}
	kind, v, typed := strings.Cut(id, ":")
	switch {
	case typed && kind == "path":
		return r.resolve(id, []string{"by-path/" + v}, nil)
	case typed && kind == "serial":
		return r.resolve(id, []string{"by-id/virtio-" + v}, serialMatch(v))
	case typed && kind == "wwn":
		return r.resolve(id, wwnLinks(v), nil)
	case typed && kind == "name":
		return "", fmt.Errorf("storage disk %q: a kernel name is not a stable id", id)
	}
	// Bare: a link's own name, else a serial or a WWN.
	links := []string{"by-id/" + id, "by-path/" + id, "by-id/virtio-" + id}
	return r.resolve(id, append(links, wwnLinks(id)...), serialMatch(id))
}

// serialMatch matches the by-id names that end in the serial.
func serialMatch(serial string) func(string) bool {
	return func(name string) bool {
		if i := strings.LastIndex(name, "_"+serial); i > 0 {
			rest := name[i+1+len(serial):]
			return rest == "" || usbLUN.MatchString(rest)
		}
		return false
	}
}

// wwnLinks are the by-id names udev gives a disk with this kernel wwid.
func wwnLinks(w string) []string {
	links := []string{"by-id/nvme-" + w, "by-id/wwn-" + w}
	for _, p := range []string{"naa.", "eui."} {
		if hex, ok := strings.CutPrefix(w, p); ok {
			links = append(links, "by-id/wwn-0x"+hex, "by-id/scsi-3"+hex)
		}
	}
	if u, ok := strings.CutPrefix(w, "md-uuid."); ok {
		links = append(links, "by-id/md-uuid-"+u)
	}
	return links
}

// resolve follows the first of links that exists, plus every by-id link
// match accepts; they must all be one device.
func (r devDiskResolver) resolve(id string, links []string, match func(string) bool) (string, error) {
	var found []string
	add := func(rel string) {
		if partLink.MatchString(rel) {
			return
		}
		if dev, err := filepath.EvalSymlinks(filepath.Join(r.Root, rel)); err == nil && !slices.Contains(found, dev) {
			found = append(found, dev)
		}
	}
	for _, l := range links {
		add(l)
	}
	if match != nil {
		ents, _ := os.ReadDir(filepath.Join(r.Root, "by-id"))
		for _, e := range ents {
			if match(e.Name()) {
				add("by-id/" + e.Name())
			}
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("storage disk %q: no such disk under %s/by-id or %s/by-path", id, r.Root, r.Root)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("storage disk %q: names more than one disk (%s)", id, strings.Join(found, ", "))
}

// firstGroupDevices are the devices of the first storage group: the
// install's storage partition, then the storage disks that resolve, in
// node.json's order. An id that does not resolve (a disk pulled, a
// controller not seen) is logged and left out: the group is still made,
// and the disk can be added later. If some do not resolve at first, udev
// may still be making its links: settle runs once (udevadm settle) and
// they are tried again.
func firstGroupDevices(part string, ids []string, r diskResolver, settle func() error, logf func(string, ...any)) []string {
	devs := make([]string, len(ids))
	errs := make([]error, len(ids))
	resolve := func() (failed bool) {
		for i, id := range ids {
			if devs[i] == "" {
				devs[i], errs[i] = r.Resolve(id)
				failed = failed || errs[i] != nil
			}
		}
		return failed
	}
	if resolve() && settle != nil {
		if err := settle(); err != nil {
			logf("storage: udevadm settle: %v", err)
		}
		resolve()
	}
	out := []string{part}
	for i, id := range ids {
		switch {
		case errs[i] != nil:
			logf("storage: %v; left out of storage group %s", errs[i], firstGroup)
		case slices.Contains(out, devs[i]):
			logf("storage: storage disk %q is %s, which is in storage group %s already", id, devs[i], firstGroup)
		default:
			out = append(out, devs[i])
		}
	}
	return out
}

// makeFirstGroup makes the first storage group over the storage partition
// and the storage disks (see firstGroupDevices).
func makeFirstGroup(ctx context.Context, run storage.Runner, m *lvm.Manager, part string, ids []string, r diskResolver, logf func(string, ...any)) (lvm.Group, error) {
	settle := func() error {
		_, err := storage.Output(ctx, run, "udevadm", "settle", "--timeout=30")
		return err
	}
	devs := firstGroupDevices(part, ids, r, settle, logf)
	g, err := m.CreateGroup(ctx, firstGroup, devs)
	if err != nil {
		return lvm.Group{}, err
	}
	logf("storage: made storage group %s on %s (%d MiB)", g.Name, strings.Join(devs, ", "), g.SizeBytes>>20)
	return g, nil
}
