package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/engine/abboot"
	"github.com/lockstep-ft/lockstep/installer/engine/layout"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

const storageDiskID = "serial:lockstep-data"

// diskOf makes a sparse disk image of size bytes.
func diskOf(t *testing.T, name string, size int64) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f
}

// systemDiskBytes is the smallest test layout plus extra storage.
func systemDiskBytes(t *testing.T, extra int64) int64 {
	t.Helper()
	n, err := layout.MinDiskBytes(smallLayout)
	if err != nil {
		t.Fatal(err)
	}
	return n + extra
}

// fillRandom writes n pseudo-random bytes at off (no zero run that could
// pass for an erased region).
func fillRandom(t *testing.T, f *os.File, off, n int64, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(255) + 1)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func readAt(t *testing.T, f *os.File, off, n int64) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// fileSum hashes a whole file.
func fileSum(t *testing.T, f *os.File) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

func configFor(t *testing.T, action answers.Action, storage ...string) nodeconfig.Config {
	t.Helper()
	c := testConfig(t)
	c.Action = action
	c.StorageDisks = storage
	c.Install.Disk = "serial:lockstep-sys"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func isZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

// Recover PM rewrites the boot partitions, the slots and STATE of a
// Lockstep disk and keeps its disk GUID, every partition boundary, the
// storage partition and the storage group's disks byte for byte.
func TestRecoverKeepsTheData(t *testing.T) {
	disk := diskOf(t, "disk.img", systemDiskBytes(t, 8*layout.MiB))
	data := diskOf(t, "data.img", 8*layout.MiB)
	in := &Install{Disk: disk, Source: fakeSource(t, "1.0", bytes.Repeat([]byte("one"), 100000)), Format: &fakeFormatter{},
		Config: configFor(t, answers.Create, storageDiskID), Layout: smallLayout,
		StorageDisks: []StorageDisk{{ID: storageDiskID, Disk: data}}}
	if err := in.Run(context.Background(), func(Event) {}); err != nil {
		t.Fatal(err)
	}
	before, err := layout.Read(disk)
	if err != nil {
		t.Fatal(err)
	}
	// The node's life: volumes in partition 6 and on the data disk (all of
	// it, ends included); then the system partitions get damaged.
	st := before.Storage()
	fillRandom(t, disk, st.Start, st.Size, 1)
	fillRandom(t, data, 0, 8*layout.MiB, 2)
	storageSum := sha256.Sum256(readAt(t, disk, st.Start, st.Size))
	dataSum := fileSum(t, data)
	for _, p := range []layout.Partition{before.ESP(), before.SystemA(), before.SystemB(), before.State()} {
		fillRandom(t, disk, p.Start, 64<<10, 3)
	}
	// The disk may also have grown (a RAID volume extended): the
	// partitions stay where they are.
	grown := systemDiskBytes(t, 12*layout.MiB)
	if err := disk.Truncate(grown); err != nil {
		t.Fatal(err)
	}

	image := bytes.Repeat([]byte("two"), 120000)
	ff := &fakeFormatter{}
	var events []Event
	rec := &Install{Disk: disk, Source: fakeSource(t, "2.0", image), Format: ff,
		Config: configFor(t, answers.Recover, storageDiskID), Layout: layout.Options{SlotSize: 128 * layout.MiB},
		StateFiles:   map[string][]byte{"pki/node.crt": []byte("cert")},
		StorageDisks: []StorageDisk{{ID: storageDiskID, Disk: data}}}
	if err := rec.Check(func(e Event) { t.Errorf("Check emitted %+v", e) }); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := rec.Run(context.Background(), func(e Event) { events = append(events, e) }); err != nil {
		t.Fatal(err)
	}
	after, err := layout.Read(disk)
	if err != nil {
		t.Fatal(err)
	}
	if after.DiskGUID != before.DiskGUID {
		t.Errorf("disk GUID %s, was %s", after.DiskGUID, before.DiskGUID)
	}
	if after.DiskSize != grown {
		t.Errorf("table for %d bytes, the disk has %d", after.DiskSize, grown)
	}
	for i, p := range after.Partitions {
		// Not re-planned with the new options (bigger slots would move
		// the storage partition): every boundary and PARTUUID kept.
		if p != before.Partitions[i] {
			t.Errorf("partition %s is %+v, was %+v", p.Name, p, before.Partitions[i])
		}
	}
	if got := sha256.Sum256(readAt(t, disk, st.Start, st.Size)); got != storageSum {
		t.Error("the storage partition changed")
	}
	if fileSum(t, data) != dataSum {
		t.Error("the storage group's disk changed")
	}
	// Rewritten: slot A, the ESP, STATE, slot B's head.
	if got := readAt(t, disk, after.SystemA().Start, int64(len(image))); !bytes.Equal(got, image) {
		t.Error("slot A does not hold the new image")
	}
	if !isZero(readAt(t, disk, after.SystemB().Start, 64<<10)) {
		t.Error("slot B's head was not wiped")
	}
	if s := readState(t, disk); s.Active != abboot.A || s.A.State != abboot.Good || s.A.Version != "2.0" || s.B.State != abboot.Empty {
		t.Errorf("boot state %s", s)
	}
	l, _ := layout.Read(disk)
	fs, err := espFS(disk, l.ESP(), false)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := readESPFile(fs, "lockstep/a/vmlinuz"); err != nil || string(b) != "kernel 2.0" {
		t.Errorf("ESP kernel %q, %v", b, err)
	}
	if ff.offset != after.State().Start || ff.size != after.State().Size || string(ff.files["pki/node.crt"]) != "cert" {
		t.Errorf("STATE made at %d+%d with %v", ff.offset, ff.size, ff.files)
	}
	if c, err := nodeconfig.Parse(ff.files[nodeconfig.FileName]); err != nil || c.Action != answers.Recover || len(c.StorageDisks) != 1 {
		t.Errorf("node.json %+v, %v", c, err)
	}
	if !bytes.Equal(readAt(t, disk, after.State().Start, int64(len(stateMarker))), stateMarker) {
		t.Error("STATE not made")
	}
	var kept bool
	for _, e := range events {
		if e.Level != Info {
			t.Errorf("event %+v", e)
		}
		if strings.Contains(e.Title, "Erasing") {
			t.Errorf("Recover erased: %+v", e)
		}
		kept = kept || (e.Step == "partition" && strings.Contains(e.Message, before.DiskGUID))
	}
	if !kept || !events[len(events)-1].Done {
		t.Errorf("events %+v", events)
	}
}

// Create and Replace erase the first MiB of partition 6 and the first and
// last MiB of every storage disk, and leave the rest of them alone.
func TestCreateAndReplaceEraseStorageMetadata(t *testing.T) {
	for _, action := range []answers.Action{answers.Create, answers.Replace} {
		t.Run(string(action), func(t *testing.T) {
			size := systemDiskBytes(t, 8*layout.MiB)
			disk := diskOf(t, "disk.img", size)
			const dataBytes = 8 * layout.MiB
			data := diskOf(t, "data.img", dataBytes)
			other := diskOf(t, "other.img", dataBytes) // not in the storage group
			planned, err := layout.Plan(size, smallLayout)
			if err != nil {
				t.Fatal(err)
			}
			st := planned.Storage()
			// An earlier install's LVM label and metadata, and volumes.
			fillRandom(t, disk, st.Start, st.Size, 4)
			fillRandom(t, data, 0, dataBytes, 5)
			fillRandom(t, other, 0, dataBytes, 6)
			partRest := sha256.Sum256(readAt(t, disk, st.Start+layout.MiB, st.Size-layout.MiB))
			dataMiddle := readAt(t, data, layout.MiB, dataBytes-2*layout.MiB)
			otherSum := fileSum(t, other)

			ff := &fakeFormatter{}
			var events []Event
			in := &Install{Disk: disk, Source: fakeSource(t, "1.0", bytes.Repeat([]byte("A"), 100000)), Format: ff,
				Config: configFor(t, action, storageDiskID), Layout: smallLayout,
				StorageDisks: []StorageDisk{{ID: storageDiskID, Disk: data}}}
			if err := in.Run(context.Background(), func(e Event) { events = append(events, e) }); err != nil {
				t.Fatal(err)
			}
			if !isZero(readAt(t, disk, st.Start, layout.MiB)) {
				t.Error("partition 6's first MiB not erased")
			}
			if sha256.Sum256(readAt(t, disk, st.Start+layout.MiB, st.Size-layout.MiB)) != partRest {
				t.Error("partition 6 beyond its first MiB changed")
			}
			if !isZero(readAt(t, data, 0, layout.MiB)) || !isZero(readAt(t, data, dataBytes-layout.MiB, layout.MiB)) {
				t.Error("the storage disk's first or last MiB not erased")
			}
			if !bytes.Equal(readAt(t, data, layout.MiB, dataBytes-2*layout.MiB), dataMiddle) {
				t.Error("the storage disk's middle changed")
			}
			if fileSum(t, other) != otherSum {
				t.Error("a disk outside the storage group changed")
			}
			l, err := layout.Read(disk)
			if err != nil || l.Storage().Start != st.Start {
				t.Fatalf("layout %+v, %v", l, err)
			}
			c, err := nodeconfig.Parse(ff.files[nodeconfig.FileName])
			if err != nil || len(c.StorageDisks) != 1 || c.StorageDisks[0] != storageDiskID {
				t.Errorf("node.json storage disks %q, %v", c.StorageDisks, err)
			}
			n := 0
			for _, e := range events {
				if strings.Contains(e.Title, "Erasing") && strings.Contains(e.Message, storageDiskID) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d events for erasing %s: %+v", n, storageDiskID, events)
			}
			for i := 1; i < len(events); i++ {
				if events[i].Percent < events[i-1].Percent {
					t.Errorf("progress goes back: %+v after %+v", events[i], events[i-1])
				}
			}
		})
	}
}

// A storage disk named in node.json but not handed to the engine would be
// taken into the storage group with whatever it holds: refused up front.
func TestCreateNeedsEveryStorageDisk(t *testing.T) {
	disk := diskOf(t, "disk.img", systemDiskBytes(t, 0))
	in := &Install{Disk: disk, Source: fakeSource(t, "1.0", []byte("A")), Format: &fakeFormatter{},
		Config: configFor(t, answers.Replace, storageDiskID), Layout: smallLayout}
	err := in.Run(context.Background(), func(Event) {})
	if err == nil || !strings.Contains(err.Error(), storageDiskID) {
		t.Fatalf("err = %v", err)
	}
	if _, err := layout.Read(disk); !errors.Is(err, layout.ErrNotLockstep) {
		t.Errorf("the disk was written: %v", err)
	}
}

// writeForeignGPT puts another system's valid GPT (an ESP and a root
// partition) on f, with a file system's worth of data behind it.
func writeForeignGPT(t *testing.T, f *os.File, size int64) {
	t.Helper()
	last := uint64(size/512 - 1)
	arr := make([]byte, 128*128)
	ent := func(i int, typ byte, first, lastLBA uint64, name string) {
		e := arr[i*128:]
		for j := range 16 {
			e[j] = typ + byte(j)       // type GUID
			e[16+j] = byte(i*16+j) + 1 // unique GUID
		}
		binary.LittleEndian.PutUint64(e[32:], first)
		binary.LittleEndian.PutUint64(e[40:], lastLBA)
		for j, c := range name {
			binary.LittleEndian.PutUint16(e[56+2*j:], uint16(c))
		}
	}
	ent(0, 0xC1, 2048, 2048+65535, "EFI system partition")
	ent(1, 0x0F, 2048+65536, last-34, "root")
	h := make([]byte, 512)
	copy(h, "EFI PART")
	binary.LittleEndian.PutUint32(h[8:], 0x00010000)
	binary.LittleEndian.PutUint32(h[12:], 92)
	binary.LittleEndian.PutUint64(h[24:], 1)
	binary.LittleEndian.PutUint64(h[32:], last)
	binary.LittleEndian.PutUint64(h[40:], 34)
	binary.LittleEndian.PutUint64(h[48:], last-33)
	copy(h[56:72], "foreign-disk-id!")
	binary.LittleEndian.PutUint64(h[72:], 2)
	binary.LittleEndian.PutUint32(h[80:], 128)
	binary.LittleEndian.PutUint32(h[84:], 128)
	binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(arr))
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
	mbr := make([]byte, 512)
	mbr[446+4] = 0xEE
	mbr[510], mbr[511] = 0x55, 0xAA
	for off, b := range map[int64][]byte{0: mbr, 512: h, 1024: arr} {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	fillRandom(t, f, 2048*512, 4*layout.MiB, 7)
}

// Recover refuses, before writing anything, a disk that holds no Lockstep
// layout, saying what it found and that Replace is the action that erases.
func TestRecoverRefusesWhatIsNotALockstepDisk(t *testing.T) {
	size := systemDiskBytes(t, 8*layout.MiB)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *os.File)
		found string
	}{
		{"blank", func(*testing.T, *os.File) {}, "no GPT found"},
		{"foreign GPT", func(t *testing.T, f *os.File) { writeForeignGPT(t, f, size) }, "2 partitions, want 6"},
		{"shrunk", func(t *testing.T, f *os.File) {
			in := &Install{Disk: f, Source: fakeSource(t, "1.0", []byte("A")), Format: &fakeFormatter{},
				Config: configFor(t, answers.Create), Layout: smallLayout}
			if err := in.Run(context.Background(), func(Event) {}); err != nil {
				t.Fatal(err)
			}
			// The volume lost 6 MiB: the storage partition (9 MiB) now
			// runs past the end.
			if err := f.Truncate(size - 6*layout.MiB); err != nil {
				t.Fatal(err)
			}
		}, "no longer fits and would have to move"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := diskOf(t, "disk.img", size)
			data := diskOf(t, "data.img", 4*layout.MiB)
			fillRandom(t, data, 0, 4*layout.MiB, 8)
			tc.setup(t, disk)
			diskSum, dataSum := fileSum(t, disk), fileSum(t, data)
			in := &Install{Disk: disk, Source: fakeSource(t, "2.0", []byte("B")), Format: &fakeFormatter{},
				Config: configFor(t, answers.Recover, storageDiskID), Layout: smallLayout,
				StorageDisks: []StorageDisk{{ID: storageDiskID, Disk: data}}}
			var checked []Event
			cerr := in.Check(func(e Event) { checked = append(checked, e) })
			var events []Event
			err := in.Run(context.Background(), func(e Event) { events = append(events, e) })
			var r *RefusedError
			if !errors.As(err, &r) || !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want a RefusedError", err)
			}
			for _, s := range []string{"Recover PM refused", "disk serial:lockstep-sys", tc.found, "nothing was written", "Replace PM", "erases"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q lacks %q", err, s)
				}
			}
			if cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("Check = %v, Run = %v", cerr, err)
			}
			for _, evs := range [][]Event{checked, events} {
				if len(evs) != 1 || evs[0].Level != Error || !evs[0].Done || evs[0].Message != err.Error() {
					t.Errorf("events %+v, want the one refusal", evs)
				}
			}
			if fileSum(t, disk) != diskSum || fileSum(t, data) != dataSum {
				t.Error("a refused Recover wrote to the disks")
			}
		})
	}
}
