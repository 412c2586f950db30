// Command lockstep-installer is the installer's early userspace program: the
// u-root uinit on the install medium. It loads the drivers for the hardware
// present, finds and mounts the install medium, runs the BIOS/RAID/network
// checks, finds an answer file if there is one, and runs the installer TUI on
// every active console.
//
// It must never exit: u-root's init would then look for a shell, and leaving
// the installer must not drop to an unauthenticated shell except through the
// "Rescue shell" boot entry or menu item.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lockstep-ft/lockstep/initramfs/coldplug"
	"github.com/lockstep-ft/lockstep/initramfs/media"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/checks"
	"github.com/lockstep-ft/lockstep/installer/consoles"
	"github.com/lockstep-ft/lockstep/installer/engine"
	"github.com/lockstep-ft/lockstep/installer/netup"
	"github.com/lockstep-ft/lockstep/installer/probe"
	"github.com/lockstep-ft/lockstep/installer/tui"
)

// ReadyLine is what automation (lab, IPMI scripts, tests) waits for.
const ReadyLine = "LOCKSTEP INSTALLER READY"

const (
	mediumDir = probe.MediumMount
	logPath   = tui.LogPath
)

// Modules with no device behind them: filesystems of the medium, the system
// image, answer-file sticks and the EFI variables the checks read.
var fsModules = []string{"isofs", "squashfs", "loop", "overlay", "vfat", "nls_cp437", "nls_ascii", "nls_iso8859_1", "nls_utf8", "ext4", "efivarfs"}

func main() {
	// Ctrl-C is a key for the TUI (it asks whether to reboot), never a way out.
	signal.Ignore(os.Interrupt, syscall.SIGQUIT, syscall.SIGTSTP)
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

// flags read from the kernel command line.
type flags struct {
	medium string
	mode   string
	lab    bool
	dryRun bool
}

func readFlags() flags {
	cl := readFile("/proc/cmdline")
	f := flags{medium: "LOCKSTEP"}
	if v, ok := answers.CmdlineValue(cl, "lockstep.medium"); ok && v != "" {
		f.medium = v
	}
	f.mode, _ = answers.CmdlineValue(cl, "lockstep.mode")
	lab, _ := answers.CmdlineValue(cl, "lockstep.lab")
	f.lab = lab == "1" || lab == "true"
	dry, _ := answers.CmdlineValue(cl, "lockstep.dryrun")
	f.dryRun = dry == "1" || dry == "true"
	return f
}

func run(cons *consoles.Set, logf func(string, ...any)) {
	release := strings.TrimSpace(readFile("/etc/lockstep-release"))
	cons.Printf("\nLockstep installer %s\nConsoles: %s\nDetecting hardware...\n", release, strings.Join(cons.Names(), " "))
	fl := readFlags()

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
	if _, err := os.Stat("/sys/firmware/efi/efivars"); err == nil {
		// The checks read Secure Boot and the boot order from EFI variables.
		_ = unix.Mount("efivarfs", "/sys/firmware/efi/efivars", "efivarfs", unix.MS_RDONLY, "")
	}

	ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
	dev, err := media.Finder{SysRoot: "/sys", DevRoot: "/dev", Log: logf}.Find(ctx, fl.medium)
	cancel()
	if err != nil {
		cons.Printf("Install medium not found: %v\n", err)
	} else if err := media.Mount(dev, mediumDir); err != nil {
		cons.Printf("Install medium %s could not be mounted: %v\n", dev, err)
	} else {
		cons.Printf("Install medium: %s (%s)\n", dev, fl.medium)
	}

	if fl.mode == "rescue" {
		rescue(cons, logf)
		return
	}

	netup.LinksUp(5*time.Second, logf)
	facts, err := checks.Gather("/proc", "/sys")
	if err != nil {
		logf("probing: %v", err)
	}
	if dev != "" {
		facts.BootMedium = filepath.Base(dev)
	}

	unattended, ok := answerFile(cons, logf, facts, fl)
	if !ok {
		return // the problems are on screen; nothing was touched
	}
	lab := fl.lab || (unattended != nil && unattended.Lab)
	results := checks.All(facts, checks.Options{Lab: lab})

	var eng engine.Engine = diskEngine{facts: facts, cmdline: readFile("/proc/cmdline"), media: mediaTag(), logf: logf}
	if fl.dryRun {
		eng = engine.DryRun{Out: cons}
	}
	cfg := tui.Config{
		Hardware:   hardware(facts, lab),
		NICs:       facts.NICs,
		Disks:      facts.Disks,
		Checks:     results,
		Lab:        lab,
		Version:    release,
		Engine:     eng,
		Unattended: unattended,
	}
	if os.Getenv("TERM") == "" {
		os.Setenv("TERM", "linux")
	}
	ttys, closeAll := openTTYs(cons.Names(), logf)
	defer closeAll()
	showHardware(cons, facts)
	cons.Printf("\n%s\n", ReadyLine)
	logf("%s", ReadyLine)
	res, err := tui.Run(context.Background(), cfg, ttys)
	if err != nil {
		logf("tui: %v", err)
	}
	logf("installer ended: %s (install error: %v)", res.Kind, res.Err)
	switch res.Kind {
	case tui.Rescue:
		rescue(cons, logf)
	case tui.PowerOff:
		powerOff(unix.LINUX_REBOOT_CMD_POWER_OFF)
	case tui.Install:
		if unattended != nil && dev != "" {
			ejectMedium(dev, logf)
		}
		powerOff(unix.LINUX_REBOOT_CMD_RESTART)
	case tui.Reboot:
		powerOff(unix.LINUX_REBOOT_CMD_RESTART)
	}
}

// answerFile finds, parses and validates an unattended answer file. Every
// problem is listed at once, before anything is touched; then the installer
// stops (ok=false) rather than guess.
func answerFile(cons *consoles.Set, logf func(string, ...any), facts checks.Facts, fl flags) (*answers.Answers, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data, origin, err := answers.Locate(ctx, &sources{logf: logf})
	if err != nil {
		cons.Printf("\nThe answer file could not be read: %v\nFix it and restart the installer; nothing was changed on this machine.\n", err)
		return nil, false
	}
	if data == nil {
		return nil, true
	}
	a, err := answers.Parse(data)
	if err == nil {
		err = answers.Validate(a, hardware(facts, fl.lab || a.Lab)).Err()
	}
	if err != nil {
		var fe answers.Errors
		if errors.As(err, &fe) {
			cons.Printf("\nThe answer file (%s) has %d problem(s):\n", origin, len(fe))
		} else {
			cons.Printf("\nThe answer file (%s) has problems:\n", origin)
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			cons.Printf("  %s\n", line)
		}
		cons.Printf("Nothing was changed on this machine. Fix the file and restart the installer.\n")
		return nil, false
	}
	cons.Printf("Unattended install with the answer file from %s\n", origin)
	return a, true
}

// hardware is what the answers are validated against: disks by their stable
// identity, the install medium marked so that it can never be chosen.
func hardware(f checks.Facts, lab bool) answers.Hardware {
	hw := answers.Hardware{MinDiskBytes: answers.DefaultMinDiskBytes}
	if lab {
		hw.MinDiskBytes = answers.LabMinDiskBytes
	}
	for _, n := range f.NICs {
		hw.NICs = append(hw.NICs, answers.NIC{Name: n.Name, MAC: n.MAC})
	}
	medium := probe.DiskOf(f.BootMedium)
	for _, d := range f.Disks {
		if d.CDROM {
			continue
		}
		info := answers.DiskInfo{ID: d.Stable(), Name: d.Name, SizeBytes: d.SizeBytes, BootMedium: d.Name == medium}
		for _, alias := range []string{d.WWN, d.Serial, d.ByPath} {
			if alias != "" {
				info.Aliases = append(info.Aliases, alias)
			}
		}
		hw.Disks = append(hw.Disks, info)
	}
	return hw
}

// showHardware lists what coldplug brought up, for the console log: support
// staff reading an IPMI SOL capture see at once which disks and NICs exist.
func showHardware(cons *consoles.Set, f checks.Facts) {
	cons.Printf("\nDisks:\n")
	for _, d := range f.Disks {
		kind := ""
		if d.CDROM {
			kind = " (optical)"
		}
		cons.Printf("  %-10s %10s  %-12s %s %s%s\n", d.Name, probe.HumanSize(d.SizeBytes), d.Driver, d.Model, d.Serial, kind)
	}
	cons.Printf("\nNetwork interfaces:\n")
	for _, n := range f.NICs {
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

// openTTYs opens each active console for the TUI. The kernel calls the VGA
// console tty0 ("the current VT"); its keyboard is read on tty1, the VT in
// the foreground at boot.
func openTTYs(names []string, logf func(string, ...any)) ([]tui.Console, func()) {
	var out []tui.Console
	var files []*os.File
	for _, n := range names {
		dev := n
		if n == "tty0" || n == "console" {
			dev = "tty1"
		}
		f, err := os.OpenFile("/dev/"+dev, os.O_RDWR, 0)
		if err != nil {
			logf("console %s: %v", dev, err)
			continue
		}
		defaultSize(f, logf)
		files = append(files, f)
		out = append(out, tui.Console{Name: n, In: f, Out: f})
	}
	return out, func() {
		for _, f := range files {
			f.Close()
		}
	}
}

// defaultSize gives a serial tty, which reports 0x0, the 80x24 a serial
// terminal (and IPMI SOL) has: bubbletea erases stale line ends only when it
// knows the width, so without it every screen change leaves debris behind.
func defaultSize(f *os.File, logf func(string, ...any)) {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil || (ws.Row != 0 && ws.Col != 0) {
		return
	}
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}); err != nil {
		logf("set console size of %s: %v", f.Name(), err)
	}
}

// mediaTag is the medium's build id (the name of lockstep/media-<id>).
func mediaTag() string {
	m, _ := filepath.Glob(filepath.Join(mediumDir, "lockstep", "media-*"))
	if len(m) == 0 {
		return ""
	}
	return strings.TrimPrefix(filepath.Base(m[0]), "media-")
}

// rescue runs a shell on /dev/console, restarting it when it exits: the user
// chose this entry, so the shell is what they asked for.
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

func powerOff(cmd int) {
	unix.Sync()
	if err := unix.Reboot(cmd); err != nil {
		log.Printf("reboot: %v", err)
	}
}

func openLog() func(string, ...any) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return func(string, ...any) {}
	}
	kmsg, _ := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	// Libraries (DHCP, u-root) log through the standard logger: into the log
	// file, not over the installer's screens.
	log.SetOutput(f)
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
