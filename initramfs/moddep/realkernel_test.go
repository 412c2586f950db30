package moddep

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/image/debian"
	"github.com/lockstep-ft/lockstep/image/recipe"
	"github.com/lockstep-ft/lockstep/initramfs/coldplug"
)

// installerModules is the kind of selection the installer makes.
var installerModules = []string{
	"virtio_blk", "virtio_net", "virtio_pci", "ahci", "nvme", "e1000", "e1000e",
	"sr_mod", "sd_mod", "isofs", "squashfs", "loop", "overlay", "vfat",
	"usb_storage", "xhci_pci",
}

// TestRealKernel runs against an unpacked Debian kernel package:
//
//	dpkg-deb -x linux-image-<kver>_<ver>_amd64.deb /tmp/kpkg
//	LOCKSTEP_KERNEL_TREE=/tmp/kpkg/usr/lib/modules/<kver> go test ./initramfs/moddep -run RealKernel -v
//
// or, with LOCKSTEP_NETWORK_TESTS=1 (as `make test` runs), against the
// recipe's pinned kernel fetched through the build's own package cache.
//
// If depmod (kmod) is installed, it also runs depmod on the written tree
// and compares its modules.dep and modules.alias with ours.
func TestRealKernel(t *testing.T) {
	root := os.Getenv("LOCKSTEP_KERNEL_TREE")
	if root == "" && os.Getenv("LOCKSTEP_NETWORK_TESTS") == "1" {
		root = recipeKernelTree(t)
	}
	if root == "" {
		t.Skip("LOCKSTEP_KERNEL_TREE not set (point it at <unpacked linux-image .deb>/usr/lib/modules/<kver>) and LOCKSTEP_NETWORK_TESTS is not 1")
	}
	start := time.Now()
	ix, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s: scanned %d modules (%d built in) in %v", ix.KernelVersion, len(ix.Modules), len(ix.Builtin), time.Since(start).Round(time.Millisecond))

	names, err := ix.Select(installerModules...)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, ok := ix.Builtin[n]; ok {
			t.Logf("%s is built into this kernel", n)
		}
	}
	mods, err := ix.Closure(names...)
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	for _, m := range mods {
		list = append(list, m.Name)
	}
	t.Logf("closure: %d modules: %s", len(mods), strings.Join(list, " "))
	t.Logf("firmware: %q", ix.Firmware(mods))

	dst := t.TempDir()
	start = time.Now()
	if err := ix.WriteTree(dst, mods); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dst, "lib", "modules", ix.KernelVersion)
	t.Logf("WriteTree: %v", time.Since(start).Round(time.Millisecond))

	f, err := os.Open(filepath.Join(base, "modules.alias"))
	if err != nil {
		t.Fatal(err)
	}
	aliases, err := coldplug.ParseAliases(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	builtinAliases := aliasesOf(ix.Builtin["virtio_pci"]) // nil if virtio_pci is a module
	for _, tc := range []struct{ modalias, want string }{
		{"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00", "virtio_pci"}, // virtio-blk PCI function
		{"pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01", "ahci"},       // ICH9 AHCI (QEMU q35)
		{"virtio:d00000002v00001AF4", "virtio_blk"},
		{"virtio:d00000001v00001AF4", "virtio_net"},
		{"pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02", "nvme"},     // QEMU NVMe
		{"pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", "e1000"},    // QEMU e1000
		{"pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00", "e1000e"},   // 82574L
		{"pci:v00001B36d0000000Dsv00001AF4sd00001100bc0Csc03i30", "xhci_pci"}, // QEMU xHCI
		{"scsi:t-0x00", "sd_mod"},
		{"scsi:t-0x05", "sr_mod"},
		{"usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00", "usb_storage"}, // USB stick
	} {
		got := coldplug.Match(aliases, tc.modalias)
		if slices.Contains(got, tc.want) {
			t.Logf("%s -> %v", tc.modalias, got)
			continue
		}
		if _, builtin := ix.Builtin[tc.want]; builtin {
			// A built-in driver binds by itself; depmod does not list its
			// device-table aliases either (modules.builtin.modinfo only has
			// explicit MODULE_ALIASes), so nothing needs loading.
			t.Logf("%s -> %v (%s is built in; builtin aliases %q)", tc.modalias, got, tc.want, builtinAliases)
			continue
		}
		t.Errorf("%s -> %v, want %s", tc.modalias, got, tc.want)
	}

	// The filesystems the installer loads by name, through coldplug, from
	// the written tree: dependencies first, every file present and an ELF.
	rec := &recLoader{}
	cp := &coldplug.Coldplug{SysRoot: dst, ModulesDir: base, Loader: rec}
	if err := cp.LoadNamed("isofs", "squashfs", "loop", "overlay", "vfat", "virtio_pci"); err != nil {
		t.Fatal(err)
	}
	t.Logf("LoadNamed(isofs squashfs loop overlay vfat virtio_pci) loads: %s", strings.Join(rec.names, " "))
	if i, j := slices.Index(rec.names, "fat"), slices.Index(rec.names, "vfat"); i < 0 || j < i {
		t.Errorf("fat must be loaded before vfat: %v", rec.names)
	}

	compareDepmod(t, dst, base, ix.KernelVersion)
}

type recLoader struct{ names []string }

func (r *recLoader) Load(path, params string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(b, []byte("\x7fELF")) {
		return os.ErrInvalid
	}
	r.names = append(r.names, Name(path))
	return nil
}

// compareDepmod runs depmod on a copy of the written tree and compares its
// modules.dep (same dependency set per module; order reported) and
// modules.alias with ours.
func compareDepmod(t *testing.T, dst, base, kver string) {
	depmod, err := exec.LookPath("depmod")
	if err != nil {
		t.Log("depmod not installed: comparison skipped")
		return
	}
	cp := t.TempDir()
	if out, err := exec.Command("cp", "-a", filepath.Join(dst, "lib"), cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	if out, err := exec.Command(depmod, "-b", cp, kver).CombinedOutput(); err != nil {
		t.Fatalf("depmod: %v\n%s", err, out)
	} else if len(out) > 0 {
		t.Logf("depmod says: %s", out)
	}
	theirBase := filepath.Join(cp, "lib", "modules", kver)
	ours, theirs := readDep(t, base), readDep(t, theirBase)
	same, reordered := 0, 0
	for p, od := range ours {
		td, ok := theirs[p]
		if !ok {
			t.Errorf("depmod has no line for %s", p)
			continue
		}
		switch {
		case slices.Equal(od, td):
			same++
		case slices.Equal(sorted(od), sorted(td)):
			reordered++
			t.Logf("%s: same dependencies, other order:\n  ours:   %v\n  depmod: %v", p, od, td)
		default:
			t.Errorf("%s: dependencies differ:\n  ours:   %v\n  depmod: %v", p, od, td)
		}
	}
	if len(theirs) != len(ours) {
		t.Errorf("modules.dep: depmod has %d lines, we have %d", len(theirs), len(ours))
	}
	t.Logf("modules.dep vs depmod -b: %d modules, %d identical lines, %d same set in another order", len(ours), same, reordered)

	a, _ := os.ReadFile(filepath.Join(base, "modules.alias"))
	b, _ := os.ReadFile(filepath.Join(theirBase, "modules.alias"))
	if bytes.Equal(a, b) {
		t.Logf("modules.alias: byte-identical to depmod's (%d lines)", bytes.Count(a, []byte("\n")))
	} else if sortedLines(a) == sortedLines(b) {
		t.Logf("modules.alias: same lines as depmod's, other order")
	} else {
		t.Errorf("modules.alias differs from depmod's")
	}
	a, _ = os.ReadFile(filepath.Join(base, "modules.softdep"))
	b, _ = os.ReadFile(filepath.Join(theirBase, "modules.softdep"))
	t.Logf("modules.softdep: byte-identical to depmod's: %v", bytes.Equal(a, b))
}

func readDep(t *testing.T, dir string) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := coldplug.ParseDep(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func sortedLines(b []byte) string {
	l := strings.Split(string(b), "\n")
	slices.Sort(l)
	return strings.Join(l, "\n")
}

// recipeKernelTree unpacks the default recipe's kernel package (from the
// build's download cache when warm) and returns its modules directory.
func recipeKernelTree(t *testing.T) string {
	t.Helper()
	r, err := recipe.Load("../../recipes/lockstep.yaml")
	if err != nil {
		t.Fatal(err)
	}
	home, _ := os.UserHomeDir()
	cache := filepath.Join(home, ".cache", "lockstep", "debian")
	if d := os.Getenv("LOCKSTEP_CACHE"); d != "" {
		cache = filepath.Join(d, "debian")
	}
	res := &debian.Resolver{Sources: r.Sources(), Arch: "amd64", Keyring: r.Archive.Keyring, CacheDir: cache}
	ctx := context.Background()
	locked, err := res.Resolve(ctx, r.Pins()[:1])
	if err != nil {
		t.Fatal(err)
	}
	deb, err := res.Fetch(ctx, locked[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keep := func(name string) bool {
		return strings.HasPrefix(name, "usr/lib/modules/") || strings.HasPrefix(name, "lib/modules/")
	}
	if err := debian.Extract(deb, dir, keep); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{"usr/lib/modules", "lib/modules"} {
		entries, _ := os.ReadDir(filepath.Join(dir, base))
		for _, e := range entries {
			if e.IsDir() {
				return filepath.Join(dir, base, e.Name())
			}
		}
	}
	t.Fatalf("kernel package %s has no modules directory", locked[0].Name)
	return ""
}
