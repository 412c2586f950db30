package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/storage"
	"github.com/lockstep-ft/lockstep/agent/storage/drbd"
	"github.com/lockstep-ft/lockstep/agent/storage/lvm"
)

// An FT VM's volume (ha.ReplicationCOLO) is a plain logical volume on each
// node: QEMU's COLO copies the primary's writes to the secondary's volume
// over NBD, so DRBD has no part in it. The volume keeps the size rule of
// HA volumes (room for DRBD's internal metadata at its end) so that the VM
// can later change to HA in place; QEMU is given the guest's size
// (ha.Volume.Bytes) and never touches that end.

// ensureCOLO makes an FT volume ready here: its logical volume exists, no
// DRBD resource holds it, and its end beyond the guest's bytes holds no
// DRBD metadata.
//
// The metadata is zeroed because a volume that comes back to HA must get
// new metadata on both nodes (and a full sync from the current copy,
// ha.Volume.Current): metadata left from before its FT time would still
// say that both copies are equal, and DRBD would connect them without a
// sync although FT ran them apart. With no metadata, Ensure's "up" fails on
// it and makes new metadata, as for a volume cut between lvcreate and
// create-md. This is done once per agent run and volume: the end is never
// written by anything else.
func (s *drbdStorage) ensureCOLO(ctx context.Context, v ha.Volume) error {
	name := v.Resource()
	if s.coloReady(name) {
		return nil
	}
	// A volume that was HA until a mode change has its resource up on
	// both nodes, holding the logical volume open.
	if st, err := s.adm.Status(ctx, name); err != nil {
		return err
	} else if st.Disk != "" {
		s.logf("storage: %s is an FT volume now: taking its DRBD resource down", name)
		if err := s.adm.Down(ctx, name); err != nil {
			return err
		}
	}
	s.setApplied(s.resource(v), false)
	if err := s.configure(s.resource(v), true); err != nil {
		return err
	}
	vols, err := s.lvm.Volumes(ctx, v.Group)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(vols, func(l lvm.Volume) bool { return l.Name == name })
	var size int64
	if i >= 0 {
		size = vols[i].SizeBytes
	} else {
		lv, err := s.lvm.CreateVolume(ctx, v.Group, name, drbd.BackingSize(v.SizeMiB<<20), nil)
		if err != nil {
			return err
		}
		size = lv.SizeBytes
	}
	// lvcreate zeroes only a new volume's start: its end may hold the
	// metadata of an earlier volume in the same extents.
	if err := zeroTail(ctx, s.run, lvm.VolumePath(v.Group, name), v.Bytes(), size); err != nil {
		return err
	}
	s.setCOLOReady(name, true)
	return nil
}

// zeroTail zeroes dev from off to its end (size).
func zeroTail(ctx context.Context, run storage.Runner, dev string, off, size int64) error {
	switch {
	case off > size:
		return fmt.Errorf("%s: the guest's %d bytes do not fit its %d bytes", dev, off, size)
	case off == size:
		return nil
	}
	_, err := storage.Output(ctx, run, "blkdiscard", "--zeroout", "--offset", strconv.FormatInt(off, 10),
		"--length", strconv.FormatInt(size-off, 10), dev)
	return err
}

// removeCOLO deletes an FT volume's logical volume (and a DRBD resource
// still over it, if the VM was HA until its deletion).
func (s *drbdStorage) removeCOLO(ctx context.Context, v ha.Volume) error {
	name := v.Resource()
	s.setCOLOReady(name, false)
	if st, err := s.adm.Status(ctx, name); err == nil && st.Disk != "" {
		var cerr *storage.CmdError
		if err := s.adm.Down(ctx, name); err != nil && !errors.As(err, &cerr) {
			return err
		}
	}
	if err := s.configure(s.resource(v), true); err != nil {
		return err
	}
	vols, err := s.lvm.Volumes(ctx, v.Group)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(vols, func(l lvm.Volume) bool { return l.Name == name }) {
		return s.lvm.RemoveVolume(ctx, v.Group, name)
	}
	return nil
}

func (s *drbdStorage) coloReady(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.colo[name]
}

func (s *drbdStorage) setCOLOReady(name string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.colo == nil {
		s.colo = map[string]bool{}
	}
	if ok {
		s.colo[name] = true
	} else {
		delete(s.colo, name)
	}
}

// firstSyncFrom refuses to make this node's copy the source of DRBD's first
// sync when v.Current names the other node: a VM changed from FT to HA
// whose last FT run was on that node alone has the only current data
// there.
func (s *drbdStorage) firstSyncFrom(v ha.Volume) error {
	if v.Current == "" || v.Current == nodeName(s.self) {
		return nil
	}
	return fmt.Errorf("volume %s: only %s has its current data (the VM last ran there as FT, unprotected): "+
		"start the VM on %s, whose copy DRBD's first sync then copies here", v.Name, v.Current, v.Current)
}

// DeviceBytes implements nodeStorage: the size of v's DRBD device as the
// kernel has it, which is what an HA guest sees. sysfs has it for a device
// that is Secondary too, which cannot be opened.
func (s *drbdStorage) DeviceBytes(v ha.Volume) (int64, error) {
	p := filepath.Join(cmp.Or(s.sysRoot, "/sys"), "block", fmt.Sprintf("drbd%d", v.Minor), "size")
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	sectors, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || sectors <= 0 {
		return 0, fmt.Errorf("%s: %q is no size (is the resource up?)", p, b)
	}
	return sectors * 512, nil // sysfs counts 512-byte sectors, whatever the device's block size
}
