package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"
)

// TestAlertOutput pins the alert settings commands' output, in order: they
// change the fake's settings. Run with -update to rewrite testdata/.
func TestAlertOutput(t *testing.T) {
	h := newScriptHarness(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "smtp.pw")
	if err := os.WriteFile(pwFile, []byte("hunter2\nsecond line ignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.wantGolden(t, []goldenCase{
		{"alert_settings_none", []string{"alert", "settings"}},
		{"alert_email", []string{"alert", "email", "--smtp-server", "smtp.example.com", "--smtp-user", "ops", "--smtp-password-file", pwFile,
			"--from", "pair@example.com", "--to", "ops@example.com", "--to", "oncall@example.com"}},
		{"alert_snmp_add", []string{"alert", "snmp", "add", "--host", "10.0.0.5", "--community", "monitor"}},
		{"alert_snmp_add_v1", []string{"alert", "snmp", "add", "--host", "nms.example.com", "--port", "9", "--version", "v1"}},
		{"alert_severity", []string{"alert", "severity", "error"}},
		{"alert_settings_json", []string{"alert", "settings", "--json"}},
	})
	// The same user again, with no password given: the stored one stays
	// and no prompt is needed.
	out := h.ok(t, "alert", "email", "--smtp-server", "smtp2.example.com", "--smtp-port", "465", "--security", "tls", "--smtp-user", "ops",
		"--from", "pair@example.com", "--to", "ops@example.com")
	if !strings.Contains(out, "smtp2.example.com:465, security tls, user ops (password set)") {
		t.Errorf("after a change keeping the password:\n%s", out)
	}
	// The fake fails a receiver on port 9; the command says so and exits 1.
	stdout, errs, code := h.run("alert", "test")
	if code != 1 || !strings.Contains(errs, "the test alert did not reach 1 of its targets") {
		t.Errorf("alert test: exit %d, %q", code, errs)
	}
	t.Run("alert_test", func(t *testing.T) { golden.RequireEqual(t, []byte(stdout)) })
	h.wantGolden(t, []goldenCase{
		{"alert_snmp_remove", []string{"alert", "snmp", "remove", "--host", "nms.example.com", "--port", "9", "--version", "v1"}},
		{"alert_test_ok", []string{"alert", "test"}},
		{"alert_list_sent", []string{"alert", "list", "--limit", "2"}},
		{"alert_email_off", []string{"alert", "email", "--off"}},
		{"alert_email_help", []string{"help", "alert", "email"}},
	})
	h.wantCalls(t, "[alert settings alert settings alert settings alert settings alert settings alert test alert settings alert test alert settings]")
}

func TestAlertErrors(t *testing.T) {
	h := newScriptHarness(t)
	h.wantErrors(t, []errCase{
		{"alert email --smtp-server smtp.example.com --from pair@example.com", 2, "give --smtp-server, --from and at least one --to"},
		{"alert email --off --to x@y.z", 2, "alert email --off takes no other flag"},
		{"alert email --smtp-server s --from a@b.c --to d@e.f --smtp-password-file x", 2, "--smtp-password-file needs --smtp-user"},
		{"alert email --smtp-server s --from a@b.c --to d@e.f --smtp-user ops", 2, "--smtp-user ops: give --smtp-password-file, or run on a terminal"},
		{"alert email --smtp-server bad_host --security none --from Ops --to d@e.f", 1, "lockstep: invalid alert settings:\n" +
			"  email: server \"bad_host\" is not a host name or IP address\n  email: from \"Ops\" is not an address (name@domain)\n"},
		{"alert snmp add", 2, "give the receiver's --host"},
		{"alert snmp add --host 10.0.0.5 --version v3", 1, "version \"v3\": use \"v1\" or \"v2c\""},
		{"alert snmp remove --host 10.9.9.9", 1, "lockstep: 10.9.9.9:162 v2c is not a trap receiver of the system\n"},
		{"alert severity loud", 2, "severity \"loud\": use one of info, warning, error, critical"},
		{"alert test", 1, "no alert target is set: give an email server or an SNMP trap receiver first"},
		{"alert", 2, "alert: which one? list, settings, email, snmp add, snmp remove, severity, test"},
	})
	h.ok(t, "alert", "snmp", "add", "--host", "10.0.0.5")
	h.wantErrors(t, []errCase{{"alert snmp add --host 10.0.0.5 --port 162", 2, "10.0.0.5:162 v2c is a trap receiver already"}})
}
