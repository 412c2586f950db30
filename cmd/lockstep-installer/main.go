// Command lockstep-installer is the installer's early userspace program: the
// u-root uinit on the install medium. It loads the drivers for the hardware
// present, finds and mounts the install medium, and shows the installer on
// every active console. Until the full installer lands it shows the detected
// disks and NICs.
//
// It must never exit: u-root's init would then look for a shell, and leaving
// the installer must not drop to an unauthenticated shell except through the
// "Rescue shell" boot entry.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/cmdline"
	"golang.org/x/sys/unix"

	"github.com/lockstep-ft/lockstep/initramfs/coldplug"
	"github.com/lockstep-ft/lockstep/initramfs/media"
	"github.com/lockstep-ft/lockstep/installer/consoles"
	"github.com/lockstep-ft/lockstep/installer/probe"
)

// ReadyLine is what automation (lab, IPMI scripts, tests) waits for.
const ReadyLine = "LOCKSTEP INSTALLER READY"

const (
	mediumDir = "/run/lockstep/medium"
	logPath   = "/tmp/lockstep-installer.log"
)

// Modules with no device behind them: filesystems of the medium, the system
// image and answer-file sticks.
var fsModules = []string{"isofs", "squashfs", "loop", "overlay", "vfat", "nls_cp437", "nls_iso8859_1", "nls_utf8", "ext4"}

func main() {
	logf := openLog()
	cons, errs := consoles.Open("/dev", consoles.Active("/sys"))
	for _, err := range errs {
		logf("%v", err)
	}
	defer func() {
		if r := recover(); r != nil {
			logf("installer crashed: %v\n%s", r, debug.Stack())
			cons.Printf("\nThe installer stopped on an internal error: %v\nDetails are in %s. Press Ctrl-Alt-Del to restart.\n", r, logPath)
			idle()
		}
	}()
	run(cons, logf)
	idle()
}

func run(cons *consoles.Set, logf func(string, ...any)) {
	release := strings.TrimSpace(readFile("/etc/lockstep-release"))
	cons.Printf("\nLockstep installer %s\nDetecting hardware...\n", release)

	var uts unix.Utsname
	_ = unix.Uname(&uts)
	kver := unix.ByteSliceToString(uts.Release[:])
	cp := &coldplug.Coldplug{
		SysRoot:    "/sys",
		ModulesDir: filepath.Join("/lib/modules", kver),
		Loader:     coldplug.FinitLoader{},
		Log:        logf,
	}
	if err := cp.LoadNamed(fsModules...); err != nil {
		logf("loading filesystem modules: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	loaded, err := cp.Run(ctx, 2*time.Second)
	cancel()
	logf("coldplug loaded %d modules: %s", len(loaded), strings.Join(loaded, " "))
	if err != nil {
		logf("coldplug: %v", err)
	}

	label, _ := cmdline.Flag("lockstep.medium")
	if label == "" {
		label = "LOCKSTEP"
	}
	ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
	dev, err := media.Finder{SysRoot: "/sys", DevRoot: "/dev", Log: logf}.Find(ctx, label)
	cancel()
	if err != nil {
		cons.Printf("Install medium not found: %v\n", err)
	} else if err := media.Mount(dev, mediumDir); err != nil {
		cons.Printf("Install medium %s could not be mounted: %v\n", dev, err)
	} else {
		cons.Printf("Install medium: %s (%s)\n", dev, label)
	}

	if mode, _ := cmdline.Flag("lockstep.mode"); mode == "rescue" {
		rescue(cons, logf)
		return
	}
	showHardware(cons, logf)
	cons.Printf("\n%s\n", ReadyLine)
	logf("%s", ReadyLine)
}

func showHardware(cons *consoles.Set, logf func(string, ...any)) {
	disks, err := probe.Disks("/sys")
	if err != nil {
		logf("%v", err)
	}
	cons.Printf("\nDisks:\n")
	for _, d := range disks {
		kind := ""
		if d.CDROM {
			kind = " (optical)"
		}
		cons.Printf("  %-10s %10s  %-12s %s %s%s\n", d.Name, probe.HumanSize(d.SizeBytes), d.Driver, d.Model, d.Serial, kind)
	}
	nics, err := probe.NICs("/sys")
	if err != nil {
		logf("%v", err)
	}
	cons.Printf("\nNetwork interfaces:\n")
	for _, n := range nics {
		link := "no link"
		if n.Link {
			link = "link up"
			if n.Speed > 0 {
				link = fmt.Sprintf("link up %d Mb/s", n.Speed)
			}
		}
		cons.Printf("  %-10s %s  %-12s %s\n", n.Name, n.MAC, n.Driver, link)
	}
}

// rescue runs a shell on /dev/console, restarting it when it exits: the user
// chose this entry at the boot menu, so the shell is what they asked for.
func rescue(cons *consoles.Set, logf func(string, ...any)) {
	cons.Printf("\nRescue shell. The install medium is mounted at %s.\n", mediumDir)
	for {
		cmd := exec.Command("/bbin/gosh")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			logf("rescue shell: %v", err)
			time.Sleep(time.Second)
		}
	}
}

func openLog() func(string, ...any) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return func(string, ...any) {}
	}
	kmsg, _ := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	l := log.New(f, "", log.LstdFlags)
	return func(format string, args ...any) {
		l.Printf(format, args...)
		if kmsg != nil {
			// <6> is KERN_INFO: kept in dmesg, below the console log level.
			fmt.Fprintf(kmsg, "<6>lockstep-installer: %s\n", fmt.Sprintf(format, args...))
		}
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func idle() {
	for {
		time.Sleep(time.Hour)
	}
}
