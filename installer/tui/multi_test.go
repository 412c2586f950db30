package tui

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a goroutine-safe output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMultiConsole: two consoles; a key on the second makes it the active
// one; the first shows the same screen read-only and ignores its keys.
func TestMultiConsole(t *testing.T) {
	in0r, in0w := io.Pipe()
	in1r, in1w := io.Pipe()
	defer in0w.Close()
	defer in1w.Close()
	out0, out1 := &syncBuffer{}, &syncBuffer{}
	consoles := []Console{{Name: "tty0", In: in0r, Out: out0}, {Name: "ttyS0", In: in1r, Out: out1}}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sh := newShared(ctx, func() { cancel(errConsolesGone) }, testConfig(&fakeEngine{}, passChecks), consoles)
	type ret struct {
		res Result
		err error
	}
	done := make(chan ret, 1)
	go func() {
		res, err := sh.run()
		done <- ret{res, err}
	}()

	// Before any key both consoles show the menu, without the notice.
	eventually(t, "both consoles drawn", func() bool {
		return strings.Contains(out0.String(), "Create new system") && strings.Contains(out1.String(), "Create new system")
	})
	if v := sh.models[0].View(); strings.Contains(v, "In use on") {
		t.Fatalf("a notice before any key:\n%s", v)
	}

	if _, err := io.WriteString(in1w, "\x1b[B"); err != nil { // Down on ttyS0
		t.Fatal(err)
	}
	eventually(t, "ttyS0 active", func() bool { return sh.activeConsole() == 1 })
	eventually(t, "the notice on tty0", func() bool {
		return strings.Contains(out0.String(), "In use on ttyS0 - this console shows progress only")
	})
	v0 := sh.models[0].View()
	checkSize(t, v0)
	compareGolden(t, "multi-01-readonly", v0)
	if v1 := sh.models[1].View(); strings.Contains(v1, "In use on") || !strings.Contains(v1, "> 2  Replace PM") {
		t.Fatalf("the active console:\n%s", v1)
	}

	// Keys on tty0 change nothing: "6" then Enter would power off.
	if _, err := io.WriteString(in0w, "6\r"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if v := sh.models[1].View(); !strings.Contains(v, "> 2  Replace PM") {
		t.Fatalf("a read-only console's keys changed the state:\n%s", v)
	}

	// Reboot from ttyS0: both programs end, Run returns the result.
	if _, err := io.WriteString(in1w, "5\r"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.res.Kind != Reboot {
			t.Fatalf("Run = %v, %v; want reboot", r.res.Kind, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

// TestRunCancel: cancelling the context ends Run with its error.
func TestRunCancel(t *testing.T) {
	inr, inw := io.Pipe()
	defer inw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, testConfig(&fakeEngine{}, passChecks), []Console{{Name: "ttyS0", In: inr, Out: &syncBuffer{}}})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

// TestMultiConsoleUnattended: the engine runs once and every console shows
// its progress; Enter on either ends the install.
func TestMultiConsoleUnattended(t *testing.T) {
	in0r, in0w := io.Pipe()
	in1r, in1w := io.Pipe()
	defer in0w.Close()
	defer in1w.Close()
	out0, out1 := &syncBuffer{}, &syncBuffer{}
	eng := &fakeEngine{events: okEvents()}
	cfg := testConfig(eng, passChecks)
	ans := validAnswers()
	cfg.Unattended = &ans
	done := make(chan Result, 1)
	go func() {
		res, err := Run(context.Background(), cfg, []Console{{Name: "tty0", In: in0r, Out: out0}, {Name: "ttyS0", In: in1r, Out: out1}})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	eventually(t, "progress on both consoles", func() bool {
		return strings.Contains(out0.String(), "Installation complete.") && strings.Contains(out1.String(), "Installation complete.")
	})
	if _, err := io.WriteString(in0w, "\r"); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-done:
		if res.Kind != Install || len(eng.runs()) != 1 {
			t.Fatalf("result %v, engine runs %d; want install, 1", res.Kind, len(eng.runs()))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}
