package seqlog

import "testing"

// A QEMU killed in mid-line leaves its last line unended; the next QEMU of
// the VM appends to the same log, so the new boot's first line joins it.
func TestParseConsoleLineJoinedToACutOne(t *testing.T) {
	log := "LSGUEST BOOT 11111111-aaaa\nLSGUEST LAST 0\nLSGUEST SEQ 1 11111111 900\nLSGUEST SEQ 2 111" +
		"LSGUEST BOOT 22222222-bbbb\nLSGUEST LAST 1\nLSGUEST SEQ 2 22222222 800\n"
	c := ParseConsole([]byte(log))
	if len(c.Boots) != 2 {
		t.Fatalf("%d boots, want 2: %+v", len(c.Boots), c.Boots)
	}
	if b := c.Boots[0]; b.Seq != 1 || b.Last != 0 || !b.HasLast {
		t.Errorf("first boot %+v: want SEQ 1 (the cut line is no record), LAST 0", b)
	}
	if b := c.Current(); b.Short() != "22222222" || !b.HasLast || b.Last != 1 || b.Seq != 2 {
		t.Errorf("second boot %+v: want 22222222 with LAST 1, SEQ 2", b)
	}
}

// A kernel message may cut a guest's line after a few characters of its
// boot id: that line is no record and starts no boot.
func TestParseConsoleIdCutByTheKernel(t *testing.T) {
	log := "LSGUEST BOOT e3b3dc38-1111\nLSGUEST LAST 0\nLSGUEST SEQ 64 e3b3dc38 900\nLSGUEST SEQ 65 e\n" +
		"[   35.6] clocksource: something\n3b3dc38 800\nLSGUEST TICK 7 e3b3dc3 7.0\nLSGUEST SEQ 66 e3b3dc38 700\n"
	c := ParseConsole([]byte(log))
	if len(c.Boots) != 1 || c.Current().Short() != "e3b3dc38" || c.Current().Seq != 66 || c.Current().Ticks != 0 {
		t.Errorf("boots %d, current %+v: want the one boot e3b3dc38 at SEQ 66, no TICK", len(c.Boots), c.Current())
	}
}
