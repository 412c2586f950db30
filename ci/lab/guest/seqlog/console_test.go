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
