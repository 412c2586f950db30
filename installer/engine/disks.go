package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/engine/layout"
)

// StorageDisk is one of the storage group's extra disks (the answers'
// disk.storage_group), opened read-write by the caller. Create and Replace
// erase its ends (eraseDataDisk); Recover never writes to it.
type StorageDisk struct {
	ID    string   // its stable id, as in node.json's storage_disks
	Disk  *os.File // the whole disk
	Bytes int64    // its size; 0 means the file's size
}

// ErrRefused is matched (errors.Is) by a *RefusedError.
var ErrRefused = errors.New("install refused")

// RefusedError is an install the engine refused before writing anything:
// a Recover onto a disk that holds no Lockstep layout it can keep. The
// engine has already reported it as the run's last event (Level Error,
// Done), so a caller need not report it again.
type RefusedError struct {
	Action answers.Action
	// Found says what is on the disk, naming it: "disk serial:x is not a
	// Lockstep disk: no GPT found".
	Found string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("Recover PM refused: %s. Recover keeps the node's data, so it only installs onto a disk that "+
		"holds a Lockstep layout whose storage partition can stay where it is; nothing was written. "+
		"Replace PM, join system: initialize data is the action that erases the disks and installs afresh", e.Found)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// diskPlan is what Run will write on the system disk, decided before the
// first byte is written.
type diskPlan struct {
	// Layout has its disk and partition GUIDs set.
	Layout layout.Layout
	// Keep is a Recover: Layout is the disk's own table (its disk GUID and
	// every boundary kept); the storage partition and the storage group's
	// disks are not touched.
	Keep bool
}

// diskName names the system disk in messages: its stable id from the node
// config, else the file's name.
func (in *Install) diskName() string {
	if in.Config.Install.Disk != "" {
		return in.Config.Install.Disk
	}
	return in.Disk.Name()
}

// plan decides the layout, reading the disks only:
//
//   - Create and Replace plan a fresh layout for the disk's size with a new
//     disk GUID (every PARTUUID is new), and need every storage disk that
//     node.json names opened in StorageDisks, since Run erases them;
//   - Recover reads the disk's Lockstep GPT (layout.Read, the backup table
//     if the primary is damaged) and keeps it: the disk GUID, so the
//     PARTUUIDs the old system knew, and every partition's boundaries. A
//     disk without such a table, or one on which the storage partition no
//     longer fits (the disk, a RAID volume, shrank), is a *RefusedError. A
//     disk that grew keeps its partitions; the table is rewritten for the
//     new size (its backup at the new end).
//
// For every action the system image must fit the slot it goes to.
func (in *Install) plan(size int64) (diskPlan, error) {
	var p diskPlan
	if in.Config.Action == answers.Recover {
		l, err := layout.Read(in.Disk)
		if err != nil {
			return p, &RefusedError{Action: answers.Recover, Found: fmt.Sprintf("disk %s is %v", in.diskName(), err)}
		}
		old := l.DiskSize
		l.DiskSize = size / l.SectorSize * l.SectorSize
		l.FromBackupGPT = false
		if err := l.Validate(); err != nil {
			st := l.Storage()
			return p, &RefusedError{Action: answers.Recover, Found: fmt.Sprintf(
				"disk %s has a Lockstep layout for a disk of %s, but the disk now has %s: its storage partition [%d, %d) "+
					"no longer fits and would have to move (%v)",
				in.diskName(), layout.HumanBytes(old), layout.HumanBytes(l.DiskSize), st.Start, st.End(), err)}
		}
		p = diskPlan{Layout: l, Keep: true}
	} else {
		l, err := layout.Plan(size, in.Layout)
		if err != nil {
			return p, err
		}
		guid, err := layout.NewDiskGUID()
		if err != nil {
			return p, err
		}
		if l, err = l.WithGUIDs(guid); err != nil {
			return p, err
		}
		p = diskPlan{Layout: l}
		for _, id := range in.Config.StorageDisks {
			if !slices.ContainsFunc(in.StorageDisks, func(d StorageDisk) bool { return d.ID == id && d.Disk != nil }) {
				return p, fmt.Errorf("storage disk %s is in the node config but was not opened for the install, which must erase it", id)
			}
		}
	}
	if in.Source == nil || in.Source.Manifest == nil {
		return p, errors.New("install: no system image")
	}
	if m, a := in.Source.Manifest.Image.Size, p.Layout.SystemA(); m > a.Size {
		return p, fmt.Errorf("system image is %s, slot A of disk %s holds %s", layout.HumanBytes(m), in.diskName(), layout.HumanBytes(a.Size))
	}
	return p, nil
}

// Check decides what Run would write, reading the disks only, and returns
// why the install cannot go ahead: a Recover onto a disk without a Lockstep
// layout it can keep (a *RefusedError, also emitted as the run's last
// event), a disk too small, an image too big for the slot. Run checks the
// same first; the installer calls Check before the join too, so that a
// refused Recover has not joined the system either.
func (in *Install) Check(emit func(Event)) error {
	size, err := in.size()
	if err != nil {
		return err
	}
	_, err = in.plan(size)
	in.reportRefusal(err, emit)
	return err
}

// reportRefusal emits a *RefusedError as the run's last event.
func (in *Install) reportRefusal(err error, emit func(Event)) {
	var r *RefusedError
	if errors.As(err, &r) {
		emit(Event{Step: "partition", Title: "Recover PM refused: nothing was written", Message: err.Error(), Level: Error, Done: true})
	}
}

func (in *Install) size() (int64, error) {
	if in.DiskBytes != 0 {
		return in.DiskBytes, nil
	}
	return deviceBytes(in.Disk)
}

// eraseBytes is how much eraseDataDisk zeroes at each end.
const eraseBytes = layout.MiB

// eraseDataDisk zeroes the first MiB of a storage device and, for a whole
// disk (tail), its last MiB too. Create and Replace erase the storage
// partition's head and the storage group's disks this way, so that the
// agent's first start finds nothing of an earlier install or system there:
//
//   - the first MiB holds LVM's label (sectors 0-3) and its metadata area
//     (the first extent starts at 1 MiB), and the superblocks that blkid,
//     LVM and mount look for: XFS at 0, ext2/3/4 at 1 KiB, btrfs at 64 KiB,
//     md 1.1/1.2 at 0 and 4 KiB, a bcache or LUKS header, and an MBR and the
//     primary GPT. An old volume group found there would be taken as the
//     node's storage group with the old VMs' volumes, whose DRBD metadata
//     (at the end of each volume) would then make DRBD resync only what it
//     thinks changed, instead of the full resync a replaced node needs
//     (SPEC A6), or refuse the disk as belonging to a foreign group;
//   - the last MiB of a whole disk holds the backup GPT (LVM refuses a disk
//     with a partition table, and GPT tools offer to restore the primary
//     from the backup), md 0.90/1.0 superblocks (in the last 64-128 KiB) and
//     the superblock of DRBD metadata if the disk itself backed a DRBD
//     device (its last 4 KiB).
//
// The rest is left as it is: LVM and DRBD zero what they allocate, and a
// full wipe of terabytes would take hours.
func eraseDataDisk(w io.WriterAt, off, size int64, tail bool) error {
	head := min(size, eraseBytes)
	if err := zeroAt(w, off, head); err != nil {
		return err
	}
	if tail && size > head {
		start := max(head, size-eraseBytes)
		if err := zeroAt(w, off+start, size-start); err != nil {
			return err
		}
	}
	return nil
}

// zeroAt writes n zero bytes at off.
func zeroAt(w io.WriterAt, off, n int64) error {
	buf := make([]byte, min(n, eraseBytes))
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := w.WriteAt(buf[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// eraseStorage erases the storage partition's head and the storage
// group's disks' ends (Create and Replace; see eraseDataDisk).
func (in *Install) eraseStorage(l layout.Layout, emit func(Event)) error {
	st := l.Storage()
	emit(Event{Step: "partition", Title: "Erasing old storage metadata", Percent: 1, Level: Info,
		Message: fmt.Sprintf("the first %s of the storage partition", layout.HumanBytes(eraseBytes))})
	if err := eraseDataDisk(in.Disk, st.Start, st.Size, false); err != nil {
		return fmt.Errorf("erasing the storage partition's head: %w", err)
	}
	if err := in.Disk.Sync(); err != nil {
		return err
	}
	for _, d := range in.StorageDisks {
		size := d.Bytes
		if size == 0 {
			var err error
			if size, err = deviceBytes(d.Disk); err != nil {
				return fmt.Errorf("storage disk %s: %w", d.ID, err)
			}
		}
		emit(Event{Step: "partition", Title: "Erasing old storage metadata", Percent: 1, Level: Info,
			Message: fmt.Sprintf("storage disk %s (%s): the first and the last %s", d.ID, layout.HumanBytes(size), layout.HumanBytes(eraseBytes))})
		if err := eraseDataDisk(d.Disk, 0, size, true); err != nil {
			return fmt.Errorf("erasing storage disk %s: %w", d.ID, err)
		}
		if err := d.Disk.Sync(); err != nil {
			return fmt.Errorf("storage disk %s: %w", d.ID, err)
		}
	}
	return nil
}
