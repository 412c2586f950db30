package seqlog

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var testID = [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

func TestEncodeDecode(t *testing.T) {
	slot := make([]byte, SlotSize)
	in := Record{Seq: 4711, BootID: testID, UnixNano: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()}
	in.Encode(slot)
	if string(slot[:8]) != Magic {
		t.Fatalf("slot starts with %q", slot[:8])
	}
	if !bytes.Equal(slot[RecordSize:], make([]byte, SlotSize-RecordSize)) {
		t.Error("Encode wrote past RecordSize")
	}
	out, ok := Decode(slot)
	if !ok || out != in {
		t.Fatalf("Decode = %+v, %v; want %+v", out, ok, in)
	}
	for i := range RecordSize {
		bad := bytes.Clone(slot)
		bad[i] ^= 0x40
		if r, ok := Decode(bad); ok {
			t.Errorf("byte %d flipped: decoded %+v", i, r)
		}
	}
	zero := make([]byte, SlotSize)
	(Record{Seq: 0, BootID: testID}).Encode(zero)
	if _, ok := Decode(zero); ok {
		t.Error("sequence number 0 decoded as a record")
	}
	if _, ok := Decode(make([]byte, SlotSize)); ok {
		t.Error("an empty slot decoded as a record")
	}
}

// TestScanFile writes a ring that has wrapped, with a torn newest record and
// a record in the wrong slot, through a temporary file.
func TestScanFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if last, ok, err := Scan(f); err != nil || ok {
		t.Fatalf("empty file: Scan = %+v, %v, %v", last, ok, err)
	}
	if err := f.Truncate(8 << 20); err != nil {
		t.Fatal(err)
	}
	if last, ok, err := Scan(f); err != nil || ok {
		t.Fatalf("zero disk: Scan = %+v, %v, %v", last, ok, err)
	}

	slot := make([]byte, SlotSize)
	put := func(r Record, off int64) {
		t.Helper()
		r.Encode(slot)
		if _, err := f.WriteAt(slot, off); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(1); seq <= Slots+300; seq++ {
		put(Record{Seq: seq, BootID: testID, UnixNano: int64(seq)}, Offset(seq))
	}
	last, ok, err := Scan(f)
	if err != nil || !ok || last.Seq != Slots+300 || last.BootID != testID || last.UnixNano != Slots+300 {
		t.Fatalf("Scan = %+v, %v, %v; want seq %d", last, ok, err, Slots+300)
	}

	// A torn write of the next record leaves the previous one the newest.
	put(Record{Seq: Slots + 301, BootID: testID}, Offset(Slots+301))
	if _, err := f.WriteAt([]byte{0xff}, Offset(Slots+301)+20); err != nil {
		t.Fatal(err)
	}
	// A record outside its own slot is not evidence.
	put(Record{Seq: 1 << 40, BootID: testID}, Offset(7))
	if last, ok, err := Scan(f); err != nil || !ok || last.Seq != Slots+300 {
		t.Fatalf("Scan = %+v, %v, %v; want seq %d", last, ok, err, Slots+300)
	}

	// A disk shorter than the ring is scanned as far as it goes.
	if err := f.Truncate(Offset(5) + SlotSize/2); err != nil {
		t.Fatal(err)
	}
	if last, ok, err := Scan(f); err != nil || !ok || last.Seq != Slots+4 {
		t.Fatalf("short disk: Scan = %+v, %v, %v; want seq %d", last, ok, err, Slots+4)
	}
}

func TestParseBootID(t *testing.T) {
	id, err := ParseBootID("deadbeef-0102-0304-0506-0708090a0b0c\n")
	if err != nil || id != testID {
		t.Fatalf("ParseBootID = %x, %v", id, err)
	}
	for _, bad := range []string{"", "deadbeef", "zzadbeef-0102-0304-0506-0708090a0b0c"} {
		if _, err := ParseBootID(bad); err == nil {
			t.Errorf("ParseBootID(%q) succeeded", bad)
		}
	}
}

func TestParseConsole(t *testing.T) {
	log := "SeaBIOS (version 1.16)\r\n" +
		"LSGUEST BOOT 11111111-aaaa-bbbb-cccc-dddddddddddd\r\n" +
		"LSGUEST LAST 0\r\n" +
		"LSGUEST SEQ 1 11111111\r\n" +
		"LSGUEST SEQ 2 11111111\r\n" +
		"LSGUEST TICK 1 11111111 3.5\r\n" +
		"[    4.1] virtio_blk virtio1: I/O error\r\n" +
		"LSGUEST ERROR write /dev/vda: input/output error\r\n" +
		"LSGUEST SEQ 3 111[    4.2] kernel message\r\n" + // broken by the kernel: skipped
		"junk LSGUEST SEQ 3 11111111\r\n" +
		"LSGUEST BOOT 22222222-aaaa-bbbb-cccc-dddddddddddd\r\n" +
		"LSGUEST LAST 3\r\n" +
		"LSGUEST SEQ 4 22222222\r\n" +
		"LSGUEST TICK 1 22222222 2.0\r\n" +
		"LSGUEST TICK 2 22222222 3.0\r\n" +
		"LSGUEST WORK 1200 22222222\r\n" +
		"LSGUEST WORK 2400 22222222\r\n" +
		"LSGUEST WORK x 22222222\r\n" + // not a number: skipped
		"LSGUEST TICK 3 2222" // cut off
	c := ParseConsole([]byte(log))
	if len(c.Boots) != 2 {
		t.Fatalf("%d boots, want 2: %+v", len(c.Boots), c.Boots)
	}
	b1, b2 := c.Boots[0], c.Boots[1]
	if b1.Work != 0 || b2.Work != 2400 {
		t.Errorf("WORK: %d and %d, want 0 and 2400", b1.Work, b2.Work)
	}
	if b1.ID != "11111111-aaaa-bbbb-cccc-dddddddddddd" || !b1.HasLast || b1.Last != 0 || b1.Seq != 3 || b1.Seqs != 3 ||
		b1.Tick != 1 || b1.Uptime != 3500*time.Millisecond || len(b1.Errors) != 1 || b1.Errors[0] != "write /dev/vda: input/output error" {
		t.Errorf("first boot: %+v", b1)
	}
	if b2.Short() != "22222222" || b2.Last != 3 || b2.Seq != 4 || b2.Tick != 2 || b2.Ticks != 2 || c.Current() != b2 {
		t.Errorf("second boot: %+v", b2)
	}
	if c.MaxSeq() != 4 {
		t.Errorf("MaxSeq = %d", c.MaxSeq())
	}
	if len(b1.Writes) != 0 || len(b1.Bursts) != 0 {
		t.Errorf("an old guest's lines gave writes %v, bursts %v", b1.Writes, b1.Bursts)
	}

	// A migration target's log starts without the BOOT line.
	c = ParseConsole([]byte("LSGUEST TICK 41 22222222 41.0\nLSGUEST SEQ 400 22222222\nLSGUEST TICK 42 22222222 42.0\n"))
	if len(c.Boots) != 1 || c.Boots[0].ID != "22222222" || c.Boots[0].Tick != 42 || c.Boots[0].Seq != 400 {
		t.Errorf("log without BOOT: %+v", c.Boots)
	}
	// Latencies and bursts; lines without a latency still count as SEQ.
	c = ParseConsole([]byte("LSGUEST BOOT 33333333-aaaa-bbbb-cccc-dddddddddddd\n" +
		"LSGUEST SEQ 7 33333333 1834\n" +
		"LSGUEST BURST 38.5 33333333\n" +
		"LSGUEST SEQ 8 33333333\n" +
		"LSGUEST SEQ 9 33333333 x12\n" + // broken: skipped
		"LSGUEST SEQ 9 33333333 912\n" +
		"LSGUEST BURST 41.0 33333333\n" +
		"LSGUEST BURST 4[  7.0] 33333333\n" + // broken: skipped
		"LSGUEST TICK 1 33333333 1.234\n"))
	b := c.Current()
	wantW := []Write{{7, 1834 * time.Microsecond}, {9, 912 * time.Microsecond}}
	wantB := []Burst{{7, 38.5}, {9, 41.0}}
	if len(c.Boots) != 1 || b.Seq != 9 || b.Seqs != 3 || !slices.Equal(b.Writes, wantW) || !slices.Equal(b.Bursts, wantB) ||
		b.Uptime != 1234*time.Millisecond {
		t.Errorf("boot with latencies: %+v", b)
	}

	if c := ParseConsole(nil); c.Current() != nil || c.MaxSeq() != 0 {
		t.Errorf("empty log: %+v", c)
	}
}

func TestParseConsoleNet(t *testing.T) {
	c := ParseConsole([]byte("LSGUEST BOOT 44444444-aaaa-bbbb-cccc-dddddddddddd\r\n" +
		"LSGUEST LAST 0\r\n" +
		"LSGUEST NET eth0 10.0.2.15/24 52:54:00:1[    1.5] e1000: link up\r\n" + // broken: skipped
		"LSGUEST NET eth0 10.0.2.15 52:54:00:12:34:56\r\n" + // no prefix length: skipped
		"LSGUEST NET eth0 10.0.2.15/24\r\n" + // no MAC: skipped
		"LSGUEST SEQ 1 44444444 800\r\n" +
		"LSGUEST NET eth0 10.0.2.15/24 52:54:00:12:34:56\r\n" +
		"LSGUEST TICK 1 44444444 2.0\r\n"))
	b := c.Current()
	if len(c.Boots) != 1 || b.Net == nil || b.Seq != 1 || b.Ticks != 1 {
		t.Fatalf("boots %+v", c.Boots)
	}
	if n := b.Net; n.Interface != "eth0" || n.Addr.String() != "10.0.2.15/24" || n.MAC.String() != "52:54:00:12:34:56" {
		t.Errorf("NET %+v", n)
	}

	// A guest without network prints no NET line; a new boot starts
	// without one.
	c = ParseConsole([]byte("LSGUEST BOOT 44444444-aaaa-bbbb-cccc-dddddddddddd\n" +
		"LSGUEST NET ens3 fd00::15/64 52:54:00:12:34:57\n" +
		"LSGUEST BOOT 55555555-aaaa-bbbb-cccc-dddddddddddd\n" +
		"LSGUEST SEQ 1 55555555\n"))
	if len(c.Boots) != 2 || c.Boots[0].Net == nil || c.Boots[0].Net.Addr.String() != "fd00::15/64" || c.Boots[1].Net != nil {
		t.Errorf("two boots: %+v", c.Boots)
	}

	// A log that starts at the NET line: the boot gets its id from the
	// next SEQ.
	c = ParseConsole([]byte("LSGUEST NET eth0 10.0.2.15/24 52:54:00:12:34:56\nLSGUEST SEQ 9 66666666\n"))
	if len(c.Boots) != 1 || c.Boots[0].ID != "66666666" || c.Boots[0].Net == nil || c.Boots[0].Seq != 9 {
		t.Errorf("log from NET: %+v", c.Boots)
	}
}

func TestParseConsoleIgnoresACutLastLine(t *testing.T) {
	c := ParseConsole([]byte("LSGUEST BOOT 33333333-aaaa-bbbb-cccc-dddddddddddd\n" +
		"LSGUEST SEQ 10 33333333 5000\n" +
		"LSGUEST SEQ 11 3"))
	if len(c.Boots) != 1 || c.Current().Short() != "33333333" || c.Current().Seq != 10 {
		t.Errorf("a cut last line counted: %+v", c.Boots)
	}
}
