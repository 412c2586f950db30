package alert

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lockstep-ft/lockstep/agent/api"
)

var alertTime = time.Date(2026, 11, 26, 8, 30, 5, 0, time.FixedZone("CET", 3600))

func testMessage() Message {
	return Message{
		System:   "prod-pair",
		SystemID: "3f2a9c",
		Alert: api.Alert{
			ID:       42,
			Time:     alertTime,
			Severity: "critical",
			Node:     "node1",
			Code:     "node.lost",
			Message:  "node1 stopped answering on every link",
		},
	}
}

// parsed is a message as a mail reader sees it, with its body decoded.
type parsed struct {
	raw    []byte
	header mail.Header
	body   string
}

func parseMessage(t *testing.T, raw []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v\n%s", err, raw)
	}
	var r io.Reader = msg.Body
	switch cte := msg.Header.Get("Content-Transfer-Encoding"); cte {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "7bit":
	default:
		t.Fatalf("Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return parsed{raw: raw, header: msg.Header, body: string(b)}
}

func decodedSubject(t *testing.T, p parsed) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
	if err != nil {
		t.Fatalf("Subject %q: %v", p.header.Get("Subject"), err)
	}
	return s
}

// checkWellFormed checks what any message must be: CRLF line ends only,
// ASCII headers of at most 998 bytes, exactly the expected headers.
func checkWellFormed(t *testing.T, p parsed) {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(p.raw, []byte("\r\n"), nil), []byte("\n")) ||
		bytes.Contains(bytes.ReplaceAll(p.raw, []byte("\r\n"), nil), []byte("\r")) {
		t.Errorf("a bare CR or LF in the message:\n%q", p.raw)
	}
	head, _, _ := bytes.Cut(p.raw, []byte("\r\n\r\n"))
	for _, l := range strings.Split(string(head), "\r\n") {
		if len(l) > 998 {
			t.Errorf("header line of %d bytes", len(l))
		}
		for _, c := range []byte(l) {
			if c >= 0x80 {
				t.Errorf("header line not ASCII: %q", l)
				break
			}
		}
	}
	var keys []string
	for k := range p.header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "From",
		"Message-Id", "Mime-Version", "Subject", "To"}
	if !slices.Equal(keys, want) {
		t.Errorf("headers %v, want %v", keys, want)
	}
	for _, k := range want {
		if n := len(p.header[k]); n != 1 {
			t.Errorf("%d %s headers", n, k)
		}
	}
}

func TestMessageHeadersAndBody(t *testing.T) {
	m := testMessage()
	now := time.Date(2026, 11, 26, 8, 30, 7, 0, time.UTC)
	to := []string{"ops@example.com", "oncall@example.org"}
	p := parseMessage(t, buildMessage("lockstep@example.com", to, m, now, "<abc@example.com>"))
	checkWellFormed(t, p)

	if got, want := decodedSubject(t, p), "[Lockstep prod-pair] CRITICAL node.lost on node1: node1 stopped answering on every link"; got != want {
		t.Errorf("Subject %q, want %q", got, want)
	}
	if d, err := p.header.Date(); err != nil || !d.Equal(now) {
		t.Errorf("Date %v, %v; want %v", d, err, now)
	}
	if got := p.header.Get("From"); got != "<lockstep@example.com>" {
		t.Errorf("From %q", got)
	}
	tos, err := p.header.AddressList("To")
	if err != nil || len(tos) != 2 || tos[0].Address != to[0] || tos[1].Address != to[1] {
		t.Errorf("To %v, %v", tos, err)
	}
	for k, v := range map[string]string{
		"Message-Id":                "<abc@example.com>",
		"Mime-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "7bit",
		"Auto-Submitted":            "auto-generated",
	} {
		if got := p.header.Get(k); got != v {
			t.Errorf("%s %q, want %q", k, got, v)
		}
	}
	for _, line := range []string{
		"The Lockstep system prod-pair raised an alert.",
		"This alert is ACTIVE: what it reports is still the case.",
		"Time:      2026-11-26T07:30:05Z",
		"Severity:  critical",
		"Node:      node1",
		"Code:      node.lost",
		"Message:   node1 stopped answering on every link",
		"Cleared:   no",
		"Alert ID:  42",
		"System:    prod-pair",
		"System ID: 3f2a9c",
	} {
		if !strings.Contains(p.body, line+"\r\n") {
			t.Errorf("body lacks the line %q:\n%s", line, p.body)
		}
	}
}

func TestSubject(t *testing.T) {
	m := testMessage()
	cleared := m
	cleared.Alert.Cleared = true
	cleared.Alert.Severity = "warning"
	test := m
	test.Test = true
	test.Alert.Severity, test.Alert.Code, test.Alert.Node, test.Alert.Message = "info", "alert.test", "", "test alert from the web interface"
	long := m
	long.Alert.Message = strings.Repeat("x", 300)
	for _, c := range []struct {
		m    Message
		want string
	}{
		{m, "[Lockstep prod-pair] CRITICAL node.lost on node1: node1 stopped answering on every link"},
		{cleared, "[Lockstep prod-pair] WARNING node.lost on node1 (cleared): node1 stopped answering on every link"},
		{test, "[Lockstep prod-pair] TEST INFO alert.test: test alert from the web interface"},
		{long, "[Lockstep prod-pair] CRITICAL node.lost on node1: " + strings.Repeat("x", subjectMessageRunes-1) + "…"},
	} {
		if got := subject(c.m); got != c.want {
			t.Errorf("subject %q, want %q", got, c.want)
		}
	}
}

func TestBodyClearedAndTest(t *testing.T) {
	m := testMessage()
	m.Alert.Cleared = true
	m.Alert.Node = ""
	b := body(m)
	for _, s := range []string{"This alert is CLEARED", "Cleared:   yes\n", "Node:      (the system as a whole)\n"} {
		if !strings.Contains(b, s) {
			t.Errorf("cleared body lacks %q:\n%s", s, b)
		}
	}
	m.Test = true
	if b := body(m); !strings.Contains(b, "This is a test alert") || strings.Contains(b, "raised an alert") {
		t.Errorf("test body:\n%s", b)
	}
}

// TestNoHeaderInjection: line breaks anywhere in the alert or the
// system's name must not start a header of their own.
func TestNoHeaderInjection(t *testing.T) {
	m := testMessage()
	m.System = "prod\r\nBcc: evil@example.net"
	m.Alert.Node = "node1\r\nBcc: x@example.net"
	m.Alert.Code = "node.lost\nX-Injected: 1"
	m.Alert.Message = "first line\r\nBcc: x@example.net\r\n\r\nbody?\rCc: y@example.net\u2028Reply-To: z@example.net"
	m.Alert.Severity = "critical\r\nSubject: spoofed"
	p := parseMessage(t, buildMessage("lockstep@example.com", []string{"ops@example.com"}, m, time.Now(), "<a@b>"))
	checkWellFormed(t, p)
	for _, h := range []string{"Bcc", "Cc", "X-Injected", "Reply-To"} {
		if v, ok := p.header[h]; ok {
			t.Errorf("header %s: %q", h, v)
		}
	}
	subj := decodedSubject(t, p)
	if strings.ContainsAny(subj, "\r\n") || !strings.Contains(subj, "node1 Bcc: x@example.net") {
		t.Errorf("Subject %q", subj)
	}
	// The body keeps the message's lines, each under the label.
	if !strings.Contains(p.body, "Message:   first line\r\n           Bcc: x@example.net\r\n           \r\n           body?\r\n           Cc: y@example.net Reply-To: z@example.net\r\n") {
		t.Errorf("body:\n%q", p.body)
	}
}

func TestNonASCIIRoundTrip(t *testing.T) {
	m := testMessage()
	m.System = "Prüfstand"
	m.Alert.Node = "nœud1"
	m.Alert.Message = "Überhitzung: 90 °C — Lüfter 2 steht still. " + strings.Repeat("Ärger ", 200) + "\xff"
	raw := buildMessage("lockstep@example.com", []string{"ops@example.com"}, m, time.Now(), "<a@b>")
	p := parseMessage(t, raw)
	checkWellFormed(t, p)
	if got := p.header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding %q", got)
	}
	if !strings.Contains(p.header.Get("Subject"), "=?utf-8?q?") {
		t.Errorf("Subject not encoded: %q", p.header.Get("Subject"))
	}
	if got, want := decodedSubject(t, p), subject(m); got != want {
		t.Errorf("Subject %q, want %q", got, want)
	}
	if !utf8.ValidString(subject(m)) {
		t.Errorf("subject not UTF-8")
	}
	if want := strings.ReplaceAll(body(m), "\n", "\r\n"); p.body != want {
		t.Errorf("body after quoted-printable:\n%q\nwant\n%q", p.body, want)
	}
	// Header lines are folded and quoted-printable lines are short.
	for _, l := range strings.Split(string(raw), "\r\n") {
		if len(l) > 78 {
			t.Errorf("line of %d bytes: %q", len(l), l)
		}
	}
}

func TestMessageID(t *testing.T) {
	re := regexp.MustCompile(`^<[0-9a-f]{32}@([^>]+)>$`)
	for _, c := range []struct{ from, system, domain string }{
		{"lockstep@alerts.example.com", "3f2a9c", "alerts.example.com"},
		{"lockstep@[192.0.2.1]", "3f2a9c", "3f2a9c.lockstep.invalid"},
		{"lockstep@[192.0.2.1]", "", "lockstep.invalid"},
	} {
		id, err := messageID(c.from, c.system)
		if err != nil {
			t.Fatal(err)
		}
		if g := re.FindStringSubmatch(id); g == nil || g[1] != c.domain {
			t.Errorf("messageID(%q, %q) = %q, want one @%s", c.from, c.system, id, c.domain)
		}
	}
	a, _ := messageID("a@example.com", "")
	b, _ := messageID("a@example.com", "")
	if a == b {
		t.Errorf("two Message-IDs are the same: %s", a)
	}
}

func TestFold(t *testing.T) {
	line := "Subject: " + strings.Repeat("word ", 40) + strings.Repeat("y", 100)
	f := fold(line)
	if strings.ReplaceAll(f, "\r\n", "") != line {
		t.Errorf("unfolding does not give the line back")
	}
	for _, l := range strings.Split(f, "\r\n") {
		if len(l) > 78 && strings.Contains(strings.TrimSpace(l), " ") {
			t.Errorf("line of %d bytes could have been folded: %q", len(l), l)
		}
	}
}

func TestHelloName(t *testing.T) {
	n := heloName(&net.TCPAddr{IP: net.ParseIP("192.0.2.7")})
	if !api.ValidHostName(n) && n != "[192.0.2.7]" {
		t.Errorf("heloName %q", n)
	}
}

// TestSendEmailChecksFirst: what can be refused without the server is,
// before any connection.
func TestSendEmailChecksFirst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan bool, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- true
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	base := api.EmailSettings{Server: "127.0.0.1", Port: port, Security: api.SecurityNone,
		From: "lockstep@example.com", To: []string{"ops@example.com"}}
	for _, c := range []struct {
		name     string
		e        api.EmailSettings
		password string
		want     string
	}{
		{"password without TLS", base, "secret", "AUTH: a password is never sent unencrypted"},
		{"unknown security", func() api.EmailSettings { e := base; e.Security = "ssl"; return e }(), "", `security "ssl"`},
		{"no recipient", func() api.EmailSettings { e := base; e.To = nil; return e }(), "", "no recipient"},
		{"bad recipient", func() api.EmailSettings { e := base; e.To = []string{"ops@example.com\r\nDATA"}; return e }(), "", "is not an address"},
		{"bad CA", func() api.EmailSettings {
			e := base
			e.Security, e.CA = api.SecuritySTARTTLS, "not PEM"
			return e
		}(), "", "ca: no PEM certificate"},
	} {
		err := SendEmail(context.Background(), c.e, c.password, testMessage())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one with %q", c.name, err, c.want)
		}
	}
	select {
	case <-accepted:
		t.Errorf("SendEmail connected to the server")
	case <-time.After(50 * time.Millisecond):
	}
}

// TestSendEmailHonoursContext: a server that accepts and then says
// nothing holds SendEmail only until ctx ends.
func TestSendEmailHonoursContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	e := api.EmailSettings{Server: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Security: api.SecurityNone,
		From: "lockstep@example.com", To: []string{"ops@example.com"}}
	for _, cancelled := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		if cancelled {
			time.AfterFunc(100*time.Millisecond, cancel)
		}
		start := time.Now()
		err := SendEmail(ctx, e, "", testMessage())
		cancel()
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("SendEmail took %v", took)
		}
		want := context.DeadlineExceeded
		if cancelled {
			want = context.Canceled
		}
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "greeting") {
			t.Errorf("error %v, want %v at the greeting", err, want)
		}
	}
}
