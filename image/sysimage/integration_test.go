package sysimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/image/debian"
)

// The integration test really builds the image from recipes/system.yaml. It
// needs root (or subuids for mmdebstrap's unshare mode), mmdebstrap,
// squashfs-tools, the mirror and a few GB in $TMPDIR, and takes minutes.
//
//	LOCKSTEP_SYSIMAGE_TESTS=1        run it (cold build into a fresh cache, then a warm one)
//	LOCKSTEP_SYSIMAGE_CACHE=<dir>    use this cache instead of a fresh one
//	LOCKSTEP_SYSIMAGE_REPRO=1        also rebuild without the cache and compare the bytes
func TestIntegrationBuildFromRecipe(t *testing.T) {
	if os.Getenv("LOCKSTEP_SYSIMAGE_TESTS") != "1" {
		t.Skip("set LOCKSTEP_SYSIMAGE_TESTS=1 to build the system image from recipes/system.yaml (needs root, mmdebstrap, squashfs-tools and the Debian mirror; takes minutes)")
	}
	r, err := LoadRecipe("../../recipes/system.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Spec()
	if err != nil {
		t.Fatal(err)
	}
	// A stand-in agent: the image must carry it with its unit enabled.
	agent := filepath.Join(t.TempDir(), "lockstepd")
	if err := os.WriteFile(agent, []byte("#!/bin/sh\necho lockstepd stand-in\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.ExtraFiles = []File{{Src: agent, Dst: AgentPath, Mode: 0o755}}

	cache := os.Getenv("LOCKSTEP_SYSIMAGE_CACHE")
	if cache == "" {
		cache = t.TempDir()
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	logf := func(format string, args ...any) { t.Logf(format, args...) }

	start := time.Now()
	out := filepath.Join(dir, "first", "system.squashfs")
	res, err := Build(ctx, s, out, cache, logf)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	t.Logf("first build: %v (cached=%v), %d bytes, sha256 %s", first.Round(time.Second), res.Cached, res.Size, res.SHA256)

	m, err := ReadManifest(res.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if m.Image.SHA256 != res.SHA256 || m.Version != s.Version || m.Kernel != res.Kernel {
		t.Errorf("manifest %+v does not match result %+v", m.Image, res)
	}
	for _, name := range []string{"qemu-system-x86", "qemu-utils", "libvirt-daemon-system", "linux-image-amd64", "systemd", "lvm2", "drbd-utils", "chrony", "openssh-server"} {
		p, ok := m.Package(name)
		if !ok {
			t.Errorf("manifest: package %s is not installed", name)
			continue
		}
		t.Logf("  %-22s %s", name, p.Version)
	}
	if q, ok := m.Package("qemu-system-x86"); !ok || debian.CompareVersions(q.Version, "1:11.1") < 0 {
		t.Errorf("qemu-system-x86 %q: want >= 11.1 (COLO)", q.Version)
	}
	for _, a := range m.Archive {
		t.Logf("  archive %s (%s) %s", a.Codename, a.Suite, a.Date)
	}

	list := listSquashfs(t, out)
	for _, p := range []string{
		"/usr/bin/qemu-system-x86_64", "/usr/sbin/lvm", "/usr/sbin/drbdadm", "/usr/sbin/chronyd",
		"/usr/sbin/sshd", "/usr/lib/systemd/systemd", "/usr/bin/virsh", "/usr/sbin/libvirtd",
		"/boot/vmlinuz-" + res.Kernel, "/boot/initrd.img-" + res.Kernel,
		AgentPath, agentUnitPath, "/etc/systemd/system/multi-user.target.wants/lockstepd.service",
		sshdKeygenPath,
	} {
		if _, ok := list[p]; !ok {
			t.Errorf("image lacks %s", p)
		}
	}
	if e := list["/lib"]; e.Target != "usr/lib" {
		t.Errorf("/lib is not the merged-/usr symlink: %v", e)
	}
	if e := list["/etc/machine-id"]; e.Mode != "-rw-r--r--" || e.Owner != "0/0" || e.Size != "0" {
		t.Errorf("/etc/machine-id must be an empty file: %v", e)
	}
	if e := list[AgentPath]; e.Mode != "-rwxr-xr-x" || e.Owner != "0/0" {
		t.Errorf("agent: %v, want mode 0755 owned by root", e)
	}
	if e := list["/etc/hostname"]; e.Mode != "-rw-r--r--" || e.Size != "9" {
		t.Errorf("/etc/hostname: %v, want \"lockstep\\n\" 0644", e)
	}
	for p, e := range list {
		switch {
		case strings.HasPrefix(p, "/etc/ssh/ssh_host_"):
			t.Errorf("image carries an SSH host key: %s", p)
		case p == "/etc/systemd/system/multi-user.target.wants/ssh.service", p == "/etc/systemd/system/sshd.service":
			t.Errorf("ssh is enabled: %s", p)
		case strings.HasPrefix(p, "/var/lib/apt/lists/") && !strings.HasSuffix(p, "/partial") && !strings.HasSuffix(p, "/lock"):
			t.Errorf("apt lists left: %s", p)
		case strings.HasPrefix(p, "/var/log/") && e.Mode[0] == '-' && e.Size != "0":
			t.Errorf("log file left: %s %v", p, e)
		case strings.Contains(p, "/__pycache__"):
			t.Errorf("python byte code left: %s", p)
		}
	}
	t.Logf("image: %d entries, %d MiB", len(list), res.Size>>20)

	// Warm: the same Spec comes from the cache.
	start = time.Now()
	out2 := filepath.Join(dir, "second", "system.squashfs")
	res2, err := Build(ctx, s, out2, cache, logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second build: %v (cached=%v)", time.Since(start).Round(time.Millisecond), res2.Cached)
	if !res2.Cached || res2.SHA256 != res.SHA256 || res2.Key != res.Key {
		t.Errorf("second build: cached=%v sha256 %s key %s; want cached, %s, %s", res2.Cached, res2.SHA256, res2.Key, res.SHA256, res.Key)
	}

	if os.Getenv("LOCKSTEP_SYSIMAGE_REPRO") != "1" {
		return
	}
	// Reproducibility: build again, ignoring the cache; the bytes must match.
	start = time.Now()
	out3 := filepath.Join(dir, "third", "system.squashfs")
	b := &Builder{Runner: Exec{}, CacheDir: cache, Progress: logf, Refresh: true}
	res3, err := b.Build(ctx, s, out3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rebuild without cache: %v, sha256 %s", time.Since(start).Round(time.Second), res3.SHA256)
	if res3.SHA256 != res.SHA256 {
		t.Errorf("not reproducible: %s then %s", res.SHA256, res3.SHA256)
		list3 := listSquashfs(t, out3)
		n := 0
		for p, e := range list {
			if list3[p] != e && n < 50 {
				t.Errorf("  %s: %v vs %v", p, e, list3[p])
				n++
			}
		}
		for p, e := range list3 {
			if _, ok := list[p]; !ok && n < 50 {
				t.Errorf("  only in the rebuild: %s %v", p, e)
				n++
			}
		}
	}
}

// entry is one line of unsquashfs -lln (numeric owners: the build host's
// user names do not matter).
type entry struct {
	Mode, Owner, Size, Target string
}

func (e entry) String() string { return fmt.Sprintf("%s %s %s %s", e.Mode, e.Owner, e.Size, e.Target) }

// listSquashfs maps each path in the image ("/etc/hostname") to its entry.
func listSquashfs(t *testing.T, img string) map[string]entry {
	t.Helper()
	out, err := exec.Command("unsquashfs", "-lln", "-d", "", img).Output()
	if err != nil {
		t.Fatalf("unsquashfs -lln %s: %v", img, err)
	}
	list := map[string]entry{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || len(f[0]) != 10 {
			continue
		}
		e := entry{Mode: f[0], Owner: f[1], Size: f[2]}
		i := 5
		if f[0][0] == 'c' || f[0][0] == 'b' { // "major, minor" instead of a size
			e.Size, i = f[2]+f[3], 6
		}
		rest := strings.Join(f[i:], " ")
		p, target, _ := strings.Cut(rest, " -> ")
		if p == "" {
			p = "/"
		}
		e.Target = target
		list[p] = e
	}
	return list
}
