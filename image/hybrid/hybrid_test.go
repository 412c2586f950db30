package hybrid

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat12"
	"github.com/lockstep-ft/lockstep/image/iso"
)

const (
	isohdpfxPath = "/usr/lib/ISOLINUX/isohdpfx.bin" // Debian package isolinux
	isolinuxPath = "/usr/lib/ISOLINUX/isolinux.bin"
)

// mbrCode is isohdpfx.bin when installed, else recognizable filler.
func mbrCode(t *testing.T) []byte {
	if b, err := os.ReadFile(isohdpfxPath); err == nil {
		return b
	}
	b := make([]byte, mbrCodeSize)
	for i := range b {
		b[i] = byte(0x33 + i)
	}
	return b
}

// The layout of xorriso's hybrid image of a small tree (see
// TestMatchesXorriso): 4 MiB, isolinux.bin at LBA 1474, a 2.8 MiB ESP at
// sector 136.
func xorrisoLikeLayout(code []byte) Layout {
	return Layout{
		ImageSize:   4 << 20,
		BootFileLBA: 1474,
		ESPOffset:   136 * 512,
		ESPSize:     5760 * 512,
		MBRCode:     code,
		DiskID:      0x20ba9fa4,
	}
}

// image makes a zero image file with isolinux's isohybrid magic at lba.
func image(t *testing.T, size int64, lba uint32) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "img.iso"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], isolinuxHybridMagic)
	if _, err := f.WriteAt(m[:], int64(lba)*2048+0x40); err != nil {
		t.Fatal(err)
	}
	return f
}

func read(t *testing.T, f *os.File, off, n int64) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// Bytes 432..511 of the MBR xorriso 1.5.4 wrote for the layout above
// (xorriso -as mkisofs ... -isohybrid-mbr isohdpfx.bin -isohybrid-gpt-basdat).
const xorrisoMBRTail = "" +
	"0817000000000000" + "a49fba20" + "0000" +
	"80000100003f2003" + "00000000" + "00200000" +
	"00feffffeffeffff" + "88000000" + "80160000" +
	"00000000000000000000000000000000" +
	"00000000000000000000000000000000" +
	"55aa"

func TestMBRFields(t *testing.T) {
	for _, codeLen := range []int{432, 512} {
		code := make([]byte, codeLen)
		for i := range code {
			code[i] = byte(i*13 + 1)
		}
		l := xorrisoLikeLayout(code)
		f := image(t, l.ImageSize, l.BootFileLBA)
		if err := Write(f, l); err != nil {
			t.Fatal(err)
		}
		mbr := read(t, f, 0, 512)
		if !bytes.Equal(mbr[:432], code[:432]) {
			t.Errorf("code len %d: boot code not copied", codeLen)
		}
		if got := hex.EncodeToString(mbr[432:]); got != xorrisoMBRTail {
			t.Errorf("code len %d: MBR bytes 432..511\n got %s\nwant %s", codeLen, got, xorrisoMBRTail)
		}
		if !bytes.Equal(read(t, f, 512, SystemArea-512), make([]byte, SystemArea-512)) {
			t.Error("without GPT the rest of the system area must stay zero")
		}
	}
}

func TestCHS(t *testing.T) {
	for _, tc := range []struct {
		lba  uint32
		want string
	}{
		{0, "000100"},
		{8191, "3f2003"},          // 4 MiB: cylinder 3, head 63, sector 32
		{2048*1024 - 1, "3fe0ff"}, // last sector of cylinder 1023
		{2048 * 1024, "feffff"},   // beyond: the LBA-only marker
		{1<<32 - 1, "feffff"},
	} {
		if got := hex.EncodeToString(chs(tc.lba)); got != tc.want {
			t.Errorf("chs(%d) = %s, want %s", tc.lba, got, tc.want)
		}
	}
}

func TestGPT(t *testing.T) {
	l := xorrisoLikeLayout(mbrCode(t))
	l.GPT = true
	f := image(t, l.ImageSize, l.BootFileLBA)
	if err := Write(f, l); err != nil {
		t.Fatal(err)
	}
	n := uint64(l.ImageSize / 512)
	hdr := read(t, f, 512, 512)
	bak := read(t, f, int64(n-1)*512, 512)
	u64 := func(b []byte, o int) uint64 { return binary.LittleEndian.Uint64(b[o:]) }
	u32 := func(b []byte, o int) uint32 { return binary.LittleEndian.Uint32(b[o:]) }
	// The numbers xorriso wrote for the same image.
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"my LBA", u64(hdr, 24), 1}, {"alternate LBA", u64(hdr, 32), 8191},
		{"first usable", u64(hdr, 40), 64}, {"last usable", u64(hdr, 48), 8128},
		{"entries LBA", u64(hdr, 72), 2}, {"entries", uint64(u32(hdr, 80)), 248}, {"entry size", uint64(u32(hdr, 84)), 128},
		{"backup my LBA", u64(bak, 24), 8191}, {"backup alternate", u64(bak, 32), 1}, {"backup entries LBA", u64(bak, 72), 8129},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if string(hdr[:8]) != "EFI PART" || u32(hdr, 8) != 0x00010000 || u32(hdr, 12) != 92 {
		t.Errorf("bad header start %x", hdr[:16])
	}
	for _, h := range [][]byte{hdr, bak} {
		c := append([]byte{}, h[:92]...)
		binary.LittleEndian.PutUint32(c[16:], 0)
		if crc32.ChecksumIEEE(c) != u32(h, 16) {
			t.Error("header CRC")
		}
	}
	entries := read(t, f, 1024, 248*128)
	if crc32.ChecksumIEEE(entries) != u32(hdr, 88) || !bytes.Equal(entries, read(t, f, 8129*512, 248*128)) {
		t.Error("entry array CRC or backup copy")
	}
	p1, p2 := entries[:128], entries[128:256]
	if !bytes.Equal(p1[:16], typeBasicData[:]) || u64(p1, 32) != 0 || u64(p1, 40) != 8127 || u64(p1, 48) != 0x1000000000000001 {
		t.Errorf("partition 1: %x", p1[:56])
	}
	if !bytes.Equal(p2[:16], typeESP[:]) || u64(p2, 32) != 136 || u64(p2, 40) != 5895 {
		t.Errorf("partition 2: %x", p2[:56])
	}
	if !allZero(entries[256:]) {
		t.Error("unused entries not zero")
	}
	// The MBR is the same as without GPT: no protective entry.
	if got := hex.EncodeToString(read(t, f, 432, 80)); got[16:] != xorrisoMBRTail[16:] {
		t.Errorf("MBR with GPT: %s", got)
	}

	rep, err := Inspect(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Inspect:\n%s", rep)
	for _, want := range []string{
		"MBR: disk signature 0x20ba9fa4, isohybrid boot file at sector 5896 (2048-byte LBA 1474)",
		"1 * type 0x00 (empty)    start 0 sectors 8192 end 8191",
		"2   type 0xef (EFI (FAT)) start 136 sectors 5760 end 5895",
		"usable 64..8128",
		"(Basic data) start 0 end 8127",
		"(EFI System) start 136 end 5895",
		"CRCs ok",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("Inspect lacks %q", want)
		}
	}

	// Same DiskID, same bytes; another DiskID, other GUIDs.
	g := image(t, l.ImageSize, l.BootFileLBA)
	if err := Write(g, l); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(t, f, 0, SystemArea), read(t, g, 0, SystemArea)) {
		t.Error("GPT not deterministic")
	}
	l.DiskID++
	if err := Write(g, l); err != nil { // rewriting our own layout is allowed
		t.Fatal(err)
	}
	if bytes.Equal(read(t, f, 512+56, 16), read(t, g, 512+56, 16)) {
		t.Error("disk GUID ignores DiskID")
	}
	// Back to MBR only: the old GPT goes, backup included.
	l.GPT = false
	if err := Write(g, l); err != nil {
		t.Fatal(err)
	}
	if !allZero(read(t, g, 512, SystemArea-512)) || !allZero(read(t, g, l.ImageSize-TailRoom(true), TailRoom(true))) {
		t.Error("GPT left behind after Write without GPT")
	}
	if rep, _ := Inspect(g); !strings.Contains(rep, "GPT: none") {
		t.Errorf("Inspect:\n%s", rep)
	}
	l.GPT = true
	if err := Write(g, l); err != nil {
		t.Fatal(err)
	}
	// Damage shows in Inspect.
	if _, err := g.WriteAt([]byte{0xff}, 1024+40); err != nil {
		t.Fatal(err)
	}
	if rep, _ := Inspect(g); !strings.Contains(rep, "entry array CRC mismatch") {
		t.Errorf("Inspect missed a bad CRC:\n%s", rep)
	}
}

func TestWriteRefuses(t *testing.T) {
	code := mbrCode(t)
	cases := map[string]func(*Layout, *os.File){
		"no isohybrid magic":    func(l *Layout, f *os.File) { l.BootFileLBA = 1000 },
		"boot file LBA 0":       func(l *Layout, f *os.File) { l.BootFileLBA = 0 },
		"short code":            func(l *Layout, f *os.File) { l.MBRCode = code[:400] },
		"zero code":             func(l *Layout, f *os.File) { l.MBRCode = make([]byte, 432) },
		"odd image size":        func(l *Layout, f *os.File) { l.ImageSize -= 512 },
		"ESP past the end":      func(l *Layout, f *os.File) { l.ESPSize = l.ImageSize },
		"ESP in system area":    func(l *Layout, f *os.File) { l.ESPOffset = 512 },
		"ESP unaligned":         func(l *Layout, f *os.File) { l.ESPOffset += 100 },
		"busy system area":      func(l *Layout, f *os.File) { f.WriteAt([]byte("data"), 4096) },
		"no room for GPT":       func(l *Layout, f *os.File) { l.GPT = true; f.WriteAt([]byte("data"), l.ImageSize-100) },
		"ESP in the GPT tail":   func(l *Layout, f *os.File) { l.GPT = true; l.ESPSize = l.ImageSize - l.ESPOffset - 1024 },
		"image larger than MBR": func(l *Layout, f *os.File) { l.ImageSize = 3 << 40 },
	}
	for name, mod := range cases {
		l := xorrisoLikeLayout(code)
		f := image(t, l.ImageSize, l.BootFileLBA)
		mod(&l, f)
		if err := Write(f, l); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

var fdiskLine = regexp.MustCompile(`(?m)^(\S+?)([12])\s+(\*?)\s*(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+(\S+)\s+(.*)$`)

func TestFdisk(t *testing.T) {
	fdisk, err := exec.LookPath("fdisk")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/fdisk"); err2 != nil {
			t.Skip("fdisk not installed")
		}
		fdisk = "/usr/sbin/fdisk"
	}
	for _, gpt := range []bool{false, true} {
		l := xorrisoLikeLayout(mbrCode(t))
		l.GPT = gpt
		f := image(t, l.ImageSize, l.BootFileLBA)
		if err := Write(f, l); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(fdisk, "-l", f.Name()).CombinedOutput()
		if err != nil {
			t.Fatalf("fdisk: %v\n%s", err, out)
		}
		s := string(out)
		t.Logf("gpt=%v:\n%s", gpt, s)
		if !strings.Contains(s, "Disklabel type: dos") || !strings.Contains(s, "Disk identifier: 0x20ba9fa4") {
			t.Error("fdisk does not see the MBR")
		}
		m := fdiskLine.FindAllStringSubmatch(s, -1)
		if len(m) != 2 {
			t.Fatalf("want 2 partitions, got %q", m)
		}
		if p := m[0]; p[3] != "*" || p[4] != "0" || p[5] != "8191" || p[7] != "0" || p[8] != "Empty" {
			t.Errorf("partition 1: %q", p[0])
		}
		if p := m[1]; p[3] != "" || p[4] != "136" || p[5] != "5895" || p[7] != "ef" || p[8] != "EFI (FAT-12/16/32)" {
			t.Errorf("partition 2: %q", p[0])
		}
	}
}

// knownSgdiskProblems are what sgdisk -v says about every isohybrid image with
// a GPT, xorriso's included: MBR partition 1 (the whole image) contains
// partition 2 (the ESP), and GPT partition 1 starts at sector 0, before the
// primary entry array ends, and contains GPT partition 2 ("Invalid partition
// data!", printed once per GPT copy).
var knownSgdiskProblems = []string{
	"Invalid partition data!",
	"Problem: MBR partitions 1 and 2 overlap!",
	"Warning! Main partition table overlaps the first partition by 64 blocks!",
	"You will need to delete this partition or resize it in another utility.",
	"Identified 2 problems!",
}

func sgdiskVerify(t *testing.T, sgdisk, img string) string {
	t.Helper()
	out, _ := exec.Command(sgdisk, "-v", img).CombinedOutput() // exits 2 on "problems"
	s := string(out)
	rest := s
	for _, p := range knownSgdiskProblems {
		rest = strings.Replace(rest, p, "", 1)
	}
	rest = strings.Replace(rest, "Verification may miss some problems or report too many!", "", 1)
	rest = strings.Replace(rest, "Invalid partition data!", "", 1)
	if strings.TrimSpace(rest) != "" {
		t.Errorf("sgdisk -v %s reports more than the known isohybrid overlaps:\n%s", img, s)
	}
	return s
}

func TestSgdisk(t *testing.T) {
	sgdisk, err := exec.LookPath("sgdisk")
	if err != nil {
		t.Skip("sgdisk not installed (apt-get install gdisk)")
	}
	l := xorrisoLikeLayout(mbrCode(t))
	l.GPT = true
	f := image(t, l.ImageSize, l.BootFileLBA)
	if err := Write(f, l); err != nil {
		t.Fatal(err)
	}
	t.Logf("sgdisk -v:\n%s", sgdiskVerify(t, sgdisk, f.Name()))
}

// makeESP builds a small FAT12 ESP image with go-diskfs.
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
	w.Write(bytes.Repeat([]byte("MZ"), 1000))
	w.Close()
}

// TestMatchesXorriso has xorriso make a hybrid image, wipes its system area
// and backup GPT, and has Write redo them at the places iso.Locate finds in
// xorriso's ISO: the MBR must come out byte for byte the same, and the GPT
// the same up to GUIDs, CRCs and what we choose differently for the ESP
// (type "EFI System" instead of "Basic data", attributes).
func TestMatchesXorriso(t *testing.T) {
	xorriso, err := exec.LookPath("xorriso")
	if err != nil {
		t.Skip("xorriso not installed")
	}
	bin, err := os.ReadFile(isolinuxPath)
	if err != nil {
		t.Skip("isolinux not installed (apt-get install isolinux): need a real isolinux.bin and isohdpfx.bin")
	}
	code, err := os.ReadFile(isohdpfxPath)
	if err != nil {
		t.Skip("isohdpfx.bin not installed")
	}
	tree := filepath.Join(t.TempDir(), "tree")
	if err := os.MkdirAll(filepath.Join(tree, "isolinux"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "isolinux", "isolinux.bin"), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "README"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	makeESP(t, filepath.Join(tree, "boot", "efi.img"))
	ref := filepath.Join(t.TempDir(), "xorriso.iso")
	out, err := exec.Command(xorriso, "-as", "mkisofs", "-o", ref, "-R", "-V", "TEST",
		"-c", "isolinux/boot.cat", "-b", "isolinux/isolinux.bin", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
		"-eltorito-alt-boot", "-e", "boot/efi.img", "-no-emul-boot",
		"-isohybrid-mbr", isohdpfxPath, "-isohybrid-gpt-basdat", tree).CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	want, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(want))
	mine := filepath.Join(t.TempDir(), "mine.iso")
	wiped := append([]byte{}, want...)
	copy(wiped[:SystemArea], make([]byte, SystemArea))
	copy(wiped[size-TailRoom(true):], make([]byte, TailRoom(true)))
	if err := os.WriteFile(mine, wiped, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(mine, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bootLBA, _, err := iso.Locate(f, "isolinux/isolinux.bin")
	if err != nil {
		t.Fatal(err)
	}
	espLBA, espSize, err := iso.Locate(f, "boot/efi.img")
	if err != nil {
		t.Fatal(err)
	}
	l := Layout{
		ImageSize:   size,
		BootFileLBA: bootLBA,
		ESPOffset:   int64(espLBA) * 2048,
		ESPSize:     int64(espSize),
		MBRCode:     code,
		DiskID:      binary.LittleEndian.Uint32(want[440:]),
		GPT:         true,
	}
	if err := Write(f, l); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(mine)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:512], want[:512]) {
		t.Errorf("MBR differs from xorriso's:\n got %x\nwant %x", got[432:512], want[432:512])
	}
	// GPT headers: equal but for disk GUID (56..72) and the CRCs (16..20, 88..92).
	n := size / 512
	for _, at := range []int64{1, n - 1} {
		g, w := got[at*512:at*512+92], want[at*512:at*512+92]
		for _, r := range [][2]int{{0, 16}, {20, 56}, {72, 88}} {
			if !bytes.Equal(g[r[0]:r[1]], w[r[0]:r[1]]) {
				t.Errorf("GPT header at LBA %d bytes %d..%d: got %x want %x", at, r[0], r[1], g[r[0]:r[1]], w[r[0]:r[1]])
			}
		}
	}
	// Entries (primary and backup): partition 1 equal but for its GUID;
	// partition 2 equal in range and name.
	for _, at := range []int64{2 * 512, (n - 63) * 512} {
		ge, we := got[at:at+248*128], want[at:at+248*128]
		if !bytes.Equal(ge[:16], we[:16]) || !bytes.Equal(ge[32:128], we[32:128]) {
			t.Errorf("GPT partition 1 differs:\n got %x\nwant %x", ge[:128], we[:128])
		}
		if !bytes.Equal(ge[128+32:128+48], we[128+32:128+48]) || !bytes.Equal(ge[128+56:256], we[128+56:256]) {
			t.Errorf("GPT partition 2 range or name differs:\n got %x\nwant %x", ge[128:256], we[128:256])
		}
		if !allZero(ge[256:]) || !allZero(we[256:]) {
			t.Error("more than 2 GPT entries")
		}
	}
	// Nothing else in the image changed.
	if !bytes.Equal(got[SystemArea:size-TailRoom(true)], want[SystemArea:size-TailRoom(true)]) {
		t.Error("Write touched the ISO data")
	}
	if sgdisk, err := exec.LookPath("sgdisk"); err == nil {
		if a, b := sgdiskVerify(t, sgdisk, mine), sgdiskVerify(t, sgdisk, ref); a != b {
			t.Errorf("sgdisk -v differs:\nours:\n%s\nxorriso's:\n%s", a, b)
		}
	}
	// xorriso reads our system area as its own.
	rep, err := exec.Command(xorriso, "-indev", mine, "-report_system_area", "plain").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, rep)
	}
	for _, w := range []string{"MBR isohybrid", "MBR partition path :   2  /boot/efi.img", "GPT partition path :   2  /boot/efi.img"} {
		if !strings.Contains(string(rep), w) {
			t.Errorf("xorriso -report_system_area lacks %q:\n%s", w, rep)
		}
	}
}

// TestWithISOWrite runs the production path: iso.Write, iso.Locate, Write.
func TestWithISOWrite(t *testing.T) {
	stage := t.TempDir()
	bin := make([]byte, 4096)
	if b, err := os.ReadFile(isolinuxPath); err == nil {
		bin = b
	} else {
		binary.LittleEndian.PutUint32(bin[0x40:], isolinuxHybridMagic)
	}
	if err := os.MkdirAll(filepath.Join(stage, "isolinux"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stage, "isolinux", "isolinux.bin"), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	makeESP(t, filepath.Join(stage, "boot", "efi.img"))
	for _, gpt := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "x.iso")
		err := iso.Write(stage, out, iso.Options{
			VolumeID: "LOCKSTEP_TEST", Epoch: time.Unix(1700000000, 0),
			BIOSBoot: "isolinux/isolinux.bin", EFIBoot: "boot/efi.img",
			AlignTo: Align, TailRoom: TailRoom(gpt),
		})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(out, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		if st.Size()%Align != 0 {
			t.Errorf("image size %d", st.Size())
		}
		bootLBA, _, err := iso.Locate(f, "isolinux/isolinux.bin")
		if err != nil {
			t.Fatal(err)
		}
		espLBA, espSize, err := iso.Locate(f, "boot/efi.img")
		if err != nil {
			t.Fatal(err)
		}
		l := Layout{ImageSize: st.Size(), BootFileLBA: bootLBA, ESPOffset: int64(espLBA) * 2048, ESPSize: int64(espSize),
			MBRCode: mbrCode(t), DiskID: 0xdeadbeef, GPT: gpt}
		if err := Write(f, l); err != nil {
			t.Fatal(err)
		}
		rep, err := Inspect(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("gpt=%v:\n%s", gpt, rep)
		if gpt != strings.Contains(rep, "CRCs ok") {
			t.Errorf("gpt=%v:\n%s", gpt, rep)
		}
		// The ESP partition holds the FAT image, byte for byte.
		esp := read(t, f, l.ESPOffset, l.ESPSize)
		if orig, _ := os.ReadFile(filepath.Join(stage, "boot", "efi.img")); !bytes.Equal(esp, orig) {
			t.Error("ESP partition content differs from efi.img")
		}
		f.Close()
	}
}
