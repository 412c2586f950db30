package iso

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat12"
)

var testEpoch = time.Date(2024, 5, 17, 12, 34, 56, 0, time.UTC)

const deepDir = "deep/a/b/c/d/e/f/g/h/i" // 11 levels, deeper than ISO9660's 8

// fakeIsolinux is 2 KiB that looks like isolinux.bin where it matters: a
// jump, room for the boot info table at 8..63, and the isohybrid magic at 0x40.
func fakeIsolinux() []byte {
	b := make([]byte, 2048)
	b[0], b[1] = 0xeb, 0x3c
	binary.LittleEndian.PutUint32(b[0x40:], 0x7078c0fb)
	for i := 0x44; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	return b
}

// makeESP builds a small FAT12 image with go-diskfs.
func makeESP(t *testing.T, p string) {
	t.Helper()
	const size = 1440 << 10
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	fsys, err := fat12.Create(file.New(f, false), size, 0, 512, "EFI", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.Mkdir("/EFI/BOOT"); err != nil {
		t.Fatal(err)
	}
	w, err := fsys.OpenFile("/EFI/BOOT/BOOTX64.EFI", os.O_CREATE|os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("MZ fake efi "), 300)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p string, data []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// makeStage lays out a small installer-like tree and returns the contents
// of its regular files by path.
func makeStage(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{
		"isolinux/isolinux.bin":        fakeIsolinux(),
		"isolinux/isolinux.cfg":        []byte("DEFAULT x\nLABEL x\n  KERNEL /vmlinuz\n"),
		"isolinux/ldlinux.c32":         bytes.Repeat([]byte{0xc3}, 5000),
		"vmlinuz":                      bytes.Repeat([]byte("kernel"), 3000),
		"README.txt":                   []byte("hello\n"),
		"empty":                        {},
		"exactly-2048":                 bytes.Repeat([]byte{'x'}, 2048),
		"private/secret":               []byte("0700 dir inside"),
		"a-very-long-file-name.tar.gz": []byte("long name"),
		deepDir + "/leaf.txt":          []byte("deep leaf"),
		".disk/info":                   []byte("Lockstep test\n"),
		"pool/linux-image-1.deb":       []byte("li1"),
		"pool/linux-image-2.deb":       []byte("li2"),
		"pool/linux-image-3.deb":       []byte("li3"),
		"pool/firmware-a.deb":          []byte("fwa"),
		"pool/firmware-b.deb":          []byte("fwb"),
	}
	for p, data := range files {
		writeFile(t, filepath.Join(root, p), data, 0o644)
	}
	writeFile(t, filepath.Join(root, "bin/run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	files["bin/run.sh"] = []byte("#!/bin/sh\necho hi\n")
	makeESP(t, filepath.Join(root, "boot/efi.img"))
	esp, err := os.ReadFile(filepath.Join(root, "boot/efi.img"))
	if err != nil {
		t.Fatal(err)
	}
	files["boot/efi.img"] = esp
	if err := os.Symlink("../vmlinuz", filepath.Join(root, "bin/vmlinuz")); err != nil {
		t.Fatal(err)
	}
	// A hard link inside the tree: its nlink must not leak into the image.
	if err := os.Link(filepath.Join(root, "README.txt"), filepath.Join(root, "README.link")); err != nil {
		t.Fatal(err)
	}
	files["README.link"] = files["README.txt"]
	if err := os.Chmod(filepath.Join(root, "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o700); err != nil { // like a MkdirTemp stage
		t.Fatal(err)
	}
	return files
}

func testOptions() Options {
	return Options{
		VolumeID:  "LOCKSTEP_TEST",
		Publisher: "Lockstep tests",
		Epoch:     testEpoch,
		BIOSBoot:  "isolinux/isolinux.bin",
		EFIBoot:   "boot/efi.img",
		AlignTo:   1 << 20,
		TailRoom:  63 * 512,
	}
}

func sha(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func buildISO(t *testing.T, stage string, opt Options) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.iso")
	var steps []string
	opt.Progress = func(format string, args ...any) { steps = append(steps, format) }
	if err := Write(stage, out, opt); err != nil {
		t.Fatal(err)
	}
	if len(steps) < 3 {
		t.Errorf("progress reported only %q", steps)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".iso-workspace-*"))
	if len(left) > 0 {
		t.Errorf("workspace left behind: %v", left)
	}
	return out
}

func TestWriteIsReproducible(t *testing.T) {
	stage := filepath.Join(t.TempDir(), "stage")
	files := makeStage(t, stage)
	first := buildISO(t, stage, testOptions())

	// Touch everything (new atimes, mtimes, ctimes) and build again.
	later := time.Now().Add(time.Hour)
	for p := range files {
		if err := os.Chtimes(filepath.Join(stage, p), later, later); err != nil {
			t.Fatal(err)
		}
	}
	second := buildISO(t, stage, testOptions())

	// A copy of the tree elsewhere: other inodes, link counts and times.
	stage2 := filepath.Join(t.TempDir(), "stage2")
	if out, err := exec.Command("cp", "-a", stage, stage2).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, out)
	}
	third := buildISO(t, stage2, testOptions())

	h1, h2, h3 := sha(t, first), sha(t, second), sha(t, third)
	if h1 != h2 || h1 != h3 {
		t.Fatalf("images differ: %s %s %s", h1, h2, h3)
	}
	t.Logf("sha256 of all three builds: %s", h1)

	st, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size()%(1<<20) != 0 {
		t.Errorf("size %d is not a multiple of 1 MiB", st.Size())
	}
	// The stage is untouched: still there, hard links intact.
	if b, err := os.ReadFile(filepath.Join(stage, "README.link")); err != nil || string(b) != "hello\n" {
		t.Errorf("stage damaged: %q %v", b, err)
	}
}

func TestWriteCopiesWhenLinkingFails(t *testing.T) {
	stage := filepath.Join(t.TempDir(), "stage")
	makeStage(t, stage)
	want := sha(t, buildISO(t, stage, testOptions()))

	linkFile = func(string, string) error { return &os.LinkError{Op: "link", Err: syscall.EXDEV} }
	defer func() { linkFile = os.Link }()
	if got := sha(t, buildISO(t, stage, testOptions())); got != want {
		t.Errorf("copying workspace gives %s, linking gave %s", got, want)
	}
}

func TestPaddingAndVolumeSize(t *testing.T) {
	stage := filepath.Join(t.TempDir(), "stage")
	makeStage(t, stage)
	for _, tc := range []struct{ align, tail int64 }{{0, 0}, {1 << 20, 0}, {1 << 20, 63 * 512}, {4096, 1 << 20}} {
		opt := testOptions()
		opt.AlignTo, opt.TailRoom = tc.align, tc.tail
		out := buildISO(t, stage, opt)
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		_, vds, err := volumeDescriptors(f)
		if err != nil {
			t.Fatal(err)
		}
		align := tc.align
		if align == 0 {
			align = 2048
		}
		if st.Size()%align != 0 {
			t.Errorf("align %d: size %d", align, st.Size())
		}
		vol := int64(le32(vds[0][80:])) * SectorSize
		if vol != st.Size() {
			t.Errorf("PVD volume size %d, file size %d", vol, st.Size())
		}
		// The tail must be zeros and hold nothing of the image.
		if tc.tail > 0 {
			tail := make([]byte, tc.tail)
			if _, err := f.ReadAt(tail, st.Size()-tc.tail); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tail, make([]byte, tc.tail)) {
				t.Errorf("tail room is not zero")
			}
			lba, size, err := Locate(f, "boot/efi.img")
			if err != nil || int64(lba)*SectorSize+int64(size) > st.Size()-tc.tail {
				t.Errorf("ESP at %d+%d overlaps the tail: %v", lba, size, err)
			}
		}
		f.Close()
	}
}

func TestLocate(t *testing.T) {
	stage := filepath.Join(t.TempDir(), "stage")
	files := makeStage(t, stage)
	out := buildISO(t, stage, testOptions())
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for p, want := range files {
		lba, size, err := Locate(f, p)
		if err != nil {
			t.Errorf("Locate(%s): %v", p, err)
			continue
		}
		if int(size) != len(want) {
			t.Errorf("Locate(%s): size %d, want %d", p, size, len(want))
			continue
		}
		got := make([]byte, size)
		if _, err := f.ReadAt(got, int64(lba)*SectorSize); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		if p == "isolinux/isolinux.bin" {
			checkBootInfoTable(t, got, lba, want)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Locate(%s): content at LBA %d differs", p, lba)
		}
	}
	// Leading slash, directories, the boot catalog.
	if _, _, err := Locate(f, "/boot/efi.img"); err != nil {
		t.Error(err)
	}
	if _, size, err := Locate(f, deepDir); err != nil || size == 0 {
		t.Errorf("Locate(deep dir): %d %v", size, err)
	}
	if lba, size, err := Locate(f, "isolinux/boot.cat"); err != nil || size == 0 {
		t.Errorf("boot catalog: %v", err)
	} else {
		cat := make([]byte, 32)
		f.ReadAt(cat, int64(lba)*SectorSize)
		if cat[0] != 1 || cat[30] != 0x55 || cat[31] != 0xaa {
			t.Errorf("no El Torito validation entry at LBA %d", lba)
		}
	}
	if _, _, err := Locate(f, "nope/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := Locate(f, "README.TXT"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rock Ridge names are case-sensitive, got %v", err)
	}
	if _, _, err := Locate(f, "bin/vmlinuz"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("symlink: %v", err)
	}
	if _, _, err := Locate(f, "README.txt/x"); err == nil {
		t.Error("a file is not a directory")
	}
	if _, _, err := Locate(bytes.NewReader(make([]byte, 40000)), "x"); err == nil {
		t.Error("Locate on zeros should fail")
	}
}

// checkBootInfoTable checks what go-diskfs patched into isolinux.bin.
func checkBootInfoTable(t *testing.T, got []byte, lba uint32, orig []byte) {
	t.Helper()
	var sum uint32
	for i := 64; i+4 <= len(orig); i += 4 {
		sum += binary.LittleEndian.Uint32(orig[i:])
	}
	tbl := got[8:24]
	if le32(tbl[0:]) != 16 || le32(tbl[4:]) != lba || int(le32(tbl[8:])) != len(orig) || le32(tbl[12:]) != sum {
		t.Errorf("boot info table %x: want PVD 16, LBA %d, length %d, checksum %08x", tbl, lba, len(orig), sum)
	}
	if !bytes.Equal(got[:8], orig[:8]) || !bytes.Equal(got[64:], orig[64:]) {
		t.Error("isolinux.bin changed outside the boot info table")
	}
}

// TestNormalizedFields walks the image and checks every field Normalize owns.
func TestNormalizedFields(t *testing.T) {
	stage := filepath.Join(t.TempDir(), "stage")
	makeStage(t, stage)
	out := buildISO(t, stage, testOptions())
	f, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d7, d17, _ := epochDates(testEpoch)
	checkNormalized(t, f, d7, d17)

	// Normalize is idempotent, and a different epoch changes only dates.
	before := sha(t, out)
	if err := Normalize(f, testEpoch); err != nil {
		t.Fatal(err)
	}
	if sha(t, out) != before {
		t.Error("Normalize is not idempotent")
	}
	other := time.Date(2001, 2, 3, 4, 5, 6, 0, time.FixedZone("x", 3600))
	if err := Normalize(f, other); err != nil {
		t.Fatal(err)
	}
	o7, o17, _ := epochDates(other)
	if o7[3] != 3 { // 04:05:06+01:00 is 03:05:06 UTC
		t.Errorf("epoch not taken as UTC: %v", o7)
	}
	checkNormalized(t, f, o7, o17)
	if err := Normalize(f, time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("year 1800 accepted")
	}
}

func checkNormalized(t *testing.T, f *os.File, d7, d17 []byte) {
	t.Helper()
	_, vds, err := volumeDescriptors(f)
	if err != nil {
		t.Fatal(err)
	}
	pvd := vds[0]
	for _, off := range []int{pvdCreation, pvdModification, pvdEffective} {
		if !bytes.Equal(pvd[off:off+17], d17) {
			t.Errorf("PVD date at %d: %q, want %q", off, pvd[off:off+17], d17)
		}
	}
	if string(pvd[pvdExpiration:pvdExpiration+17]) != "0000000000000000\x00" {
		t.Errorf("PVD expiration %q", pvd[pvdExpiration:pvdExpiration+17])
	}
	root := pvd[pvdRootRecord : pvdRootRecord+drMinLen]
	if !bytes.Equal(root[drDate:drDate+7], d7) {
		t.Errorf("PVD root record date %v", root[drDate:drDate+7])
	}
	sw := &suspWalker{r: f}
	var nrec, ntf, npx int
	err = walkDirs(f, recordExtent(root), func(dir extent, buf []byte, recs [][]byte) (bool, error) {
		for i, rec := range recs {
			nrec++
			if !bytes.Equal(rec[drDate:drDate+7], d7) {
				t.Errorf("record date %v in directory at LBA %d", rec[drDate:drDate+7], dir.loc)
			}
			err := sw.walk(systemUse(rec, 0), func(e []byte) error {
				switch string(e[:2]) {
				case "TF":
					ntf++
					n := bits.OnesCount8(e[4] & 0x7f)
					for k := 0; k < n; k++ {
						if !bytes.Equal(e[5+7*k:12+7*k], d7) {
							t.Errorf("TF stamp %d: %v", k, e[5+7*k:12+7*k])
						}
					}
				case "PX":
					npx++
					mode, nlink := le32(e[4:]), le32(e[12:])
					if le32(e[20:]) != 0 || le32(e[28:]) != 0 {
						t.Errorf("PX uid/gid %d/%d", le32(e[20:]), le32(e[28:]))
					}
					if mode&sIFMT == sIFDIR {
						if mode&0o777 != 0o755 {
							t.Errorf("directory mode %o", mode)
						}
						if nlink < 2 {
							t.Errorf("directory nlink %d", nlink)
						}
						if i == 0 && dir == recordExtent(root) && nlink != 2+n(recs) {
							t.Errorf("root nlink %d, want %d", nlink, 2+n(recs))
						}
					} else if nlink != 1 {
						t.Errorf("file nlink %d", nlink)
					}
					if mode&0o777 == 0 {
						t.Errorf("mode %o has no permissions", mode)
					}
				}
				return nil
			})
			if err != nil {
				return false, err
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ntf != nrec || npx != nrec {
		t.Errorf("%d records, %d TF, %d PX", nrec, ntf, npx)
	}
}

// n counts the subdirectories among a directory's records.
func n(recs [][]byte) uint32 {
	var c uint32
	for _, r := range recs {
		if !isDotRecord(r) && r[drFlags]&flagDirectory != 0 {
			c++
		}
	}
	return c
}

func TestWriteRefusesHugeFile(t *testing.T) {
	stage := filepath.Join(t.TempDir(), "stage")
	makeStage(t, stage)
	big := filepath.Join(stage, "live", "filesystem.squashfs")
	if err := os.MkdirAll(filepath.Dir(big), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4 << 30); err != nil { // sparse: no data written
		t.Skipf("cannot make a sparse 4 GiB file here: %v", err)
	}
	f.Close()
	out := filepath.Join(t.TempDir(), "out.iso")
	start := time.Now()
	err = Write(stage, out, testOptions())
	if err == nil || !strings.Contains(err.Error(), "live/filesystem.squashfs") || !strings.Contains(err.Error(), "4294967296") {
		t.Fatalf("want an error naming the file and its size, got %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("refusing took %v: the file was read", time.Since(start))
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("output left behind: %v", err)
	}
}

func TestWriteRejectsBadInput(t *testing.T) {
	stage := filepath.Join(t.TempDir(), "stage")
	makeStage(t, stage)
	cases := map[string]func(*Options){
		"lower-case volume ID":    func(o *Options) { o.VolumeID = "lockstep" },
		"long volume ID":          func(o *Options) { o.VolumeID = strings.Repeat("A", 33) },
		"no epoch":                func(o *Options) { o.Epoch = time.Time{} },
		"missing BIOS boot file":  func(o *Options) { o.BIOSBoot = "isolinux/nope.bin" },
		"EFI boot is a directory": func(o *Options) { o.EFIBoot = "boot" },
		"catalog exists":          func(o *Options) { o.BootCatalog = "README.txt" },
		"catalog under a file":    func(o *Options) { o.BootCatalog = "README.txt/boot.cat" },
		"path escapes":            func(o *Options) { o.EFIBoot = "../boot/efi.img" },
		"bad alignment":           func(o *Options) { o.AlignTo = 1000 },
	}
	for name, mod := range cases {
		opt := testOptions()
		mod(&opt)
		out := filepath.Join(t.TempDir(), "out.iso")
		if err := Write(stage, out, opt); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	fifo := filepath.Join(stage, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err == nil {
		if err := Write(stage, filepath.Join(t.TempDir(), "o.iso"), testOptions()); err == nil || !strings.Contains(err.Error(), "fifo") {
			t.Errorf("fifo: %v", err)
		}
		os.Remove(fifo)
	}
	if err := Write(filepath.Join(stage, "README.txt"), filepath.Join(t.TempDir(), "o.iso"), testOptions()); err == nil {
		t.Error("a file as stage accepted")
	}
	if err := Write(stage, filepath.Join(stage, "isolinux", "o.iso"), testOptions()); err == nil {
		t.Error("output inside the stage accepted")
	}
}

func TestCatalogDirectoryCreated(t *testing.T) {
	// EFI only, the catalog in a directory the tree lacks.
	stage := t.TempDir()
	makeESP(t, filepath.Join(stage, "efi.img"))
	opt := testOptions()
	opt.BIOSBoot, opt.EFIBoot, opt.BootCatalog = "", "efi.img", "boot/catalog/boot.cat"
	out := buildISO(t, stage, opt)
	f, _ := os.Open(out)
	defer f.Close()
	if _, _, err := Locate(f, "boot/catalog/boot.cat"); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(stage, "boot")); err == nil {
		t.Error("Write created a directory in the stage")
	}
	if _, _, err := Locate(f, "isolinux"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("EFI-only image has an isolinux directory: %v", err)
	}
}

func TestNameChecks(t *testing.T) {
	mk := func(names ...string) []entry {
		es := []entry{{rel: ".", mode: fs.ModeDir | 0o755}}
		for _, n := range names {
			mode := fs.FileMode(0o644)
			if strings.HasSuffix(n, "/") {
				n, mode = strings.TrimSuffix(n, "/"), fs.ModeDir|0o755
			}
			es = append(es, entry{rel: n, mode: mode})
		}
		return es
	}
	var pool, poolBad []string
	for i := 0; i < 12; i++ {
		pool = append(pool, "p/linux-image-"+string(rune('a'+i))+".deb")
		poolBad = append(poolBad, "p/linux-image-"+string(rune('a'+i))+".deb", "p/linux-headers-"+string(rune('a'+i))+".deb")
	}
	pool = append(pool, "p/firmware-a.deb", "p/firmware-b.deb", "p/linux-headers-x.deb", "p/linux-headers-y.deb")
	ok := [][]entry{
		mk("a", "b", "c.txt", "C.TXT2"),
		mk(append([]string{"p/"}, pool...)...),
		mk("x/", "x/1/", "x/1/2/", "x/1/2/3/", "x/1/2/3/4/", "x/1/2/3/4/5/", "x/1/2/3/4/5/6/", "x/1/2/3/4/5/6/deep8/"),
	}
	bad := [][]entry{
		// two 2-digit groups sharing "LINUX_"
		mk(append([]string{"p/"}, poolBad...)...),
		// a one-digit group whose names may be another group's name
		mk("abcdefghx", "abcdefghy", "abcdefg0x", "abcdefg0y"),
	}
	for i, es := range ok {
		if err := checkNames(es); err != nil {
			t.Errorf("ok case %d: %v", i, err)
		}
	}
	for i, es := range bad {
		if err := checkNames(es); err == nil {
			t.Errorf("bad case %d accepted", i)
		} else {
			t.Logf("bad case %d: %v", i, err)
		}
	}
}

// TestCollidingNamesReproducible builds a directory full of 8.3 collisions
// (which go-diskfs resolves in map order) a few times.
func TestCollidingNamesReproducible(t *testing.T) {
	stage := t.TempDir()
	for i := 0; i < 14; i++ {
		for _, p := range []string{"linux-image-", "linux-headers-"} {
			if i < 4 || p == "linux-image-" {
				writeFile(t, filepath.Join(stage, "pool", p+strings.Repeat("x", i)+".deb"), []byte(p), 0o644)
			}
		}
		writeFile(t, filepath.Join(stage, "pool", "firmware-"+strings.Repeat("y", i)+".deb"), []byte("fw"), 0o644)
	}
	opt := testOptions()
	opt.BIOSBoot, opt.EFIBoot = "", ""
	want := sha(t, buildISO(t, stage, opt))
	for i := 0; i < 4; i++ {
		if got := sha(t, buildISO(t, stage, opt)); got != want {
			t.Fatalf("build %d differs", i+2)
		}
	}
}

func TestXorrisoReadsImage(t *testing.T) {
	xorriso, err := exec.LookPath("xorriso")
	if err != nil {
		t.Skip("xorriso not installed: skipping the cross-check of the image with xorriso")
	}
	stage := filepath.Join(t.TempDir(), "stage")
	makeStage(t, stage)
	out := buildISO(t, stage, testOptions())

	et, err := exec.Command(xorriso, "-indev", out, "-report_el_torito", "plain").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, et)
	}
	rep := string(et)
	for _, want := range []string{
		"El Torito cat path : /isolinux/boot.cat",
		"El Torito img path :   1  /isolinux/isolinux.bin",
		"El Torito img opts :   1  boot-info-table",
		"El Torito img path :   2  /boot/efi.img",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	var bios, uefi bool
	for _, l := range strings.Split(rep, "\n") {
		if strings.HasPrefix(l, "El Torito boot img :") {
			bios = bios || strings.Contains(l, " BIOS ") && strings.Contains(l, " none ")
			uefi = uefi || strings.Contains(l, " UEFI ") && strings.Contains(l, " none ")
		}
	}
	if !bios || !uefi {
		t.Errorf("want a BIOS and a UEFI no-emulation entry:\n%s", rep)
	}

	ls, err := exec.Command(xorriso, "-indev", out, "-find", "/", "-exec", "lsdl").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, ls)
	}
	list := string(ls)
	for _, want := range []string{
		"drwxr-xr-x    1 0        0               0 May 17  2024 '/'",
		"drwxr-xr-x    1 0        0               0 May 17  2024 '/private'",
		"-rwxr-xr-x    1 0        0              18 May 17  2024 '/bin/run.sh'",
		"'/bin/vmlinuz' -> '../vmlinuz'",
		"'/" + deepDir + "/leaf.txt'",
		"'/a-very-long-file-name.tar.gz'",
		"r--r--r--    1 0        0             128 May 17  2024 '/isolinux/boot.cat'",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("xorriso listing lacks %q:\n%s", want, list)
		}
	}
	// xorriso must extract the deep (relocated) file correctly.
	dst := filepath.Join(t.TempDir(), "leaf")
	if out, err := exec.Command(xorriso, "-osirrox", "on", "-indev", out, "-extract", "/"+deepDir+"/leaf.txt", dst).CombinedOutput(); err != nil {
		t.Fatalf("extract: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(dst); string(b) != "deep leaf" {
		t.Errorf("extracted %q", b)
	}
}

// TestNormalizeXorrisoImage runs Normalize over an image libisofs wrote
// (other SUSP layout: RRIP 1.10 "RRIP_1991A", 36-byte PX, CE areas of its own).
func TestNormalizeXorrisoImage(t *testing.T) {
	xorriso, err := exec.LookPath("xorriso")
	if err != nil {
		t.Skip("xorriso not installed")
	}
	stage := filepath.Join(t.TempDir(), "stage")
	files := makeStage(t, stage)
	// Long names and symlink targets push Rock Ridge entries into CE areas.
	long := strings.Repeat("n", 200)
	writeFile(t, filepath.Join(stage, "ce", long), []byte("long"), 0o644)
	if err := os.Symlink(strings.Repeat("t/", 100), filepath.Join(stage, "ce", "link-"+long[:40])); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x.iso")
	if b, err := exec.Command(xorriso, "-as", "mkisofs", "-o", out, "-R", "-V", "X", stage).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, b)
	}
	f, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Normalize(f, testEpoch); err != nil {
		t.Fatal(err)
	}
	d7, d17, _ := epochDates(testEpoch)
	checkNormalized(t, f, d7, d17)
	for _, p := range []string{"README.txt", "ce/" + long, deepDir + "/leaf.txt"} {
		lba, size, err := Locate(f, p)
		if err != nil {
			t.Errorf("Locate(%s) in xorriso's image: %v", p, err)
			continue
		}
		want := files[p]
		if p == "ce/"+long {
			want = []byte("long")
		}
		got := make([]byte, size)
		f.ReadAt(got, int64(lba)*SectorSize)
		if !bytes.Equal(got, want) {
			t.Errorf("Locate(%s): wrong extent", p)
		}
	}
	ls, err := exec.Command(xorriso, "-indev", out, "-find", "/", "-exec", "lsdl").CombinedOutput()
	if err != nil || !strings.Contains(string(ls), "May 17  2024 '/ce/"+long+"'") {
		t.Errorf("xorriso after Normalize: %v\n%s", err, ls)
	}
}
