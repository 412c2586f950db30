package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

// clock is an injected time that tests move by hand.
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

type env struct {
	t       *testing.T
	url     string
	client  *http.Client
	clock   *clock
	backend *apitest.Backend
}

// start serves a Server over TLS on 127.0.0.1 (httptest never listens
// elsewhere) and returns a client that trusts the test CA.
func start(t *testing.T, mod func(*api.Options)) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: apitest.T0}, backend: apitest.NewBackend()}
	o := api.Options{Backend: e.backend, Verify: apitest.Verify, Now: e.clock.Now}
	if mod != nil {
		mod(&o)
	}
	s, err := api.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.url, e.client = apitest.ServeTLS(t, s)
	return e
}

// raw is a request body sent as it is rather than marshalled.
type raw string

// do sends a request; auth is "" (none), "Bearer <tok>" or "basic:<pw>".
func (e *env) do(method, path, auth string, body any) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if r, ok := body.(raw); ok {
		rd = strings.NewReader(string(r))
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if pw, ok := strings.CutPrefix(auth, "basic:"); ok {
		req.SetBasicAuth("admin", pw)
	} else if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

func (e *env) login() string {
	e.t.Helper()
	resp, b := e.do("POST", "/api/v1/login", "", api.LoginRequest{User: "admin", Password: apitest.Password})
	if resp.StatusCode != 200 {
		e.t.Fatalf("login: %s %s", resp.Status, b)
	}
	var lr api.LoginResponse
	if err := json.Unmarshal(b, &lr); err != nil || len(lr.Token) != 43 || lr.User != "admin" || lr.IdleSeconds <= 0 {
		e.t.Fatalf("login response %s (%v)", b, err)
	}
	return "Bearer " + lr.Token
}

func errCode(t *testing.T, b []byte) string {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
		t.Fatalf("not an error body: %s", b)
	}
	return e.Code
}

func expect(t *testing.T, resp *http.Response, b []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, b)
	}
	if code != "" {
		if got := errCode(t, b); got != code {
			t.Fatalf("%s %s: code %q, want %q: %s", resp.Request.Method, resp.Request.URL.Path, got, code, b)
		}
	}
	if ct := resp.Header.Get("Content-Type"); len(b) > 0 && ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestAuthRequiredEverywhereButHealthz(t *testing.T) {
	e := start(t, nil)
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/system"}, {"GET", "/api/v1/nodes"}, {"GET", "/api/v1/nodes/node0"},
		{"POST", "/api/v1/nodes/node0/workon"}, {"POST", "/api/v1/nodes/node0/workoff"},
		{"POST", "/api/v1/nodes/node0/shutdown"}, {"POST", "/api/v1/nodes/node0/reboot"},
		{"GET", "/api/v1/alerts"}, {"POST", "/api/v1/logout"},
		{"GET", "/api/v1/alerts/settings"}, {"PUT", "/api/v1/alerts/settings"}, {"POST", "/api/v1/alerts/test"},
		{"GET", "/metrics"}, {"GET", "/api/v1/users"}, {"POST", "/api/v1/users"}, {"PUT", "/api/v1/users/rita"},
		{"DELETE", "/api/v1/users/rita"}, {"GET", "/api/v1/audit"},
		{"GET", "/api/v1/vms"}, {"POST", "/api/v1/vms"}, {"GET", "/api/v1/vms/web"}, {"PATCH", "/api/v1/vms/db"},
		{"DELETE", "/api/v1/vms/db"}, {"POST", "/api/v1/vms/db/start"}, {"POST", "/api/v1/vms/web/shutdown"},
		{"POST", "/api/v1/vms/web/poweroff"}, {"POST", "/api/v1/vms/web/migrate"}, {"GET", "/api/v1/vms/web/console"},
		{"POST", "/api/v1/vms/web/explode"}, {"GET", "/api/v1/storage"}, {"GET", "/api/v1/capacity"},
		{"GET", "/api/v1/vcds"}, {"PUT", "/api/v1/vcds/x.iso"}, {"DELETE", "/api/v1/vcds/debian-13.iso"},
		{"GET", "/api/v1/nope"}, {"POST", "/"}, {"GET", "/index.html"}, {"DELETE", "/api/v1/system"}, {"GET", "/api/v2/system"},
	} {
		resp, b := e.do(r.method, r.path, "", nil)
		expect(t, resp, b, 401, api.CodeAuthRequired)
		ch := strings.Join(resp.Header.Values("WWW-Authenticate"), "; ")
		if !strings.Contains(ch, "Bearer") || !strings.Contains(ch, "Basic") {
			t.Errorf("%s %s: WWW-Authenticate %q", r.method, r.path, ch)
		}
		resp, b = e.do(r.method, r.path, "Bearer not-a-token", nil)
		expect(t, resp, b, 401, api.CodeInvalidToken)
		if len(e.backend.CallLog()) != 0 {
			t.Fatalf("%s %s reached the backend unauthenticated", r.method, r.path)
		}
	}
	if resp, b := e.do("GET", "/healthz", "", nil); resp.StatusCode != 200 || string(b) != "{\n  \"status\": \"ok\"\n}\n" {
		t.Errorf("healthz: %s %q", resp.Status, b)
	}
}

func TestHealthzUnhealthySaysNothingMore(t *testing.T) {
	e := start(t, func(o *api.Options) {
		o.Health = func(context.Context) error { return errors.New("membership: secret detail") }
	})
	resp, b := e.do("GET", "/healthz", "", nil)
	if resp.StatusCode != 503 || strings.Contains(string(b), "secret") || !strings.Contains(string(b), `"unavailable"`) {
		t.Errorf("healthz: %s %s", resp.Status, b)
	}
}

func TestLoginAndLogout(t *testing.T) {
	e := start(t, nil)
	resp, b := e.do("POST", "/api/v1/login", "", api.LoginRequest{User: "admin", Password: "wrong"})
	expect(t, resp, b, 401, api.CodeBadCredentials)
	resp, b = e.do("POST", "/api/v1/login", "", map[string]string{"user": "admin"})
	expect(t, resp, b, 400, api.CodeBadRequest)
	resp, b = e.do("POST", "/api/v1/login", "", map[string]string{"user": "admin", "password": "x", "extra": "y"})
	expect(t, resp, b, 400, api.CodeBadRequest)
	resp, b = e.do("GET", "/api/v1/login", "", nil)
	expect(t, resp, b, 405, api.CodeMethodNotAllowed)

	tok := e.login()
	if !strings.Contains(tok, "Bearer ") {
		t.Fatal(tok)
	}
	if tok2 := e.login(); tok2 == tok {
		t.Error("two logins gave the same token")
	}
	resp, b = e.do("GET", "/api/v1/system", tok, nil)
	expect(t, resp, b, 200, "")
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("no Cache-Control: no-store")
	}
	resp, b = e.do("POST", "/api/v1/logout", tok, nil)
	expect(t, resp, b, 204, "")
	resp, b = e.do("GET", "/api/v1/system", tok, nil)
	expect(t, resp, b, 401, api.CodeInvalidToken)
}

func TestTokenExpiresWhenIdle(t *testing.T) {
	e := start(t, nil)
	tok := e.login()
	for range 3 { // each use renews the idle time
		e.clock.Add(29 * time.Minute)
		resp, b := e.do("GET", "/api/v1/nodes", tok, nil)
		expect(t, resp, b, 200, "")
	}
	e.clock.Add(30 * time.Minute)
	resp, b := e.do("GET", "/api/v1/nodes", tok, nil)
	expect(t, resp, b, 401, api.CodeInvalidToken)
	if !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), " "), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate %q", resp.Header.Values("WWW-Authenticate"))
	}

	short := start(t, func(o *api.Options) { o.IdleTimeout = time.Minute })
	tok = short.login()
	short.clock.Add(time.Minute)
	resp, b = short.do("GET", "/api/v1/nodes", tok, nil)
	expect(t, resp, b, 401, api.CodeInvalidToken)
}

func TestBasicAuth(t *testing.T) {
	e := start(t, nil)
	resp, b := e.do("GET", "/api/v1/nodes/node1", "basic:"+apitest.Password, nil)
	expect(t, resp, b, 200, "")
	resp, b = e.do("GET", "/api/v1/nodes/node1", "basic:nope", nil)
	expect(t, resp, b, 401, api.CodeBadCredentials)
	resp, b = e.do("GET", "/api/v1/nodes/node1", "Basic !!!", nil)
	expect(t, resp, b, 401, api.CodeBadCredentials)
}

func TestLoginRateLimit(t *testing.T) {
	e := start(t, nil)
	bad := api.LoginRequest{User: "admin", Password: "guess"}
	for range 3 {
		resp, b := e.do("POST", "/api/v1/login", "", bad)
		expect(t, resp, b, 401, api.CodeBadCredentials)
	}
	for range 2 { // failed basic auth counts too
		resp, b := e.do("GET", "/api/v1/system", "basic:guess", nil)
		expect(t, resp, b, 401, api.CodeBadCredentials)
	}
	e.clock.Add(10 * time.Second)
	// Limited now, even with the right password, by login or basic auth.
	resp, b := e.do("POST", "/api/v1/login", "", api.LoginRequest{User: "admin", Password: apitest.Password})
	expect(t, resp, b, 429, api.CodeRateLimited)
	if ra := resp.Header.Get("Retry-After"); ra != "50" {
		t.Errorf("Retry-After %q, want 50", ra)
	}
	resp, b = e.do("GET", "/api/v1/system", "basic:"+apitest.Password, nil)
	expect(t, resp, b, 429, api.CodeRateLimited)
	// A token from before is not affected.
	e.clock.Add(51 * time.Second)
	tok := e.login()
	resp, b = e.do("GET", "/api/v1/system", tok, nil)
	expect(t, resp, b, 200, "")
	// Success forgot the failures: four more are allowed.
	for range 4 {
		resp, b := e.do("POST", "/api/v1/login", "", bad)
		expect(t, resp, b, 401, api.CodeBadCredentials)
	}
	resp, b = e.do("POST", "/api/v1/login", "", api.LoginRequest{User: "admin", Password: apitest.Password})
	expect(t, resp, b, 200, "")
}

func TestNodeNames(t *testing.T) {
	e := start(t, nil)
	for ref, want := range map[string]string{"node0": "node0", "0": "node0", "1": "node1", "beta": "node1", "ALPHA": "node0"} {
		resp, b := e.do("GET", "/api/v1/nodes/"+ref, "basic:"+apitest.Password, nil)
		expect(t, resp, b, 200, "")
		var n api.Node
		if err := json.Unmarshal(b, &n); err != nil || n.ID != want {
			t.Errorf("nodes/%s: %s, want %s", ref, b, want)
		}
	}
	for _, a := range []string{"workon", "workoff", "shutdown", "reboot"} {
		resp, b := e.do("POST", "/api/v1/nodes/beta/"+a, "basic:"+apitest.Password, nil)
		expect(t, resp, b, 202, "")
	}
	if got := fmt.Sprint(e.backend.CallLog()); got != "[workon node1 workoff node1 shutdown node1 reboot node1]" {
		t.Errorf("calls %s", got)
	}
}

func TestErrorStatuses(t *testing.T) {
	e := start(t, nil)
	auth := "basic:" + apitest.Password
	cases := []struct {
		method, path string
		status       int
		code, msg    string
	}{
		{"GET", "/api/v1/nodes/node7", 404, api.CodeNodeNotFound, `no node "node7"; the nodes are node0 (alpha), node1 (beta)`},
		{"POST", "/api/v1/nodes/gamma/reboot", 404, api.CodeNodeNotFound, "node0 (alpha), node1 (beta)"},
		{"POST", "/api/v1/nodes/node0/explode", 404, api.CodeNotFound, "the actions are workon"},
		{"GET", "/api/v1/alerts?since=yesterday", 400, api.CodeBadParameter, `parameter "since"`},
		{"GET", "/api/v1/alerts?limit=0", 400, api.CodeBadParameter, `parameter "limit"`},
		{"GET", "/api/v1/alerts?limit=x", 400, api.CodeBadParameter, `parameter "limit"`},
		{"GET", "/api/v1/alerts?limit=1&limit=2", 400, api.CodeBadParameter, `"limit" given 2 times`},
		{"GET", "/api/v1/alerts?sinse=2026-01-01T00:00:00Z", 400, api.CodeBadParameter, `unknown parameter "sinse"`},
		{"GET", "/api/v1/nope", 404, api.CodeNotFound, "no such endpoint"},
		{"PUT", "/api/v1/nodes/node0", 405, api.CodeMethodNotAllowed, "use GET"},
		{"GET", "/api/v1/nodes/node0/reboot", 405, api.CodeMethodNotAllowed, "use POST"},
	}
	for _, c := range cases {
		resp, b := e.do(c.method, c.path, auth, nil)
		expect(t, resp, b, c.status, c.code)
		var er api.Error
		_ = json.Unmarshal(b, &er)
		if !strings.Contains(er.Error, c.msg) {
			t.Errorf("%s %s: %q does not say %q", c.method, c.path, er.Error, c.msg)
		}
	}

	e.backend.SetActionErr("shutdown", fmt.Errorf("shutdown: %w", api.NotSupported("node shutdown")))
	e.backend.SetActionErr("workoff", api.Conflict("node0 is not in maintenance"))
	e.backend.SetActionErr("reboot", errors.New("reboot: dbus said no"))
	for path, want := range map[string]struct {
		status    int
		code, msg string
	}{
		"/api/v1/nodes/node0/shutdown": {501, api.CodeNotSupported, "not supported yet: node shutdown"},
		"/api/v1/nodes/node0/workoff":  {409, api.CodeConflict, "node0 is not in maintenance"},
		"/api/v1/nodes/node0/reboot":   {500, api.CodeInternal, "reboot: dbus said no"},
	} {
		resp, b := e.do("POST", path, auth, nil)
		expect(t, resp, b, want.status, want.code)
		var er api.Error
		_ = json.Unmarshal(b, &er)
		if er.Error != want.msg {
			t.Errorf("%s: message %q, want %q", path, er.Error, want.msg)
		}
	}
	e.backend.SetErr(api.NotSupported("alert history"))
	resp, b := e.do("GET", "/api/v1/alerts", auth, nil)
	expect(t, resp, b, 501, api.CodeNotSupported)
}

// TestJSON pins the wire format. Run with -update to rewrite testdata/.
func TestJSON(t *testing.T) {
	e := start(t, nil)
	auth := "basic:" + apitest.Password
	for _, c := range []struct{ name, method, path string }{
		{"system", "GET", "/api/v1/system"},
		{"nodes", "GET", "/api/v1/nodes"},
		{"node", "GET", "/api/v1/nodes/node1"},
		{"alerts", "GET", "/api/v1/alerts"},
		{"alerts_since_limit", "GET", "/api/v1/alerts?since=2026-03-01T11:00:00Z&limit=1"},
		{"workon", "POST", "/api/v1/nodes/1/workon"},
		{"node_not_found", "GET", "/api/v1/nodes/node9"},
		{"bad_limit", "GET", "/api/v1/alerts?limit=5000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, b := e.do(c.method, c.path, auth, nil)
			golden.RequireEqual(t, b)
		})
	}
	t.Run("empty", func(t *testing.T) {
		e.backend.Edit(func(b *apitest.Backend) {
			b.NodeList[1].Links, b.NodeList[1].Addresses = nil, nil
			b.AlertList = nil
		})
		_, b := e.do("GET", "/api/v1/nodes/node1", auth, nil)
		_, b2 := e.do("GET", "/api/v1/alerts", auth, nil)
		golden.RequireEqual(t, append(b, b2...))
	})
}
