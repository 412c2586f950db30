// Package boot holds the QEMU boot tests of the installer ISO. They need the
// built ISO (LOCKSTEP_ISO, set by `make test`) and QEMU; all run under TCG.
package boot

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/internal/qemu"
)

const readyLine = "LOCKSTEP INSTALLER READY"

func isoPath(t *testing.T) string {
	p := os.Getenv("LOCKSTEP_ISO")
	if p == "" {
		t.Skip("LOCKSTEP_ISO is not set: run `make test`, which builds the ISO and sets it")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("LOCKSTEP_ISO=%s: %v", p, err)
	}
	return p
}

// startVM runs QEMU with args and captures its serial console into
// LOCKSTEP_TEST_LOGS (or the test's temporary directory); the VM is stopped
// when the test ends.
func startVM(t *testing.T, args []string) *qemu.VM {
	t.Helper()
	logDir := os.Getenv("LOCKSTEP_TEST_LOGS")
	if logDir == "" {
		logDir = t.TempDir()
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	vm, err := qemu.Start("", args, filepath.Join(logDir, strings.ReplaceAll(t.Name(), "/", "_")+".serial.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Stop)
	return vm
}

// boot starts a VM, waits for the ready line and returns the console output.
func boot(t *testing.T, fw qemu.Firmware, args ...string) string {
	out, _ := bootVM(t, fw, nil, args...)
	return out
}

// bootVM is boot with a hook that runs while the VM is still up.
func bootVM(t *testing.T, fw qemu.Firmware, whileUp func(qmp, dir string), args ...string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	qmp := filepath.Join(dir, "qmp.sock")
	args = append(args, qemu.QMPSocket(qmp)...)
	fwArgs, err := qemu.FirmwareArgs(fw, dir)
	if err != nil {
		t.Fatal(err)
	}
	// -nic none: no user-mode network; tests add the NICs they need on QEMU-internal hubs.
	all := append([]string{"-accel", "tcg", "-m", "1536", "-smp", "1", "-nic", "none"}, fwArgs...)
	all = append(all, args...)
	vm := startVM(t, all)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := vm.WaitFor(ctx, readyLine); err != nil {
		out := vm.Output()
		if len(out) > 6000 {
			out = out[len(out)-6000:]
		}
		t.Fatalf("%v\n--- serial console (tail) ---\n%s", err, out)
	}
	if whileUp != nil {
		whileUp(qmp, dir)
	}
	return vm.Output(), dir
}

// TestBootsFourWays boots the ISO with no keystroke as a CD and as a raw USB
// stick, on SeaBIOS and on OVMF, and reads the ready line on ttyS0: the default
// menu entry must put the installer on the serial console.
func TestBootsFourWays(t *testing.T) {
	iso := isoPath(t)
	cd := []string{"-drive", "file=" + iso + ",media=cdrom,readonly=on,if=none,id=cd", "-device", "ide-cd,drive=cd,bootindex=0"}
	usb := []string{"-drive", "file=" + iso + ",format=raw,readonly=on,if=none,id=stick", "-device", "qemu-xhci", "-device", "usb-storage,drive=stick,bootindex=0"}
	cases := []struct {
		name string
		fw   qemu.Firmware
		args []string
	}{
		{"seabios-cd", qemu.SeaBIOS, cd},
		{"ovmf-cd", qemu.OVMF, cd},
		{"seabios-usb", qemu.SeaBIOS, usb},
		{"ovmf-usb", qemu.OVMF, usb},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var screen string
			var screenErr error
			out, _ := bootVM(t, c.fw, func(qmp, dir string) {
				if c.fw == qemu.SeaBIOS {
					screen, screenErr = qemu.VGAText(qmp, dir)
				}
			}, c.args...)
			if !strings.Contains(out, "Install medium: /dev/") {
				t.Errorf("the installer did not report its install medium:\n%s", tail(out))
			}
			if !strings.Contains(out, "Consoles: tty0 ttyS0") {
				t.Errorf("the default entry must put the installer on both consoles:\n%s", tail(out))
			}
			// Under SeaBIOS the local console is in VGA text mode, so the
			// screen's text can be read back: the installer must be there too.
			if c.fw == qemu.SeaBIOS {
				if screenErr != nil {
					t.Fatalf("reading the VGA text screen: %v", screenErr)
				}
				if !strings.Contains(screen, readyLine) {
					t.Errorf("the local (VGA) console does not show %q:\n%s", readyLine, screen)
				}
			}
		})
	}
}

// TestColdplugFindsDisksAndNICs gives the VM one disk on each common
// controller and two NIC models; the installer must list them all, which
// needs coldplug to load virtio, ahci, nvme and e1000 from modules.alias.
func TestColdplugFindsDisksAndNICs(t *testing.T) {
	iso := isoPath(t)
	dir := t.TempDir()
	var args []string
	for _, d := range []string{"virtio", "ahci", "nvme"} {
		p := filepath.Join(dir, d+".img")
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, 1<<30); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-drive", "file="+p+",format=raw,if=none,id="+d)
	}
	args = append(args,
		"-machine", "q35",
		"-drive", "file="+iso+",media=cdrom,readonly=on,if=none,id=cd", "-device", "ide-cd,drive=cd,bus=ide.0,bootindex=0",
		"-device", "virtio-blk-pci,drive=virtio",
		"-device", "ide-hd,drive=ahci,bus=ide.1",
		"-device", "nvme,drive=nvme,serial=LOCKSTEPNVME",
		"-netdev", "hubport,id=n0,hubid=10", "-device", "e1000,netdev=n0",
		"-netdev", "hubport,id=n1,hubid=11", "-device", "virtio-net-pci,netdev=n1",
	)
	out := boot(t, qemu.SeaBIOS, args...)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`vda\s+1\.0 GiB\s+virtio_blk`),
		regexp.MustCompile(`sda\s+1\.0 GiB\s+ahci`),
		regexp.MustCompile(`nvme0n1\s+1\.0 GiB\s+nvme\b.*LOCKSTEPNVME`),
		regexp.MustCompile(`\s+[0-9a-f:]{17}\s+e1000\b`),
		regexp.MustCompile(`\s+[0-9a-f:]{17}\s+virtio_net\b`),
	} {
		if !want.MatchString(out) {
			t.Errorf("installer listing lacks %s:\n%s", want, tail(out))
		}
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}

// TestSecureBoot boots the ISO from CD on OVMF with Secure Boot enforced and
// Microsoft's keys enrolled: shim, GRUB, the kernel and every module loaded by
// coldplug must be signed. The installer's boot-mode check reads the state.
func TestSecureBoot(t *testing.T) {
	iso := isoPath(t)
	dir := t.TempDir()
	fw, err := qemu.FirmwareArgs(qemu.OVMFSecureBoot, dir)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-accel", "tcg", "-m", "1536", "-nic", "none"}, fw...)
	args = append(args, "-drive", "file="+iso+",media=cdrom,readonly=on,if=none,id=cd", "-device", "ide-cd,drive=cd,bootindex=0")
	vm := startVM(t, args)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := vm.WaitFor(ctx, readyLine); err != nil {
		t.Fatalf("%v\n%s", err, tail(vm.Output()))
	}
	if !strings.Contains(vm.Output(), "Install medium: /dev/") {
		t.Errorf("the installer did not mount its medium under Secure Boot:\n%s", tail(vm.Output()))
	}
	// Keys typed before the TUI has set up its terminal are discarded.
	if err := vm.WaitFor(ctx, "Create new system"); err != nil {
		t.Fatalf("%v\n%s", err, tail(vm.Output()))
	}
	mark := vm.Mark()
	if err := vm.Send("\r"); err != nil {
		t.Fatal(err)
	}
	if err := vm.WaitForAfter(ctx, mark, "Secure Boot on"); err != nil {
		t.Fatalf("the boot-mode check does not report Secure Boot on: %v\n%s", err, tail(vm.Output()))
	}
}

// TestBootMenuEntries picks the other two menu entries on the serial console:
// "Rescue shell" in isolinux's menu (SeaBIOS) and "serial console only" in
// GRUB's (OVMF). Keys go in as soon as the menu is drawn, before its timeout.
func TestBootMenuEntries(t *testing.T) {
	iso := isoPath(t)
	cd := []string{"-drive", "file=" + iso + ",media=cdrom,readonly=on,if=none,id=cd", "-device", "ide-cd,drive=cd,bootindex=0"}
	const down = "\x1b[B"
	cases := []struct {
		name, menuText, keys, want string
		fw                         qemu.Firmware
	}{
		{"seabios-rescue", "Automatic boot in", down + down + "\r", "Rescue shell. The install medium is mounted at /run/lockstep/medium", qemu.SeaBIOS},
		{"ovmf-serial-only", "Install Lockstep (serial console only)", down + "\r", readyLine, qemu.OVMF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			fw, err := qemu.FirmwareArgs(c.fw, dir)
			if err != nil {
				t.Fatal(err)
			}
			args := append(append([]string{"-accel", "tcg", "-m", "1536", "-nic", "none"}, fw...), cd...)
			vm := startVM(t, args)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := vm.WaitFor(ctx, c.menuText); err != nil {
				t.Fatalf("boot menu not shown on the serial console: %v\n%s", err, tail(vm.Output()))
			}
			if err := vm.Send(c.keys); err != nil {
				t.Fatal(err)
			}
			if err := vm.WaitFor(ctx, c.want); err != nil {
				t.Fatalf("%v\n%s", err, tail(vm.Output()))
			}
			out := vm.Output()
			switch c.name {
			case "seabios-rescue":
				if strings.Contains(out, readyLine) {
					t.Errorf("the rescue entry started the installer")
				}
				// The shell works and sees the medium.
				mark := vm.Mark()
				if err := vm.Send("cat /run/lockstep/medium/.disk/info\r"); err != nil {
					t.Fatal(err)
				}
				if err := vm.WaitForAfter(ctx, mark, "Lockstep "); err != nil {
					t.Errorf("the rescue shell did not run a command: %v\n%s", err, tail(vm.Output()))
				}
			case "ovmf-serial-only":
				if !regexp.MustCompile(`Consoles: ttyS0\s`).MatchString(out) {
					t.Errorf("the serial-only entry must leave ttyS0 as the only console:\n%s", tail(out))
				}
			}
		})
	}
}
