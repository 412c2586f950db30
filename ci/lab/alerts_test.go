package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The alert receivers of the lab tests: a real SMTP server (aiosmtpd, the
// script agent/alert's own tests use) and Debian's snmptrapd, run in the
// lab's namespace on the lab host's address, where the nodes reach them
// over the management segment. TLS, AUTH and v1 traps are agent/alert's
// tests; here what counts is that the nodes send what they should, when
// they should: the survivor reports a node's loss.
const (
	alertSMTPPort  = 2525
	alertTrapPort  = 1162
	alertCommunity = "lab-traps"
)

type labReceivers struct {
	mails string // JSON lines, one per message (smtpd.py)
	traps string // snmptrapd's log, one line per trap (trapLine)
}

// trapLine is how snmptrapd logs a trap: the varbinds as OID = value.
const trapLine = `LSTRAP %V|%v\n`

// startAlertReceivers starts both receivers and points the system's alert
// settings at them, with every severity sent.
func startAlertReceivers(t *testing.T, ctx context.Context, l *Lab, logf func(string, ...any)) labReceivers {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "/usr/sbin/snmptrapd"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing (ci/deps.sh installs python3-aiosmtpd and snmptrapd): %v", p, err)
		}
	}
	dir := t.TempDir()
	r := labReceivers{mails: filepath.Join(dir, "mails.jsonl"), traps: filepath.Join(dir, "traps.log")}
	script, err := filepath.Abs("../../agent/alert/testdata/smtpd.py")
	if err != nil {
		t.Fatal(err)
	}
	smtpd := l.nsCommand("/usr/bin/python3", script, "--host", HostIP, "--port", fmt.Sprint(alertSMTPPort), "--out", r.mails)
	// smtpd.py stops when its standard input closes.
	stdin, err := smtpd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var smtpdOut bytes.Buffer
	smtpd.Stdout, smtpd.Stderr = &smtpdOut, &smtpdOut
	if err := smtpd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		stopProcess(smtpd)
	})

	conf := filepath.Join(dir, "snmptrapd.conf")
	if err := os.WriteFile(conf, []byte("authCommunity log "+alertCommunity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	trapd := l.nsCommand("/usr/sbin/snmptrapd", "-f", "-C", "-c", conf, "-n", "-t", "-m", "", "-M", dir, "-On",
		"-Lf", r.traps, "-F", trapLine, "-p", filepath.Join(dir, "snmptrapd.pid"), fmt.Sprintf("udp:%s:%d", HostIP, alertTrapPort))
	trapd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+dir, "SNMPCONFPATH="+dir, "MIBS=", "MIBDIRS="+dir)
	var trapdOut bytes.Buffer
	trapd.Stdout, trapd.Stderr = &trapdOut, &trapdOut
	if err := trapd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(trapd) })

	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(smtpdOut.String(), "ready") || !fileHas(r.traps, "NET-SNMP version") {
		if time.Now().After(deadline) {
			t.Fatalf("alert receivers did not start: smtpd: %s\nsnmptrapd: %s", smtpdOut.String(), trapdOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, args := range [][]string{
		{"alert", "email", "--smtp-server", HostIP, "--smtp-port", fmt.Sprint(alertSMTPPort), "--security", "none",
			"--from", "lab@lockstep.test", "--to", "ops@lockstep.test"},
		{"alert", "snmp", "add", "--host", HostIP, "--port", fmt.Sprint(alertTrapPort), "--version", "v2c", "--community", alertCommunity},
		{"alert", "severity", "info"},
	} {
		if out, err := l.CLI(ctx, "", args...); err != nil {
			t.Fatalf("lockstep %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	out, err := l.CLI(ctx, "", "alert", "test")
	if err != nil {
		t.Fatalf("alert test: %v\n%s", err, out)
	}
	mail := r.waitMail(t, "system.test", "", time.Minute)
	trap := r.waitTrap(t, "system.test", time.Minute)
	logf("alerts: test alert delivered by email (%q) and as an SNMP trap (%d varbinds)", mail.Header.Get("Subject"), strings.Count(trap, "="))
	return r
}

func (l *Lab) nsCommand(argv ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.cfg.Namespace}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func stopProcess(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func fileHas(path, s string) bool {
	b, _ := os.ReadFile(path)
	return bytes.Contains(b, []byte(s))
}

// waitMail waits for a message whose subject names code (and node, if
// given: the node that raised it is in the body).
func (r labReceivers) waitMail(t *testing.T, code, node string, timeout time.Duration) *mail.Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var subjects []string
	for {
		subjects = subjects[:0]
		f, err := os.Open(r.mails)
		if err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var rec struct {
					Data string `json:"data"`
				}
				if json.Unmarshal(sc.Bytes(), &rec) != nil {
					continue
				}
				raw, _ := base64.StdEncoding.DecodeString(rec.Data)
				m, err := mail.ReadMessage(bytes.NewReader(raw))
				if err != nil {
					continue
				}
				body, _ := io.ReadAll(m.Body)
				subj := m.Header.Get("Subject")
				subjects = append(subjects, subj)
				if strings.Contains(subj+" ", " "+code+" ") && (node == "" || strings.Contains(string(body), node)) {
					f.Close()
					m.Body = bytes.NewReader(body)
					return m
				}
			}
			f.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no email for %s %s in %v; the receiver has: %q", code, node, timeout, subjects)
		}
		time.Sleep(time.Second)
	}
}

// waitTrap waits for a trap that carries code and returns its line.
func (r labReceivers) waitTrap(t *testing.T, code string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(r.traps)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "LSTRAP") && strings.Contains(line, `"`+code+`"`) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SNMP trap for %s in %v; the receiver logged:\n%s", code, timeout, b)
		}
		time.Sleep(time.Second)
	}
}
