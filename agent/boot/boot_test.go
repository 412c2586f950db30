package boot

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/installer/engine/abboot"
)

func TestParseCmdline(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Cmdline
	}{
		{"BOOT_IMAGE=/vmlinuz root=/dev/sda3 lockstep.slot=a lockstep.version=1.2.3 quiet\n", Cmdline{abboot.A, "1.2.3"}},
		{"lockstep.version=0.1-rc1 lockstep.slot=b", Cmdline{abboot.B, "0.1-rc1"}},
		{"console=ttyS0 lockstep.slot=a lockstep.slot=b", Cmdline{Slot: abboot.B}},
		{"console=ttyS0 lockstep.slotx=a lockstep.slot", Cmdline{}},
		{"", Cmdline{}},
	} {
		if got := ParseCmdline(tc.in); got != tc.want {
			t.Errorf("ParseCmdline(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestReadCmdline(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(p, []byte("ro lockstep.slot=b lockstep.version=2.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCmdline(p)
	if err != nil || got != (Cmdline{abboot.B, "2.0"}) {
		t.Fatalf("ReadCmdline = %+v, %v", got, err)
	}
	if _, err := ReadCmdline(p + ".missing"); err == nil {
		t.Fatal("ReadCmdline of a missing file: no error")
	}
}

// installed is the state after the first install of version 1.0 to slot A.
func installed(t *testing.T) abboot.State {
	t.Helper()
	st, err := abboot.New().BeginInstall(abboot.A)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = st.FinishInstall(abboot.A, "1.0", false); err != nil {
		t.Fatal(err)
	}
	return st
}

// upgraded is installed plus version 1.1 written to slot B for a trial boot,
// after GRUB took the trial (tries used up): B is running now.
func upgraded(t *testing.T) abboot.State {
	t.Helper()
	st, err := installed(t).BeginInstall(abboot.B)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = st.FinishInstall(abboot.B, "1.1", true); err != nil {
		t.Fatal(err)
	}
	slot, st, err := abboot.BootChoice(st)
	if err != nil || slot != abboot.B {
		t.Fatalf("BootChoice = %s, %v", slot, err)
	}
	return st
}

// writeEnv writes st as a grubenv file with an extra variable of GRUB's own,
// which a commit must keep.
func writeEnv(t *testing.T, st abboot.State) string {
	t.Helper()
	env := st.Env()
	env["saved_entry"] = "lockstep-a"
	b, err := abboot.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "grubenv")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommitAlreadyActiveDoesNotWrite(t *testing.T) {
	p := writeEnv(t, installed(t))
	// An old mtime shows any write, even of identical bytes (permissions
	// would not: the tests may run as root).
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	changed, err := Commit(p, abboot.A)
	if err != nil || changed {
		t.Fatalf("Commit = %v, %v; want no change", changed, err)
	}
	if fi, err := os.Stat(p); err != nil || !fi.ModTime().Equal(old) {
		t.Fatalf("block was written (%v)", err)
	}
}

func TestCommitTrialSlot(t *testing.T) {
	p := writeEnv(t, upgraded(t))
	changed, err := Commit(p, abboot.B)
	if err != nil || !changed {
		t.Fatalf("Commit = %v, %v; want a write", changed, err)
	}
	st, err := abboot.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Active != abboot.B || st.Next != "" || st.Tries != 0 || st.A.State != abboot.Good || st.B.State != abboot.Good {
		t.Fatalf("state after commit: %s", st)
	}
	b, _ := os.ReadFile(p)
	env, err := abboot.Decode(b)
	if err != nil || env["saved_entry"] != "lockstep-a" {
		t.Fatalf("GRUB's own variable lost: %v, %v", env, err)
	}
	// A second boot of the committed slot finds nothing to do.
	if changed, err := Commit(p, abboot.B); err != nil || changed {
		t.Fatalf("second Commit = %v, %v", changed, err)
	}
}

func TestCommitAfterFallbackMarksTrialBad(t *testing.T) {
	// GRUB took B's trial but B never came up; the machine is back on A.
	p := writeEnv(t, upgraded(t))
	if changed, err := Commit(p, abboot.A); err != nil || !changed {
		t.Fatalf("Commit = %v, %v", changed, err)
	}
	st, _ := abboot.LoadFile(p)
	if st.Active != abboot.A || st.Next != "" || st.B.State != abboot.Bad {
		t.Fatalf("state after commit: %s", st)
	}
}

func TestCommitErrors(t *testing.T) {
	p := writeEnv(t, installed(t))
	if _, err := Commit(p, ""); !errors.Is(err, ErrNoSlot) {
		t.Errorf("no slot: %v, want ErrNoSlot", err)
	}
	if _, err := Commit(p, abboot.B); err == nil { // B is empty: not bootable, not ours
		t.Error("commit of an empty slot: no error")
	}
	if _, err := Commit(filepath.Join(t.TempDir(), "missing"), abboot.A); err == nil {
		t.Error("missing block: no error")
	}
}
