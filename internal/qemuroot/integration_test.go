package qemuroot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/image/debian"
	"github.com/lockstep-ft/lockstep/image/recipe"
	"github.com/lockstep-ft/lockstep/internal/qemu"
)

// TestRealQEMU builds (or reuses) the tree in the real cache and boots a
// kernel under its QEMU with SeaBIOS and with OVMF. It needs root and the
// network on a cold cache:
//
//	LOCKSTEP_NETWORK_TESTS=1 go test -v ./internal/qemuroot/ -run RealQEMU
//
// The kernel is $LOCKSTEP_TEST_KERNEL, else the host's /boot/vmlinuz-*, else
// the kernel that recipes/lockstep.yaml pins (through the build's package
// cache).
func TestRealQEMU(t *testing.T) {
	if os.Getenv("LOCKSTEP_NETWORK_TESTS") != "1" {
		t.Skip("LOCKSTEP_NETWORK_TESTS is not 1")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (mmdebstrap --mode=root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cache := DefaultCacheDir()

	start := time.Now()
	r, err := Ensure(ctx, cache, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Ensure (first call): %v: %s", time.Since(start).Round(time.Millisecond), r.Dir)
	start = time.Now()
	r2, err := Ensure(ctx, cache, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	warm := time.Since(start)
	t.Logf("Ensure (cached): %v", warm)
	if warm > time.Second {
		t.Errorf("a cached Ensure took %v, want < 1 s", warm)
	}
	if r2.Dir != r.Dir {
		t.Errorf("the second Ensure returned %s, the first %s", r2.Dir, r.Dir)
	}
	mb, _ := json.Marshal(map[string]any{"qemu": r.Manifest.QEMUVersion, "qemu-system-x86": r.Manifest.Packages["qemu-system-x86"],
		"seabios": r.Manifest.Packages["seabios"], "ovmf": r.Manifest.Packages["ovmf"], "ipxe-qemu": r.Manifest.Packages["ipxe-qemu"],
		"libc6": r.Manifest.Packages["libc6"], "size_mib": r.Manifest.SizeMiB, "build_time": r.Manifest.BuildTime})
	t.Logf("manifest: %s", mb)

	t.Run("version", func(t *testing.T) {
		if !strings.HasPrefix(r.Manifest.QEMUVersion, "11.1.") {
			t.Errorf("the manifest records QEMU %q, want 11.1.x", r.Manifest.QEMUVersion)
		}
		out, err := r.Command(ctx, "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "QEMU emulator version 11.1.") {
			t.Errorf("qemu-system-x86_64 --version: %v\n%s", err, out)
		}
		out, err = r.Img(ctx, "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "qemu-img version 11.1.") {
			t.Errorf("qemu-img --version: %v\n%s", err, out)
		}
		for _, name := range Wrapped {
			out, err := r.Tool(ctx, name, "--version").CombinedOutput()
			if err != nil || !strings.Contains(string(out), " 11.1.") {
				t.Errorf("%s --version: %v\n%s", name, err, out)
			}
		}
		for _, name := range []string{"qemu-system-x86_64", "qemu-img"} {
			out, err := execOutput(ctx, r.Bin(name), "--version")
			if err != nil || !strings.Contains(out, "version 11.1.") {
				t.Errorf("%s --version: %v\n%s", r.Bin(name), err, out)
			}
		}
	})

	t.Run("qemu-img", func(t *testing.T) {
		disk := filepath.Join(t.TempDir(), "d.qcow2")
		if out, err := r.Img(ctx, "create", "-q", "-f", "qcow2", disk, "64M").CombinedOutput(); err != nil {
			t.Fatalf("qemu-img create: %v\n%s", err, out)
		}
		out, err := r.Img(ctx, "info", "--output=json", disk).Output()
		if err != nil || !strings.Contains(string(out), `"virtual-size": 67108864`) {
			t.Errorf("qemu-img info: %v\n%s", err, out)
		}
	})

	// A module (the virtio-gpu display devices are modules in Debian's
	// build) loads from the tree.
	t.Run("modules", func(t *testing.T) {
		out, err := r.Command(ctx, "-machine", "none", "-nodefaults", "-display", "none", "-device", "virtio-gpu-pci,help").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "virtio-gpu-pci options") {
			t.Errorf("-device virtio-gpu-pci,help: %v\n%s", err, out)
		}
	})

	// Every file a running QEMU has mapped (libraries, modules) is the
	// tree's, not the host's QEMU 7.2 or C library.
	t.Run("isolation", func(t *testing.T) {
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := r.Command(qctx, "-machine", "q35", "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
			"-device", "virtio-gpu-pci", "-qmp", "stdio")
		stdin, err := cmd.StdinPipe() // held open: QEMU waits on QMP
		if err != nil {
			t.Fatal(err)
		}
		defer stdin.Close()
		con := startConsole(t, cmd)
		defer cmd.Wait()
		defer cancel()
		// QMP answers once the machine and its devices exist.
		io.WriteString(stdin, `{"execute":"qmp_capabilities"}`+"\n"+`{"execute":"query-status"}`+"\n")
		if err := con.waitFor(qctx, `"status": "prelaunch"`); err != nil {
			t.Fatalf("%v\n%s", err, con.text())
		}
		maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(maps), filepath.Join(r.ModuleDir(), "hw-display-virtio-gpu-pci.so")) {
			t.Errorf("the virtio-gpu-pci module is not mapped from %s:\n%s", r.ModuleDir(), maps)
		}
		if foreign := foreignMaps(string(maps), r.Tree()); len(foreign) > 0 {
			t.Errorf("QEMU maps files from outside the tree: %q", foreign)
		}
	})

	// -cpu max under TCG exposes AMD-V (with nested paging), which lab
	// nodes need for /dev/kvm inside them.
	t.Run("svm", func(t *testing.T) {
		cmd := r.Command(ctx, "-machine", "q35", "-accel", "tcg", "-cpu", "max,svm=on,enforce",
			"-nodefaults", "-display", "none", "-S", "-qmp", "stdio")
		cmd.Stdin = strings.NewReader(`{"execute":"qmp_capabilities"}` + "\n" +
			`{"execute":"query-cpu-model-expansion","arguments":{"type":"full","model":{"name":"max"}}}` + "\n" +
			`{"execute":"quit"}` + "\n")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("QMP: %v\n%s", err, out)
		}
		var props map[string]any
		for _, line := range strings.Split(string(out), "\n") {
			var resp struct {
				Return struct {
					Model struct {
						Props map[string]any `json:"props"`
					} `json:"model"`
				} `json:"return"`
			}
			if json.Unmarshal([]byte(line), &resp) == nil && resp.Return.Model.Props != nil {
				props = resp.Return.Model.Props
			}
		}
		if props == nil {
			t.Fatalf("no CPU model expansion in\n%s", out)
		}
		for _, f := range []string{"svm", "npt"} {
			if props[f] != true {
				t.Errorf("-cpu max under TCG: %s = %v", f, props[f])
			}
		}
	})

	start = time.Now()
	kernel := testKernel(t, ctx, cache)
	t.Logf("kernel %s (found in %v)", kernel, time.Since(start).Round(time.Millisecond))
	kargs := []string{"-accel", "tcg", "-machine", "q35", "-m", "512", "-nodefaults", "-no-reboot",
		"-kernel", kernel, "-append", "console=ttyS0 panic=-1"}
	const panicLine = "VFS: Unable to mount root fs"

	t.Run("boot-seabios", func(t *testing.T) {
		bctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		cmd := r.Command(bctx, append([]string{"-nographic", "-serial", "stdio"}, kargs...)...)
		con := startConsole(t, cmd)
		start := time.Now()
		if err := con.waitFor(bctx, panicLine); err != nil {
			t.Fatalf("%v\n%s", err, tail(con.text()))
		}
		t.Logf("SeaBIOS: kernel panic after %v", time.Since(start).Round(100*time.Millisecond))
		if !strings.Contains(con.text(), "SeaBIOS (version 1.17") {
			t.Errorf("the console does not show the tree's SeaBIOS 1.17:\n%s", head(con.text()))
		}
		cancel()
		cmd.Wait()
	})

	// Through the wrapper and internal/qemu's VM, as the lab runs it.
	t.Run("boot-ovmf", func(t *testing.T) {
		dir := t.TempDir()
		pflash, err := r.PflashArgs(dir)
		if err != nil {
			t.Fatal(err)
		}
		vm, err := qemu.Start(r.Bin("qemu-system-x86_64"), append(pflash, kargs...), filepath.Join(dir, "console.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer vm.Stop()
		bctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		start := time.Now()
		if err := vm.WaitFor(bctx, panicLine); err != nil {
			t.Fatalf("%v\n%s", err, tail(vm.Output()))
		}
		t.Logf("OVMF: kernel panic after %v", time.Since(start).Round(100*time.Millisecond))
		if !strings.Contains(vm.Output(), "efi: EFI v2.") {
			t.Errorf("the kernel did not boot through UEFI:\n%s", head(vm.Output()))
		}
	})
}

// foreignMaps lists the files in a /proc/<pid>/maps that are not under tree.
func foreignMaps(maps, tree string) []string {
	var out []string
	for _, line := range strings.Split(maps, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[5], "/") {
			continue // anonymous, [heap], [vdso]
		}
		p := f[5]
		if strings.HasPrefix(p, tree+"/") || strings.HasPrefix(p, "/dev/") || strings.HasPrefix(p, "/memfd:") {
			continue
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// testKernel finds a bzImage for the boot tests.
func testKernel(t *testing.T, ctx context.Context, cache string) string {
	t.Helper()
	if k := os.Getenv("LOCKSTEP_TEST_KERNEL"); k != "" {
		return k
	}
	if ks, _ := filepath.Glob("/boot/vmlinuz-*"); len(ks) > 0 {
		slices.Sort(ks)
		if f, err := os.Open(ks[len(ks)-1]); err == nil {
			f.Close()
			return ks[len(ks)-1]
		}
	}
	// This host has no kernel in /boot: take the one the recipe pins.
	rec, err := recipe.Load("../../recipes/lockstep.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pins []debian.Pin
	for _, p := range rec.Pins() {
		if strings.HasPrefix(p.Name, "linux-image-") {
			pins = append(pins, p)
			break
		}
	}
	if len(pins) == 0 {
		t.Fatal("recipes/lockstep.yaml pins no linux-image package")
	}
	res := &debian.Resolver{Sources: rec.Sources(), Arch: "amd64", Keyring: rec.Archive.Keyring,
		CacheDir: filepath.Join(cache, "debian"), Progress: t.Logf}
	locked, err := res.Resolve(ctx, pins)
	if err != nil {
		t.Fatal(err)
	}
	// The kernel unpacked from that package is kept next to the trees,
	// named by the package's sha256: unpacking takes seconds.
	kept := filepath.Join(cache, subdir, "test-kernel-"+locked[0].SHA256[:16])
	if _, err := os.Stat(kept); err == nil {
		return kept
	}
	deb, err := res.Fetch(ctx, locked[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := debian.Extract(deb, dir, func(name string) bool { return strings.HasPrefix(name, "boot/vmlinuz-") }); err != nil {
		t.Fatal(err)
	}
	ks, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(ks) == 0 {
		t.Fatalf("%s has no /boot/vmlinuz-*", deb)
	}
	t.Logf("kernel: %s from %s", filepath.Base(ks[0]), locked[0].Filename)
	b, err := os.ReadFile(ks[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kept+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(kept+".tmp", kept); err != nil {
		t.Fatal(err)
	}
	return kept
}

// console collects a command's stdout and stderr.
type console struct {
	mu   sync.Mutex
	cond *sync.Cond
	buf  strings.Builder
	done bool
}

func startConsole(t *testing.T, cmd *exec.Cmd) *console {
	t.Helper()
	c := &console{}
	c.cond = sync.NewCond(&c.mu)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		chunk := make([]byte, 4096)
		for {
			n, err := stdout.Read(chunk)
			c.mu.Lock()
			c.buf.Write(chunk[:n])
			if err != nil {
				c.done = true
			}
			c.cond.Broadcast()
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return c
}

func (c *console) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// waitFor waits until the output contains s, the output ends, or ctx ends.
func (c *console) waitFor(ctx context.Context, s string) error {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if strings.Contains(c.buf.String(), s) {
			return nil
		}
		if c.done {
			return fmt.Errorf("QEMU's output ended before %q", s)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%q not seen: %w", s, ctx.Err())
		}
		c.cond.Wait()
	}
}

func execOutput(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func head(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "\n..."
	}
	return s
}

func tail(s string) string {
	if len(s) > 3000 {
		return "...\n" + s[len(s)-3000:]
	}
	return s
}
