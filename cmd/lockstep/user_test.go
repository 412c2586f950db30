package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

// TestUserOutput pins the user and audit commands' output, in order.
// Run with -update to rewrite testdata/.
func TestUserOutput(t *testing.T) {
	h := newScriptHarness(t)
	dir := t.TempDir()
	file := func(name, pw string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	h.wantGolden(t, []goldenCase{
		{"user_list_admin_only", []string{"user", "list"}},
		{"user_create", []string{"user", "create", "rita", "--role", "read-only", "--new-password-file", file("rita", "rita-pass-1")}},
		{"user_create_json", []string{"user", "create", "olga", "--role", "platform-manager", "--new-password-file", file("olga", "olga-pass-1"), "--json"}},
		{"user_modify", []string{"user", "modify", "olga", "--role", "administrator"}},
		{"user_list", []string{"user", "list"}},
	})
	// rita, read-only, looks but cannot act, and changes her own password.
	h.env["LOCKSTEP_PASSWORD"] = "rita-pass-1"
	if out := h.ok(t, "--user", "rita", "vm", "list"); !strings.Contains(out, "web") {
		t.Errorf("rita's vm list:\n%s", out)
	}
	h.wantErrors(t, []errCase{
		{"--user rita vm poweroff web", 1, "lockstep: user rita (read-only) may not POST /api/v1/vms/web/poweroff: that needs the role platform-manager or higher\n"},
		{"--user rita user list", 1, "needs the role administrator"},
		{"--user rita user passwd olga --new-password-file " + file("x", "stolen-pass"), 1, "may change their own password only"},
	})
	h.wantGolden(t, []goldenCase{{"user_passwd_self", []string{"--user", "rita", "user", "passwd", "--new-password-file", file("rita2", "rita-pass-2")}}})
	h.wantErrors(t, []errCase{{"--user rita vm list", 1, "wrong user or password"}})
	h.env["LOCKSTEP_PASSWORD"] = "rita-pass-2"
	h.ok(t, "--user", "rita", "vm", "list")

	h.env["LOCKSTEP_PASSWORD"] = apitest.Password
	h.wantGolden(t, []goldenCase{
		{"user_delete", []string{"user", "delete", "rita", "--yes"}},
		{"audit_list", []string{"audit", "list", "--limit", "6"}},
		{"user_passwd_help", []string{"help", "user", "passwd"}},
	})
	h.wantErrors(t, []errCase{
		{"user create eve", 2, "user create: give --role (read-only, platform-manager, administrator)"},
		{"user create eve --role read-only", 2, "give --new-password-file, or run on a terminal to be asked"},
		{"user create eve --role boss --new-password-file " + file("eve", "short"), 1, "lockstep: invalid user:\n" +
			"  role \"boss\": use one of read-only, platform-manager, administrator\n  password: at least 8 characters\n"},
		{"user modify olga", 2, "nothing to change; give --role"},
		{"user modify admin --role read-only", 1, "lockstep: admin is always an administrator\n"},
		{"user delete olga", 2, "add --yes to do it"},
		{"user delete admin --yes", 1, "a user cannot delete themselves"},
		{"user passwd a b", 2, "usage: lockstep user passwd [flags] [name]"},
	})
}

// Asked on the terminal, a new password must be typed the same twice.
func TestUserPasswordPrompt(t *testing.T) {
	h := newScriptHarness(t)
	answers := []string{"first-pass-1", "other-pass-1", "good-pass-1", "good-pass-1"}
	h.prompt = func(string) (string, error) {
		a := answers[0]
		answers = answers[1:]
		return a, nil
	}
	h.wantErrors(t, []errCase{{"user create eve --role read-only", 1, "the two passwords differ; nothing changed"}})
	h.ok(t, "user", "create", "eve", "--role", "read-only")
	if h.prompts != 4 {
		t.Errorf("%d prompts", h.prompts)
	}
	h.wantCalls(t, "[user create eve]")
}
