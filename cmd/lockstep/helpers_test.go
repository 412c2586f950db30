package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

// newScriptHarness is a harness whose CLI finds the password and the CA
// file in its environment, as a script's would.
func newScriptHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	h.env["LOCKSTEP_PASSWORD"] = apitest.Password
	h.env["LOCKSTEP_CA_FILE"] = h.caFile
	return h
}

// goldenCase is a command whose stdout is pinned in testdata/<name>.golden.
type goldenCase struct {
	name string
	args []string
}

// wantGolden runs the cases in order, each as a subtest that must exit 0 and
// print its golden file.
func (h *harness) wantGolden(t *testing.T, cases []goldenCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { golden.RequireEqual(t, []byte(h.ok(t, c.args...))) })
	}
}

// errCase is a command that must fail with an exit code and a message.
type errCase struct {
	args string // split on white space
	code int
	msg  string // all of stderr if it starts with "lockstep:"; else a part of it
}

// wantErrors runs the cases in order and checks each one's exit code and
// stderr.
func (h *harness) wantErrors(t *testing.T, cases []errCase) {
	t.Helper()
	for _, c := range cases {
		_, errs, code := h.run(strings.Fields(c.args)...)
		ok := strings.Contains(errs, c.msg)
		if strings.HasPrefix(c.msg, "lockstep:") {
			ok = errs == c.msg
		}
		if code != c.code || !ok {
			t.Errorf("lockstep %s: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.msg)
		}
	}
}

// wantCalls checks the calls the fake backend has had, as fmt.Sprint
// prints them.
func (h *harness) wantCalls(t *testing.T, want string) {
	t.Helper()
	if got := fmt.Sprint(h.backend.CallLog()); got != want {
		t.Errorf("backend calls %s\nwant          %s", got, want)
	}
}

// wantEmptyList empties a list in the fake backend with empty and checks
// that the command args prints want.
func (h *harness) wantEmptyList(t *testing.T, empty func(*apitest.Backend), want string, args ...string) {
	t.Helper()
	h.backend.Edit(empty)
	if out := h.ok(t, args...); out != want {
		t.Errorf("empty list: %q", out)
	}
}
