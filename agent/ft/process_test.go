package ft

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary play QEMU for Process's tests: run with
// FT_FAKE_QEMU set, it is a fake qemu-system-x86_64 (see fakeQEMU).
func TestMain(m *testing.M) {
	if mode := os.Getenv("FT_FAKE_QEMU"); mode != "" {
		os.Exit(fakeQEMU(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeQEMU logs its arguments, writes a line to the serial console file
// and serves a QMP monitor on the socket chardev "qmp" that answers every
// command with {} and exits after quit. Mode "fail" exits at once with a
// QEMU-like error instead.
func fakeQEMU(mode string, args []string) int {
	fmt.Printf("fake qemu: %s\n", strings.Join(args, " "))
	if mode == "fail" {
		fmt.Fprintln(os.Stderr, "qemu-system-x86_64: -netdev tap,ifname=tp: could not open /dev/net/tun: No such device")
		return 1
	}
	var sock string
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "-chardev" {
			continue
		}
		opts := strings.Split(args[i+1], ",")
		switch {
		case opts[0] == "socket" && slices.Contains(opts, "id=qmp"):
			sock = optionOf(opts, "path")
		case opts[0] == "file" && slices.Contains(opts, "id=console"):
			os.WriteFile(optionOf(opts, "path"), []byte("LSGUEST BOOT fake\n"), 0o644)
		}
	}
	time.Sleep(100 * time.Millisecond) // QEMU takes a while to create its socket
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		fmt.Fprintln(c, `{"QMP":{"version":{"qemu":{"major":11,"minor":1,"micro":3},"package":"fake"},"capabilities":["oob"]}}`)
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var req struct {
				Execute string          `json:"execute"`
				ExecOOB string          `json:"exec-oob"`
				ID      json.RawMessage `json:"id"`
			}
			if json.Unmarshal(sc.Bytes(), &req) != nil {
				continue
			}
			fmt.Fprintf(c, "{\"return\":{},\"id\":%s}\n", req.ID)
			if req.Execute == "quit" {
				return 0
			}
		}
		c.Close()
	}
}

func optionOf(opts []string, key string) string {
	for _, o := range opts {
		if k, v, ok := strings.Cut(o, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// fakeCommand runs the test binary as QEMU, in the given mode.
func fakeCommand(mode string) CommandFunc {
	return func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, os.Args[0], args...)
		cmd.Env = append(os.Environ(), "FT_FAKE_QEMU="+mode)
		return cmd
	}
}

func processSpec(t *testing.T) Spec {
	s := testSpec()
	dir, err := os.MkdirTemp("", "ft") // short: unix socket paths
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.Primary.WorkDir = filepath.Join(dir, "p")
	s.Secondary.WorkDir = filepath.Join(dir, "s")
	return s
}

func TestProcessStartStop(t *testing.T) {
	s := processSpec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A stale socket from an earlier QEMU must not be dialled.
	os.MkdirAll(s.Primary.WorkDir, 0o755)
	os.WriteFile(s.Primary.QMPSocket(), nil, 0o644)
	p, err := Start(ctx, fakeCommand("run"), s, PrimaryRole)
	if err != nil {
		t.Fatal(err)
	}
	if p.Role != PrimaryRole || p.Side != s.Primary || p.Pid() <= 0 {
		t.Errorf("process %+v", p)
	}
	if v := p.QMP().Version(); v.Major != 11 || !p.QMP().OOB() {
		t.Errorf("monitor: version %v, oob %v", v, p.QMP().OOB())
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("Stop returned before QEMU exited")
	}
	if err := p.ExitErr(); err != nil {
		t.Errorf("exit: %v, want a clean exit after quit", err)
	}
	log, _ := os.ReadFile(s.Primary.QEMULog())
	want, _ := PrimaryArgs(s)
	if !strings.Contains(string(log), "starting the primary") || !strings.Contains(string(log), "fake qemu: "+strings.Join(want, " ")+"\n") {
		t.Errorf("QEMU log does not show PrimaryArgs:\n%s", log)
	}
	console, _ := os.ReadFile(s.Primary.ConsoleLog())
	if string(console) != "LSGUEST BOOT fake\n" {
		t.Errorf("console log %q", console)
	}
}

func TestProcessKill(t *testing.T) {
	s := processSpec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := Start(ctx, fakeCommand("run"), s, SecondaryRole)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ExitErr(); err != nil {
		t.Errorf("ExitErr while running: %v", err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-ctx.Done():
		t.Fatal("not exited after SIGKILL")
	}
	var ee *exec.ExitError
	if err := p.ExitErr(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("ExitErr %v, want killed by SIGKILL", err)
	}
	if err := p.Kill(); err != nil {
		t.Errorf("a second Kill: %v", err)
	}
	select {
	case <-p.QMP().Done():
	case <-ctx.Done():
		t.Error("the monitor connection outlived QEMU")
	}
	if err := p.Stop(ctx); err != nil {
		t.Errorf("Stop after exit: %v", err)
	}
	log, _ := os.ReadFile(s.Secondary.QEMULog())
	if !strings.Contains(string(log), "-incoming defer") {
		t.Errorf("the secondary was not started with SecondaryArgs:\n%s", log)
	}
}

func TestProcessStartFails(t *testing.T) {
	s := processSpec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Start(ctx, fakeCommand("fail"), s, PrimaryRole)
	if err == nil || !strings.Contains(err.Error(), "could not open /dev/net/tun") || !strings.Contains(err.Error(), "ft: start primary") {
		t.Fatalf("Start: %v, want QEMU's own message", err)
	}
	if _, err := Start(ctx, fakeCommand("run"), s, "tertiary"); err == nil {
		t.Error("Start accepted an unknown role")
	}
	bad := s
	bad.MAC = "x"
	if _, err := Start(ctx, fakeCommand("run"), bad, PrimaryRole); err == nil {
		t.Error("Start accepted an invalid spec")
	}
}

func TestProcessStartTimesOut(t *testing.T) {
	s := processSpec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// sleep never creates a monitor socket.
	sleeper := func(ctx context.Context, args ...string) *exec.Cmd { return exec.CommandContext(ctx, "sleep", "60") }
	start := time.Now()
	_, err := Start(ctx, sleeper, s, PrimaryRole)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Start gave up after %v", d)
	}
}

func TestEndLineEndsACutConsoleLine(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ in, want string }{
		{"LSGUEST SEQ 1 ab\nLSGUEST SEQ 2 a", "LSGUEST SEQ 1 ab\nLSGUEST SEQ 2 a\n"},
		{"LSGUEST SEQ 1 ab\n", "LSGUEST SEQ 1 ab\n"},
		{"", ""},
	} {
		p := filepath.Join(dir, "console.log")
		if err := os.WriteFile(p, []byte(c.in), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := endLine(p); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != c.want {
			t.Errorf("%q: became %q, want %q", c.in, b, c.want)
		}
	}
	if err := endLine(filepath.Join(dir, "none.log")); err != nil {
		t.Errorf("no log yet: %v", err)
	}
}
