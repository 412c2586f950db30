package console

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/charmbracelet/x/exp/golden"
)

func ready() Status {
	return Status{
		Hostname:   "node0",
		Action:     "create",
		SystemName: "lockstep-lab",
		SystemIP:   "192.0.2.100",
		NodeAddrs:  []string{"192.0.2.10/24"},
		AddrMode:   "static",
		Ibiz0:      "up",
		Priv0:      "up, no carrier",
		ALinks:     []Link{{"alink0", "up"}},
		State:      "primary, node1 connected",
		Lab:        true,
		Slot:       "a",
		Version:    "0.1.0",
	}
}

// Run with -update to rewrite testdata/*.golden.
func TestRenderReady(t *testing.T) { golden.RequireEqual(t, []byte(checkWidth(t, Render(ready())))) }

func TestRenderErrors(t *testing.T) {
	s := Status{
		State: "starting",
		Slot:  "b",
		Errors: []string{
			"open /var/lib/lockstep/node.json: no such file or directory",
			"ibiz0: no network link has MAC 52:54:00:00:00:02 (the NIC chosen at install); links: enp1s0 52:54:00:00:00:01, enp2s0 52:54:00:00:00:03, enp3s0 52:54:00:00:00:04",
			"a-word-longer-than-any-line-" + strings.Repeat("x", 90),
		},
	}
	golden.RequireEqual(t, []byte(checkWidth(t, Render(s))))
}

func checkWidth(t *testing.T, s string) string {
	t.Helper()
	if !strings.HasSuffix(s, "\n") {
		t.Error("block does not end in a newline")
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if len(l) > Width {
			t.Errorf("line of %d columns: %q", len(l), l)
		}
	}
	return s
}

func TestShow(t *testing.T) {
	var tty, serial bytes.Buffer
	c := &Console{TTY: &tty, Serial: &serial}
	s := ready()
	for range 2 {
		if err := c.Show(s); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(tty.String(), Clear); got != 2 {
		t.Errorf("tty redrawn %d times, want 2", got)
	}
	if strings.Contains(serial.String(), "\033") || strings.Count(serial.String(), "Lockstep node status") != 1 {
		t.Errorf("serial got %q; want the block once, without escapes", serial.String())
	}
	s.Priv0 = "up"
	_ = c.Show(s)
	if strings.Count(serial.String(), "Lockstep node status") != 2 {
		t.Error("a change was not written to the serial console")
	}
	if err := c.Println("LOCKSTEP NODE READY"); err != nil || !strings.HasSuffix(serial.String(), "\nLOCKSTEP NODE READY\n") {
		t.Errorf("Println: %v, %q", err, serial.String())
	}
	if err := (&Console{}).Show(s); err != nil { // no screens at all is fine
		t.Fatal(err)
	}
}

func TestTerminal(t *testing.T) {
	// A regular file stands in for the device; it cannot time out, which
	// Write must tolerate.
	p := filepath.Join(t.TempDir(), "tty")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	term, err := OpenTerminal(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := term.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	term.Close()
	if b, _ := os.ReadFile(p); string(b) != "hello\n" {
		t.Fatalf("wrote %q", b)
	}
	if _, err := OpenTerminal(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("opened a missing device")
	}
}

// TestTerminalReopensAfterHangup: a getty on the same serial line calls
// vhangup(), after which the agent's descriptor only returns EIO; the next
// write must reopen the device. A pty's slave stands in for ttyS0.
func TestTerminalReopensAfterHangup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("TIOCVHANGUP needs CAP_SYS_TTY_CONFIG (make test runs as root)")
	}
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave := fmt.Sprintf("/dev/pts/%d", n)
	term, err := OpenTerminal(slave)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	// Keep the line open the way a getty holds it, then hang it up.
	getty, err := os.OpenFile(slave, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer getty.Close()
	if err := unix.IoctlSetInt(int(getty.Fd()), unix.TIOCVHANGUP, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := term.f.Write([]byte("x")); err == nil {
		t.Fatal("the hung-up descriptor still writes: the test does not hang up")
	}
	if _, err := term.Write([]byte("after hangup\n")); err != nil {
		t.Fatalf("write after hangup: %v", err)
	}
	buf := make([]byte, 64)
	master.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := master.Read(buf)
	if !strings.Contains(string(buf[:got]), "after hangup") {
		t.Fatalf("the line got %q", buf[:got])
	}
}

// TestTerminalReopensAfterError: any failed write (here a descriptor
// closed behind the terminal's back) reopens the device.
func TestTerminalReopensAfterError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tty")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	term, err := OpenTerminal(p)
	if err != nil {
		t.Fatal(err)
	}
	term.f.Close()
	if _, err := term.Write([]byte("again\n")); err != nil {
		t.Fatal(err)
	}
	term.Close()
	if b, _ := os.ReadFile(p); string(b) != "again\n" {
		t.Fatalf("wrote %q", b)
	}
}
