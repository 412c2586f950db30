package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/witness"
)

const testSecret = "test-secret-0123456789"

// syncBuffer is a log sink shared by the daemon's goroutine and the test.
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

func writeSecret(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// start runs the daemon on 127.0.0.1 and returns its address and a stop
// function that waits for it to exit.
func start(t *testing.T, args ...string) (string, *syncBuffer, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	addrs := make(chan net.Addr, 1)
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), out, func(a net.Addr) { addrs <- a })
	}()
	select {
	case a := <-addrs:
		return a.String(), out, func() int { cancel(); return <-code }
	case c := <-code:
		cancel()
		t.Fatalf("exited with %d:\n%s", c, out)
	case <-time.After(5 * time.Second):
		t.Fatalf("did not start:\n%s", out)
	}
	return "", nil, nil
}

func vote(t *testing.T, addr string, node uint8, term uint64) witness.Reply {
	t.Helper()
	c := &witness.Client{Addr: addr, Secret: []byte(testSecret), Timeout: 2 * time.Second}
	rep, err := c.Do(context.Background(), witness.Request{Kind: witness.KindVote, System: "sys-1", Node: node, Term: term, Lease: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestDaemonGrantsRefusesAndRemembers(t *testing.T) {
	secret := writeSecret(t, testSecret+"\n")
	state := filepath.Join(t.TempDir(), "state.json")
	addr, out, stop := start(t, "-secret-file", secret, "-state", state)
	// No state file yet: the first start is quarantined. It creates the
	// file, and from then on every grant is recorded in it, so the next
	// start trusts it and grants at once.
	if rep := vote(t, addr, 0, 1); rep.Reason != witness.ReasonQuarantine {
		t.Fatalf("first start without state: %s", rep)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	addr, out, stop = start(t, "-secret-file", secret, "-state", state)
	if rep := vote(t, addr, 0, 1); rep.Result != witness.Granted {
		t.Fatalf("vote: %s\n%s", rep, out)
	}
	if rep := vote(t, addr, 1, 2); rep.Reason != witness.ReasonHeld {
		t.Fatalf("second node: %s", rep)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"granted system sys-1 node0 term 1", "refused system sys-1 node1 term 2: held, held by node0", "stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	// Restarted from its state, it still refuses node1 within the lease.
	addr, out, stop = start(t, "-secret-file", secret, "-state", state)
	defer stop()
	if !strings.Contains(out.String(), "state loaded") {
		t.Errorf("log: %s", out)
	}
	if rep := vote(t, addr, 1, 2); rep.Reason != witness.ReasonHeld {
		t.Fatalf("after restart: %s", rep)
	}
}

func TestDaemonFlagErrors(t *testing.T) {
	short := writeSecret(t, "short\n")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help", []string{"-h"}, 0, "usage: lockstep-witness -secret-file FILE"},
		{"no secret", nil, 2, "-secret-file is required"},
		{"bad lease", []string{"-secret-file", short, "-max-lease", "0s"}, 2, "-max-lease 0s must be positive"},
		{"stray argument", []string{"-secret-file", short, "extra"}, 2, `unexpected arguments ["extra"]`},
		{"short secret", []string{"-secret-file", short, "-listen", "127.0.0.1:0"}, 1, "holds 5 bytes, need at least 16"},
		{"missing secret", []string{"-secret-file", "/nonexistent/secret", "-listen", "127.0.0.1:0"}, 1, "no such file"},
		{"unknown flag", []string{"-bogus"}, 2, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(context.Background(), tc.args, &out, nil); code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out.String())
			}
		})
	}
}
