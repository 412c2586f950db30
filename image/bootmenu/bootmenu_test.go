package bootmenu

import (
	"strings"
	"testing"
)

func TestBothFirmwaresOfferTheSameEntries(t *testing.T) {
	m := Default("Lockstep 1.0", "LOCKSTEP", "quiet", 5, "/lockstep/media-abc")
	iso, grub := m.Isolinux(), m.Grub()
	for _, e := range m.Entries {
		if !strings.Contains(iso, "APPEND "+e.Cmdline+"\n") {
			t.Errorf("isolinux.cfg lacks entry %q with cmdline %q:\n%s", e.ID, e.Cmdline, iso)
		}
		if !strings.Contains(grub, "linux "+Kernel+" "+e.Cmdline+"\n") {
			t.Errorf("grub.cfg lacks entry %q with cmdline %q:\n%s", e.ID, e.Cmdline, grub)
		}
	}
	if !strings.Contains(iso, "DEFAULT install\n") || !strings.Contains(iso, "TIMEOUT 50\n") {
		t.Errorf("isolinux.cfg default/timeout wrong:\n%s", iso)
	}
	if !strings.Contains(grub, "set timeout=5\n") || !strings.Contains(grub, "--file /lockstep/media-abc\n") {
		t.Errorf("grub.cfg timeout/search wrong:\n%s", grub)
	}
}

func TestDefaultEntryUsesBothConsolesSerialLast(t *testing.T) {
	m := Default("t", "LOCKSTEP", "", 5, "/x")
	c := m.Entries[0].Cmdline
	if !strings.HasSuffix(c, "console=tty0 console="+Serial) {
		t.Fatalf("default entry must end with both consoles, serial last (so it is /dev/console): %q", c)
	}
	if !strings.Contains(m.Entries[2].Cmdline, "lockstep.mode=rescue") {
		t.Fatalf("rescue entry lacks lockstep.mode=rescue: %q", m.Entries[2].Cmdline)
	}
	if strings.Contains(m.Entries[1].Cmdline, "tty0") {
		t.Fatalf("serial-only entry names tty0: %q", m.Entries[1].Cmdline)
	}
}
