package main

import (
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// The installer's admin hash holds until the admin's password is changed;
// other users are the table's; an empty hash lets nobody in.
func TestVerifyUser(t *testing.T) {
	install, err := nodeconfig.HashPassword("install-pass")
	if err != nil {
		t.Fatal(err)
	}
	tab, _ := ha.LoadTable(t.TempDir() + "/none.json")
	pw := func(s string) *string { return &s }
	if _, err := tab.CreateUser(api.UserSpec{Name: "rita", Role: api.RoleReadOnly, Password: pw("rita-pass-1")}, nodeconfig.HashPassword); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tab      *ha.Table
		hash     string
		user, pw string
		ok       bool
		role     string
	}{
		{nil, install, "admin", "install-pass", true, api.RoleAdministrator},
		{nil, install, "admin", "wrong", false, api.RoleAdministrator},
		{nil, install, "rita", "rita-pass-1", false, ""}, // no VM service: the admin only
		{nil, "", "admin", "", false, api.RoleAdministrator},
		{tab, install, "admin", "install-pass", true, api.RoleAdministrator},
		{tab, install, "rita", "rita-pass-1", true, api.RoleReadOnly},
		{tab, install, "rita", "install-pass", false, api.RoleReadOnly},
		{tab, install, "eve", "install-pass", false, ""},
	} {
		if got := verifyUser(c.tab, c.hash, c.user, c.pw); got != c.ok {
			t.Errorf("verify %s/%s (table %v): %v", c.user, c.pw, c.tab != nil, got)
		}
		if _, role, _ := userHash(c.tab, c.user); role != c.role {
			t.Errorf("role of %s: %q, want %q", c.user, role, c.role)
		}
	}
	if _, err := tab.ModifyUser("admin", api.UserSpec{Password: pw("changed-pass")}, nodeconfig.HashPassword); err != nil {
		t.Fatal(err)
	}
	tab = tab.Clone() // as the peer gets it
	if verifyUser(tab, install, "admin", "install-pass") || !verifyUser(tab, install, "admin", "changed-pass") {
		t.Error("the admin's changed password does not replace the installer's")
	}
}

var auditT0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// The audit log survives a restart, lists newest first, and is cut to its
// bound when its file is rewritten.
func TestAuditLog(t *testing.T) {
	path := t.TempDir() + "/audit.jsonl"
	l := newAuditLog(path, "node1", t.Logf)
	t0 := api.AuditRecord{User: "rita", Client: "192.0.2.50", Method: "POST", Path: "/api/v1/vms/web/start", Status: 403}
	for i := range 3 {
		r := t0
		r.Time = auditT0.Add(time.Duration(i) * time.Second)
		l.add(r)
	}
	got := newAuditLog(path, "node1", t.Logf).list(time.Time{}, 10)
	if len(got) != 3 || got[0].Time != auditT0.Add(2*time.Second) || got[0].Node != "node1" || got[2].User != "rita" {
		t.Fatalf("after a restart: %+v", got)
	}
	for i := range 2 * maxAuditRecords {
		r := t0
		r.Time = auditT0.Add(time.Duration(i+3) * time.Second)
		l.add(r)
	}
	again := newAuditLog(path, "node1", t.Logf)
	if again.inFile > 2*maxAuditRecords || len(again.recs) != maxAuditRecords {
		t.Errorf("file lines %d, records %d", again.inFile, len(again.recs))
	}
}
