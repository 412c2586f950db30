package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func pw(s string) *string { return &s }

// startUsers serves the fake with its users and roles, and the audit log.
func startUsers(t *testing.T) *env {
	var b *apitest.Backend
	e := start(t, func(o *api.Options) {
		b = o.Backend.(*apitest.Backend)
		o.Verify, o.Role, o.Audit = b.VerifyUser, b.Role, b.Record
	})
	return e
}

func TestUsersAndRoles(t *testing.T) {
	e := startUsers(t)
	admin := basic("admin", apitest.Password)
	for _, u := range []api.UserSpec{
		{Name: "olga", Role: api.RolePlatformManager, Password: pw("olga-pass-1")},
		{Name: "rita", Role: api.RoleReadOnly, Password: pw("rita-pass-1")},
	} {
		resp, b := e.do("POST", "/api/v1/users", admin, u)
		expect(t, resp, b, 201, "")
		if strings.Contains(string(b), "pass-1") || resp.Header.Get("Location") != "/api/v1/users/"+u.Name {
			t.Errorf("create %s: %s %v", u.Name, b, resp.Header)
		}
	}
	resp, b := e.do("GET", "/api/v1/users", admin, nil)
	expect(t, resp, b, 200, "")
	var l api.UserList
	if err := json.Unmarshal(b, &l); err != nil || fmt.Sprint(l.Users) != "[{admin administrator true} {olga platform-manager false} {rita read-only false}]" {
		t.Fatalf("users %s (%v)", b, err)
	}
	olga, rita := basic("olga", "olga-pass-1"), basic("rita", "rita-pass-1")
	for _, c := range []struct {
		who, method, path string
		body              any
		status            int
		msg               string
	}{
		{rita, "GET", "/api/v1/vms", nil, 200, ""},
		{rita, "GET", "/metrics", nil, 200, ""},
		{rita, "POST", "/api/v1/vms/web/poweroff", nil, 403, "user rita (read-only) may not POST /api/v1/vms/web/poweroff: that needs the role platform-manager or higher"},
		{rita, "PUT", "/api/v1/alerts/settings", api.AlertSettings{}, 403, "needs the role platform-manager"},
		{rita, "PUT", "/api/v1/users/olga", api.UserSpec{Password: pw("stolen-pass")}, 403, "may change their own password only"},
		{rita, "PUT", "/api/v1/users/rita", api.UserSpec{Role: api.RoleAdministrator}, 403, "may change their own password only"},
		{rita, "GET", "/api/v1/audit", nil, 403, "needs the role administrator"},
		{olga, "POST", "/api/v1/nodes/node1/workon", nil, 202, ""},
		{olga, "GET", "/api/v1/users", nil, 403, "user olga (platform-manager) may not GET /api/v1/users"},
		{olga, "POST", "/api/v1/users", api.UserSpec{Name: "eve", Role: api.RoleAdministrator, Password: pw("eve-pass-1")}, 403, "needs the role administrator"},
		{rita, "PUT", "/api/v1/users/rita", api.UserSpec{Password: pw("rita-pass-2")}, 200, ""},
		{rita, "GET", "/api/v1/vms", nil, 401, "wrong user or password"}, // the old password
		{basic("rita", "rita-pass-2"), "GET", "/api/v1/vms", nil, 200, ""},
		{admin, "POST", "/api/v1/users", api.UserSpec{Name: "Bad Name", Role: "boss", Password: pw("short")}, 400,
			`user name "Bad Name": use 1 to 32 lower-case letters, digits, '_', '.' and '-', starting with a letter or '_'; role "boss": use one of read-only, platform-manager, administrator; password: at least 8 characters`},
		{admin, "POST", "/api/v1/users", api.UserSpec{Name: "olga", Role: api.RoleReadOnly, Password: pw("another-pass")}, 409, `user "olga" exists`},
		{admin, "POST", "/api/v1/users", api.UserSpec{Name: "admin", Role: api.RoleReadOnly, Password: pw("another-pass")}, 409, `user "admin" exists`},
		{admin, "PUT", "/api/v1/users/admin", api.UserSpec{Role: api.RoleReadOnly}, 409, "admin is always an administrator"},
		{admin, "PUT", "/api/v1/users/olga", api.UserSpec{}, 400, "nothing to change: give the role or the password"},
		{admin, "PUT", "/api/v1/users/nobody", api.UserSpec{Role: api.RoleReadOnly}, 404, `user "nobody"`},
		{admin, "DELETE", "/api/v1/users/admin", nil, 409, "a user cannot delete themselves"},
		{admin, "POST", "/api/v1/users", api.UserSpec{Name: "ada", Role: api.RoleAdministrator, Password: pw("ada-pass-1")}, 201, ""},
		{basic("ada", "ada-pass-1"), "DELETE", "/api/v1/users/admin", nil, 409, "admin is built in and cannot be deleted"},
		{basic("ada", "ada-pass-1"), "GET", "/api/v1/audit", nil, 200, ""},
		{admin, "PUT", "/api/v1/users/olga", api.UserSpec{Role: api.RoleReadOnly}, 200, ""},
		{olga, "POST", "/api/v1/nodes/node1/workoff", nil, 403, "user olga (read-only)"}, // a role change applies at once
		{admin, "DELETE", "/api/v1/users/olga", nil, 204, ""},
		{olga, "GET", "/api/v1/vms", nil, 401, "wrong user or password"},
		// The admin's own password: the new one works, the old one no more.
		{admin, "PUT", "/api/v1/users/admin", api.UserSpec{Password: pw("new-admin-pass")}, 200, ""},
		{admin, "GET", "/api/v1/vms", nil, 401, ""},
		{basic("admin", "new-admin-pass"), "GET", "/api/v1/vms", nil, 200, ""},
	} {
		resp, b := e.do(c.method, c.path, c.who, c.body)
		var er api.Error
		_ = json.Unmarshal(b, &er)
		if resp.StatusCode != c.status || !strings.Contains(er.Error, c.msg) {
			t.Errorf("%s %s as %s: %d %s; want %d and %q", c.method, c.path, c.who, resp.StatusCode, b, c.status, c.msg)
		}
	}

	resp, b = e.do("GET", "/api/v1/audit?limit=100", basic("admin", "new-admin-pass"), nil)
	expect(t, resp, b, 200, "")
	var al api.AuditList
	if err := json.Unmarshal(b, &al); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(al.Records) - 1; i >= 0; i-- { // oldest first
		r := al.Records[i]
		if r.Client != "127.0.0.1" || r.Node != "node0" || r.Time.IsZero() {
			t.Errorf("record %+v", r)
		}
		got = append(got, fmt.Sprintf("%s %s %s %d", r.User, r.Method, r.Path, r.Status))
	}
	for _, want := range []string{
		"admin POST /api/v1/users 201",
		"rita POST /api/v1/vms/web/poweroff 403",
		"olga POST /api/v1/nodes/node1/workon 202",
		"olga GET /api/v1/users 403",
		"rita GET /api/v1/vms 401",
		"admin DELETE /api/v1/users/olga 204",
		"admin PUT /api/v1/users/admin 200",
	} {
		if !containsLine(got, want) {
			t.Errorf("audit log has no %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if containsLine(got, "rita GET /api/v1/vms 200") {
		t.Errorf("a GET that was let through is not audited:\n%s", strings.Join(got, "\n"))
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
