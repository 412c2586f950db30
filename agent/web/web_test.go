package web_test

// The console is tested through the API server that serves it, over TLS
// with the fake backend, and, with LOCKSTEP_NETWORK_TESTS=1 (as `make
// test` sets it), in a real headless Chromium driven by chromedp: a
// missing browser then fails the test, naming the Debian package
// (ci/deps.sh installs it); without the variable that test is skipped.
// Everything listens on 127.0.0.1 only.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/api/apitest"
	"github.com/lockstep-ft/lockstep/agent/web"
)

// server is an api.Server over TLS on the fake backend, with its users
// and roles, and a client that trusts the test CA.
type server struct {
	t       *testing.T
	url     string
	client  *http.Client
	backend *apitest.Backend
}

func start(t *testing.T, mod func(*api.Options)) *server {
	t.Helper()
	b := apitest.NewBackend()
	o := api.Options{Backend: b, Verify: b.VerifyUser, Role: b.Role, Audit: b.Record}
	if mod != nil {
		mod(&o)
	}
	s, err := api.New(o)
	if err != nil {
		t.Fatal(err)
	}
	url, client := apitest.ServeTLS(t, s)
	return &server{t: t, url: url, backend: b, client: client}
}

// do sends a request with auth as the Authorization header ("" none)
// and body as JSON (nil none).
func (s *server) do(method, path, auth string, body any) (*http.Response, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp, b
}

func basic(user, password string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

var admin = basic("admin", apitest.Password)

// inline finds a script without src, a style element or attribute, and
// an event handler attribute.
var inline = regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`)

func TestServedWithoutLogin(t *testing.T) {
	s := start(t, nil)
	for _, c := range []struct{ path, typ, has string }{
		{"/", "text/html; charset=utf-8", `<form id="login-form"`},
		{"/ui/app.js", "text/javascript; charset=utf-8", "/api/v1/login"},
		{"/ui/style.css", "text/css; charset=utf-8", ".badge"},
		{"/ui/favicon.svg", "image/svg+xml", "<svg"},
	} {
		resp, b := s.do("GET", c.path, "", nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.typ || !strings.Contains(string(b), c.has) {
			t.Errorf("GET %s: %d %q, want 200 %q with %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.typ, c.has)
		}
		h := resp.Header
		if csp := h.Get("Content-Security-Policy"); csp != web.CSP || !strings.Contains(csp, "default-src 'self'") ||
			!strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", c.path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: headers %v", c.path, h)
		}
	}
	// No inline script or style for the CSP to refuse: the page's code is
	// all in app.js.
	_, page := s.do("GET", "/", "", nil)
	if m := inline.FindString(string(page)); m != "" {
		t.Errorf("the page has inline code (%q):\n%s", m, page)
	}
	if resp, b := s.do("HEAD", "/", "", nil); resp.StatusCode != 200 || len(b) != 0 {
		t.Errorf("HEAD /: %d %q", resp.StatusCode, b)
	}
	if resp, _ := s.do("GET", "/ui/nope.js", "", nil); resp.StatusCode != 404 {
		t.Errorf("GET /ui/nope.js: %d, want 404", resp.StatusCode)
	}
	// Everything else still needs a login first, then is the API's.
	for _, c := range []struct {
		method, path, auth string
		status             int
		code               string
	}{
		{"GET", "/api/v1/vms", "", 401, api.CodeAuthRequired},
		{"GET", "/nope", "", 401, api.CodeAuthRequired},
		{"GET", "/index.html", "", 401, api.CodeAuthRequired},
		{"POST", "/", "", 401, api.CodeAuthRequired},
		{"PUT", "/ui/app.js", "", 401, api.CodeAuthRequired},
		{"GET", "/nope", admin, 404, api.CodeNotFound},
		{"POST", "/", admin, 404, api.CodeNotFound},
		{"GET", "/api/v1/vms", admin, 200, ""},
	} {
		resp, b := s.do(c.method, c.path, c.auth, nil)
		var e api.Error
		_ = json.Unmarshal(b, &e)
		if resp.StatusCode != c.status || e.Code != c.code || resp.Header.Get("Content-Security-Policy") != "" {
			t.Errorf("%s %s: %d %s, want %d %q", c.method, c.path, resp.StatusCode, b, c.status, c.code)
		}
	}
	if n := len(s.backend.CallLog()); n != 0 {
		t.Errorf("calls %q", s.backend.CallLog())
	}
}

// findBrowser is Debian's headless Chromium, or the full browser.
func findBrowser(t *testing.T) string {
	for _, p := range []string{"chromium-headless-shell", "/usr/lib/chromium/chromium-headless-shell", "chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("no headless Chromium: install the Debian package chromium-headless-shell (ci/deps.sh does)")
	return ""
}

// browser is a tab of a headless Chromium that accepts every dialog
// (confirm) and keeps their messages.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex
	dialogs    []string
	exceptions []string
}

func newBrowser(t *testing.T, ctx context.Context) *browser {
	bin := findBrowser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		// The test CA is made afresh by each run and Chromium reads no CA
		// file from its command line; this is for the test only.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 900),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses to run as root
	}
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancel)
	tab, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	b := &browser{t: t, ctx: tab}
	dialogs := chromedp.Events(tab, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	exceptions := chromedp.Events(tab, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, ev.ExceptionDetails.Text+" "+fmt.Sprint(ev.ExceptionDetails.Exception))
			b.mu.Unlock()
		}
	}()
	return b
}

// stepTimeout bounds one step; the whole test has its own bound.
const stepTimeout = 15 * time.Second

// do runs actions as one step, failing the test with what the page shows.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatal(step, err)
	}
}

// wait waits until the JavaScript expression is true.
func (b *browser) wait(step, expr string) {
	b.t.Helper()
	b.do(step, func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond),
			chromedp.WithPollingTimeout(stepTimeout))(ctx, t)
	})
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// shown is the expression "sel is on the page, not hidden, and its text
// satisfies test" (a JavaScript function of the text).
func shown(sel, test string) string {
	return fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !!e && !e.closest('[hidden]') && (%s)(e.textContent); })()`, js(sel), test)
}

// waitText waits until sel is shown and its text holds want.
func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	b.wait(fmt.Sprintf("waiting for %s to show %q", sel, want), shown(sel, "t => t.includes("+js(want)+")"))
}

// waitExact waits until sel is shown with the text want exactly.
func (b *browser) waitExact(sel, want string) {
	b.t.Helper()
	b.wait(fmt.Sprintf("waiting for %s to be %q", sel, want), shown(sel, "t => t === "+js(want)))
}

func (b *browser) waitVisible(sel string) {
	b.t.Helper()
	b.wait("waiting for "+sel, shown(sel, "t => true"))
}

// click clicks sel with the mouse, as a person would.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("clicking "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// fill types text into an input, replacing what it held.
func (b *browser) fill(sel, text string) {
	b.t.Helper()
	clear := func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { document.querySelector(%s).value = ""; return true })()`, js(sel)))(ctx, t)
		return chromedp.Void{}, err
	}
	b.do("typing into "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), clear, chromedp.SendKeys(chromedp.CSS(sel), text))
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.fatal("evaluating "+expr, err)
	}
	return s
}

func (b *browser) dialogLog() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.dialogs)
}

// fatal fails the test with the step, the error and the page's text.
func (b *browser) fatal(step string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	b.t.Fatalf("%s: %v\nthe page shows:\n%s", step, err, text)
}

// shot saves a screenshot to LOCKSTEP_TEST_LOGS, if set, for a person to
// look at; it checks nothing.
func (b *browser) shot(name string) {
	dir := os.Getenv("LOCKSTEP_TEST_LOGS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "web-"+name+".png"), png, 0o644)
	}
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

// waitCall waits until the fake backend has been called with call.
func waitCall(t *testing.T, b *apitest.Backend, call string) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for !slices.Contains(b.CallLog(), call) {
		if time.Now().After(deadline) {
			t.Fatalf("the backend was not called with %q; calls %q", call, b.CallLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConsoleInBrowser(t *testing.T) {
	if os.Getenv("LOCKSTEP_NETWORK_TESTS") != "1" {
		t.Skip("set LOCKSTEP_NETWORK_TESTS=1 to test the console in headless Chromium")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := start(t, nil)
	fake := s.backend
	// Text from the system that looks like markup must stay text.
	const markup = `<b id="injected">not bold</b><img src=x>`
	fake.Edit(func(f *apitest.Backend) {
		f.AlertList = append(f.AlertList, api.Alert{ID: 4, Time: apitest.T0, Severity: "info", Code: "test.markup", Message: markup})
	})
	b := newBrowser(t, ctx)

	b.do("opening the console", chromedp.Navigate(s.url+"/"))
	b.waitVisible("#login-form")
	b.shot("login")

	// A wrong password: the server's message, and still the login form.
	b.fill("#login-user", "admin")
	b.fill("#login-password", "not the password")
	b.click("#login-submit")
	b.waitText("#message-text", "wrong user or password")
	b.waitVisible("#login-form")
	if b.eval(`String(document.getElementById('app-view').hidden) + ' ' + document.getElementById('message').getAttribute('role')`) != "true alert" {
		t.Fatal("a failed login left the login form, or its message is not an alert")
	}

	// The dashboard: the system and both nodes as the fake has them.
	b.fill("#login-password", apitest.Password)
	b.click("#login-submit")
	b.waitExact("#system-name", "lab")
	b.waitText("#system-ip", "192.0.2.100")
	b.waitExact("#system-state .badge", "degraded")
	b.waitExact(`tr[data-node="node0"] [data-field="hostname"]`, "alpha")
	b.waitExact(`tr[data-node="node1"] [data-field="hostname"]`, "beta")
	b.waitExact(`tr[data-node="node1"] [data-field="state"]`, "maintenance")
	b.waitText(`tr[data-node="node1"] [data-link="alink0"]`, "flapping")
	b.waitText(`#capacity-table [data-field="vcpus"]`, "16 (reserve 2, used 6, free 8)")
	b.waitText("#whoami", "admin")
	if b.eval(`String(document.getElementById('message').hidden)`) != "true" {
		t.Fatal("the login error is still shown after logging in")
	}
	b.shot("dashboard")

	// A node action asks first, then reaches the backend.
	b.click(`button[data-node="node1"][data-node-action="workoff"]`)
	waitCall(t, fake, "workoff node1")
	b.waitText("#notice", "accepted")
	if d := b.dialogLog(); len(d) != 1 || !strings.Contains(d[0], "node1 (beta)") {
		t.Fatalf("dialogs %q, want one asking about node1 (beta)", d)
	}

	// VMs: power off web, confirmed; the table follows.
	b.click("#tab-btn-vms")
	b.waitExact(`tr[data-vm="db"] [data-field="state"]`, "stopped")
	b.waitExact(`tr[data-vm="web"] [data-field="state"]`, "running")
	b.waitExact(`tr[data-vm="web"] [data-field="running_on"]`, "node0")
	b.waitExact(`tr[data-vm="web"] [data-field="ft"]`, "protected")
	b.waitText(`tr[data-vm="db"] [data-volume="db-sys"]`, "resyncing 42.5 %")
	b.waitText(`tr[data-vm="web"] [data-field="memory"]`, "8.0 GiB")
	b.shot("vms")
	b.click(`button[data-vm="web"][data-action="poweroff"]`)
	waitCall(t, fake, "vm poweroff web")
	b.waitExact(`tr[data-vm="web"] [data-field="state"]`, "stopped")
	b.waitExact(`tr[data-vm="web"] [data-field="running_on"]`, "—")
	if d := b.dialogLog(); len(d) != 2 || !strings.Contains(d[1], "Power off VM web") {
		t.Fatalf("dialogs %q, want the second to ask before powering off web", d)
	}

	// The console shows the fake VM's serial output.
	b.click(`button[data-vm="web"][data-action="console"]`)
	b.waitText("#console-title", "web")
	b.waitText("#console-text", "Debian GNU/Linux 13 web ttyS0")
	b.waitText("#console-text", "web login:")
	b.shot("console")

	// Storage groups and networks, read-only.
	b.click("#tab-btn-storage")
	b.waitExact(`tr[data-group="sg0"] [data-field="size"]`, "1.5 TiB")
	b.waitExact(`tr[data-group="fast"] [data-field="free"]`, "894.0 GiB")
	b.waitExact(`tr[data-network="biz1"] [data-field="bridge"]`, "lsbr-biz1")
	b.waitText(`tr[data-network="biz1"]`, "node1: problem port enp10s0 not found")
	b.waitExact(`tr[data-network="biz0"] [data-field="vms"]`, "db, web")
	b.shot("storage")

	// Alerts, and a test alert with no target set: the 409's message.
	b.click("#tab-btn-alerts")
	b.waitText(`tr[data-alert-id="2"] [data-field="message"]`, "alink0 to node0 is down")
	b.waitExact(`tr[data-alert-id="2"] [data-field="severity"]`, "warning")
	b.waitText(`tr[data-alert-id="1"] [data-field="message"]`, "node1 (beta) joined the system")
	b.waitExact(`tr[data-alert-id="1"] [data-field="cleared"]`, "yes")
	b.waitExact(`tr[data-alert-id="4"] [data-field="message"]`, markup)
	if n := b.eval(`document.querySelectorAll('#alerts-table tbody tr').length + ' ' + document.querySelectorAll('#injected, #alerts-table img').length`); n != "4 0" {
		t.Fatalf("alerts shown and elements injected: %s, want 4 0", n)
	}
	b.click("#alert-test")
	b.waitText("#message-text", "no alert target is set")
	waitCall(t, fake, "alert test")
	b.shot("alerts")

	// With targets set, each delivery's result; one receiver fails.
	settings := api.AlertSettings{MinSeverity: "warning", SNMP: []api.SNMPTarget{
		{Host: "127.0.0.1", Port: 1162, Version: api.SNMPv2c, Community: "public"},
		{Host: "127.0.0.1", Port: 9, Version: api.SNMPv2c, Community: "public"},
	}}
	if resp, body := s.do("PUT", "/api/v1/alerts/settings", admin, settings); resp.StatusCode != 200 {
		t.Fatalf("alert settings: %d %s", resp.StatusCode, body)
	}
	b.click("#alert-test")
	b.waitText(`#alert-test-deliveries [data-target="snmp 127.0.0.1:1162 v2c"]`, "sent")
	b.waitText(`#alert-test-deliveries [data-target="snmp 127.0.0.1:9 v2c"]`, "failed connection refused")
	b.waitText(`tr[data-alert-id="5"] [data-field="code"]`, "system.test")
	if b.eval(`String(document.getElementById('message').hidden)`) != "true" {
		t.Fatal("the 409's message is still shown after a test alert that went out")
	}

	// Logging out ends the session at the server too.
	tok := b.eval(`JSON.parse(sessionStorage.getItem('lockstep.session')).token`)
	if resp, body := s.do("GET", "/api/v1/vms", "Bearer "+tok, nil); resp.StatusCode != 200 {
		t.Fatalf("the console's token before logout: %d %s", resp.StatusCode, body)
	}
	b.click("#logout")
	b.waitVisible("#login-form")
	b.waitText("#notice", "Logged out")
	if resp, body := s.do("GET", "/api/v1/vms", "Bearer "+tok, nil); resp.StatusCode != 401 {
		t.Fatalf("the console's token after logout: %d %s, want 401", resp.StatusCode, body)
	}
	if b.eval(`String(sessionStorage.getItem('lockstep.session'))`) != "null" {
		t.Fatal("the token is still in sessionStorage after logout")
	}

	// A read-only user sees the server's 403, and nothing is done.
	rita := api.UserSpec{Name: "rita", Role: api.RoleReadOnly, Password: new("rita-pass-1")}
	if resp, body := s.do("POST", "/api/v1/users", admin, rita); resp.StatusCode != 201 {
		t.Fatalf("creating rita: %d %s", resp.StatusCode, body)
	}
	b.fill("#login-user", "rita")
	b.fill("#login-password", "rita-pass-1")
	b.click("#login-submit")
	b.waitText("#whoami", "rita")
	if b.eval(`String(document.getElementById('console-panel').hidden)`) != "true" {
		t.Fatal("the previous user's VM console is still open")
	}
	b.click("#tab-btn-vms")
	b.waitExact(`tr[data-vm="db"] [data-field="state"]`, "stopped")
	before := fake.CallLog()
	b.click(`button[data-vm="db"][data-action="start"]`)
	b.waitText("#message-text", "user rita (read-only) may not POST /api/v1/vms/db/start")
	if after := fake.CallLog(); !slices.Equal(before, after) || slices.Contains(after, "vm start db") {
		t.Fatalf("calls %q after a refused start, want %q", after, before)
	}
	b.shot("forbidden")

	// A 401 (here: the user was deleted) goes back to the login form with
	// the server's message, at the next refresh.
	if resp, body := s.do("DELETE", "/api/v1/users/rita", admin, nil); resp.StatusCode != 204 {
		t.Fatalf("deleting rita: %d %s", resp.StatusCode, body)
	}
	b.waitVisible("#login-form")
	b.waitText("#message-text", "user rita no longer exists")

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		t.Fatalf("the page threw: %q", b.exceptions)
	}
}

// TestConsoleIdleLogout: the page's refreshes keep the API session alive,
// so the console itself ends a session nobody uses, after the API's idle
// time.
func TestConsoleIdleLogout(t *testing.T) {
	if os.Getenv("LOCKSTEP_NETWORK_TESTS") != "1" {
		t.Skip("set LOCKSTEP_NETWORK_TESTS=1 to test the console in headless Chromium")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := start(t, func(o *api.Options) { o.IdleTimeout = 4 * time.Second })
	b := newBrowser(t, ctx)
	b.do("opening the console", chromedp.Navigate(s.url+"/"))
	b.fill("#login-user", "admin")
	b.fill("#login-password", apitest.Password)
	b.click("#login-submit")
	b.waitExact("#system-name", "lab")
	tok := b.eval(`JSON.parse(sessionStorage.getItem('lockstep.session')).token`)
	b.waitVisible("#login-form")
	b.waitText("#message-text", "Logged out after 4 seconds without activity")
	if resp, body := s.do("GET", "/api/v1/vms", "Bearer "+tok, nil); resp.StatusCode != 401 {
		t.Fatalf("the token after the idle logout: %d %s, want 401", resp.StatusCode, body)
	}
	// The token may have expired at the API before the logout reached it,
	// on a slow machine: the request is what counts.
	if !slices.ContainsFunc(auditLog(s), func(r api.AuditRecord) bool { return r.Path == "/api/v1/logout" }) {
		t.Fatal("the console did not log out at the API")
	}
}

func auditLog(s *server) []api.AuditRecord {
	var out []api.AuditRecord
	s.backend.Edit(func(b *apitest.Backend) { out = slices.Clone(b.AuditLog) })
	return out
}

// choose picks value in the select sel, as a person's choice does (the
// page hears a change event), once the option is there.
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	b.wait(fmt.Sprintf("choosing %q in %s", value, sel), fmt.Sprintf(`(() => {
		const e = document.querySelector(%[1]s);
		if (!e || e.closest('[hidden]') || ![...e.options].some((o) => o.value === %[2]s)) return false;
		e.value = %[2]s;
		e.dispatchEvent(new Event('change', { bubbles: true }));
		return true;
	})()`, js(sel), js(value)))
}

// waitGone waits until nothing matches sel.
func (b *browser) waitGone(sel string) {
	b.t.Helper()
	b.wait("waiting for "+sel+" to go", fmt.Sprintf(`!document.querySelector(%s)`, js(sel)))
}

// waitValue waits until the form field sel holds want.
func (b *browser) waitValue(sel, want string) {
	b.t.Helper()
	b.wait(fmt.Sprintf("waiting for %s to hold %q", sel, want),
		fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !!e && e.value === %s; })()`, js(sel), js(want)))
}

// reasons waits for the error shown to hold text, and returns the
// reasons listed under it.
func (b *browser) reasons(text string) []string {
	b.t.Helper()
	b.waitText("#message-text", text)
	var out []string
	if err := json.Unmarshal([]byte(b.eval(`JSON.stringify([...document.querySelectorAll('#message:not([hidden]) #message-reasons:not([hidden]) li')].map((l) => l.textContent))`)), &out); err != nil {
		b.t.Fatal(err)
	}
	return out
}

// fetchAsPage is what the page's session gets for GET path.
func (b *browser) fetchAsPage(path string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	expr := fmt.Sprintf(`fetch(%s, { headers: { Authorization: 'Bearer ' + JSON.parse(sessionStorage.getItem('lockstep.session')).token } }).then((r) => r.text())`, js(path))
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fatal("fetching "+path, err)
	}
	return s
}

func (b *browser) login(user, password string) {
	b.t.Helper()
	b.waitVisible("#login-form")
	b.fill("#login-user", user)
	b.fill("#login-password", password)
	b.click("#login-submit")
	b.waitText("#whoami", user)
}

// waitCalls waits until the fake backend has been called with call n
// times.
func waitCalls(t *testing.T, b *apitest.Backend, call string, n int) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	count := func() (c int) {
		for _, x := range b.CallLog() {
			if x == call {
				c++
			}
		}
		return c
	}
	for count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the backend was called %d times with %q, want %d; calls %q", count(), call, n, b.CallLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) getJSON(path string, v any) {
	s.t.Helper()
	resp, body := s.do("GET", path, admin, nil)
	if resp.StatusCode != 200 {
		s.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		s.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// TestConsoleFormsInBrowser drives every form of the console: VMs,
// networks, alert settings, users, one's own password, and the audit
// log, checking what reached the fake backend.
func TestConsoleFormsInBrowser(t *testing.T) {
	if os.Getenv("LOCKSTEP_NETWORK_TESTS") != "1" {
		t.Skip("set LOCKSTEP_NETWORK_TESTS=1 to test the console in headless Chromium")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	s := start(t, nil)
	fake := s.backend
	b := newBrowser(t, ctx)
	b.do("opening the console", chromedp.Navigate(s.url+"/"))
	b.login("admin", apitest.Password)
	b.wait("waiting for the role", `document.getElementById('app-view').dataset.admin === 'yes'`)
	b.waitVisible("#tab-btn-users")
	b.waitVisible("#tab-btn-audit")

	// VMs. The form offers what the system has.
	b.click("#tab-btn-vms")
	b.waitExact(`tr[data-vm="web"] [data-field="state"]`, "running")
	if n := b.eval(`String(document.querySelectorAll('button[data-vm="web"][data-action="modify"], button[data-vm="web"][data-action="delete"]').length)`); n != "0" {
		t.Fatalf("a running VM offers %s modify or delete buttons", n)
	}
	b.click("#vm-create-open")
	b.waitVisible("#vm-create-form")
	b.waitVisible(`#vm-vol-0-group option[value="fast"]`)
	b.waitVisible(`#vm-nic-0-network option[value="biz1"]`)
	b.waitVisible(`#vm-create-cd option[value="debian-13.iso"]`)
	b.waitVisible(`#vm-create-node option[value="node1"]`)

	// Refused as wrong (400): every reason, one a line.
	b.fill("#vm-create-name", "bad name")
	b.fill("#vm-create-vcpus", "2")
	b.fill("#vm-create-memory", "2")
	b.fill("#vm-vol-0-name", "bad/vol")
	b.fill("#vm-vol-0-size", "10")
	b.click("#vm-create-submit")
	waitCall(t, fake, "vm create bad name")
	if r := b.reasons("Create VM bad name: refused"); len(r) != 2 || !strings.HasPrefix(r[0], `name "bad name": use up to 63 letters`) ||
		!strings.HasPrefix(r[1], `volume "bad/vol": a name used once`) {
		t.Fatalf("reasons shown %q", r)
	}
	b.shot("vm-refused")

	// Refused for want of room (409).
	b.fill("#vm-create-name", "big")
	b.fill("#vm-create-vcpus", "12")
	b.fill("#vm-create-memory", "60")
	b.fill("#vm-vol-0-name", "big-sys")
	b.click("#vm-create-submit")
	waitCall(t, fake, "vm create big")
	want := []string{"vCPUs: 12 + 1 for HA = 13 needed, 8 free", "memory: 61440 MiB + 20 % = 73728 MiB needed, 51609 MiB free"}
	if r := b.reasons("Create VM big: not enough capacity"); !slices.Equal(r, want) {
		t.Fatalf("reasons shown %q, want %q", r, want)
	}

	// Created: two volumes in two groups, two NICs, a CD, a node.
	b.fill("#vm-create-name", "app")
	b.fill("#vm-create-vcpus", "2")
	b.fill("#vm-create-memory", "2")
	b.fill("#vm-vol-0-name", "app-sys")
	b.fill("#vm-vol-0-size", "20")
	b.choose("#vm-vol-0-group", "fast")
	b.click("#vm-create-add-volume")
	b.fill("#vm-vol-1-name", "app-data")
	b.fill("#vm-vol-1-size", "512")
	b.choose("#vm-vol-1-unit", "MiB")
	b.choose("#vm-vol-1-group", "sg0")
	b.choose("#vm-nic-0-network", "biz1")
	b.click("#vm-create-add-nic")
	b.choose("#vm-nic-1-network", "biz0")
	b.choose("#vm-create-cd", "debian-13.iso")
	b.choose("#vm-create-node", "node1")
	b.click("#vm-create-autostart")
	b.click("#vm-create-submit")
	waitCall(t, fake, "vm create app")
	b.waitExact(`tr[data-vm="app"] [data-field="state"]`, "stopped")
	b.waitExact(`tr[data-vm="app"] [data-field="memory"]`, "2.0 GiB")
	b.waitText("#notice", "VM app created")
	b.wait("the create form to close", `document.getElementById('vm-create-form').hidden && document.getElementById('message').hidden`)
	var vm api.VM
	s.getJSON("/api/v1/vms/app", &vm)
	wantSpec := api.VMSpec{Name: "app", Mode: api.ModeHA, VCPUs: 2, MemoryMiB: 2048, CD: "debian-13.iso", Node: "node1", Autostart: true,
		Volumes: []api.VolumeSpec{{Name: "app-sys", SizeMiB: 20 << 10, Group: "fast"}, {Name: "app-data", SizeMiB: 512, Group: "sg0"}}}
	got := vm.VMSpec
	got.NICs = nil
	if fmt.Sprint(got) != fmt.Sprint(wantSpec) || len(vm.NICs) != 2 || vm.NICs[0].Network != "biz1" || vm.NICs[1].Network != "biz0" {
		t.Fatalf("VM created %+v, want %+v with NICs on biz1 and biz0", vm.VMSpec, wantSpec)
	}
	b.shot("vm-created")

	// Modified: the form shows the VM; only what changed is sent.
	b.click(`button[data-vm="app"][data-action="modify"]`)
	b.waitText("#vm-modify-title", "app")
	b.waitValue("#vm-modify-vcpus", "2")
	b.waitValue("#vm-modify-memory", "2")
	b.waitValue("#vm-modify-memory-unit", "GiB")
	b.waitValue("#vm-modify-mode", "ha")
	b.fill("#vm-modify-vcpus", "3")
	b.fill("#vm-modify-memory", "3072")
	b.choose("#vm-modify-memory-unit", "MiB")
	b.choose("#vm-modify-mode", "ft")
	b.click("#vm-modify-submit")
	waitCall(t, fake, "vm modify app")
	b.waitExact(`tr[data-vm="app"] [data-field="vcpus"]`, "3")
	b.waitExact(`tr[data-vm="app"] [data-field="mode"]`, "FT")
	b.waitExact(`tr[data-vm="app"] [data-field="memory"]`, "3.0 GiB")
	s.getJSON("/api/v1/vms/app", &vm)
	if vm.VCPUs != 3 || vm.MemoryMiB != 3072 || vm.Mode != api.ModeFT || len(vm.VMSpec.Volumes) != 2 || len(vm.NICs) != 2 || vm.CD != "debian-13.iso" {
		t.Fatalf("VM after the change %+v", vm.VMSpec)
	}

	// Deleted, once confirmed.
	b.click(`button[data-vm="app"][data-action="delete"]`)
	waitCall(t, fake, "vm delete app")
	b.waitGone(`tr[data-vm="app"]`)
	if d := b.dialogLog(); len(d) != 1 || !strings.Contains(d[0], "Delete VM app?") {
		t.Fatalf("dialogs %q, want one asking before deleting app", d)
	}

	// Networks: a port per node; a refused one says why.
	b.click("#tab-btn-storage")
	b.waitExact(`tr[data-network="biz0"] [data-field="bridge"]`, "lsbr-biz0")
	b.click("#net-create-open")
	b.waitVisible("#net-create-port-node1")
	b.fill("#net-create-name", "biz2")
	b.fill("#net-create-port-node0", "enp11s0")
	b.fill("#net-create-port-node1", "enp9s0")
	b.click("#net-create-submit")
	waitCall(t, fake, "network create biz2")
	if r := b.reasons("Create network biz2: refused"); len(r) != 1 || r[0] != "node1: port enp9s0 serves network biz0 already; a NIC serves one network" {
		t.Fatalf("reasons shown %q", r)
	}
	b.fill("#net-create-port-node1", "enp11s0")
	b.click("#net-create-submit")
	b.waitExact(`tr[data-network="biz2"] [data-field="bridge"]`, "lsbr-biz2")
	b.waitText(`tr[data-network="biz2"] [data-field="ports"]`, "node1: enp11s0")
	b.wait("the network form to close", `document.getElementById('net-create-form').hidden`)

	b.click(`button[data-network="biz2"][data-action="port"]`)
	b.waitText("#net-port-title", "biz2")
	b.choose("#net-port-node", "node1")
	b.waitValue("#net-port-port", "enp11s0")
	b.fill("#net-port-port", "enp12s0")
	b.click("#net-port-submit")
	waitCall(t, fake, "network modify biz2")
	b.waitText(`tr[data-network="biz2"] [data-field="ports"]`, "node1: enp12s0")
	var net api.Network
	s.getJSON("/api/v1/networks/biz2", &net)
	if net.Ports["node0"] != "enp11s0" || net.Ports["node1"] != "enp12s0" {
		t.Fatalf("biz2's ports %v", net.Ports)
	}
	b.shot("networks")
	b.click(`button[data-network="biz2"][data-action="delete"]`)
	waitCall(t, fake, "network delete biz2")
	b.waitGone(`tr[data-network="biz2"]`)
	if d := b.dialogLog(); len(d) != 2 || !strings.Contains(d[1], "Delete network biz2?") {
		t.Fatalf("dialogs %q, want the second asking before deleting biz2", d)
	}

	// Alert settings: email with a password, which never comes back.
	const secret = "smtp-secret-9"
	storedPassword := func() (pw string) {
		fake.Edit(func(f *apitest.Backend) { _, pw = f.Alerting.AlertSettings() })
		return pw
	}
	b.click("#tab-btn-alert-settings")
	b.waitExact(`#alert-settings-table [data-field="min_severity"]`, "warning")
	b.waitExact(`#alert-settings-table [data-field="email"]`, "not sent")
	b.click("#email-edit")
	b.waitVisible("#email-form")
	b.waitText("#email-password-state", "No password is stored")
	b.fill("#email-server", "smtp.example.com")
	b.fill("#email-port", "587")
	b.choose("#email-security", "starttls")
	b.fill("#email-username", "alerts")
	b.fill("#email-password", secret)
	b.fill("#email-from", "lockstep@example.com")
	b.fill("#email-to", "ops@example.com\nboss@example.com")
	b.click("#email-submit")
	waitCalls(t, fake, "alert settings", 1)
	b.waitExact(`#alert-settings-table [data-field="email-password"]`, "stored")
	b.waitText(`#alert-settings-table [data-field="email-to"]`, "boss@example.com")
	b.waitExact(`#alert-settings-table [data-field="email-server"]`, "smtp.example.com:587")
	b.wait("the email form to close", `document.getElementById('email-form').hidden && document.getElementById('email-password').value === ''`)
	if pw := storedPassword(); pw != secret {
		t.Fatalf("stored SMTP password %q, want %q", pw, secret)
	}
	var raw struct {
		Email map[string]any `json:"email"`
	}
	if err := json.Unmarshal([]byte(b.fetchAsPage("/api/v1/alerts/settings")), &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.Email["password"]; ok || raw.Email["password_set"] != true || raw.Email["username"] != "alerts" {
		t.Fatalf("the settings the page gets: %v", raw.Email)
	}
	if b.eval(`String(document.documentElement.outerHTML.includes(`+js(secret)+`) || [...document.querySelectorAll('input, textarea')].some((i) => i.value.includes(`+js(secret)+`)))`) != "false" {
		t.Fatal("the SMTP password is still in the page after saving")
	}

	// Changed again without a password: the stored one stays.
	b.click("#email-edit")
	b.waitValue("#email-server", "smtp.example.com")
	b.waitValue("#email-to", "ops@example.com\nboss@example.com")
	b.waitValue("#email-password", "")
	b.waitText("#email-password-state", "A password is stored")
	b.fill("#email-from", "alerts@example.com")
	b.click("#email-submit")
	waitCalls(t, fake, "alert settings", 2)
	b.waitExact(`#alert-settings-table [data-field="email-from"]`, "alerts@example.com")
	if pw := storedPassword(); pw != secret {
		t.Fatalf("stored SMTP password %q after a change without one, want %q kept", pw, secret)
	}

	// SNMP receivers: two added, one removed.
	b.fill("#snmp-host", "192.0.2.50")
	b.fill("#snmp-port", "1162")
	b.choose("#snmp-version", "v1")
	b.fill("#snmp-community", "public")
	b.click("#snmp-submit")
	b.waitExact(`tr[data-snmp="192.0.2.50:1162 v1"] [data-field="community"]`, "public")
	b.waitValue("#snmp-host", "")
	b.fill("#snmp-host", "192.0.2.51")
	b.fill("#snmp-community", "private")
	b.click("#snmp-submit")
	b.waitExact(`tr[data-snmp="192.0.2.51:162 v2c"] [data-field="port"]`, "162")
	b.click(`button[data-snmp="192.0.2.50:1162 v1"]`)
	b.waitGone(`tr[data-snmp="192.0.2.50:1162 v1"]`)
	if d := b.dialogLog(); len(d) != 3 || !strings.Contains(d[2], "192.0.2.50:1162 v1") {
		t.Fatalf("dialogs %q, want the third asking before removing the receiver", d)
	}

	// The minimum severity, with everything else kept.
	b.choose("#severity-select", "error")
	b.click("#severity-submit")
	b.waitExact(`#alert-settings-table [data-field="min_severity"]`, "error")
	var settings api.AlertSettings
	s.getJSON("/api/v1/alerts/settings", &settings)
	e := settings.Email
	if settings.MinSeverity != "error" || e == nil || e.Server != "smtp.example.com" || e.Port != 587 || e.Security != api.SecuritySTARTTLS ||
		e.Username != "alerts" || e.Password != nil || !e.PasswordSet || e.From != "alerts@example.com" ||
		!slices.Equal(e.To, []string{"ops@example.com", "boss@example.com"}) ||
		!slices.Equal(settings.SNMP, []api.SNMPTarget{{Host: "192.0.2.51", Version: api.SNMPv2c, Community: "private"}}) {
		t.Fatalf("alert settings after the changes: %+v, email %+v", settings, e)
	}
	if pw := storedPassword(); pw != secret {
		t.Fatalf("stored SMTP password %q at the end, want %q", pw, secret)
	}
	b.shot("alert-settings")

	// Email stopped, once confirmed: its password goes with it.
	b.click("#email-remove")
	b.waitExact(`#alert-settings-table [data-field="email"]`, "not sent")
	var stopped api.AlertSettings
	s.getJSON("/api/v1/alerts/settings", &stopped)
	if stopped.Email != nil || stopped.MinSeverity != "error" || len(stopped.SNMP) != 1 || storedPassword() != "" {
		t.Fatalf("alert settings after stopping email: %+v", stopped)
	}
	if d := b.dialogLog(); len(d) != 4 || !strings.Contains(d[3], "Stop sending alerts by email?") {
		t.Fatalf("dialogs %q, want the fourth asking before stopping email", d)
	}

	// Users: the passwords must match before anything is sent.
	b.click("#tab-btn-users")
	b.waitExact(`tr[data-user="admin"] [data-field="role"]`, "administrator")
	b.fill("#user-create-name", "carol")
	b.choose("#user-create-role", "platform-manager")
	b.fill("#user-create-password", "carol-pass-1")
	b.fill("#user-create-repeat", "carol-pass-X")
	b.click("#user-create-submit")
	b.waitText("#message-text", "Create user carol: the two passwords differ")
	if slices.Contains(fake.CallLog(), "user create carol") {
		t.Fatal("a user was created with passwords that differ")
	}
	b.fill("#user-create-repeat", "carol-pass-1")
	b.click("#user-create-submit")
	waitCall(t, fake, "user create carol")
	b.waitExact(`tr[data-user="carol"] [data-field="role"]`, "platform-manager")
	b.waitValue("#user-create-password", "")
	loginAs := func(user, password string) int {
		resp, _ := s.do("POST", "/api/v1/login", "", api.LoginRequest{User: user, Password: password})
		return resp.StatusCode
	}
	if st := loginAs("carol", "carol-pass-1"); st != 200 {
		t.Fatalf("carol logging in with the password given in the form: %d", st)
	}
	b.click(`button[data-user="carol"][data-action="role"]`)
	b.waitText("#user-role-title", "carol")
	b.waitValue("#user-role-select", "platform-manager")
	b.choose("#user-role-select", "read-only")
	b.click("#user-role-submit")
	waitCall(t, fake, "user modify carol")
	b.waitExact(`tr[data-user="carol"] [data-field="role"]`, "read-only")
	b.shot("users")

	// The audit log has the creations, refused and made.
	b.click("#tab-btn-audit")
	audited := func(req, user, status string) string {
		return fmt.Sprintf(`[...document.querySelectorAll('#audit-table tbody tr')].some((tr) =>
			tr.querySelector('[data-field="request"]').textContent === %s &&
			tr.querySelector('[data-field="user"]').textContent === %s &&
			tr.querySelector('[data-field="status"]').textContent === %s &&
			tr.querySelector('[data-field="node"]').textContent === 'node0')`, js(req), js(user), js(status))
	}
	b.wait("the audit log to list carol's creation", audited("POST /api/v1/users", "admin", "201"))
	b.wait("the audit log to list app's creation", audited("POST /api/v1/vms", "admin", "201"))
	b.wait("the audit log to list the refused VM", audited("POST /api/v1/vms", "admin", "409"))
	b.wait("the audit log to list the role change", audited("PUT /api/v1/users/carol", "admin", "200"))
	b.shot("audit")

	// A read-only user: no users or audit tabs (the page was left on
	// one), and their own password to change.
	b.click("#logout")
	b.login("carol", "carol-pass-1")
	b.wait("waiting for carol's role", `document.getElementById('app-view').dataset.admin === 'no'`)
	b.waitExact("#system-name", "lab")
	if v := b.eval(`[document.getElementById('tab-btn-users').hidden, document.getElementById('tab-btn-audit').hidden,
		document.getElementById('tab-users').hidden, document.getElementById('tab-audit').hidden].join(' ')`); v != "true true true true" {
		t.Fatalf("a read-only user's users and audit tabs and views hidden: %s", v)
	}
	b.click("#password-open")
	b.waitText("#password-title", "Change my password (carol)")
	b.fill("#password-new", "carol-pass-2")
	b.fill("#password-repeat", "carol-pass-2")
	b.click("#password-submit")
	waitCalls(t, fake, "user modify carol", 2)
	b.waitText("#notice", "Password of carol changed")
	b.wait("the password form to close", `document.getElementById('password-form').hidden && document.getElementById('password-new').value === ''`)
	if now, old := loginAs("carol", "carol-pass-2"), loginAs("carol", "carol-pass-1"); now != 200 || old != 401 {
		t.Fatalf("carol logging in with the new password: %d, the old: %d; want 200, 401", now, old)
	}

	// Back as admin: carol deleted, confirmed.
	b.click("#logout")
	b.login("admin", apitest.Password)
	b.wait("waiting for the role", `document.getElementById('app-view').dataset.admin === 'yes'`)
	b.click("#tab-btn-users")
	b.click(`button[data-user="carol"][data-action="delete"]`)
	waitCall(t, fake, "user delete carol")
	b.waitGone(`tr[data-user="carol"]`)
	if d := b.dialogLog(); len(d) != 5 || !strings.Contains(d[4], "Delete user carol?") {
		t.Fatalf("dialogs %q, want the fifth asking before deleting carol", d)
	}
	if n := b.eval(`String(document.querySelectorAll('button[data-user="admin"][data-action="delete"], button[data-user="admin"][data-action="role"]').length)`); n != "0" {
		t.Fatalf("the built-in admin offers %s delete or role buttons", n)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		t.Fatalf("the page threw: %q", b.exceptions)
	}
}

// TestConsoleStorageAndVCDsInBrowser drives the storage group form
// (create, refused, extend with erase) and the virtual CDs (upload of a
// file chosen in the page, refused upload, delete), checking what
// reached the fake backend.
func TestConsoleStorageAndVCDsInBrowser(t *testing.T) {
	if os.Getenv("LOCKSTEP_NETWORK_TESTS") != "1" {
		t.Skip("set LOCKSTEP_NETWORK_TESTS=1 to test the console in headless Chromium")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	s := start(t, nil)
	fake := s.backend
	var free map[string][]string // each fake node's disks in no group
	fake.Edit(func(b *apitest.Backend) {
		free = map[string][]string{}
		for node, ds := range b.Disks {
			for id, d := range ds {
				if d.Found == "" {
					free[node] = append(free[node], id)
				}
			}
		}
	})
	if len(free["node0"]) != 1 || len(free["node1"]) != 1 {
		t.Fatalf("the fake's blank disks %q, want one a node", free)
	}
	const used1 = "wwn:naa.5002538e4a1b9f00" // node1's disk with a file system
	b := newBrowser(t, ctx)
	b.do("opening the console", chromedp.Navigate(s.url+"/"))
	b.login("admin", apitest.Password)
	b.click("#tab-btn-storage")
	b.waitVisible(`tr[data-group="sg0"]`)

	// Refused: node1's disk is not blank; the reason is shown.
	b.click("#storage-create-open")
	b.waitVisible("#storage-disks-node1")
	b.fill("#storage-name", "bulk")
	b.fill("#storage-disks-node0", free["node0"][0])
	b.fill("#storage-disks-node1", used1)
	b.click("#storage-submit")
	waitCall(t, fake, "storage create bulk")
	if r := b.reasons("Create storage group bulk: refused"); len(r) != 1 ||
		!strings.HasPrefix(r[0], `node1: disk "`+used1+`" (/dev/sde) is not blank: ext4 file system`) {
		t.Fatalf("reasons shown %q", r)
	}

	// Created from the blank disks.
	b.fill("#storage-disks-node1", free["node1"][0])
	b.click("#storage-submit")
	waitCalls(t, fake, "storage create bulk", 2)
	b.waitExact(`tr[data-group="bulk"] [data-field="size"]`, "1.7 TiB")
	b.waitText("#notice", "Storage group bulk created")
	b.wait("the storage form to close", `document.getElementById('storage-form').hidden && document.getElementById('message').hidden`)
	var st api.StorageList
	s.getJSON("/api/v1/storage", &st)
	i := slices.IndexFunc(st.Groups, func(g api.StorageGroup) bool { return g.Name == "bulk" })
	if i < 0 || !slices.Equal(st.Groups[i].Nodes["node0"].Devices, []string{"/dev/sdd"}) || !slices.Equal(st.Groups[i].Nodes["node1"].Devices, []string{"/dev/sdd"}) {
		t.Fatalf("storage groups after the create %+v", st.Groups)
	}

	// Extended with the disks that are not blank, erased once confirmed.
	b.click(`button[data-group="bulk"][data-action="extend"]`)
	b.waitText("#storage-title", "Add disks to storage group bulk")
	b.waitVisible("#storage-disks-node1")
	if b.eval(`String(document.getElementById('storage-name').closest('[hidden]') !== null)`) != "true" {
		t.Fatal("the extend form shows the name field")
	}
	b.fill("#storage-disks-node0", "wwn:naa.5002538e4a1b2c3d")
	b.fill("#storage-disks-node1", used1)
	b.click("#storage-erase")
	b.click("#storage-submit")
	waitCall(t, fake, "storage extend bulk")
	b.waitText("#notice", "Storage group bulk now")
	b.waitText(`tr[data-group="bulk"]`, "/dev/sdd, /dev/sde")
	if d := b.dialogLog(); len(d) != 1 || !strings.Contains(d[0], "Erase") {
		t.Fatalf("dialogs %q, want one asking before erasing", d)
	}
	s.getJSON("/api/v1/storage", &st)
	i = slices.IndexFunc(st.Groups, func(g api.StorageGroup) bool { return g.Name == "bulk" })
	if i < 0 || len(st.Groups[i].Nodes["node0"].Devices) != 2 || len(st.Groups[i].Nodes["node1"].Devices) != 2 {
		t.Fatalf("storage groups after the extend %+v", st.Groups)
	}
	fake.Edit(func(b *apitest.Backend) {
		if n := len(b.Disks["node0"]) + len(b.Disks["node1"]); n != 0 {
			t.Errorf("the fake has %d disks in no group, want 0", n)
		}
	})

	// A VCD uploaded from a file chosen in the page.
	iso := bytes.Repeat([]byte("LOCKSTEP-ISO."), 300) // 3900 bytes
	file := filepath.Join(t.TempDir(), "tools.iso")
	if err := os.WriteFile(file, iso, 0o644); err != nil {
		t.Fatal(err)
	}
	b.waitExact(`tr[data-vcd="debian-13.iso"] [data-field="size"]`, "783.0 MiB")
	b.do("choosing the ISO", chromedp.SetUploadFiles(chromedp.CSS("#vcd-file"), []string{file}))

	// Refused: a name the system does not take.
	b.fill("#vcd-name", "bad name")
	b.click("#vcd-submit")
	waitCall(t, fake, "vcd put bad name")
	if r := b.reasons("Upload virtual CD bad name: refused"); len(r) != 1 || !strings.HasPrefix(r[0], `VCD name "bad name": use up to 128`) {
		t.Fatalf("reasons shown %q", r)
	}

	// Named after the file when no name is given.
	b.fill("#vcd-name", "")
	b.click("#vcd-submit")
	waitCall(t, fake, "vcd put tools.iso")
	b.waitExact(`tr[data-vcd="tools.iso"] [data-field="size"]`, "3.8 KiB")
	b.waitText("#notice", "Virtual CD tools.iso uploaded")
	sum := sha256.Sum256(iso)
	b.waitExact(`tr[data-vcd="tools.iso"] [data-field="sha256"]`, hex.EncodeToString(sum[:]))
	if got := b.eval(`document.querySelector('tr[data-vcd="tools.iso"] [data-field="size"]').dataset.bytes`); got != "3900" {
		t.Fatalf("size shown %s bytes, want 3900", got)
	}
	if b.eval(`String(document.getElementById('vcd-progress').hidden && document.getElementById('vcd-file').value === '')`) != "true" {
		t.Fatal("the upload form was not reset")
	}
	var cds api.VCDList
	s.getJSON("/api/v1/vcds", &cds)
	if i := slices.IndexFunc(cds.VCDs, func(v api.VCD) bool { return v.Name == "tools.iso" }); i < 0 || cds.VCDs[i].SizeBytes != 3900 {
		t.Fatalf("VCDs after the upload %+v", cds.VCDs)
	}

	// Deleted, once confirmed.
	b.click(`button[data-vcd="tools.iso"][data-action="delete"]`)
	waitCall(t, fake, "vcd delete tools.iso")
	b.waitGone(`tr[data-vcd="tools.iso"]`)
	if d := b.dialogLog(); len(d) != 2 || !strings.Contains(d[1], "Delete virtual CD tools.iso") {
		t.Fatalf("dialogs %q, want the second asking before deleting tools.iso", d)
	}
	s.getJSON("/api/v1/vcds", &cds)
	if len(cds.VCDs) != 1 || cds.VCDs[0].Name != "debian-13.iso" {
		t.Fatalf("VCDs after the delete %+v", cds.VCDs)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		t.Fatalf("the page threw: %q", b.exceptions)
	}
}
