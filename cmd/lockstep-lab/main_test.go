package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, 2, "usage: lockstep-lab"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"power-off"}, 2, "name one node (node0, node1)"},
		{[]string{"power-on", "node0", "node1"}, 2, "name one node"},
		{[]string{"cut"}, 1, "name one link"},
		{[]string{"down", "now"}, 1, "takes no arguments"},
		{[]string{"ping", "node7"}, 1, `"node7" is neither a node`},
		{[]string{"bench-ha", "-runs", "many"}, 2, `invalid value "many"`},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != tc.code || !strings.Contains(out.String()+errb.String(), tc.out) {
			t.Errorf("%q: exit %d, want %d; output %q, want %q", tc.args, code, tc.code, out.String()+errb.String(), tc.out)
		}
	}
	var out bytes.Buffer
	if code := run([]string{"help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "replace-disk") || !strings.Contains(out.String(), "bench-ha") {
		t.Errorf("help: %d %q", code, out.String())
	}
}

func TestStatusWithoutLab(t *testing.T) {
	var out, errb bytes.Buffer
	dir := filepath.Join(t.TempDir(), "lab")
	if code := run([]string{"-state", dir, "status"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "no lab is up") {
		t.Errorf("status: %d %q %q", code, out.String(), errb.String())
	}
}

func TestPingTarget(t *testing.T) {
	for in, want := range map[string]string{"node0": "192.0.2.11", "node1": "192.0.2.12", "system": "192.0.2.10", "192.0.2.99": "192.0.2.99"} {
		if a, err := pingTarget(in); err != nil || a.String() != want {
			t.Errorf("%s: %v %v, want %s", in, a, err, want)
		}
	}
}

func TestRepoRoot(t *testing.T) {
	wd, _ := os.Getwd()
	if got, want := repoRoot(), filepath.Dir(filepath.Dir(wd)); got != want {
		t.Errorf("repoRoot() = %s, want %s", got, want)
	}
}
