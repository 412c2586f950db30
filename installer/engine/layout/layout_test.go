package layout

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const testDiskGUID = "5B0C2C6E-1D7A-4B8E-9F35-6A2D8E4C1F07"

// sparseDisk makes a sparse file of size bytes: no root, no loop device.
func sparseDisk(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeDisk plans and writes the default layout on a new sparse file.
func writeDisk(t *testing.T, size int64, opts Options) (string, Layout) {
	t.Helper()
	p := sparseDisk(t, size)
	l, err := Plan(size, opts)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Write(f, l, testDiskGUID); err != nil {
		t.Fatal(err)
	}
	return p, l
}

func TestPlan32GiB(t *testing.T) {
	l, err := Plan(32*GiB, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name        string
		start, size int64
	}{
		{NameBIOS, 1 * MiB, 1 * MiB},
		{NameESP, 2 * MiB, 256 * MiB},
		{NameSystemA, 258 * MiB, 4 * GiB},
		{NameSystemB, 258*MiB + 4*GiB, 4 * GiB},
		{NameState, 258*MiB + 8*GiB, 8 * GiB},
		// the rest, minus the last MiB that holds the backup GPT
		{NameStorage, 258*MiB + 16*GiB, 32*GiB - 258*MiB - 16*GiB - 1*MiB},
	}
	if len(l.Partitions) != len(want) {
		t.Fatalf("%d partitions, want %d", len(l.Partitions), len(want))
	}
	for i, w := range want {
		p := l.Partitions[i]
		if p.Number != i+1 || p.Name != w.name || p.Start != w.start || p.Size != w.size {
			t.Errorf("partition %d = %+v, want #%d %s start %d size %d", i, p, i+1, w.name, w.start, w.size)
		}
		if p.Start%MiB != 0 || p.End()%MiB != 0 {
			t.Errorf("%s not aligned to 1 MiB: [%d, %d)", p.Name, p.Start, p.End())
		}
		if p.GUID != "" {
			t.Errorf("%s: a plan has no GUIDs, got %s", p.Name, p.GUID)
		}
	}
	if a, _ := l.Slot("a"); a.Name != NameSystemA {
		t.Errorf("Slot(a) = %s", a.Name)
	}
	if _, err := l.Slot("c"); err == nil {
		t.Error("Slot(c): no error")
	}
}

func TestPlanTooSmall(t *testing.T) {
	minBytes, err := MinDiskBytes(Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 1 + 1 + 256 MiB + 2×4 GiB + 8 GiB + 1 GiB storage + 1 MiB backup GPT
	if want := 259*MiB + 17*GiB; minBytes != want {
		t.Fatalf("MinDiskBytes = %d, want %d", minBytes, want)
	}
	for _, size := range []int64{0, 16 * GiB, minBytes - 1, minBytes - 511} {
		_, err := Plan(size, Options{})
		var tooSmall *TooSmallError
		if !errors.As(err, &tooSmall) || !errors.Is(err, ErrTooSmall) {
			t.Fatalf("Plan(%d): err = %v, want a TooSmallError", size, err)
		}
		msg := err.Error()
		for _, s := range []string{strconv.FormatInt(size, 10), strconv.FormatInt(minBytes, 10), HumanBytes(minBytes)} {
			if !strings.Contains(msg, s) {
				t.Errorf("Plan(%d): message %q does not name %q", size, msg, s)
			}
		}
	}
	l, err := Plan(minBytes, Options{})
	if err != nil {
		t.Fatalf("Plan(minimum): %v", err)
	}
	if got := l.Storage().Size; got != DefaultMinStorageSize {
		t.Errorf("storage on the smallest disk = %d, want %d", got, DefaultMinStorageSize)
	}
	t.Logf("e.g. %v", func() error { _, err := Plan(16*GiB, Options{}); return err }())
}

func TestPlanOptions(t *testing.T) {
	// Sizes are rounded up to the alignment.
	l, err := Plan(64*GiB, Options{SlotSize: 3*GiB + 1, StateSize: 2 * GiB, ESPSize: 100*MiB + 512})
	if err != nil {
		t.Fatal(err)
	}
	if l.SystemA().Size != 3*GiB+MiB || l.SystemB().Size != 3*GiB+MiB || l.ESP().Size != 101*MiB || l.State().Size != 2*GiB {
		t.Errorf("sizes not as asked and rounded: %+v", l.Partitions)
	}
	// 4Kn disks get an ESP big enough for FAT32 with 4 KiB clusters.
	l, err = Plan(64*GiB, Options{SectorSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if l.ESP().Size != DefaultESPSize4Kn || l.SectorSize != 4096 {
		t.Errorf("4Kn: ESP %d sector %d", l.ESP().Size, l.SectorSize)
	}
	for _, o := range []Options{{SectorSize: 1024}, {SlotSize: -1}, {ESPSize: MiB}, {StateSize: 1}} {
		if _, err := Plan(64*GiB, o); err == nil {
			t.Errorf("Plan with %+v: no error", o)
		}
	}
	// A trailing partial sector is ignored.
	l, err = Plan(32*GiB+100, Options{})
	if err != nil || l.DiskSize != 32*GiB {
		t.Errorf("Plan(32 GiB + 100) = %d, %v", l.DiskSize, err)
	}
}

func TestDerivePartitionGUID(t *testing.T) {
	a1, _ := DerivePartitionGUID(testDiskGUID, NameSystemA)
	a2, _ := DerivePartitionGUID(strings.ToLower(testDiskGUID), NameSystemA)
	b, _ := DerivePartitionGUID(testDiskGUID, NameSystemB)
	other, _ := DerivePartitionGUID("00000000-0000-4000-8000-000000000001", NameSystemA)
	if a1 != a2 {
		t.Errorf("not deterministic / case-insensitive: %s %s", a1, a2)
	}
	if a1 == b || a1 == other {
		t.Errorf("GUIDs collide: %s %s %s", a1, b, other)
	}
	if !regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`).MatchString(a1) {
		t.Errorf("%s is not an upper-case version-5 GUID", a1)
	}
	if _, err := DerivePartitionGUID("nope", NameESP); err == nil {
		t.Error("bad disk GUID accepted")
	}
	g, err := NewDiskGUID()
	if err != nil || !regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`).MatchString(g) {
		t.Errorf("NewDiskGUID = %s, %v", g, err)
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	for _, ss := range []int64{512, 4096} {
		t.Run(strconv.FormatInt(ss, 10), func(t *testing.T) {
			p, planned := writeDisk(t, 32*GiB, Options{SectorSize: ss})
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := Read(f)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := planned.WithGUIDs(testDiskGUID)
			if !equalLayouts(got, want) {
				t.Errorf("Read = %+v\nwant  %+v", got, want)
			}
			// Offsets are what the engine writes images to.
			if got.SystemB().Start != 258*MiB+4*GiB && ss == 512 {
				t.Errorf("system-b at %d", got.SystemB().Start)
			}
		})
	}
}

func equalLayouts(a, b Layout) bool {
	if a.DiskSize != b.DiskSize || a.SectorSize != b.SectorSize || a.DiskGUID != b.DiskGUID || a.FromBackupGPT != b.FromBackupGPT || len(a.Partitions) != len(b.Partitions) {
		return false
	}
	for i := range a.Partitions {
		if a.Partitions[i] != b.Partitions[i] {
			return false
		}
	}
	return true
}

// TestSgdisk checks the written table with the real tools: sgdisk's own
// verifier, its listing (names, type codes, sectors) and the unique GUIDs,
// and fdisk's type names.
func TestSgdisk(t *testing.T) {
	sgdisk, err := exec.LookPath("sgdisk")
	if err != nil {
		t.Skip("sgdisk not installed (apt-get install gdisk)")
	}
	p, l := writeDisk(t, 32*GiB, Options{})
	out, err := exec.Command(sgdisk, "-v", p).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No problems found") {
		t.Fatalf("sgdisk -v: %v\n%s", err, out)
	}
	out, err = exec.Command(sgdisk, "-p", p).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk -p: %v\n%s", err, out)
	}
	t.Logf("sgdisk -p:\n%s", out)
	if !strings.Contains(string(out), "Disk identifier (GUID): "+testDiskGUID) {
		t.Errorf("disk GUID not shown")
	}
	codes := map[string]string{NameBIOS: "EF02", NameESP: "EF00", NameSystemA: "8300", NameSystemB: "8300", NameState: "8300", NameStorage: "8E00"}
	row := regexp.MustCompile(`(?m)^\s+(\d+)\s+(\d+)\s+(\d+)\s+.*?\s([0-9A-F]{4})\s+(\S+)\s*$`)
	rows := row.FindAllStringSubmatch(string(out), -1)
	if len(rows) != 6 {
		t.Fatalf("%d partition rows, want 6", len(rows))
	}
	for i, r := range rows {
		pp := l.Partitions[i]
		start, _ := strconv.ParseInt(r[2], 10, 64)
		end, _ := strconv.ParseInt(r[3], 10, 64)
		if r[1] != strconv.Itoa(pp.Number) || r[5] != pp.Name || r[4] != codes[pp.Name] || start*512 != pp.Start || (end+1)*512 != pp.End() {
			t.Errorf("row %q, want #%d %s %s [%d, %d)", r[0], pp.Number, pp.Name, codes[pp.Name], pp.Start, pp.End())
		}
	}
	for _, pp := range l.Partitions {
		out, err := exec.Command(sgdisk, "-i", strconv.Itoa(pp.Number), p).CombinedOutput()
		want, _ := DerivePartitionGUID(testDiskGUID, pp.Name)
		if err != nil || !strings.Contains(string(out), "Partition unique GUID: "+want) {
			t.Errorf("sgdisk -i %d: want unique GUID %s: %v\n%s", pp.Number, want, err, out)
		}
	}

	if fdisk, err := exec.LookPath("fdisk"); err == nil {
		out, err := exec.Command(fdisk, "-l", p).CombinedOutput()
		if err != nil {
			t.Fatalf("fdisk -l: %v\n%s", err, out)
		}
		t.Logf("fdisk -l:\n%s", out)
		for _, s := range []string{"Disklabel type: gpt", "BIOS boot", "EFI System", "Linux filesystem", "Linux LVM"} {
			if !strings.Contains(string(out), s) {
				t.Errorf("fdisk -l does not show %q", s)
			}
		}
		if strings.Contains(string(out), "does not start on physical sector boundary") || strings.Contains(string(out), "corrupt") {
			t.Errorf("fdisk complains:\n%s", out)
		}
	}
}

func TestProtectiveMBR(t *testing.T) {
	p, _ := writeDisk(t, 32*GiB, Options{})
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s0 := make([]byte, 512)
	if _, err := f.ReadAt(s0, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s0[:len(mbrStub)], mbrStub) || !bytes.Equal(s0[len(mbrStub):440], make([]byte, 440-len(mbrStub))) {
		t.Errorf("boot code is not the INT 18h stub: % x", s0[:16])
	}
	e := s0[446:462]
	if e[0] != 0 || e[4] != 0xEE || binary.LittleEndian.Uint32(e[8:]) != 1 || binary.LittleEndian.Uint32(e[12:]) != uint32(32*GiB/512-1) {
		t.Errorf("protective entry % x", e)
	}
	if !bytes.Equal(s0[462:510], make([]byte, 48)) || s0[510] != 0x55 || s0[511] != 0xAA {
		t.Errorf("other entries or signature wrong")
	}
	// Beyond 2 TiB the size is capped at 2^32-1 sectors (not truncated).
	big := Layout{DiskSize: 3 << 40, SectorSize: 512}
	if n := binary.LittleEndian.Uint32(protectiveMBR(big)[458:462]); n != 0xFFFFFFFF {
		t.Errorf("3 TiB disk: protective size %#x, want 0xFFFFFFFF", n)
	}
}

// TestWriteWipesBootPath: an old boot loader or system image at the same
// offsets (a reinstall over a Lockstep disk) must not survive Write, or a
// firmware could boot it while the install is half done; the state and
// storage partitions are kept for Recover.
func TestWriteWipesBootPath(t *testing.T) {
	size := 32 * GiB
	p := sparseDisk(t, size)
	l, _ := Plan(size, Options{})
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	junk := []byte("OLD-DATA-OLD-DATA")
	f.WriteAt([]byte{0xEB, 0x63, 0x90}, 0) // an old boot loader's jump
	for _, pp := range l.Partitions {
		f.WriteAt(junk, pp.Start)
		f.WriteAt(junk, pp.Start+6*512) // FAT backup boot sector
	}
	if err := Write(f, l, testDiskGUID); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(junk))
	for _, pp := range l.Partitions {
		for _, off := range []int64{pp.Start, pp.Start + 6*512} {
			f.ReadAt(buf, off)
			kept := bytes.Equal(buf, junk)
			if wantKept := pp.Name == NameState || pp.Name == NameStorage; kept != wantKept {
				t.Errorf("%s at +%d: kept=%v, want %v", pp.Name, off-pp.Start, kept, wantKept)
			}
		}
	}
}

func TestReadBackupGPT(t *testing.T) {
	p, planned := writeDisk(t, 32*GiB, Options{})
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteAt([]byte("garbage!"), 512+60) // inside the CRC-covered 92 bytes: breaks the primary header
	got, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if !got.FromBackupGPT {
		t.Error("FromBackupGPT not set")
	}
	want, _ := planned.WithGUIDs(testDiskGUID)
	want.FromBackupGPT = true
	if !equalLayouts(got, want) {
		t.Errorf("from backup: %+v", got)
	}
	// Without a size, the backup cannot be found: a clear error.
	if _, err := Read(onlyReaderAt{f}); !errors.Is(err, ErrNotLockstep) || !strings.Contains(err.Error(), "CRC") {
		t.Errorf("sizeless reader: %v", err)
	}
	// Rewriting with the read layout repairs the primary.
	if err := Write(f, got, got.DiskGUID); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(onlyReaderAt{f}); err != nil || got.FromBackupGPT {
		t.Errorf("after repair: %+v, %v", got, err)
	}
}

type onlyReaderAt struct{ r *os.File }

func (o onlyReaderAt) ReadAt(p []byte, off int64) (int, error) { return o.r.ReadAt(p, off) }

func TestReadNotLockstep(t *testing.T) {
	check := func(name, path, wantIn string) {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		_, err = Read(f)
		if !errors.Is(err, ErrNotLockstep) || !strings.HasPrefix(err.Error(), "not a Lockstep disk") || !strings.Contains(err.Error(), wantIn) {
			t.Errorf("%s: err = %v, want ErrNotLockstep mentioning %q", name, err, wantIn)
		}
	}
	check("blank", sparseDisk(t, 32*GiB), "no GPT")

	sgdisk, err := exec.LookPath("sgdisk")
	if err != nil {
		t.Skip("sgdisk not installed")
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(sgdisk, args...).CombinedOutput(); err != nil {
			t.Fatalf("sgdisk %v: %v\n%s", args, err, out)
		}
	}
	// Another system's table.
	p := sparseDisk(t, 32*GiB)
	run("-n1:0:+512M", "-t1:ef00", "-n2:0:0", "-t2:8300", p)
	check("foreign", p, "2 partitions, want 6")
	// Ours, with a partition renamed.
	p, _ = writeDisk(t, 32*GiB, Options{})
	run("-c3:root", p)
	check("renamed", p, `"root"`)
	// Ours, with a type changed.
	p, _ = writeDisk(t, 32*GiB, Options{})
	run("-t6:8300", p)
	check("retyped", p, "want \"storage\"")
	// The same names and types, but GUIDs not derived from the disk's.
	p, _ = writeDisk(t, 32*GiB, Options{})
	run("-G", p)
	check("random GUIDs", p, "not the one derived")
	// A seventh partition.
	p, _ = writeDisk(t, 32*GiB, Options{})
	run("-n7:34:2047", p)
	check("extra", p, "7 partitions")
}

func TestWriteChecks(t *testing.T) {
	p := sparseDisk(t, 32*GiB)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, _ := Plan(64*GiB, Options{})
	if err := Write(f, l, testDiskGUID); err == nil || !strings.Contains(err.Error(), "device has") {
		t.Errorf("layout for a bigger disk: %v", err)
	}
	l, _ = Plan(32*GiB, Options{})
	if err := Write(f, l, "not-a-guid"); err == nil {
		t.Error("bad disk GUID accepted")
	}
	bad := l
	bad.Partitions = append([]Partition(nil), l.Partitions...)
	bad.Partitions[3].Start += 512
	if err := Write(f, bad, testDiskGUID); err == nil || !strings.Contains(err.Error(), "aligned") {
		t.Errorf("misaligned layout: %v", err)
	}
	bad.Partitions[3] = l.Partitions[2]
	if err := Write(f, bad, testDiskGUID); err == nil {
		t.Error("wrong partition order accepted")
	}
	// Nothing was written by the refused calls.
	if _, err := Read(f); !errors.Is(err, ErrNotLockstep) {
		t.Errorf("disk written by a refused call: %v", err)
	}
}

func TestDevice(t *testing.T) {
	p := Partition{Number: 3}
	for dev, want := range map[string]string{"/dev/sda": "/dev/sda3", "/dev/nvme0n1": "/dev/nvme0n1p3", "/dev/loop0": "/dev/loop0p3", "/dev/vdb": "/dev/vdb3"} {
		if got := p.Device(dev); got != want {
			t.Errorf("Device(%s) = %s, want %s", dev, got, want)
		}
	}
}
