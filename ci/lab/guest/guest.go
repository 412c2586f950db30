// Package guest builds the lab's test guest: a tiny VM image delivered as a
// BIOS-bootable ISO ("VCD") that boots from a CD drive, finds its disk on
// virtio (/dev/vda) and writes sequence records to it, reporting them on
// ttyS0 (package seqlog has the formats; cmd/guest-init is its /init).
// Booted with lsguest.ip=<addr>/<prefix> (and lsguest.gw=<addr>) added to
// Cmdline, as the kernel and initramfs left next to the ISO allow (see
// Files), it also brings up its first NIC (e1000 or virtio-net) and serves
// TCP echo on port 7.
//
// Everything comes from what the repository already pins and knows how to
// handle: the kernel, isolinux and syslinux-common packages of
// recipes/lockstep.yaml, fetched and verified by image/debian; the kernel
// modules picked with their dependencies by initramfs/moddep and loaded in
// the guest by initramfs/coldplug; the ISO written reproducibly by
// image/iso. The result is cached under <cache>/guest/<key>/, key being a
// hash of every input (see BuildFiles).
package guest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/lockstep-ft/lockstep/image/bootmenu"
	"github.com/lockstep-ft/lockstep/image/debian"
	"github.com/lockstep-ft/lockstep/image/iso"
	"github.com/lockstep-ft/lockstep/image/recipe"
	"github.com/lockstep-ft/lockstep/initramfs/moddep"
	"github.com/lockstep-ft/lockstep/internal/digest"
	"github.com/lockstep-ft/lockstep/internal/qemuroot"
)

// Modules are what the guest needs beyond the kernel image: the virtio PCI
// transport, the virtio disk driver and the NICs' drivers, QEMU's e1000 and
// virtio-net (moddep adds their dependencies). The pinned Debian kernel
// builds virtio, virtio_ring and virtio_pci in, so virtio_blk, e1000,
// virtio_net, net_failover and failover end up in the initramfs; naming
// virtio_pci keeps a kernel that builds it as a module working. The init
// loads the NIC drivers only when the command line asks for a network.
var Modules = []string{"virtio_pci", "virtio_blk", "e1000", "virtio_net"}

// Cmdline is the guest kernel's command line: the console on the first
// serial port; loglevel=3 keeps all but critical kernel messages off it, so
// the LSGUEST lines stand alone; a panic reboots at once (a new boot id
// shows it).
const Cmdline = "console=ttyS0,115200 quiet loglevel=3 panic=-1"

// VolumeID is the ISO's volume label.
const VolumeID = "LSGUEST"

// layout names the shape of the output; bump it when the builder changes
// what it makes from the same inputs.
const layout = "lsguest-2"

// Options configure BuildWith; zero fields take defaults.
type Options struct {
	// CacheDir is the Lockstep cache root: qemuroot.DefaultCacheDir()
	// (~/.cache/lockstep). Debian packages are cached in its debian/, the
	// guest in guest/<key>/.
	CacheDir string
	// RepoRoot is the module root, for the recipe and the init's source:
	// found from this package's source file, else from the working directory.
	RepoRoot string
	// Cmdline is what the ISO's boot loader passes the kernel: Cmdline
	// when empty. A VCD has no other way to configure the guest, so a lab
	// VM on a business network gets e.g. Cmdline+" lsguest.ip=…" here.
	Cmdline string
	Logf    func(format string, args ...any)
}

// Manifest records what went into a guest ISO, next to it as manifest.json.
type Manifest struct {
	Key      string          `json:"key"`
	Kernel   string          `json:"kernel"`
	Modules  []string        `json:"modules"` // module files in the initramfs
	Cmdline  string          `json:"cmdline"`
	Init     string          `json:"init_sha256"`
	Epoch    time.Time       `json:"epoch"`
	Packages []debian.Locked `json:"packages"`
	ISO      string          `json:"iso_sha256"`
	Vmlinuz  string          `json:"vmlinuz_sha256"` // the kernel next to the ISO
	Initrd   string          `json:"initrd_sha256"`  // the initramfs next to it
}

// Names of the files in a cache entry.
const (
	isoName      = "guest.iso"
	kernelName   = "vmlinuz"
	initrdName   = "initrd.img"
	manifestName = "manifest.json"
)

// Files are a built guest in the cache. Kernel and Initrd are the ones on
// the ISO, for booting the guest directly (QEMU -kernel, -initrd and
// -append): a test can then add to the command line, e.g.
// Cmdline+" lsguest.ip=10.0.2.15/24".
type Files struct {
	ISO     string
	Kernel  string
	Initrd  string
	Cmdline string // what the ISO boots with: Options.Cmdline
}

// Build returns the path of the guest ISO, building it on a cache miss; see
// BuildWith.
func Build(ctx context.Context, cacheDir string) (isoPath string, err error) {
	return BuildWith(ctx, Options{CacheDir: cacheDir})
}

// BuildWith returns <CacheDir>/guest/<key>/guest.iso; see BuildFiles.
func BuildWith(ctx context.Context, o Options) (string, error) {
	f, err := BuildFiles(ctx, o)
	return f.ISO, err
}

// BuildFiles returns the files of <CacheDir>/guest/<key>/. The key hashes
// the inputs: the pinned kernel and bootloader packages (name and version,
// which the Debian archive never reuses for other contents), the init
// binary (built each time, reproducibly: -trimpath, no build id, so the Go
// build cache makes that cheap), Modules, Cmdline, the epoch and layout.
// Only a miss resolves and fetches packages (network, unless already in the
// package cache). Concurrent builders of one key each build and the first
// rename wins.
func BuildFiles(ctx context.Context, o Options) (Files, error) {
	if o.CacheDir == "" {
		o.CacheDir = qemuroot.DefaultCacheDir()
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Cmdline == "" {
		o.Cmdline = Cmdline
	}
	var err error
	if o.RepoRoot == "" {
		if o.RepoRoot, err = repoRoot(); err != nil {
			return Files{}, err
		}
	}
	rec, err := recipe.Load(filepath.Join(o.RepoRoot, "recipes", "lockstep.yaml"))
	if err != nil {
		return Files{}, err
	}
	epoch, err := rec.EpochTime()
	if err != nil {
		return Files{}, err
	}
	// The kernel first, then isolinux and syslinux-common.
	pins := []debian.Pin{{Name: rec.Kernel.Package.Name, Version: rec.Kernel.Package.Version, Suite: rec.Kernel.Package.Suite}}
	for _, p := range rec.Bootloader.BIOS {
		pins = append(pins, debian.Pin{Name: p.Name, Version: p.Version, Suite: p.Suite})
	}

	base := filepath.Join(o.CacheDir, "guest")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return Files{}, err
	}
	work, err := os.MkdirTemp(base, ".build-")
	if err != nil {
		return Files{}, err
	}
	defer os.RemoveAll(work)
	initBin := filepath.Join(work, "init")
	if err := buildInit(ctx, o.RepoRoot, initBin); err != nil {
		return Files{}, err
	}
	initSum, err := digest.File(initBin)
	if err != nil {
		return Files{}, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", layout)
	for _, p := range pins {
		fmt.Fprintf(h, "pkg %s=%s\n", p.Name, p.Version)
	}
	fmt.Fprintf(h, "init %s\nmodules %s\ncmdline %s\nepoch %d\n", initSum, strings.Join(Modules, ","), o.Cmdline, epoch.Unix())
	key := hex.EncodeToString(h.Sum(nil))[:16]
	dir := filepath.Join(base, key)
	files := Files{
		ISO:     filepath.Join(dir, isoName),
		Kernel:  filepath.Join(dir, kernelName),
		Initrd:  filepath.Join(dir, initrdName),
		Cmdline: o.Cmdline,
	}
	// The entry appears whole, by rename: its ISO stands for all of it.
	if _, err := os.Stat(files.ISO); err == nil {
		return files, nil
	}

	o.Logf("guest: building %s", dir)
	m := &Manifest{Key: key, Cmdline: o.Cmdline, Init: initSum, Epoch: epoch}
	tmpOut := filepath.Join(work, "out")
	if err := build(ctx, rec, pins, initBin, work, tmpOut, m, o); err != nil {
		return Files{}, err
	}
	if err := os.Rename(tmpOut, dir); err != nil {
		if _, serr := os.Stat(files.ISO); serr != nil {
			return Files{}, err
		}
		// Another builder finished the same key first.
	}
	return files, nil
}

// build fetches the packages, makes the initramfs and writes the ISO, the
// kernel and initramfs on it and the manifest into out.
func build(ctx context.Context, rec *recipe.Recipe, pins []debian.Pin, initBin, work, out string, m *Manifest, o Options) error {
	res := &debian.Resolver{Sources: rec.Sources(), Arch: rec.Archive.Arch, Keyring: rec.Archive.Keyring,
		CacheDir: filepath.Join(o.CacheDir, "debian"), Progress: o.Logf}
	if res.Arch == "" {
		res.Arch = "amd64"
	}
	locked, err := res.Resolve(ctx, pins)
	if err != nil {
		return err
	}
	m.Packages = locked
	pkgs := filepath.Join(work, "pkgs")
	for _, l := range locked {
		deb, err := res.Fetch(ctx, l)
		if err != nil {
			return err
		}
		o.Logf("guest: unpacking %s %s", l.Name, l.Version)
		if err := debian.Extract(deb, pkgs, keep); err != nil {
			return err
		}
	}
	mods, err := filepath.Glob(filepath.Join(pkgs, "usr", "lib", "modules", "*"))
	if err != nil || len(mods) != 1 {
		return fmt.Errorf("guest: %s: want one usr/lib/modules/<version>, found %v", pins[0].Name, mods)
	}
	m.Kernel = filepath.Base(mods[0])
	ix, err := moddep.Scan(mods[0])
	if err != nil {
		return err
	}
	names, err := ix.Select(Modules...)
	if err != nil {
		return err
	}
	sel, err := ix.Closure(names...)
	if err != nil {
		return err
	}
	var builtin []string
	for _, n := range names {
		if ix.Builtin[n] != nil {
			builtin = append(builtin, n)
		}
	}
	for _, mod := range sel {
		m.Modules = append(m.Modules, mod.Path)
	}
	o.Logf("guest: kernel %s: modules %v, built in %v", m.Kernel, m.Modules, builtin)
	tree := filepath.Join(work, "initramfs")
	if err := ix.WriteTree(tree, sel); err != nil {
		return err
	}

	stage := filepath.Join(work, "iso")
	initrd := filepath.Join(stage, bootmenu.Initrd)
	if err := writeInitramfs(initrd, initBin, tree, m.Epoch); err != nil {
		return err
	}
	for src, dst := range map[string]string{
		filepath.Join("boot", "vmlinuz-"+m.Kernel):                                bootmenu.Kernel,
		filepath.Join("usr", "lib", "ISOLINUX", "isolinux.bin"):                   "isolinux/isolinux.bin",
		filepath.Join("usr", "lib", "syslinux", "modules", "bios", "ldlinux.c32"): "isolinux/ldlinux.c32",
	} {
		if err := copyFile(filepath.Join(pkgs, src), filepath.Join(stage, dst)); err != nil {
			return err
		}
	}
	// No prompt, no menu: boot at once.
	cfg := fmt.Sprintf("DEFAULT guest\nPROMPT 0\nTIMEOUT 0\nLABEL guest\n  LINUX %s\n  INITRD %s\n  APPEND %s\n",
		bootmenu.Kernel, bootmenu.Initrd, o.Cmdline)
	if err := os.WriteFile(filepath.Join(stage, "isolinux", "isolinux.cfg"), []byte(cfg), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	isoPath := filepath.Join(out, isoName)
	if err := iso.Write(stage, isoPath, iso.Options{VolumeID: VolumeID, Epoch: m.Epoch, BIOSBoot: "isolinux/isolinux.bin"}); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(stage, bootmenu.Kernel), filepath.Join(out, kernelName)); err != nil {
		return err
	}
	if err := copyFile(initrd, filepath.Join(out, initrdName)); err != nil {
		return err
	}
	for sum, name := range map[*string]string{&m.ISO: isoName, &m.Vmlinuz: kernelName, &m.Initrd: initrdName} {
		if *sum, err = digest.File(filepath.Join(out, name)); err != nil {
			return err
		}
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return os.WriteFile(filepath.Join(out, manifestName), append(b, '\n'), 0o644)
}

// keep unpacks only what the guest uses: the kernel image and modules (all
// of them: moddep resolves dependencies across the whole tree), isolinux.bin
// and ldlinux.c32.
func keep(name string) bool {
	return strings.HasPrefix(name, "boot/vmlinuz-") || strings.HasPrefix(name, "usr/lib/modules/") ||
		name == "usr/lib/ISOLINUX/isolinux.bin" || name == "usr/lib/syslinux/modules/bios/ldlinux.c32"
}

// buildInit builds cmd/guest-init static and reproducible.
func buildInit(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid=", "-o", out, "./ci/lab/guest/cmd/guest-init")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("guest: building the init: %w\n%s", err, bytes.TrimSpace(b))
	}
	return nil
}

// writeInitramfs writes a gzipped newc archive: /init, the module tree, the
// mount points, and /dev/console, which the kernel opens as init's stdio
// before anything can mount devtmpfs. Records are in walk order with fixed
// owners, inodes and times, so the same inputs give the same bytes.
func writeInitramfs(out, initBin, tree string, epoch time.Time) error {
	var recs []cpio.Record
	add := func(r cpio.Record) {
		r.Ino, r.MTime, r.NLink = uint64(len(recs)+1), uint64(epoch.Unix()), 1
		recs = append(recs, r)
	}
	for _, d := range []string{"dev", "proc", "sys"} {
		add(cpio.Directory(d, 0o755))
	}
	add(cpio.CharDev("dev/console", 0o600, 5, 1))
	b, err := os.ReadFile(initBin)
	if err != nil {
		return err
	}
	add(cpio.StaticRecord(b, cpio.Info{Name: "init", Mode: cpio.S_IFREG | 0o755}))
	err = filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == tree {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		switch {
		case d.IsDir():
			add(cpio.Directory(filepath.ToSlash(rel), 0o755))
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			add(cpio.StaticRecord(b, cpio.Info{Name: filepath.ToSlash(rel), Mode: cpio.S_IFREG | 0o644}))
		default:
			return fmt.Errorf("guest: %s: not a file or directory", p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w := cpio.Newc.Writer(zw)
	if err := cpio.WriteRecords(w, recs); err != nil {
		return err
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// repoRoot finds the module root: three levels above this file when the
// source is at hand (go test, go run), else the working directory's module.
func repoRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Join(filepath.Dir(file), "..", "..", "..")
		if _, err := os.Stat(filepath.Join(root, "recipes", "lockstep.yaml")); err == nil {
			return root, nil
		}
	}
	b, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(b))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("guest: cannot find the lockstep module root: run inside it or set Options.RepoRoot")
	}
	return filepath.Dir(gomod), nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
