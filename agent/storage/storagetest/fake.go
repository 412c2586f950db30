// Package storagetest is a scripted storage.Runner for tests.
package storagetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Result is one scripted answer.
type Result struct {
	Stdout, Stderr string
	Err            error
}

// Fake records every command it is asked to run and answers from a script.
// A command is its program and arguments joined by single spaces.
type Fake struct {
	mu      sync.Mutex
	script  map[string][]Result
	calls   []string
	answers map[string]int
}

// On scripts the answers to cmd: successive runs get successive results and
// the last one repeats. A command that was not scripted fails.
func (f *Fake) On(cmd string, results ...Result) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.script == nil {
		f.script = map[string][]Result{}
		f.answers = map[string]int{}
	}
	f.script[cmd] = results
	return f
}

// Run implements storage.Runner.
func (f *Fake) Run(_ context.Context, name string, args ...string) ([]byte, []byte, error) {
	cmd := strings.Join(append([]string{name}, args...), " ")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, cmd)
	rs := f.script[cmd]
	if len(rs) == 0 {
		return nil, nil, fmt.Errorf("storagetest: unscripted command %q", cmd)
	}
	i := min(f.answers[cmd], len(rs)-1)
	f.answers[cmd]++
	r := rs[i]
	return []byte(r.Stdout), []byte(r.Stderr), r.Err
}

// Calls are the commands run so far, in order.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}
