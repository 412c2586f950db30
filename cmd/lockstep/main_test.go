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

	"github.com/charmbracelet/x/exp/golden"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is an api.Server with the fake backend, over TLS on 127.0.0.1,
// and an environment (temp HOME, no terminal) for the CLI.
type harness struct {
	t       *testing.T
	pki     *apitest.PKI
	backend *apitest.Backend
	clock   *clock
	addr    string
	caFile  string
	env     map[string]string
	// prompt answers the password prompt; nil means no terminal.
	prompt  func(string) (string, error)
	prompts int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, pki: apitest.NewPKI(t), backend: apitest.NewBackend(), clock: &clock{t: apitest.T0}}
	s, err := api.New(api.Options{Backend: h.backend, Verify: h.backend.VerifyUser, Role: h.backend.Role, Audit: h.backend.Record,
		TLS: h.pki.ServerTLS(), Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	h.addr = ln.Addr().String()
	h.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(h.caFile, h.pki.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	h.env = map[string]string{"HOME": t.TempDir(), "LOCKSTEP_SERVER": h.addr}
	return h
}

// run runs the CLI in-process and returns stdout, stderr and the status.
func (h *harness) run(args ...string) (string, string, int) {
	h.t.Helper()
	var out, errb bytes.Buffer
	e := env{stdout: &out, stderr: &errb, getenv: func(k string) string { return h.env[k] }, now: h.clock.Now, loc: time.UTC}
	if h.prompt != nil {
		e.readPassword = func(p string) (string, error) { h.prompts++; return h.prompt(p) }
	}
	code := run(context.Background(), args, e)
	return out.String(), errb.String(), code
}

// ok runs the CLI and fails the test unless it exits 0.
func (h *harness) ok(t testing.TB, args ...string) string {
	t.Helper()
	out, errs, code := h.run(args...)
	if code != 0 {
		t.Fatalf("lockstep %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// TestOutput pins the tables and the --json output. Run with -update to
// rewrite testdata/.
func TestOutput(t *testing.T) {
	h := newHarness(t)
	h.env["LOCKSTEP_PASSWORD"] = apitest.Password
	for name, args := range map[string][]string{
		"system_info": {"system", "info"},
		"node_list":   {"node", "list"},
		"node_info":   {"node", "info", "beta"},
		"node_workon": {"node", "workon", "1"},
		"alert_list":  {"alert", "list"},
		"alert_since": {"alert", "list", "--since", "1h", "--limit", "1"},
		"version":     {"version"},
	} {
		t.Run(name, func(t *testing.T) {
			golden.RequireEqual(t, []byte(h.ok(t, append([]string{"--ca-file", h.caFile}, args...)...)))
		})
		t.Run(name+"_json", func(t *testing.T) {
			// Flags after the command and its argument work too.
			golden.RequireEqual(t, []byte(h.ok(t, append(args, "--json", "--ca-file", h.caFile)...)))
		})
	}
	t.Run("no_alerts", func(t *testing.T) {
		golden.RequireEqual(t, []byte(h.ok(t, "--ca-file", h.caFile, "alert", "list", "--since", "2026-03-02")))
	})
	t.Run("help", func(t *testing.T) { golden.RequireEqual(t, []byte(h.ok(t, "help"))) })
	t.Run("alert_list_help", func(t *testing.T) { golden.RequireEqual(t, []byte(h.ok(t, "alert", "list", "-h"))) })
	if got := h.backend.CallLog(); len(got) != 2 || got[0] != "workon node1" {
		t.Errorf("backend calls %q", got)
	}
}

func TestExitCodes(t *testing.T) {
	h := newScriptHarness(t)
	h.backend.SetActionErr("shutdown", api.NotSupported("node shutdown"))
	h.backend.SetActionErr("workoff", api.Conflict("node0 is not in maintenance"))
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "no command given"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"node", "frob"}, 2, `node: unknown command "frob"`},
		{[]string{"node", "info"}, 2, "usage: lockstep node info [flags] <node>"},
		{[]string{"node", "info", "a", "b"}, 2, "usage: lockstep node info"},
		{[]string{"node", "list", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"alert", "list", "--limit", "0"}, 2, "--limit 0: use 1 to 1000"},
		{[]string{"alert", "list", "--since", "last tuesday"}, 2, `--since "last tuesday"`},
		{[]string{"--server", "a:b:c", "node", "list"}, 2, "want host[:port]"},
		{[]string{"--insecure", "--ca-file", "x", "node", "list"}, 2, "only one of --ca-file, --fingerprint and --insecure"},
		{[]string{"--fingerprint", "abc", "node", "list"}, 2, "64 hex digits"},
		{[]string{"--insecure", "node", "list"}, 0, "not checked"}, // a flag overrides the environment
		{[]string{"node", "info", "gamma"}, 1, `no node "gamma"; the nodes are node0 (alpha), node1 (beta)`},
		{[]string{"node", "shutdown", "node0"}, 1, "lockstep: not supported yet: node shutdown\n"},
		{[]string{"node", "workoff", "alpha"}, 1, "lockstep: node0 is not in maintenance\n"},
		{[]string{"--user", "root", "node", "list"}, 1, "wrong user or password"},
		{[]string{"help", "node", "reboot"}, 0, ""},
		{[]string{"node", "reboot", "-h"}, 0, ""},
		{[]string{"node", "reboot", "0"}, 0, ""},
	} {
		_, errs, code := h.run(c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("lockstep %q: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.msg)
		}
	}
	delete(h.env, "LOCKSTEP_CA_FILE")
	h.env["LOCKSTEP_FINGERPRINT"] = h.pki.Fingerprint()
	h.ok(t, "node", "list")
	delete(h.env, "LOCKSTEP_FINGERPRINT")
	if _, errs, code := h.run("node", "list"); code != 2 || !strings.Contains(errs, "cannot verify the server") {
		t.Errorf("no CA: exit %d, %q", code, errs)
	}
	delete(h.env, "LOCKSTEP_PASSWORD")
	if _, errs, code := h.run("--ca-file", h.caFile, "node", "list"); code != 1 || !strings.Contains(errs, "no password") {
		t.Errorf("no password, no terminal: exit %d, %q", code, errs)
	}
	delete(h.env, "LOCKSTEP_SERVER")
	if _, errs, code := h.run("--ca-file", h.caFile, "node", "list"); code != 2 || !strings.Contains(errs, "no server") {
		t.Errorf("no server: exit %d, %q", code, errs)
	}
}

func TestServerVerification(t *testing.T) {
	h := newHarness(t)
	h.env["LOCKSTEP_PASSWORD"] = apitest.Password
	fp := h.pki.Fingerprint()
	colons := strings.ToUpper(fp[:2])
	for i := 2; i < len(fp); i += 2 {
		colons += ":" + strings.ToUpper(fp[i:i+2])
	}
	h.ok(t, "--fingerprint", fp, "node", "list")
	h.ok(t, "--fingerprint", colons, "node", "list")

	other := apitest.NewPKI(t)
	_, errs, code := h.run("--fingerprint", other.Fingerprint(), "node", "list")
	if code != 1 || !strings.Contains(errs, "do not match fingerprint "+other.Fingerprint()) {
		t.Errorf("wrong fingerprint: exit %d, %q", code, errs)
	}
	otherCA := filepath.Join(t.TempDir(), "other.pem")
	if err := os.WriteFile(otherCA, other.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code = h.run("--ca-file", otherCA, "node", "list")
	if code != 1 || !strings.Contains(errs, "not from the system CA") {
		t.Errorf("wrong CA file: exit %d, %q", code, errs)
	}
	_, errs, code = h.run("--insecure", "node", "list")
	if code != 0 || !strings.Contains(errs, "not checked") {
		t.Errorf("--insecure: exit %d, %q", code, errs)
	}
}

func TestLoginCachesSession(t *testing.T) {
	h := newHarness(t)
	h.prompt = func(p string) (string, error) {
		if !strings.Contains(p, "admin@"+h.addr) {
			t.Errorf("prompt %q", p)
		}
		return apitest.Password, nil
	}
	if out := h.ok(t, "login", "--fingerprint", h.pki.Fingerprint()); out != "Logged in to "+h.addr+" as admin.\n" {
		t.Errorf("login said %q", out)
	}
	path := filepath.Join(h.env["HOME"], ".config", "lockstep", "token")
	tf := checkTokenFile(t, path)
	s := tf.Sessions[h.addr]
	if s.User != "admin" || len(s.Token) != 43 || !strings.Contains(s.CA, "BEGIN CERTIFICATE") {
		t.Fatalf("cached session %+v", s)
	}

	// Later commands need neither a password nor a way to verify.
	h.prompts = 0
	h.ok(t, "node", "list")
	h.clock.Add(29 * time.Minute)
	h.ok(t, "system", "info")
	if h.prompts != 0 {
		t.Errorf("prompted %d times with a live session", h.prompts)
	}

	// Expired: the CLI asks for the password once and renews the session.
	h.clock.Add(31 * time.Minute)
	h.ok(t, "node", "list")
	if h.prompts != 1 {
		t.Errorf("prompted %d times for an expired session, want 1", h.prompts)
	}
	if s2 := checkTokenFile(t, path).Sessions[h.addr]; s2.Token == s.Token || s2.Token == "" {
		t.Error("the renewed session was not cached")
	}

	if out := h.ok(t, "logout"); !strings.Contains(out, "Logged out") {
		t.Errorf("logout said %q", out)
	}
	if s3 := checkTokenFile(t, path).Sessions[h.addr]; s3.Token != "" || s3.CA == "" {
		t.Errorf("after logout: %+v (want no token, the CA kept)", s3)
	}
	h.prompt = nil
	if _, errs, code := h.run("node", "list"); code != 1 || !strings.Contains(errs, "no password") {
		t.Errorf("after logout without a password: exit %d, %q", code, errs)
	}
	// The remembered CA still verifies the server for a script.
	h.env["LOCKSTEP_PASSWORD"] = apitest.Password
	h.ok(t, "node", "list")
}

func checkTokenFile(t *testing.T, path string) *tokenFile {
	t.Helper()
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	tf, err := loadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	return tf
}

func TestPasswordFile(t *testing.T) {
	h := newHarness(t)
	pf := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pf, []byte(apitest.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["LOCKSTEP_PASSWORD"] = "wrong, and the file wins"
	h.ok(t, "--ca-file", h.caFile, "--password-file", pf, "node", "reboot", "node0")
	if got := h.backend.CallLog(); len(got) != 1 || got[0] != "reboot node0" {
		t.Errorf("calls %q", got)
	}
}

func TestServerAddr(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.100":           "192.0.2.100:8443",
		"192.0.2.100:9443":      "192.0.2.100:9443",
		"https://lab.example/":  "lab.example:8443",
		"2001:db8::1":           "[2001:db8::1]:8443",
		"[2001:db8::1]":         "[2001:db8::1]:8443",
		"[2001:db8::1]:443":     "[2001:db8::1]:443",
		"lab.example:0":         "",
		"lab.example:https":     "",
		"lab.example:8443:8443": "",
		"":                      "",
	} {
		got, err := serverAddr(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("serverAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := apitest.T0
	for in, want := range map[string]time.Time{
		"90m":                  now.Add(-90 * time.Minute),
		"7d":                   now.AddDate(0, 0, -7),
		"2026-02-01T10:00:00Z": time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC),
		"2026-02-01 10:00":     time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC),
		"2026-02-01":           time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
	} {
		got, err := parseSince(in, now, time.UTC)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1h", "yesterday", "2026-13-01"} {
		if _, err := parseSince(bad, now, time.UTC); err == nil {
			t.Errorf("parseSince(%q) did not fail", bad)
		}
	}
}
