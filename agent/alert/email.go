package alert

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// emailTimeout bounds a whole SMTP session when ctx has no earlier
// deadline: a server that stops answering must not hold the alert up.
const emailTimeout = 30 * time.Second

// subjectMessageRunes is how much of the alert's message the subject
// carries; the body has all of it.
const subjectMessageRunes = 120

// SendEmail sends m to e.To through e's SMTP server. password is the
// stored SMTP password ("" for no AUTH).
//
// Security "starttls" fails on a server that does not offer STARTTLS
// rather than go on in plain text, and "none" never sends a password. The
// server's certificate is checked against e.CA when it is set, else the
// system's roots, for the name e.Server. A recipient the server refuses
// does not stop the others from getting the alert: the error then names
// each refused one. Errors say which step failed: "smtp
// mail.example.com:587: STARTTLS: ...".
func SendEmail(ctx context.Context, e api.EmailSettings, password string, m Message) error {
	addr := e.Address()
	deadline := time.Now().Add(emailTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	fail := func(stage string, err error) error {
		// The session's own error for a cancelled ctx is a closed
		// connection, and for the deadline an i/o timeout that may come
		// a moment before ctx's timer: ctx's error says why.
		cerr := ctx.Err()
		if cerr == nil && !time.Now().Before(deadline) {
			cerr = context.DeadlineExceeded
		}
		if cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		return fmt.Errorf("smtp %s: %s: %w", addr, stage, err)
	}
	switch e.Security {
	case api.SecurityNone, api.SecuritySTARTTLS, api.SecurityTLS:
	default:
		return fmt.Errorf("smtp %s: security %q: use %q, %q or %q", addr, e.Security, api.SecurityNone, api.SecuritySTARTTLS, api.SecurityTLS)
	}
	if password != "" && e.Security == api.SecurityNone {
		return fmt.Errorf("smtp %s: AUTH: a password is never sent unencrypted: use security %q or %q", addr, api.SecuritySTARTTLS, api.SecurityTLS)
	}
	if len(e.To) == 0 {
		return fmt.Errorf("smtp %s: no recipient", addr)
	}
	for _, a := range append([]string{e.From}, e.To...) {
		if !api.ValidMailbox(a) {
			return fmt.Errorf("smtp %s: %q is not an address (name@domain)", addr, a)
		}
	}
	var cfg *tls.Config
	if e.Security != api.SecurityNone {
		cfg = &tls.Config{ServerName: e.Server, MinVersion: tls.VersionTLS12}
		if e.CA != "" {
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM([]byte(e.CA)) {
				return fmt.Errorf("smtp %s: ca: no PEM certificate in it", addr)
			}
		}
	}
	id, err := messageID(e.From, m.SystemID)
	if err != nil {
		return fmt.Errorf("smtp %s: Message-ID: %w", addr, err)
	}
	msg := buildMessage(e.From, e.To, m, time.Now(), id)

	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail("connect", err)
	}
	defer conn.Close()
	// net/smtp takes no context: closing the connection is what ends a
	// read or write that ctx's end finds blocked.
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	if err := conn.SetDeadline(deadline); err != nil {
		return fail("connect", err)
	}
	if e.Security == api.SecurityTLS {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail("TLS", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, e.Server)
	if err != nil {
		return fail("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(heloName(conn.LocalAddr())); err != nil {
		return fail("EHLO", err)
	}
	if e.Security == api.SecuritySTARTTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail("STARTTLS", errors.New(`the server does not offer STARTTLS (security "starttls" never falls back to plain SMTP)`))
		}
		if err := c.StartTLS(cfg); err != nil {
			return fail("STARTTLS", err)
		}
	}
	if password != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return fail("AUTH", errors.New("the server does not offer AUTH"))
		}
		if !hasWord(mechs, "PLAIN") {
			return fail("AUTH", fmt.Errorf("the server offers %s, not PLAIN", mechs))
		}
		if err := c.Auth(smtp.PlainAuth("", e.Username, password, e.Server)); err != nil {
			return fail("AUTH", err)
		}
	}
	if err := c.Mail(e.From); err != nil {
		return fail("MAIL FROM <"+e.From+">", err)
	}
	var refused []error
	for _, to := range e.To {
		if err := c.Rcpt(to); err != nil {
			var reply *textproto.Error
			if !errors.As(err, &reply) {
				return fail("RCPT TO <"+to+">", err)
			}
			refused = append(refused, fail("RCPT TO <"+to+">", err))
		}
	}
	if len(refused) == len(e.To) {
		return errors.Join(refused...)
	}
	w, err := c.Data()
	if err != nil {
		return fail("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fail("DATA", err)
	}
	if err := w.Close(); err != nil {
		return fail("DATA", err)
	}
	// The server took the message with its reply to DATA: a failed QUIT
	// loses nothing.
	_ = c.Quit()
	return errors.Join(refused...)
}

// mailbox accepts a bare address, as SMTP's MAIL FROM and RCPT TO and
// the headers take it.
func hasWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, w) {
			return true
		}
	}
	return false
}

// heloName is the name EHLO gives: the host's own if it is a domain
// name, else the address literal of the connection's local end, which
// RFC 5321 asks for when there is no name; a bare "localhost" is refused
// by some servers.
func heloName(local net.Addr) string {
	if h, err := os.Hostname(); err == nil && strings.Contains(strings.Trim(h, "."), ".") && api.ValidHostName(h) {
		return h
	}
	if ta, ok := local.(*net.TCPAddr); ok {
		if ip4 := ta.IP.To4(); ip4 != nil {
			return "[" + ip4.String() + "]"
		}
		return "[IPv6:" + ta.IP.String() + "]"
	}
	return "localhost"
}

// messageID is a new, random Message-ID in the domain of from, or, when
// that is no plain domain name, one made of the system id.
func messageID(from, systemID string) (string, error) {
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	domain := from[strings.LastIndexByte(from, '@')+1:]
	if !api.ValidHostName(domain) {
		domain = strings.Map(func(r rune) rune {
			if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-') {
				return r
			}
			return -1
		}, systemID) + ".lockstep.invalid"
		domain = strings.TrimPrefix(domain, ".")
	}
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">", nil
}

// subject is the alert in one line: "[Lockstep prod-pair] CRITICAL
// node.lost on node1: ...", "TEST" before the severity of a test alert
// and "(cleared)" after the node of a cleared one.
func subject(m Message) string {
	a := m.Alert
	var b strings.Builder
	b.WriteString("[Lockstep")
	if s := oneLine(m.System); s != "" {
		b.WriteString(" " + s)
	}
	b.WriteString("] ")
	if m.Test {
		b.WriteString("TEST ")
	}
	b.WriteString(strings.ToUpper(oneLine(a.Severity)) + " " + oneLine(a.Code))
	if n := oneLine(a.Node); n != "" {
		b.WriteString(" on " + n)
	}
	if a.Cleared {
		b.WriteString(" (cleared)")
	}
	msg := oneLine(a.Message)
	if r := []rune(msg); len(r) > subjectMessageRunes {
		msg = string(r[:subjectMessageRunes-1]) + "…"
	}
	if msg != "" {
		b.WriteString(": " + msg)
	}
	return b.String()
}

// body is the alert's every field, a line each, with \n line ends.
func body(m Message) string {
	a := m.Alert
	var b strings.Builder
	system := oneLine(m.System)
	named := "the Lockstep system " + system
	if system == "" {
		named = "a Lockstep system"
	}
	if m.Test {
		fmt.Fprintf(&b, "This is a test alert from %s, sent by its\nadministrator to check that alerts arrive. Nothing is wrong.\n\n", named)
	} else {
		fmt.Fprintf(&b, "%s raised an alert.\n", strings.ToUpper(named[:1])+named[1:])
		if a.Cleared {
			b.WriteString("This alert is CLEARED: what it reported is over.\n\n")
		} else {
			b.WriteString("This alert is ACTIVE: what it reports is still the case.\n\n")
		}
	}
	node := oneLine(a.Node)
	if node == "" {
		node = "(the system as a whole)"
	}
	cleared := "no"
	if a.Cleared {
		cleared = "yes"
	}
	for _, f := range [][2]string{
		{"Time", a.Time.UTC().Format(time.RFC3339)},
		{"Severity", oneLine(a.Severity)},
		{"Node", node},
		{"Code", oneLine(a.Code)},
		{"Message", bodyText(a.Message)},
		{"Cleared", cleared},
		{"Alert ID", fmt.Sprint(a.ID)},
		{"System", system},
		{"System ID", oneLine(m.SystemID)},
	} {
		fmt.Fprintf(&b, "%-10s %s\n", f[0]+":", f[1])
	}
	return b.String()
}

// bodyText keeps the line breaks of a multi-line message, indented under
// its label, and makes the rest of it safe to print.
func bodyText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(strings.ReplaceAll(s, "\r", "\n"), "\n")
	for i, l := range lines {
		lines[i] = oneLine(l)
	}
	return strings.Join(lines, "\n           ")
}

// buildMessage is m as an RFC 5322 message with CRLF line ends. Every
// header value goes through oneLine or is a checked address, so no part
// of the alert can add a header; the body is 7bit when it is short-lined
// ASCII, else quoted-printable, which any server relays unchanged.
func buildMessage(from string, to []string, m Message, now time.Time, id string) []byte {
	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(fold(name+": "+value) + "\r\n") }
	header("Date", now.Format(time.RFC1123Z))
	header("From", (&mail.Address{Address: from}).String())
	tos := make([]string, len(to))
	for i, t := range to {
		tos[i] = (&mail.Address{Address: t}).String()
	}
	header("To", strings.Join(tos, ", "))
	header("Subject", encodeHeader(subject(m)))
	header("Message-ID", id)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	text := body(m)
	if sevenBit(text) {
		header("Content-Transfer-Encoding", "7bit")
		header("Auto-Submitted", "auto-generated")
		b.WriteString("\r\n")
		b.WriteString(strings.ReplaceAll(text, "\n", "\r\n"))
		return b.Bytes()
	}
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(text)) // writes to a bytes.Buffer do not fail
	qp.Close()
	return b.Bytes()
}

// encodeHeader encodes an unstructured header value that is not plain
// ASCII as RFC 2047 encoded-words.
func encodeHeader(s string) string {
	return mime.QEncoding.Encode("utf-8", s)
}

// sevenBit says s can go as it is in a 7bit body: ASCII in lines of at
// most 998 bytes (RFC 5322 2.1.1).
func sevenBit(s string) bool {
	for _, l := range strings.Split(s, "\n") {
		if len(l) > 998 {
			return false
		}
		for i := 0; i < len(l); i++ {
			if l[i] >= 0x80 || l[i] < 0x20 && l[i] != '\t' {
				return false
			}
		}
	}
	return true
}

// fold breaks a header line at spaces so that its lines stay within 78
// characters where a word allows (RFC 5322 2.2.3). Each break is a CRLF
// before an existing space, which unfolding removes.
func fold(line string) string {
	words := strings.Split(line, " ")
	var b strings.Builder
	n := 0
	for i, w := range words {
		if i > 0 {
			if n > 0 && n+1+len(w) > 78 {
				b.WriteString("\r\n")
				n = 0
			}
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
