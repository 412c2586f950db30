package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lockstep-ft/lockstep/image/sysimage"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/checks"
	"github.com/lockstep-ft/lockstep/installer/engine"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// diskEngine installs onto the chosen disk with the system image of the
// install medium: it resolves the answers' stable ids to this machine's
// devices and MACs and runs engine.Install.
type diskEngine struct {
	facts   checks.Facts
	cmdline string
	media   string // the medium's tag, for the node's install record
	logf    func(string, ...any)
}

func (d diskEngine) Run(ctx context.Context, a answers.Answers, emit func(engine.Event)) (err error) {
	defer func() {
		// A refusal (Recover onto a disk it cannot keep) is the engine's
		// own last event already.
		if err != nil && !errors.Is(err, engine.ErrRefused) {
			d.logf("install failed: %v", err)
			emit(engine.Event{Step: "done", Title: "Installation failed", Message: err.Error(), Level: engine.Error, Done: true})
		} else if err != nil {
			d.logf("install refused: %v", err)
		}
	}()
	dev, err := d.disk(a.Disk.System, "system disk")
	if err != nil {
		return err
	}
	priv0, err := d.mac(a.Network.Priv0, "priv0")
	if err != nil {
		return err
	}
	ibiz0, err := d.mac(a.Network.Ibiz0, "ibiz0")
	if err != nil {
		return err
	}
	src, err := engine.OpenSource(filepath.Join(mediumDir, sysimage.MediumImage))
	if err != nil {
		return err
	}
	cfg, err := nodeconfig.FromAnswers(a, priv0, ibiz0, nodeconfig.Install{
		Time: time.Now().UTC(), Version: src.Version(), Media: d.media, Disk: a.Disk.System})
	if err != nil {
		return err
	}
	var alinks []string
	for i, n := range a.Network.ALinks {
		m, err := d.mac(n, fmt.Sprintf("alink%d", i))
		if err != nil {
			return err
		}
		alinks = append(alinks, m)
	}
	if cfg, err = nodeconfig.WithALinks(cfg, alinks); err != nil {
		return err
	}
	f, err := openExclusive(dev, "system disk "+a.Disk.System)
	if err != nil {
		return err
	}
	defer f.Close()
	in := &engine.Install{
		Disk:   f,
		Source: src,
		Config: cfg,
		Boot:   bootOptions(d.cmdline),
	}
	// The storage group's disks: Create and Replace erase their ends;
	// Recover keeps them, so they are not even opened.
	if a.Action != answers.Recover {
		for _, id := range a.Disk.StorageGroup {
			sdev, err := d.disk(id, "storage disk")
			if err != nil {
				return err
			}
			sf, err := openExclusive(sdev, "storage disk "+id)
			if err != nil {
				return err
			}
			defer sf.Close()
			in.StorageDisks = append(in.StorageDisks, engine.StorageDisk{ID: id, Disk: sf})
		}
	}
	// What the engine will write is decided before the join: a Recover
	// onto a disk without a Lockstep layout is refused before this node
	// has joined anything.
	if err := in.Check(emit); err != nil {
		return err
	}
	if a.Action.Joins() {
		if in.StateFiles, err = d.joinSystem(ctx, a, priv0, emit); err != nil {
			return err
		}
	}
	tools, err := engine.MountImageTools(src.Image, "/tmp")
	if err != nil {
		return err
	}
	defer tools.Close()
	in.Format = tools
	d.logf("installing %s to %s (%s), action %s, storage disks %v", src.Version(), dev, a.Disk.System, a.Action, a.Disk.StorageGroup)
	if err := in.Run(ctx, func(ev engine.Event) {
		d.logf("install: %s %d%% %s %s", ev.Step, ev.Percent, ev.Title, ev.Message)
		emit(ev)
	}); err != nil {
		return err
	}
	// Let the kernel see the new partitions (a rescue shell after the
	// install, or the log, may want them), and forget the erased disks'
	// old ones; a reboot follows anyway.
	for _, g := range append([]*os.File{f}, storageFiles(in.StorageDisks)...) {
		if err := unix.IoctlSetInt(int(g.Fd()), unix.BLKRRPART, 0); err != nil {
			d.logf("re-reading the partition table of %s: %v", g.Name(), err)
		}
	}
	return nil
}

// openExclusive opens a disk the install writes. O_EXCL on a block device
// fails while anything has it or one of its partitions mounted (or in an
// md array or a device-mapper table): such a disk is refused. The check's
// descriptor is closed again because mke2fs opens the disk exclusively
// itself; the one returned is not exclusive.
func openExclusive(dev, what string) (*os.File, error) {
	excl, err := os.OpenFile(dev, os.O_RDWR|os.O_EXCL, 0)
	if err != nil {
		return nil, fmt.Errorf("%s (%s) is in use: %w", what, dev, err)
	}
	excl.Close()
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", what, dev, err)
	}
	return f, nil
}

func storageFiles(ds []engine.StorageDisk) []*os.File {
	var fs []*os.File
	for _, d := range ds {
		fs = append(fs, d.Disk)
	}
	return fs
}

// disk finds the device of a stable disk id; role names it in the error.
func (d diskEngine) disk(id, role string) (string, error) {
	for _, disk := range d.facts.Disks {
		if disk.CDROM {
			continue
		}
		for _, s := range []string{disk.Stable(), disk.WWN, disk.Serial, disk.ByPath} {
			if s != "" && s == id {
				return "/dev/" + disk.Name, nil
			}
		}
	}
	return "", fmt.Errorf("%s %q is not on this machine", role, id)
}

// mac resolves a NIC given by MAC or kernel name to its MAC.
func (d diskEngine) mac(nic, role string) (string, error) {
	for _, n := range d.facts.NICs {
		if strings.EqualFold(n.MAC, nic) || n.Name == nic {
			return strings.ToLower(n.MAC), nil
		}
	}
	return "", fmt.Errorf("%s: NIC %q is not on this machine", role, nic)
}

// bootOptions carry the installer's consoles over to the installed system:
// the serial console an IPMI SOL user installed through is the one they
// will watch the node on.
func bootOptions(cmdline string) engine.BootOptions {
	var consoles []string
	serial := ""
	for _, f := range strings.Fields(cmdline) {
		if strings.HasPrefix(f, "console=") {
			consoles = append(consoles, f)
			if v := strings.TrimPrefix(f, "console="); strings.HasPrefix(v, "ttyS") {
				// ttyS0,115200n8: GRUB's serial takes the unit and the
				// speed alone (parity n and 8 bits are its defaults).
				unit, opts, _ := strings.Cut(strings.TrimPrefix(v, "ttyS"), ",")
				speed := opts
				if i := strings.IndexFunc(opts, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
					speed = opts[:i]
				}
				if speed == "" {
					speed = "115200"
				}
				serial = "--unit=" + unit + " --speed=" + speed
			}
		}
	}
	return engine.BootOptions{KernelArgs: strings.Join(consoles, " "), Serial: serial}
}

// cdromEject is CDROMEJECT from <linux/cdrom.h>.
const cdromEject = 0x5309

// ejectMedium opens the tray of an optical install medium after an
// unattended install, so that a boot order with the CD first does not
// install again. Best effort: virtual media and USB sticks just stay.
func ejectMedium(dev string, logf func(string, ...any)) {
	if !strings.HasPrefix(filepath.Base(dev), "sr") {
		return
	}
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		logf("eject %s: %v", dev, err)
		return
	}
	defer f.Close()
	_ = unix.Unmount(mediumDir, unix.MNT_DETACH)
	if err := unix.IoctlSetInt(int(f.Fd()), cdromEject, 0); err != nil && !errors.Is(err, unix.ENOSYS) {
		logf("eject %s: %v", dev, err)
	}
}
