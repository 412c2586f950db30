package moddep

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const testKver = "6.1.0-test-amd64"

type fakeMod struct {
	file    string // relative to the modules root, with compression suffix
	modinfo []string
}

var fakeMods = []fakeMod{
	{"kernel/drivers/virtio/virtio.ko", []string{"license=GPL", "depends="}},
	{"kernel/drivers/virtio/virtio_ring.ko.zst", []string{"depends=virtio"}},
	{"kernel/drivers/block/virtio_blk.ko.xz", []string{"alias=virtio:d00000002v*", "depends=virtio_ring,virtio", "license=GPL"}},
	{"kernel/drivers/scsi/scsi_common.ko.xz", []string{"depends="}},
	{"kernel/drivers/scsi/scsi_mod.ko.xz", []string{"depends=scsi_common"}},
	{"kernel/drivers/scsi/sd_mod.ko.zst", []string{"alias=scsi:t-0x00*", "alias=scsi:t-0x07*", "alias=scsi:t-0x0e*", "depends=scsi_mod,scsi_common"}},
	{"kernel/drivers/ata/libata.ko.xz", []string{"depends=scsi_mod"}},
	{"kernel/drivers/ata/libahci.ko.xz", []string{"depends=libata"}},
	{"kernel/drivers/ata/ahci.ko.xz", []string{"alias=pci:v*d*sv*sd*bc01sc06i01*", "alias=pci:v00008086d00002922sv*sd*bc*sc*i*", "depends=libahci,libata"}},
	{"kernel/drivers/ata/ata_piix.ko", []string{"alias=pci:v00008086d00007010sv*sd*bc*sc*i*", "depends=libata"}},
	{"kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.zst", []string{"alias=pci:v00008086d000010D3sv*sd*bc*sc*i*", "firmware=e1000e/b.bin", "firmware=e1000e/a.bin", "depends="}},
	{"kernel/drivers/net/ethernet/intel/igb/igb.ko.xz", []string{"alias=pci:v00008086d00001533sv*sd*bc*sc*i*", "firmware=e1000e/a.bin", "depends=dca"}},
	{"kernel/drivers/dca/dca.ko.xz", []string{"depends="}},
	{"kernel/drivers/usb/common/usb-common.ko.xz", []string{"depends="}},
	{"kernel/drivers/usb/core/usbcore.ko.xz", []string{"depends=usb-common"}},
	{"kernel/drivers/usb/storage/usb-storage.ko.xz", []string{"alias=usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*", "depends=scsi_mod,usbcore"}},
	{"kernel/fs/jbd2/jbd2.ko.xz", []string{"softdep=pre: crypto-crc32c", "depends="}},
	{"kernel/fs/ext4/ext4.ko.xz", []string{"alias=fs-ext4", "softdep=pre: crypto-crc32c", "softdep=post: mbcache", "depends=jbd2"}},
	{"kernel/fs/mbcache.ko", []string{"depends="}},
	{"kernel/crypto/crc32c_generic.ko.zst", []string{"alias=crypto-crc32c", "alias=crc32c", "depends="}},
	{"kernel/fs/broken/broken.ko", []string{"depends=no_such_module,virtio"}},
	{"kernel/fs/isofs/isofs.ko.xz", []string{"alias=fs-iso9660", "softdep=pre: crc32 post: zlib_inflate", "depends="}},
}

// makeTree writes the fake modules (and modules.order, modules.builtin,
// modules.builtin.modinfo) to <tmp>/usr/lib/modules/<kver> and returns it.
func makeTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "usr", "lib", "modules", testKver)
	var order []string
	for _, fm := range fakeMods {
		data := fakeModule(fm.modinfo...)
		switch {
		case strings.HasSuffix(fm.file, ".xz"):
			data = xzBytes(t, data)
		case strings.HasSuffix(fm.file, ".zst"):
			data = zstdBytes(t, data)
		}
		p := filepath.Join(root, fm.file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(fm.file, "broken") {
			order = append(order, strings.TrimSuffix(strings.TrimSuffix(fm.file, ".xz"), ".zst"))
		}
	}
	files := map[string]string{
		"modules.order":           strings.Join(order, "\n") + "\n",
		"modules.builtin":         "kernel/drivers/virtio/virtio_pci.ko\nkernel/lib/crc32.ko\n",
		"modules.builtin.modinfo": "virtio_pci.license=GPL\x00virtio_pci.alias=pci:v00001AF4d*sv*sd*bc*sc*i*\x00crc32.alias=crc32\x00",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not modules: ignored.
	_ = os.WriteFile(filepath.Join(root, "kernel", "README"), []byte("x"), 0o644)
	return root
}

func TestScan(t *testing.T) {
	root := makeTree(t)
	ix, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if ix.KernelVersion != testKver {
		t.Errorf("KernelVersion = %q", ix.KernelVersion)
	}
	if len(ix.Modules) != len(fakeMods) {
		t.Errorf("scanned %d modules, want %d", len(ix.Modules), len(fakeMods))
	}
	us := ix.Modules["usb_storage"]
	if us == nil {
		t.Fatalf("usb_storage missing; have %v", sortedKeys(ix.Modules))
	}
	want := &Module{
		Name:    "usb_storage",
		Path:    "kernel/drivers/usb/storage/usb-storage.ko",
		Source:  filepath.Join(root, "kernel/drivers/usb/storage/usb-storage.ko.xz"),
		Depends: []string{"scsi_mod", "usbcore"},
		Aliases: []string{"usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*"},
	}
	us.softdeps = nil
	if !reflect.DeepEqual(us, want) {
		t.Errorf("usb_storage = %+v\nwant %+v", us, want)
	}
	if m := ix.Modules["usbcore"]; !reflect.DeepEqual(m.Depends, []string{"usb_common"}) {
		t.Errorf("usbcore depends = %q (want normalised)", m.Depends)
	}
	if m := ix.Modules["virtio_ring"]; m.Path != "kernel/drivers/virtio/virtio_ring.ko" || !strings.HasSuffix(m.Source, ".ko.zst") {
		t.Errorf("virtio_ring = %+v", m)
	}
	if m := ix.Modules["virtio"]; m.Depends != nil || !strings.HasSuffix(m.Source, "/virtio.ko") {
		t.Errorf("virtio = %+v", m)
	}
	if m := ix.Modules["ext4"]; !reflect.DeepEqual(m.SoftPre, []string{"crypto-crc32c"}) || !reflect.DeepEqual(m.SoftPost, []string{"mbcache"}) {
		t.Errorf("ext4 softdeps = %q / %q", m.SoftPre, m.SoftPost)
	}
	if m := ix.Modules["e1000e"]; !reflect.DeepEqual(m.Firmware, []string{"e1000e/b.bin", "e1000e/a.bin"}) {
		t.Errorf("e1000e firmware = %q", m.Firmware)
	}
	vp := ix.Builtin["virtio_pci"]
	if vp == nil || !vp.Builtin || !reflect.DeepEqual(vp.Aliases, []string{"pci:v00001AF4d*sv*sd*bc*sc*i*"}) {
		t.Errorf("builtin virtio_pci = %+v", vp)
	}
}

func TestScanErrors(t *testing.T) {
	if _, err := Scan(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("missing root: no error")
	}
	empty := filepath.Join(t.TempDir(), "6.1.0")
	os.MkdirAll(filepath.Join(empty, "kernel"), 0o755)
	if _, err := Scan(empty); err == nil || !strings.Contains(err.Error(), "no kernel modules") {
		t.Errorf("empty tree: err = %v", err)
	}

	root := makeTree(t)
	// A corrupt compressed module is an error naming the file.
	bad := filepath.Join(root, "kernel/drivers/bad.ko.xz")
	os.WriteFile(bad, []byte("not xz"), 0o644)
	if _, err := Scan(root); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt module: err = %v", err)
	}
	os.Remove(bad)
	// The same module name twice.
	dup := filepath.Join(root, "kernel/drivers/other/virtio-blk.ko")
	os.MkdirAll(filepath.Dir(dup), 0o755)
	os.WriteFile(dup, fakeModule("depends="), 0o644)
	if _, err := Scan(root); err == nil || !strings.Contains(err.Error(), "virtio_blk found twice") {
		t.Errorf("duplicate module: err = %v", err)
	}
	// ... unless one is under updates/, which wins as with depmod.
	os.Remove(dup)
	upd := filepath.Join(root, "updates/virtio_blk.ko")
	os.MkdirAll(filepath.Dir(upd), 0o755)
	os.WriteFile(upd, fakeModule("depends="), 0o644)
	ix, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if p := ix.Modules["virtio_blk"].Path; p != "updates/virtio_blk.ko" {
		t.Errorf("virtio_blk path = %s, want the updates/ one", p)
	}
}

func TestSelect(t *testing.T) {
	ix, err := Scan(makeTree(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		patterns []string
		want     string
	}{
		{[]string{"virtio_blk"}, "virtio_blk"},
		{[]string{"usb-storage"}, "usb_storage"},                    // '-' == '_'
		{[]string{"virtio_*"}, "virtio_blk virtio_pci virtio_ring"}, // name glob, builtins included
		{[]string{"kernel/drivers/ata/*"}, "ahci ata_piix libahci libata"},
		{[]string{"kernel/drivers/*"}, ""}, // '*' does not cross '/'
		{[]string{"kernel/drivers/net/ethernet/intel/**"}, "e1000e igb"},
		{[]string{"kernel/**/scsi_*.ko"}, "scsi_common scsi_mod"},
		{[]string{"kernel/**/virtio/**"}, "virtio virtio_pci virtio_ring"},
		{[]string{"**/mbcache.ko"}, "mbcache"},
		{[]string{"kernel/drivers/ata/ahci.ko", "ahci", "libata"}, "ahci libata"},
		{[]string{"kernel/fs/*/e?t[0-9].ko"}, "ext4"},
	} {
		got, err := ix.Select(tc.patterns...)
		if tc.want == "" {
			if err == nil {
				t.Errorf("Select(%q) = %q, want error", tc.patterns, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("Select(%q): %v", tc.patterns, err)
			continue
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("Select(%q) = %q, want %q", tc.patterns, got, tc.want)
		}
	}
	_, err = ix.Select("ahci", "nosuch", "kernel/sound/**")
	if err == nil || !strings.Contains(err.Error(), `"nosuch"`) || !strings.Contains(err.Error(), `"kernel/sound/**"`) || strings.Contains(err.Error(), `"ahci"`) {
		t.Errorf("error should name exactly the unmatched patterns: %v", err)
	}
	if _, err := ix.Select("kernel/[a"); err == nil {
		t.Error("malformed pattern: no error")
	}
}

func paths(mods []*Module) string {
	var s []string
	for _, m := range mods {
		s = append(s, m.Path)
	}
	return strings.Join(s, " ")
}

func TestClosure(t *testing.T) {
	ix, err := Scan(makeTree(t))
	if err != nil {
		t.Fatal(err)
	}
	mods, err := ix.Closure("ahci", "usb-storage", "virtio_pci")
	if err != nil {
		t.Fatal(err)
	}
	want := "kernel/drivers/ata/ahci.ko kernel/drivers/ata/libahci.ko kernel/drivers/ata/libata.ko " +
		"kernel/drivers/scsi/scsi_common.ko kernel/drivers/scsi/scsi_mod.ko " +
		"kernel/drivers/usb/common/usb-common.ko kernel/drivers/usb/core/usbcore.ko kernel/drivers/usb/storage/usb-storage.ko"
	if got := paths(mods); got != want {
		t.Errorf("Closure = %s\nwant      %s", got, want)
	}

	// Softdeps: pre by alias (crypto-crc32c -> crc32c_generic), post by name.
	// isofs's "crc32" is built in and its "zlib_inflate" is absent: ignored.
	mods, err = ix.Closure("ext4", "isofs")
	if err != nil {
		t.Fatal(err)
	}
	want = "kernel/crypto/crc32c_generic.ko kernel/fs/ext4/ext4.ko kernel/fs/isofs/isofs.ko kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko"
	if got := paths(mods); got != want {
		t.Errorf("Closure(ext4) = %s\nwant             %s", got, want)
	}

	if _, err := ix.Closure("broken"); err == nil || !strings.Contains(err.Error(), "no_such_module (needed by broken)") {
		t.Errorf("missing dependency: err = %v", err)
	}
	if _, err := ix.Closure("ahci", "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("missing module: err = %v", err)
	}
}

func TestFirmware(t *testing.T) {
	ix, err := Scan(makeTree(t))
	if err != nil {
		t.Fatal(err)
	}
	mods, _ := ix.Closure("e1000e", "igb", "ahci")
	if got := ix.Firmware(mods); !reflect.DeepEqual(got, []string{"e1000e/a.bin", "e1000e/b.bin"}) {
		t.Errorf("Firmware = %q", got)
	}
	if got := ix.Firmware(nil); len(got) != 0 {
		t.Errorf("Firmware(nil) = %q", got)
	}
}

// Golden output for the closure of these modules.
var goldenSelection = []string{"ahci", "virtio_blk", "usb_storage", "sd_mod", "ext4"}

const goldenDep = `kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/scsi/scsi_common.ko:
kernel/drivers/scsi/scsi_mod.ko: kernel/drivers/scsi/scsi_common.ko
kernel/drivers/scsi/sd_mod.ko: kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/ata/libata.ko: kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/ata/libahci.ko: kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/ata/ahci.ko: kernel/drivers/ata/libahci.ko kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/usb/common/usb-common.ko:
kernel/drivers/usb/core/usbcore.ko: kernel/drivers/usb/common/usb-common.ko
kernel/drivers/usb/storage/usb-storage.ko: kernel/drivers/usb/core/usbcore.ko kernel/drivers/usb/common/usb-common.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko
kernel/fs/mbcache.ko:
kernel/crypto/crc32c_generic.ko:
`

const goldenOrder = `kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko
kernel/drivers/scsi/scsi_common.ko
kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/scsi/sd_mod.ko
kernel/drivers/ata/libata.ko
kernel/drivers/ata/libahci.ko
kernel/drivers/ata/ahci.ko
kernel/drivers/usb/common/usb-common.ko
kernel/drivers/usb/core/usbcore.ko
kernel/drivers/usb/storage/usb-storage.ko
kernel/fs/jbd2/jbd2.ko
kernel/fs/ext4/ext4.ko
kernel/fs/mbcache.ko
kernel/crypto/crc32c_generic.ko
`

const goldenAlias = `# Aliases extracted from modules themselves.
alias virtio:d00000002v* virtio_blk
alias scsi:t-0x00* sd_mod
alias scsi:t-0x07* sd_mod
alias scsi:t-0x0e* sd_mod
alias pci:v*d*sv*sd*bc01sc06i01* ahci
alias pci:v00008086d00002922sv*sd*bc*sc*i* ahci
alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage
alias fs-ext4 ext4
alias crypto-crc32c crc32c_generic
alias crc32c crc32c_generic
`

const goldenSoftdep = `# Soft dependencies extracted from modules themselves.
softdep jbd2 pre: crypto-crc32c
softdep ext4 pre: crypto-crc32c
softdep ext4 post: mbcache
`

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", p, fi.Mode())
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteTree(t *testing.T) {
	root := makeTree(t)
	ix, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := ix.Closure(goldenSelection...)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := ix.WriteTree(dst, mods); err != nil {
		t.Fatal(err)
	}
	tree := readTree(t, dst)
	base := "lib/modules/" + testKver + "/"
	for name, want := range map[string]string{
		"modules.dep":             goldenDep,
		"modules.order":           goldenOrder,
		"modules.alias":           goldenAlias,
		"modules.softdep":         goldenSoftdep,
		"modules.builtin":         "kernel/drivers/virtio/virtio_pci.ko\nkernel/lib/crc32.ko\n",
		"modules.builtin.modinfo": "virtio_pci.license=GPL\x00virtio_pci.alias=pci:v00001AF4d*sv*sd*bc*sc*i*\x00crc32.alias=crc32\x00",
	} {
		if got := tree[base+name]; got != want {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, want)
		}
		delete(tree, base+name)
	}
	// The rest are exactly the modules, decompressed, at their Path.
	if len(tree) != len(mods) {
		t.Errorf("wrote %d other files, want %d modules: %v", len(tree), len(mods), sortedKeys(tree))
	}
	for _, m := range mods {
		got, ok := tree[base+m.Path]
		if !ok {
			t.Errorf("%s not written", m.Path)
			continue
		}
		var want []byte
		for _, fm := range fakeMods {
			if Name(fm.file) == m.Name {
				want = fakeModule(fm.modinfo...)
			}
		}
		if !bytes.Equal([]byte(got), want) {
			t.Errorf("%s: content is not the decompressed module", m.Path)
		}
	}

	// Every dependency comes after all listed modules that need it.
	checkDepOrder(t, ix, goldenDep)
}

// checkDepOrder checks that in every modules.dep line each dependency is
// listed after every other listed module that depends on it directly.
func checkDepOrder(t *testing.T, ix *Index, dep string) {
	t.Helper()
	byPath := map[string]*Module{}
	for _, m := range ix.Modules {
		byPath[m.Path] = m
	}
	for _, line := range strings.Split(strings.TrimSpace(dep), "\n") {
		_, list, _ := strings.Cut(line, ":")
		deps := strings.Fields(list)
		pos := map[string]int{}
		for i, p := range deps {
			pos[byPath[p].Name] = i
		}
		for i, p := range deps {
			for _, d := range byPath[p].Depends {
				if j, ok := pos[d]; ok && j < i {
					t.Errorf("%s: %s listed before %s which needs it", line, d, byPath[p].Name)
				}
			}
		}
	}
}

func TestWriteTreeDeterministic(t *testing.T) {
	ix, err := Scan(makeTree(t))
	if err != nil {
		t.Fatal(err)
	}
	mods, err := ix.Closure(goldenSelection...)
	if err != nil {
		t.Fatal(err)
	}
	// Another Scan of another copy, and the modules given in reverse order.
	ix2, err := Scan(makeTree(t))
	if err != nil {
		t.Fatal(err)
	}
	mods2, err := ix2.Closure(goldenSelection...)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(mods2)-1; i < j; i, j = i+1, j-1 {
		mods2[i], mods2[j] = mods2[j], mods2[i]
	}
	d1, d2 := t.TempDir(), t.TempDir()
	if err := ix.WriteTree(d1, mods); err != nil {
		t.Fatal(err)
	}
	if err := ix2.WriteTree(d2, mods2); err != nil {
		t.Fatal(err)
	}
	if a, b := readTree(t, d1), readTree(t, d2); !reflect.DeepEqual(a, b) {
		t.Error("two WriteTree runs differ")
	}
	// Writing over an existing tree gives the same result.
	if err := ix.WriteTree(d1, mods); err != nil {
		t.Fatal(err)
	}
	if a, b := readTree(t, d1), readTree(t, d2); !reflect.DeepEqual(a, b) {
		t.Error("rewriting a tree changed it")
	}
}

func TestWriteTreeIncompleteSet(t *testing.T) {
	ix, err := Scan(makeTree(t))
	if err != nil {
		t.Fatal(err)
	}
	err = ix.WriteTree(t.TempDir(), []*Module{ix.Modules["ahci"], ix.Modules["libata"]})
	if err == nil || !strings.Contains(err.Error(), "libahci (needed by ahci)") {
		t.Errorf("err = %v, want missing libahci", err)
	}
	err = ix.WriteTree(t.TempDir(), []*Module{ix.Builtin["virtio_pci"]})
	if err == nil || !strings.Contains(err.Error(), "built into the kernel") {
		t.Errorf("builtin: err = %v", err)
	}
}

func TestSoftdepFileHandMade(t *testing.T) {
	got := string(softdepFile([]*Module{
		{Name: "a", SoftPre: []string{"x", "y"}, SoftPost: []string{"z"}},
		{Name: "b"},
		{Name: "c", SoftPost: []string{"w"}},
	}))
	want := softdepHeader + "softdep a pre: x y post: z\nsoftdep c post: w\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDepCycle(t *testing.T) {
	ix := &Index{KernelVersion: "x", Modules: map[string]*Module{
		"a": {Name: "a", Path: "kernel/a.ko", Depends: []string{"b"}},
		"b": {Name: "b", Path: "kernel/b.ko", Depends: []string{"a"}},
	}}
	if _, err := ix.depFile([]*Module{ix.Modules["a"], ix.Modules["b"]}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("err = %v", err)
	}
}
