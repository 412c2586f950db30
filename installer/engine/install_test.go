package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/image/sysimage"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/engine/abboot"
	"github.com/lockstep-ft/lockstep/installer/engine/layout"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// fakeFormatter records the STATE request and writes a marker where the
// file system would start.
type fakeFormatter struct {
	offset, size int64
	files        map[string][]byte
	fail         error
}

var stateMarker = []byte("FAKE-EXT4")

func (f *fakeFormatter) MakeExt4(_ context.Context, disk *os.File, offset, size int64, label string, files map[string][]byte) error {
	if f.fail != nil {
		return f.fail
	}
	f.offset, f.size, f.files = offset, size, files
	_, err := disk.WriteAt(stateMarker, offset)
	return err
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// fakeSource makes a small "system image" with boot files: a fake
// squashfs, a boot.img with the boot signature and a core.img with
// diskboot's block list, as grub-mkimage leaves it.
func fakeSource(t *testing.T, version string, image []byte) *Source {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "system.squashfs")
	if err := os.WriteFile(img, image, 0o644); err != nil {
		t.Fatal(err)
	}
	boot := map[string][]byte{
		sysimage.BootKernel: []byte("kernel " + version),
		sysimage.BootInitrd: []byte("initrd " + version),
		sysimage.BootShim:   []byte("shim"),
		sysimage.BootGrub:   []byte("grub"),
		sysimage.BootMok:    []byte("mok"),
	}
	mbr := make([]byte, 512)
	copy(mbr, "GRUB boot.img")
	mbr[510], mbr[511] = 0x55, 0xaa
	boot[sysimage.BootMBR] = mbr
	core := make([]byte, 3*512+100)
	copy(core, "diskboot")
	binary.LittleEndian.PutUint64(core[500:], 2)
	binary.LittleEndian.PutUint16(core[508:], 3)
	binary.LittleEndian.PutUint16(core[510:], coreSegment)
	boot[sysimage.BootCore] = core
	m := &sysimage.Manifest{Format: sysimage.ManifestFormat, Version: version,
		Image: sysimage.Image{File: "system.squashfs", Size: int64(len(image)), SHA256: sha(image)}}
	bd := sysimage.BootDir(img)
	os.MkdirAll(bd, 0o755)
	for _, name := range sysimage.BootFiles {
		os.WriteFile(filepath.Join(bd, name), boot[name], 0o644)
		m.Boot = append(m.Boot, sysimage.Image{File: name, Size: int64(len(boot[name])), SHA256: sha(boot[name])})
	}
	os.WriteFile(sysimage.ManifestPath(img), m.JSON(), 0o644)
	src, err := OpenSource(img)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func testConfig(t *testing.T) nodeconfig.Config {
	a := answers.Answers{Action: answers.Create, Hostname: "node0",
		System:  answers.System{Name: "lab", IP: "192.0.2.10"},
		Network: answers.Network{Node: answers.Address{IP: "192.0.2.11", Netmask: "255.255.255.0"}},
		Admin:   answers.Admin{PasswordHash: "$6$x$y"}}
	c, err := nodeconfig.FromAnswers(a, "52:54:00:00:00:01", "52:54:00:00:00:02", nodeconfig.Install{Time: time.Unix(0, 0).UTC(), Version: "1.0", Disk: "virtio-x"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// smallLayout keeps test disks small; the layout code is the production one.
var smallLayout = layout.Options{ESPSize: 64 * layout.MiB, SlotSize: 64 * layout.MiB, StateSize: 64 * layout.MiB, MinStorageSize: layout.MiB}

func newDisk(t *testing.T) *os.File {
	t.Helper()
	size, err := layout.MinDiskBytes(smallLayout)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f
}

func readState(t *testing.T, disk *os.File) abboot.State {
	t.Helper()
	l, err := layout.Read(disk)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := espFS(disk, l.ESP(), false)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := loadState(fs)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestInstallWritesAWholeNode(t *testing.T) {
	disk := newDisk(t)
	image := bytes.Repeat([]byte("squashfs"), 300000)
	src := fakeSource(t, "1.0", image)
	ff := &fakeFormatter{}
	var events []Event
	in := &Install{Disk: disk, Source: src, Format: ff, Config: testConfig(t), Layout: smallLayout,
		Boot: BootOptions{KernelArgs: "console=ttyS0,115200n8", Serial: "--unit=0 --speed=115200"}}
	if err := in.Run(context.Background(), func(e Event) { events = append(events, e) }); err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if !last.Done || last.Percent != 100 || last.Level != Info {
		t.Errorf("last event %+v", last)
	}
	for i := 1; i < len(events); i++ {
		if events[i].Percent < events[i-1].Percent {
			t.Errorf("progress goes back: %d%% after %d%%", events[i].Percent, events[i-1].Percent)
		}
	}

	l, err := layout.Read(disk)
	if err != nil {
		t.Fatal(err)
	}
	// Slot A holds the image, byte for byte.
	got := make([]byte, len(image))
	disk.ReadAt(got, l.SystemA().Start)
	if !bytes.Equal(got, image) {
		t.Error("slot A does not hold the image")
	}
	// STATE: node.json for the formatter, at the STATE partition.
	if ff.offset != l.State().Start || ff.size != l.State().Size {
		t.Errorf("STATE made at %d+%d, partition is %d+%d", ff.offset, ff.size, l.State().Start, l.State().Size)
	}
	c, err := nodeconfig.Parse(ff.files[nodeconfig.FileName])
	if err != nil || c.Hostname != "node0" {
		t.Errorf("node.json: %+v %v", c, err)
	}
	// ESP: both firmwares' files, the slot's kernel, grub.cfg naming the
	// partitions by PARTUUID, and slot A good and active.
	fs, err := espFS(disk, l.ESP(), false)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		espFallback:             "shim",
		"EFI/BOOT/grubx64.efi":  "grub",
		"EFI/BOOT/grub.cfg":     uefiStubGrub,
		"EFI/debian/grub.cfg":   uefiStubGrub,
		"lockstep/a/vmlinuz":    "kernel 1.0",
		"lockstep/a/initrd.img": "initrd 1.0",
	} {
		if b, err := readESPFile(fs, p); err != nil || string(b) != want {
			t.Errorf("ESP %s: %q, %v", p, b, err)
		}
	}
	cfg, _ := readESPFile(fs, espGrubCfg)
	for _, s := range []string{
		"root=PARTUUID=" + strings.ToLower(l.SystemA().GUID),
		"lockstep.state=PARTUUID=" + strings.ToLower(l.State().GUID),
		"lockstep.esp=PARTUUID=" + strings.ToLower(l.ESP().GUID),
		"boot=lockstep", "console=ttyS0,115200n8", "serial --unit=0 --speed=115200",
	} {
		if !strings.Contains(string(cfg), s) {
			t.Errorf("grub.cfg lacks %q", s)
		}
	}
	st := readState(t, disk)
	if want := (abboot.State{Active: abboot.A, A: abboot.SlotInfo{State: abboot.Good, Version: "1.0"}, B: abboot.SlotInfo{State: abboot.Empty}}); st != want {
		t.Errorf("boot state %s, want %s", st, want)
	}
	// BIOS: boot.img in the MBR pointing at core.img in partition 1, the
	// protective partition table kept.
	mbr := make([]byte, 512)
	disk.ReadAt(mbr, 0)
	if !bytes.HasPrefix(mbr, []byte("GRUB boot.img")) || binary.LittleEndian.Uint64(mbr[grubKernelSector:]) != uint64(l.BIOS().Start/512) {
		t.Errorf("MBR: %q…, core at %d", mbr[:16], binary.LittleEndian.Uint64(mbr[grubKernelSector:]))
	}
	if mbr[0x1c2] != 0xee {
		t.Errorf("protective MBR partition type %#x, want 0xee", mbr[0x1c2])
	}
}

// A damaged medium: the image does not match its manifest. The install
// stops with slot A "installing", so GRUB boots nothing.
func TestInstallStopsOnChecksumMismatch(t *testing.T) {
	disk := newDisk(t)
	src := fakeSource(t, "1.0", bytes.Repeat([]byte("A"), 100000))
	if err := os.WriteFile(src.Image, bytes.Repeat([]byte("B"), 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	in := &Install{Disk: disk, Source: src, Format: &fakeFormatter{}, Config: testConfig(t), Layout: smallLayout}
	err := in.Run(context.Background(), func(Event) {})
	if err == nil || !strings.Contains(err.Error(), "the medium is damaged") {
		t.Fatalf("err = %v", err)
	}
	st := readState(t, disk)
	if st.A.State != abboot.Installing || st.Active != "" {
		t.Errorf("state after a failed install: %s", st)
	}
	if _, _, err := abboot.BootChoice(st); !errors.Is(err, abboot.ErrNoBootableSlot) {
		t.Errorf("BootChoice after a failed install: %v", err)
	}
	mbr := make([]byte, 512)
	disk.ReadAt(mbr, 0)
	if bytes.HasPrefix(mbr, []byte("GRUB")) {
		t.Error("BIOS boot code installed by a failed install")
	}
}

func TestInstallStopsWhenStateFails(t *testing.T) {
	disk := newDisk(t)
	src := fakeSource(t, "1.0", bytes.Repeat([]byte("A"), 100000))
	in := &Install{Disk: disk, Source: src, Format: &fakeFormatter{fail: errors.New("mke2fs: disk error")}, Config: testConfig(t), Layout: smallLayout}
	if err := in.Run(context.Background(), func(Event) {}); err == nil || !strings.Contains(err.Error(), "STATE: mke2fs: disk error") {
		t.Fatalf("err = %v", err)
	}
	if st := readState(t, disk); st.A.State != abboot.Installing {
		t.Errorf("state %s", st)
	}
}

// WriteSlot puts a second version in B for one trial boot, with its own
// kernel, and records the trial timeout for the guard.
func TestWriteSlotTryOnce(t *testing.T) {
	disk := newDisk(t)
	src := fakeSource(t, "1.0", bytes.Repeat([]byte("A"), 100000))
	in := &Install{Disk: disk, Source: src, Format: &fakeFormatter{}, Config: testConfig(t), Layout: smallLayout}
	if err := in.Run(context.Background(), func(Event) {}); err != nil {
		t.Fatal(err)
	}
	v2 := fakeSource(t, "2.0", bytes.Repeat([]byte("B"), 200000))
	if err := WriteSlot(context.Background(), disk, v2, abboot.B, SlotOptions{TryOnce: true, TrialTimeout: 90 * time.Second}, nil); err != nil {
		t.Fatal(err)
	}
	st := readState(t, disk)
	want := abboot.State{Active: abboot.A, Next: abboot.B, Tries: abboot.TryOnceTries,
		A: abboot.SlotInfo{State: abboot.Good, Version: "1.0"}, B: abboot.SlotInfo{State: abboot.Good, Version: "2.0"}}
	if st != want {
		t.Errorf("state %s, want %s", st, want)
	}
	l, _ := layout.Read(disk)
	fs, _ := espFS(disk, l.ESP(), false)
	if b, _ := readESPFile(fs, "lockstep/b/vmlinuz"); string(b) != "kernel 2.0" {
		t.Errorf("slot B kernel %q", b)
	}
	if b, _ := readESPFile(fs, "lockstep/a/vmlinuz"); string(b) != "kernel 1.0" {
		t.Errorf("slot A kernel %q", b)
	}
	blk, _ := readESPFile(fs, abboot.EnvPath)
	env, err := abboot.Decode(blk)
	if err != nil || env[abboot.KeyTrialTimeout] != "90" || len(blk) != abboot.EnvBlockSize {
		t.Errorf("env %v (%d bytes), %v", env, len(blk), err)
	}
	// The running slot cannot be overwritten.
	if err := WriteSlot(context.Background(), disk, v2, abboot.A, SlotOptions{}, nil); err == nil {
		t.Error("WriteSlot over the active slot succeeded")
	}
}

func TestBIOSBootRejectsWhatIsNotGRUB(t *testing.T) {
	mbr := make([]byte, 512)
	boot := make([]byte, 512)
	boot[510], boot[511] = 0x55, 0xaa
	core := make([]byte, 1024)
	if _, _, err := BIOSBoot(mbr, boot, core, 2048, 2048); err == nil || !strings.Contains(err.Error(), "not a grub-mkimage") {
		t.Errorf("core without block list: %v", err)
	}
	binary.LittleEndian.PutUint16(core[510:], coreSegment)
	if _, _, err := BIOSBoot(mbr, boot, core, 2048, 1); err == nil || !strings.Contains(err.Error(), "BIOS boot partition") {
		t.Errorf("core too large: %v", err)
	}
	if _, _, err := BIOSBoot(mbr, make([]byte, 512), core, 2048, 2048); err == nil {
		t.Error("boot.img without signature accepted")
	}
	_, nc, err := BIOSBoot(mbr, boot, core, 2048, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if s, n := binary.LittleEndian.Uint64(nc[500:]), binary.LittleEndian.Uint16(nc[508:]); s != 2049 || n != 1 {
		t.Errorf("block list %d+%d, want 2049+1", s, n)
	}
}
