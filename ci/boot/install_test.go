package boot

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/image/esp"
	"github.com/lockstep-ft/lockstep/image/sysimage"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/engine"
	"github.com/lockstep-ft/lockstep/installer/engine/abboot"
	"github.com/lockstep-ft/lockstep/internal/qemu"
)

// installAnswers is "Create new system" on a lab node, unattended.
const installAnswers = `action: create
lab: true
accept_warnings: true
hostname: node0
system: {name: lockstep-lab, ip: 192.0.2.10}
network:
  priv0: 52:54:00:00:00:01
  ibiz0: 52:54:00:00:00:02
  node: {ip: 192.0.2.11/24, gateway: 192.0.2.1}
  dns: [192.0.2.53]
disk: {system: "serial:lockstep-sys", confirm_erase: true}
admin: {password: correct-horse-battery}
`

// NodeReady is the agent's line on the serial console (agent/console).
const nodeReady = "LOCKSTEP NODE READY node0 192.0.2.11 waiting for peer"

// node is a lab machine: a 32 GB virtio system disk (a sparse raw file,
// so the test can inspect and modify it), two NICs on QEMU-internal hubs,
// e1000 NICs (virtio-net on a hub with no other port times out its TX queue), the ISO as a CD, and for OVMF its own variable store.
type node struct {
	t        *testing.T
	fw       qemu.Firmware
	dir      string
	disk     string
	fwArgs   []string
	cfgStick string
	apiPort  int // on 127.0.0.1, forwarded to the system IP's API
}

func newNode(t *testing.T, fw qemu.Firmware) *node {
	t.Helper()
	n := &node{t: t, fw: fw, dir: t.TempDir()}
	n.disk = filepath.Join(n.dir, "sys.img")
	if err := os.WriteFile(n.disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(n.disk, 32<<30); err != nil {
		t.Fatal(err)
	}
	var err error
	if n.fwArgs, err = qemu.FirmwareArgs(fw, n.dir); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.apiPort = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	n.cfgStick = filepath.Join(n.dir, "cfg.img")
	if _, err := esp.Build(n.cfgStick, "LOCKSTEPCFG", []esp.File{{Path: answers.StickPath, Data: []byte(installAnswers)}}, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	return n
}

// start boots the node: the system disk first, then the CD (an empty or
// unbootable disk falls through to it), with the answer stick if asked.
func (n *node) start(withCD, withAnswers bool, extra ...string) *qemu.VM {
	n.t.Helper()
	// One TCG thread for both vCPUs: this host's QEMU 7.2 runs them as
	// threads (MTTCG) and now and then breaks the kernel's live code
	// patching across CPUs ("Oops: int3" 2 s into boot, seen in CI).
	args := []string{"-accel", "tcg,thread=single", "-cpu", "max", "-smp", "2", "-m", "3072", "-nic", "none"}
	args = append(args, n.fwArgs...)
	args = append(args,
		"-drive", "file="+n.disk+",format=raw,if=none,id=sys,cache=unsafe",
		"-device", "virtio-blk-pci,drive=sys,serial=lockstep-sys,bootindex=1",
		"-netdev", "hubport,id=n0,hubid=10", "-device", "e1000,netdev=n0,mac=52:54:00:00:00:01",
		"-netdev", "hubport,id=n1,hubid=11", "-device", "e1000,netdev=n1,mac=52:54:00:00:00:02",
		// ibiz0's segment also has QEMU's user network (restricted: nothing
		// leaves it) so the test reaches the API on the system IP through a
		// port forward on the host's loopback.
		"-netdev", fmt.Sprintf("user,id=mgmt,net=192.0.2.0/24,host=192.0.2.2,restrict=on,hostfwd=tcp:127.0.0.1:%d-192.0.2.10:8443", n.apiPort),
		"-netdev", "hubport,id=n1u,hubid=11,netdev=mgmt",
	)
	if withCD {
		args = append(args, "-drive", "file="+isoPath(n.t)+",media=cdrom,readonly=on,if=none,id=cd",
			"-device", "ide-cd,drive=cd,bootindex=2")
	}
	if withAnswers {
		args = append(args, "-drive", "file="+n.cfgStick+",format=raw,if=none,id=cfg,readonly=on",
			"-device", "qemu-xhci", "-device", "usb-storage,drive=cfg")
	}
	return startVM(n.t, append(args, extra...))
}

func (n *node) expect(vm *qemu.VM, mark int, s string, within time.Duration) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := vm.WaitForAfter(ctx, mark, s); err != nil {
		n.t.Fatalf("%v\n--- serial console (tail) ---\n%s", err, tail(vm.Output()))
	}
}

// install boots the ISO with the answer stick and waits until the
// installer has rebooted (QEMU runs with -no-reboot, so it exits).
func (n *node) install() (toInstaller, total time.Duration) {
	n.t.Helper()
	start := time.Now()
	vm := n.start(true, true)
	n.expect(vm, 0, readyLine, 5*time.Minute)
	toInstaller = time.Since(start)
	n.expect(vm, 0, "Installation complete", 10*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := vm.Wait(ctx); err != nil {
		n.t.Fatalf("the installer did not reboot after the install: %v\n%s", err, tail(vm.Output()))
	}
	return toInstaller, time.Since(start)
}

// TestInstallCreateBootsFromDisk is the install of "Create new system" from
// the ISO with an answer file, for BIOS and UEFI: the installer partitions
// the empty disk, writes slot A and both boot loaders, reboots; the node
// then boots from its disk (the CD is still attached, second in the boot
// order) and the agent reports ready on the serial console.
func TestInstallCreateBootsFromDisk(t *testing.T) {
	for _, fw := range []qemu.Firmware{qemu.SeaBIOS, qemu.OVMF} {
		t.Run(fw.String(), func(t *testing.T) {
			t.Parallel()
			n := newNode(t, fw)
			toInstaller, installTime := n.install()
			start := time.Now()
			vm := n.start(true, false)
			n.expect(vm, 0, "Loading Lockstep system A (0.1.0)", 5*time.Minute)
			n.expect(vm, 0, nodeReady, 10*time.Minute)
			firstBoot := time.Since(start)
			n.expect(vm, 0, "LOCKSTEP SYSTEM lockstep-lab 192.0.2.10 CA ", time.Minute)
			// Alone, node0 takes the primary role once its peer has been
			// silent for the peer timeout (no witness: rule W0).
			n.expect(vm, 0, "LOCKSTEP SYSTEM IP 192.0.2.10 held node0", time.Minute)
			n.checkAPI(vm)
			t.Logf("ISO boot to installer %v, ISO boot to installed and rebooting %v, first boot to agent ready %v, total %v",
				toInstaller.Round(time.Second), installTime.Round(time.Second), firstBoot.Round(time.Second), (installTime + firstBoot).Round(time.Second))
			benchRecord(t, fw.String(), toInstaller, installTime, firstBoot)
			out := vm.Output()
			for _, s := range []string{"System     lockstep-lab", "Boot       slot A, version 0.1.0"} {
				if !strings.Contains(out, s) {
					t.Errorf("the node's status screen lacks %q:\n%s", s, tail(out))
				}
			}
			if strings.Contains(out, readyLine) {
				t.Errorf("the installer booted again instead of the installed system:\n%s", tail(out))
			}
		})
	}
}

func cacheDir() string {
	if d := os.Getenv("LOCKSTEP_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "lockstep")
}

// brokenSystem builds a second system image version whose agent never
// becomes healthy: the same recipe, with a lockstepd that only waits. The
// image is cached by its inputs like every system image.
func brokenSystem(t *testing.T) (*engine.Source, error) {
	r, err := sysimage.LoadRecipe("../../recipes/system.yaml")
	if err != nil {
		return nil, err
	}
	spec, err := r.Spec()
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	agent := filepath.Join(dir, "lockstepd")
	script := "#!/bin/sh\n# A broken build of the agent: it never reports healthy.\necho 'lockstepd: broken build, never healthy'\nexec sleep infinity\n"
	if err := os.WriteFile(agent, []byte(script), 0o755); err != nil {
		return nil, err
	}
	spec.Version = "0.1.1-broken"
	spec.ExtraFiles = []sysimage.File{{Src: agent, Dst: sysimage.AgentPath, Mode: 0o755}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	res, err := sysimage.Build(ctx, spec, filepath.Join(dir, "system.squashfs"), cacheDir(), nil)
	if err != nil {
		return nil, err
	}
	return engine.OpenSource(res.Squashfs)
}

// TestABTrialBootFallsBack installs version 0.1.0 in slot A, then writes a
// broken 0.1.1 to slot B marked "try once" (engine.WriteSlot, as an upgrade
// will). The machine boots B once; its agent never becomes healthy, the
// trial guard reboots, and GRUB, having counted the trial, goes back to A
// by itself: no keystroke, no test action between the reboots.
func TestABTrialBootFallsBack(t *testing.T) {
	t.Parallel()
	type built struct {
		src *engine.Source
		err error
	}
	ch := make(chan built, 1)
	go func() { s, err := brokenSystem(t); ch <- built{s, err} }()

	n := newNode(t, qemu.SeaBIOS)
	n.install()
	b := <-ch
	if b.err != nil {
		t.Fatalf("building the broken system image: %v", b.err)
	}
	f, err := os.OpenFile(n.disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.WriteSlot(context.Background(), f, b.src, abboot.B, engine.SlotOptions{TryOnce: true, TrialTimeout: 45 * time.Second}, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// -action reboot=reset: the guest's reboot resets the machine instead
	// of ending QEMU, as on a real server.
	vm := n.start(false, false, "-action", "reboot=reset")
	n.expect(vm, 0, "Loading Lockstep system B (0.1.1-broken)", 5*time.Minute)
	n.expect(vm, 0, "not healthy 45s after its trial boot", 10*time.Minute)
	m := vm.Mark()
	n.expect(vm, m, "system B did not come up healthy; going back", 5*time.Minute)
	n.expect(vm, m, "Loading Lockstep system A (0.1.0)", time.Minute)
	n.expect(vm, m, nodeReady, 10*time.Minute)
	vm.Stop()

	f, err = os.Open(n.disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := engine.ReadBootState(f)
	if err != nil {
		t.Fatal(err)
	}
	want := abboot.State{Active: abboot.A,
		A: abboot.SlotInfo{State: abboot.Good, Version: "0.1.0"}, B: abboot.SlotInfo{State: abboot.Bad, Version: "0.1.1-broken"}}
	if st != want {
		t.Errorf("boot state after the failed trial: %s, want %s", st, want)
	}
}

// TestKilledInstallIsNotBooted cuts the power (SIGKILL to QEMU) while the
// installer writes the system image, then boots the machine with the CD
// still in: nothing on the disk may boot. On BIOS the MBR still holds the
// installer's INT 18h stub; on UEFI GRUB is on the ESP but the boot state
// says slot A is "installing", so GRUB hands back to the firmware. Either
// way the firmware falls through to the CD.
func TestKilledInstallIsNotBooted(t *testing.T) {
	for _, fw := range []qemu.Firmware{qemu.SeaBIOS, qemu.OVMF} {
		t.Run(fw.String(), func(t *testing.T) {
			t.Parallel()
			n := newNode(t, fw)
			vm := n.start(true, true)
			n.expect(vm, 0, readyLine, 5*time.Minute)
			n.expect(vm, 0, "Writing the system image to slot A", 5*time.Minute)
			vm.Stop()

			vm = n.start(true, false)
			n.expect(vm, 0, readyLine, 5*time.Minute)
			out := vm.Output()
			if strings.Contains(out, "Loading Lockstep system") {
				t.Fatalf("a half-installed slot was booted:\n%s", tail(out))
			}
			if fw == qemu.OVMF && !strings.Contains(out, "no bootable system slot: slot a is installing") {
				t.Errorf("GRUB did not say why it booted nothing:\n%s", tail(out))
			}
			vm.Stop()
			f, err := os.Open(n.disk)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if st, err := engine.ReadBootState(f); err == nil && st.A.State != abboot.Installing {
				t.Errorf("boot state after the killed install: %s", st)
			}
		})
	}
}

// benchRecord appends the install phases to LOCKSTEP_BENCH_OUT (for
// ci/bench/install.sh): firmware, then seconds to the installer, to the
// end of the install, and from the disk boot to agent ready.
func benchRecord(t *testing.T, fw string, toInstaller, install, firstBoot time.Duration) {
	p := os.Getenv("LOCKSTEP_BENCH_OUT")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %.1f %.1f %.1f\n", fw, toInstaller.Seconds(), install.Seconds(), firstBoot.Seconds())
}

// TestDiskImageBootsUnderSecureBoot makes a node's disk with
// `lockstep-build disk` (the install engine on a raw file, no installer)
// and boots it on OVMF with Secure Boot enforced and Microsoft's keys: the
// chain is the MS-signed shim, Debian's signed GRUB and kernel, and the
// kernel's lockdown; the agent must come up as from an installed disk.
func TestDiskImageBootsUnderSecureBoot(t *testing.T) {
	t.Parallel()
	isoPath(t) // only with the built tree of `make test`
	n := newNode(t, qemu.OVMFSecureBoot)
	answersFile := filepath.Join(n.dir, "node0.yaml")
	if err := os.WriteFile(answersFile, []byte(installAnswers), 0o644); err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", "run", "./cmd/lockstep-build", "disk", "-answers", answersFile, "-o", n.disk, "-size", "32G")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lockstep-build disk: %v\n%s", err, out)
	}
	vm := n.start(false, false)
	n.expect(vm, 0, "Secure boot enabled", 5*time.Minute)
	n.expect(vm, 0, "Loading Lockstep system A (0.1.0)", time.Minute)
	n.expect(vm, 0, nodeReady, 10*time.Minute)
}

// checkAPI asks the founded system for its identity with the lockstep CLI,
// over the system IP, pinning the CA fingerprint the node printed.
func (n *node) checkAPI(vm *qemu.VM) {
	n.t.Helper()
	const prefix = "LOCKSTEP SYSTEM lockstep-lab 192.0.2.10 CA "
	// The whole line: the prefix may have arrived before the rest of it.
	var line string
	for deadline := time.Now().Add(30 * time.Second); ; {
		out := vm.Output()
		line = out[strings.Index(out, prefix):]
		if j := strings.IndexAny(line, "\r\n"); j >= 0 {
			line = line[:j]
			break
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("the system line never ended: %q", line)
		}
		time.Sleep(200 * time.Millisecond)
	}
	fp := strings.ReplaceAll(strings.TrimPrefix(line, prefix), " ", "")
	pw := filepath.Join(n.dir, "password")
	if err := os.WriteFile(pw, []byte("correct-horse-battery\n"), 0o600); err != nil {
		n.t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	cli := filepath.Join(n.dir, "lockstep")
	build := exec.Command("go", "build", "-o", cli, "./cmd/lockstep")
	build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if b, err := build.CombinedOutput(); err != nil {
		n.t.Fatalf("build the CLI: %v\n%s", err, b)
	}
	cmd := exec.Command(cli, "--server", fmt.Sprintf("127.0.0.1:%d", n.apiPort),
		"--fingerprint", fp, "--password-file", pw, "--json", "system", "info")
	// The CLI keeps its session under $HOME/.config: the test's own.
	cmd.Env = append(os.Environ(), "HOME="+n.dir, "XDG_CONFIG_HOME="+filepath.Join(n.dir, ".config"))
	b, err := cmd.CombinedOutput()
	if err != nil {
		n.t.Fatalf("lockstep system info: %v\n%s", err, b)
	}
	for _, s := range []string{`"name": "lockstep-lab"`, `"ip": "192.0.2.10"`, `"primary": "node0"`} {
		if !strings.Contains(string(b), s) {
			n.t.Errorf("lockstep system info lacks %s:\n%s", s, b)
		}
	}
}
