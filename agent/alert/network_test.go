package alert

// Tests against real receivers: Debian's aiosmtpd (python3-aiosmtpd) as
// the SMTP server, Debian's snmptrapd as the trap receiver and pysmi
// (python3-pysmi) as a strict SMIv2 parser of LOCKSTEP-MIB. They run with
// LOCKSTEP_NETWORK_TESTS=1, as `make test` sets it, and then a missing
// program fails the test, naming its package (ci/deps.sh installs them);
// without it they are skipped. Every server listens on 127.0.0.1 only
// and ends with its test.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// debianPython is Debian's interpreter, which the python3-* packages
// install into; a python3 earlier on PATH (pyenv, a venv) has none of
// them.
const debianPython = "/usr/bin/python3"

func networkTests(t *testing.T) {
	t.Helper()
	if os.Getenv("LOCKSTEP_NETWORK_TESTS") != "1" {
		t.Skip("set LOCKSTEP_NETWORK_TESTS=1 to test against aiosmtpd and snmptrapd")
	}
}

// needProgram fails the test unless path runs, naming the Debian package
// that brings it.
func needProgram(t *testing.T, pkg string, path string, args ...string) {
	t.Helper()
	if out, err := exec.Command(path, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s\ninstall the Debian package %s (ci/deps.sh does)", path, strings.Join(args, " "), err, out, pkg)
	}
}

// freePort is a port of 127.0.0.1 that was free a moment ago; callers
// retry if a program then cannot bind it.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// stopOnCleanup ends cmd when the test does: closing its standard input
// asks it to stop (smtpd.py), then a kill, then the wait that reaps it.
func stopOnCleanup(t *testing.T, cmd *exec.Cmd, stdin io.Closer, done <-chan error) {
	t.Cleanup(func() {
		if stdin != nil {
			stdin.Close()
			select {
			case <-done:
				return
			case <-time.After(5 * time.Second):
			}
		}
		cmd.Process.Kill()
		<-done
	})
}

// --- certificates ---

type testPKI struct {
	caPEM, otherCAPEM string // otherCA signed nothing the server has
	certFile, keyFile string // the server's, for 127.0.0.1, signed by ca
}

func newPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	newCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(time.Now().UnixNano()),
			Subject:               pkix.Name{CommonName: name},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert, key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	ca, caKey, caPEM := newCA("Lockstep test CA")
	_, _, otherPEM := newCA("Some other CA")

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano() + 1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{caPEM: caPEM, otherCAPEM: otherPEM,
		certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server.key")}
	if err := os.WriteFile(p.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// --- SMTP ---

type smtpServer struct {
	port int
	out  string // JSON lines, one per message received
}

type received struct {
	MailFrom string   `json:"mail_from"`
	RcptTos  []string `json:"rcpt_tos"`
	Data     string   `json:"data"` // base64
	AuthUser *string  `json:"auth_user"`
	TLS      bool     `json:"tls"`
}

// startSMTPD runs testdata/smtpd.py in mode ("none", "starttls", "tls"),
// with AUTH accepting user and password if user is not "".
func startSMTPD(t *testing.T, pki testPKI, mode, user, password string) smtpServer {
	t.Helper()
	out := filepath.Join(t.TempDir(), "received.jsonl")
	var lastErr string
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t, "tcp")
		args := []string{"testdata/smtpd.py", "--port", fmt.Sprint(port), "--out", out, "--mode", mode,
			"--cert", pki.certFile, "--key", pki.keyFile}
		if user != "" {
			args = append(args, "--user", user, "--password", password)
		}
		cmd := exec.Command(debianPython, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		ready := make(chan bool, 1)
		go func() {
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			ready <- strings.TrimSpace(line) == "ready"
			io.Copy(io.Discard, stdout)
			done <- cmd.Wait()
		}()
		stopOnCleanup(t, cmd, stdin, done)
		select {
		case ok := <-ready:
			if ok {
				return smtpServer{port: port, out: out}
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("smtpd.py did not start in 30 s:\n%s", stderr.String())
		}
		<-done
		lastErr = stderr.String()
	}
	t.Fatalf("smtpd.py did not start:\n%s", lastErr)
	return smtpServer{}
}

func (s smtpServer) received(t *testing.T) []received {
	t.Helper()
	b, err := os.ReadFile(s.out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var rs []received
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r received
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestEmailToAiosmtpd(t *testing.T) {
	networkTests(t)
	needProgram(t, "python3-aiosmtpd", debianPython, "-c", "import aiosmtpd")
	pki := newPKI(t)
	const user, password = "alerts@example.com", "correct horse"

	m := testMessage()
	m.Alert.Message = "Überhitzung: 90 °C\r\nBcc: evil@example.net"
	m.Alert.Node = "node1\r\nX-Injected: yes"
	to := []string{"ops@example.com", "oncall@example.org"}
	settings := func(s smtpServer, security, ca, username string) api.EmailSettings {
		return api.EmailSettings{Server: "127.0.0.1", Port: s.port, Security: security, CA: ca,
			Username: username, From: "lockstep@example.com", To: to}
	}
	send := func(e api.EmailSettings, password string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return SendEmail(ctx, e, password, m)
	}
	// check asserts s got exactly one message, m, and returns it.
	check := func(t *testing.T, s smtpServer, wantTLS bool, wantUser string) {
		t.Helper()
		rs := s.received(t)
		if len(rs) != 1 {
			t.Fatalf("%d messages received, want 1", len(rs))
		}
		r := rs[0]
		if r.MailFrom != "lockstep@example.com" || strings.Join(r.RcptTos, ",") != strings.Join(to, ",") {
			t.Errorf("envelope from %q to %v", r.MailFrom, r.RcptTos)
		}
		if r.TLS != wantTLS {
			t.Errorf("session encrypted: %v, want %v", r.TLS, wantTLS)
		}
		switch {
		case wantUser == "" && r.AuthUser != nil:
			t.Errorf("authenticated as %q, want no AUTH", *r.AuthUser)
		case wantUser != "" && (r.AuthUser == nil || *r.AuthUser != wantUser):
			t.Errorf("authenticated as %v, want %q", r.AuthUser, wantUser)
		}
		raw, err := base64.StdEncoding.DecodeString(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		p := parseMessage(t, raw)
		checkWellFormed(t, p)
		if got, want := decodedSubject(t, p), subject(m); got != want {
			t.Errorf("Subject %q, want %q", got, want)
		}
		if _, ok := p.header["X-Injected"]; ok {
			t.Errorf("the node's line break made a header")
		}
		if tos, err := p.header.AddressList("To"); err != nil || len(tos) != 2 {
			t.Errorf("To: %v %v", tos, err)
		}
		for _, line := range []string{
			"Severity:  critical", "Node:      node1 X-Injected: yes", "Code:      node.lost",
			"Message:   Überhitzung: 90 °C", "           Bcc: evil@example.net",
			"Alert ID:  42", "System:    prod-pair", "System ID: 3f2a9c", "Time:      2026-11-26T07:30:05Z",
		} {
			if !strings.Contains(p.body, line+"\r\n") {
				t.Errorf("body lacks %q:\n%s", line, p.body)
			}
		}
	}

	t.Run("none", func(t *testing.T) {
		s := startSMTPD(t, pki, "none", "", "")
		if err := send(settings(s, api.SecurityNone, "", ""), ""); err != nil {
			t.Fatal(err)
		}
		check(t, s, false, "")
	})
	t.Run("starttls+auth", func(t *testing.T) {
		s := startSMTPD(t, pki, "starttls", user, password)
		if err := send(settings(s, api.SecuritySTARTTLS, pki.caPEM, user), password); err != nil {
			t.Fatal(err)
		}
		check(t, s, true, user)
	})
	t.Run("tls+auth", func(t *testing.T) {
		s := startSMTPD(t, pki, "tls", user, password)
		if err := send(settings(s, api.SecurityTLS, pki.caPEM, user), password); err != nil {
			t.Fatal(err)
		}
		check(t, s, true, user)
	})
	t.Run("starttls not offered", func(t *testing.T) {
		s := startSMTPD(t, pki, "none", "", "")
		err := send(settings(s, api.SecuritySTARTTLS, pki.caPEM, ""), "")
		t.Logf("error: %v", err)
		want := fmt.Sprintf("smtp 127.0.0.1:%d: STARTTLS: the server does not offer STARTTLS", s.port)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %v, want one starting %q", err, want)
		}
		if n := len(s.received(t)); n != 0 {
			t.Errorf("%d messages received", n)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		s := startSMTPD(t, pki, "starttls", user, password)
		err := send(settings(s, api.SecuritySTARTTLS, pki.caPEM, user), "wrong")
		t.Logf("error: %v", err)
		want := fmt.Sprintf("smtp 127.0.0.1:%d: AUTH: 535", s.port)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %v, want one starting %q", err, want)
		}
		if n := len(s.received(t)); n != 0 {
			t.Errorf("%d messages received", n)
		}
	})
	for _, security := range []string{api.SecuritySTARTTLS, api.SecurityTLS} {
		t.Run(security+" wrong CA", func(t *testing.T) {
			s := startSMTPD(t, pki, security, user, password)
			for _, ca := range []string{pki.otherCAPEM, ""} { // "": the system's roots
				err := send(settings(s, security, ca, user), password)
				t.Logf("error: %v", err)
				var verr *tls.CertificateVerificationError
				var unknown x509.UnknownAuthorityError
				if !errors.As(err, &verr) || !errors.As(err, &unknown) {
					t.Errorf("CA %.30q: error %v, want a certificate verification error", ca, err)
				}
			}
			if n := len(s.received(t)); n != 0 {
				t.Errorf("%d messages received", n)
			}
		})
	}
	t.Run("one recipient refused", func(t *testing.T) {
		s := startSMTPD(t, pki, "none", "", "")
		e := settings(s, api.SecurityNone, "", "")
		e.To = []string{"ops@example.com", "refused@example.com"}
		err := send(e, "")
		t.Logf("error: %v", err)
		if err == nil || !strings.Contains(err.Error(), "RCPT TO <refused@example.com>: 550") {
			t.Errorf("error %v, want one naming the refused RCPT TO", err)
		}
		rs := s.received(t)
		if len(rs) != 1 || strings.Join(rs[0].RcptTos, ",") != "ops@example.com" {
			t.Errorf("received %+v, want the message for ops@example.com", rs)
		}
	})
}

// --- SNMP ---

// snmptrapd is a running snmptrapd and the file it logs traps to, one
// line each (the -F format).
type snmptrapd struct {
	port int
	log  string
}

const trapFormat = `LSTRAP version=%s community=%u generic=%w specific=%q enterprise=%N agent=%a varbinds:|%V|%v\n`

func startSnmptrapd(t *testing.T, community string) snmptrapd {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "snmptrapd.conf")
	// disableAuthorization stays off: a trap is logged only with the
	// community authCommunity names.
	if err := os.WriteFile(conf, []byte("authCommunity log,execute,net "+community+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "traps.log")
	var lastErr string
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t, "udp")
		cmd := exec.Command("/usr/sbin/snmptrapd", "-f", "-C", "-c", conf, "-n", "-X", "-t",
			"-m", "", "-M", dir, "-On", "-Oa", "-Lf", logFile, "-F", trapFormat,
			"-p", filepath.Join(dir, "pid"), fmt.Sprintf("udp:127.0.0.1:%d", port))
		// Its persistent state and any further configuration stay in the
		// test's directory, not /var/lib/snmp.
		cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+dir, "SNMPCONFPATH="+dir, "MIBS=", "MIBDIRS="+dir)
		var output bytes.Buffer
		cmd.Stdout, cmd.Stderr = &output, &output
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		stopOnCleanup(t, cmd, nil, done)
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(logFile)
			if strings.Contains(string(b), "NET-SNMP version") {
				return snmptrapd{port: port, log: logFile}
			}
			select {
			case <-done:
				b, _ := os.ReadFile(logFile)
				lastErr = output.String() + string(b)
				deadline = time.Time{}
			case <-time.After(50 * time.Millisecond):
			}
		}
		if !deadline.IsZero() {
			t.Fatalf("snmptrapd did not start in 20 s:\n%s", output.String())
		}
	}
	t.Fatalf("snmptrapd did not start:\n%s", lastErr)
	return snmptrapd{}
}

// waitFor returns the first logged trap line that holds marker.
func (s snmptrapd) waitFor(t *testing.T, marker string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(s.log)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "LSTRAP ") && strings.Contains(l, marker) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no trap with %q logged:\n%s", marker, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTrapsToSnmptrapd(t *testing.T) {
	networkTests(t)
	needProgram(t, "snmptrapd", "/usr/sbin/snmptrapd", "-v")
	const community = "lockstep-test"
	s := startSnmptrapd(t, community)
	target := func(version, community string) api.SNMPTarget {
		return api.SNMPTarget{Host: "127.0.0.1", Port: s.port, Version: version, Community: community}
	}
	send := func(tg api.SNMPTarget, m Message) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := SendTrap(ctx, tg, m); err != nil {
			t.Fatal(err)
		}
	}
	// Each trap is told apart by its code.
	msg := func(code, severity string, test, cleared bool) Message {
		m := testMessage()
		m.Alert.Code, m.Alert.Severity, m.Test, m.Alert.Cleared = code, severity, test, cleared
		m.Alert.Message = "Lüfter 2 steht still"
		return m
	}

	// The wrong community goes first: once a later trap is logged, it
	// would have been too, had snmptrapd accepted it.
	send(target(api.SNMPv2c, "wrong"), msg("wrong.community.v2c", "critical", false, false))
	send(target(api.SNMPv1, "wrong"), msg("wrong.community.v1", "critical", false, false))
	send(target(api.SNMPv2c, community), msg("fan.stopped.v2c", "error", false, false))
	send(target(api.SNMPv1, community), msg("fan.stopped.v1", "warning", false, true))
	send(target(api.SNMPv2c, community), msg("alert.test.v2c", "info", true, false))
	send(target(api.SNMPv1, community), msg("alert.test.v1", "info", true, false))

	// varbind is how snmptrapd -On -Oa prints one. It shows every byte
	// that is not printable ASCII as ".": "ü" is two.
	varbind := func(object, value string) string {
		return "|." + object + ".0 = " + value
	}
	common := []string{
		varbind(oidObjects+".1", "Gauge32: 42"),
		varbind(oidObjects+".2", `STRING: "2026-11-26T07:30:05Z"`),
		varbind(oidObjects+".4", `STRING: "node1"`),
		varbind(oidObjects+".6", `STRING: "L..fter 2 steht still"`),
		varbind(oidObjects+".8", `STRING: "prod-pair"`),
		varbind(oidObjects+".9", `STRING: "3f2a9c"`),
	}
	for _, c := range []struct {
		code, version, trapOID, specific, severity, cleared string
	}{
		{"fan.stopped.v2c", "1", oidAlert, "0", "3", "2"},
		{"fan.stopped.v1", "0", oidAlert, "1", "2", "1"},
		{"alert.test.v2c", "1", oidTestAlert, "0", "1", "2"},
		{"alert.test.v1", "0", oidTestAlert, "2", "1", "2"},
	} {
		line := s.waitFor(t, `"`+c.code+`"`)
		want := append([]string{
			"LSTRAP version=" + c.version + " community=" + community + " ",
			varbind(oidObjects+".5", `STRING: "`+c.code+`"`),
			varbind(oidObjects+".3", "INTEGER: "+c.severity),
			varbind(oidObjects+".7", "INTEGER: "+c.cleared),
		}, common...)
		if c.version == "0" {
			// agent-addr is the address the trap left from, not 0.0.0.0;
			// enterprise.0.specific is the notification (RFC 3584).
			g := regexp.MustCompile(`generic=6 specific=\.?(\d+) enterprise=\.([\d.]+) agent=127\.0\.0\.1 `).FindStringSubmatch(line)
			if g == nil || g[1] != c.specific || g[2]+".0."+g[1] != c.trapOID {
				t.Errorf("%s: the logged v1 trap is not enterprise-specific %s of %s from 127.0.0.1:\n%s", c.code, c.specific, c.trapOID, line)
			}
		} else {
			want = append(want, "varbinds:|.1.3.6.1.2.1.1.3.0 = Timeticks: ", "|.1.3.6.1.6.3.1.1.4.1.0 = OID: ."+c.trapOID+"|")
		}
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: the logged trap lacks %q:\n%s", c.code, w, line)
			}
		}
	}
	b, _ := os.ReadFile(s.log)
	if strings.Contains(string(b), "wrong.community") {
		t.Errorf("snmptrapd logged a trap with the wrong community:\n%s", b)
	}
}

// TestMIBIsSMIv2 parses LOCKSTEP-MIB with pysmi's strict SMIv2 grammar.
// Debian has no package with the IETF base modules it imports (they are
// in the non-free snmp-mibs-downloader, which fetches them), so neither
// net-snmp nor pysmi can resolve its imports here: this checks the
// module's own syntax, TestMIBMatchesCode its OIDs.
func TestMIBIsSMIv2(t *testing.T) {
	networkTests(t)
	needProgram(t, "python3-pysmi", debianPython, "-c", "import pysmi")
	out, err := exec.Command(debianPython, "testdata/smicheck.py", "LOCKSTEP-MIB.txt").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "LOCKSTEP-MIB" {
		t.Errorf("pysmi: %v\n%s", err, out)
	}
}
