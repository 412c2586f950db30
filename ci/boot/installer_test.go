package boot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/image/esp"
	"github.com/lockstep-ft/lockstep/image/iso"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/engine"
	"github.com/lockstep-ft/lockstep/internal/qemu"
)

// Keys as a serial terminal sends them.
const (
	keyEnter    = "\r"
	keyTab      = "\t"
	keyShiftTab = "\x1b[Z"
	keyRight    = "\x1b[C"
	keyBS       = "\x7f"
)

// extract copies one file out of the ISO by its extent.
func extract(t *testing.T, isoPath, name, dst string) {
	t.Helper()
	f, err := os.Open(isoPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lba, size, err := iso.Locate(f, name)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, int64(lba)*iso.SectorSize); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// installerVM boots the ISO's own kernel and initramfs directly, so that test
// flags (lockstep.dryrun=1) reach the kernel command line without typing at
// the boot menu; the ISO is attached as the install medium as usual.
type installerVM struct {
	*qemu.VM
	t *testing.T
}

func startInstaller(t *testing.T, cpu, cmdline string, extra ...string) *installerVM {
	t.Helper()
	isoFile := isoPath(t)
	dir := t.TempDir()
	kernel, initrd := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
	extract(t, isoFile, "boot/vmlinuz", kernel)
	extract(t, isoFile, "boot/initrd.img", initrd)
	sys := filepath.Join(dir, "sys.img")
	if err := os.WriteFile(sys, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sys, 32<<30); err != nil {
		t.Fatal(err)
	}
	// thread=single: see node.start in install_test.go.
	args := []string{"-accel", "tcg,thread=single", "-cpu", cpu, "-smp", "2", "-m", "3072", "-nic", "none",
		"-kernel", kernel, "-initrd", initrd,
		"-append", "lockstep.medium=LOCKSTEP console=tty0 console=ttyS0,115200n8 " + cmdline,
		"-drive", "file=" + isoFile + ",media=cdrom,readonly=on,if=none,id=cd", "-device", "ide-cd,drive=cd",
		"-drive", "file=" + sys + ",format=raw,if=none,id=sys", "-device", "virtio-blk-pci,drive=sys,serial=lockstep-sys",
		// NICs on QEMU-internal hubs with nothing else on them: no traffic leaves.
		"-netdev", "hubport,id=n0,hubid=10", "-device", "e1000,netdev=n0,mac=52:54:00:00:00:01",
		"-netdev", "hubport,id=n1,hubid=11", "-device", "e1000,netdev=n1,mac=52:54:00:00:00:02",
	}
	args = append(args, extra...)
	return &installerVM{VM: startVM(t, args), t: t}
}

// expect waits for s on the console after mark; it fails the test with the
// console's tail when s does not come.
func (v *installerVM) expect(mark int, s string, within time.Duration) {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := v.WaitForAfter(ctx, mark, s); err != nil {
		v.t.Fatalf("%v\n--- serial console (tail) ---\n%s", err, tail(v.Output()))
	}
}

// step types keys and waits for the screen that should follow.
func (v *installerVM) step(keys, want string) {
	v.t.Helper()
	m := v.Mark()
	if err := v.Send(keys); err != nil {
		v.t.Fatal(err)
	}
	v.expect(m, want, 2*time.Minute)
}

// dryRunAnswers cuts the answers JSON the dry-run engine prints.
func (v *installerVM) dryRunAnswers() answers.Answers {
	v.t.Helper()
	v.expect(0, engine.DryRunEnd, 2*time.Minute)
	out := v.Output()
	i := strings.Index(out, engine.DryRunBegin)
	j := strings.Index(out[i:], engine.DryRunEnd)
	body := strings.TrimSpace(out[i+len(engine.DryRunBegin) : i+j])
	var a answers.Answers
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		v.t.Fatalf("dry-run output is not the answers JSON: %v\n%s", err, body)
	}
	return a
}

func checkCreateAnswers(t *testing.T, a answers.Answers) {
	t.Helper()
	if a.Action != answers.Create || a.Hostname != "node0" || a.System.Name != "lockstep-lab" || a.System.IP != "192.0.2.100" ||
		a.Network.Node.IP != "192.0.2.10" || a.Network.Node.Netmask != "255.255.255.0" || a.Network.Node.Gateway != "192.0.2.1" ||
		a.Network.Priv0 != "52:54:00:00:00:01" || a.Network.Ibiz0 != "52:54:00:00:00:02" ||
		a.Disk.System != "serial:lockstep-sys" || !a.Disk.ConfirmErase || !a.Lab {
		t.Errorf("collected answers are not the ones given: %+v", a)
	}
	if a.Admin.Password != "" && a.Admin.Password != "********" {
		t.Errorf("the admin password leaked into the dry-run output")
	}
}

// TestInstallerInteractiveCreateDryRun types a whole "Create new system" on
// the serial console, including a bad IP that the validator must catch, up to
// the confirm screen, and reads the collected answers back as JSON.
func TestInstallerInteractiveCreateDryRun(t *testing.T) {
	t.Parallel()
	v := startInstaller(t, "max", "lockstep.dryrun=1 lockstep.lab=1")
	v.expect(0, readyLine, 5*time.Minute)
	v.expect(0, "Create new system", time.Minute)
	v.step(keyEnter, "Continue anyway")
	v.step(keyRight+keyEnter, "Network interfaces")
	v.step(keyEnter, "Host name")
	v.step("node0"+keyTab+keyTab+"192.0.2.300"+keyTab, "is not an IPv4 address")
	fields := keyShiftTab + strings.Repeat(keyBS, 12) + "192.0.2.10" + keyTab +
		"255.255.255.0" + keyTab + "192.0.2.1" + keyTab + "192.0.2.53" + keyTab + keyTab +
		"lockstep-lab" + keyTab + "192.0.2.100" + keyTab + "correct-horse-battery" + keyTab + "correct-horse-battery" + keyTab
	v.step(fields, "Next checks every field")
	v.step(keyEnter, "Witness 1")
	v.step(strings.Repeat(keyTab, 4)+keyEnter, "serial:lockstep-sys") // no witness
	v.step(keyEnter, "will be ERASED")
	v.step("erase"+keyEnter, engine.DryRunBegin)
	checkCreateAnswers(t, v.dryRunAnswers())
}

// createAnswers is the answer file of the unattended tests: the same answers
// TestInstallerInteractiveCreateDryRun types.
const createAnswers = `action: create
lab: true
accept_warnings: true
hostname: node0
system: {name: lockstep-lab, ip: 192.0.2.100}
network:
  priv0: 52:54:00:00:00:01
  ibiz0: 52:54:00:00:00:02
  node: {ip: 192.0.2.10/24, gateway: 192.0.2.1}
  dns: [192.0.2.53]
disk: {system: "serial:lockstep-sys", confirm_erase: true}
admin: {password: correct-horse-battery}
`

// TestInstallerUnattendedDryRun gives the same answers as a file on a second
// stick labelled LOCKSTEPCFG; no key is pressed.
func TestInstallerUnattendedDryRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stick := filepath.Join(dir, "cfg.img")
	file := createAnswers
	if _, err := esp.Build(stick, "LOCKSTEPCFG", []esp.File{{Path: answers.StickPath, Data: []byte(file)}}, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	v := startInstaller(t, "max", "lockstep.dryrun=1",
		"-drive", "file="+stick+",format=raw,if=none,id=cfg,readonly=on", "-device", "qemu-xhci", "-device", "usb-storage,drive=cfg")
	v.expect(0, "Unattended install with the answer file from "+answers.OriginStick, 5*time.Minute)
	checkCreateAnswers(t, v.dryRunAnswers())
}

// TestInstallerShowsVTxFailure boots on a CPU without VMX/SVM and without the
// lab override: the checks screen must fail the virtualization check.
func TestInstallerShowsVTxFailure(t *testing.T) {
	t.Parallel()
	v := startInstaller(t, "qemu64,-svm,-vmx", "lockstep.dryrun=1")
	v.expect(0, readyLine, 5*time.Minute)
	v.expect(0, "Create new system", time.Minute)
	v.step(keyEnter, "A FAILED check blocks the installation")
	out := v.Output()
	if !strings.Contains(out, "FAIL  Hardware virtualization") {
		t.Fatalf("the checks screen does not fail hardware virtualization:\n%s", tail(out))
	}
	if strings.Contains(out, "Continue anyway") {
		t.Fatalf("a failed check must not offer to continue:\n%s", tail(out))
	}
}

// TestInstallerAnswersFromURL serves the answer file over HTTP on the host's
// loopback; the guest reaches it through QEMU's user network (a private
// TEST-NET-1 segment inside QEMU, forwarded to 127.0.0.1) after DHCP.
func TestInstallerAnswersFromURL(t *testing.T) {
	t.Parallel()
	file := createAnswers
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/answers.yaml" {
			http.NotFound(w, r)
			return
		}
		served.Add(1)
		io.WriteString(w, file)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	v := startInstaller(t, "max", "lockstep.dryrun=1 lockstep.answers=http://192.0.2.200/answers.yaml",
		"-netdev", fmt.Sprintf("user,id=n2,restrict=on,net=192.0.2.0/24,host=192.0.2.2,dhcpstart=192.0.2.15,guestfwd=tcp:192.0.2.200:80-tcp:127.0.0.1:%d", port),
		"-device", "e1000,netdev=n2,mac=52:54:00:00:00:03")
	v.expect(0, "Unattended install with the answer file from lockstep.answers=http://192.0.2.200/answers.yaml", 5*time.Minute)
	checkCreateAnswers(t, v.dryRunAnswers())
	if served.Load() == 0 {
		t.Fatal("the HTTP server never served the answer file")
	}
}
