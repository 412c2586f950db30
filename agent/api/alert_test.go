package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

func TestAlertSettings(t *testing.T) {
	e := start(t, nil)
	if s := get[api.AlertSettings](e, "/api/v1/alerts/settings"); s.MinSeverity != "warning" || s.Email != nil || s.SNMP == nil {
		t.Fatalf("defaults %+v", s)
	}
	pw := "hunter2"
	in := api.AlertSettings{MinSeverity: "error",
		Email: &api.EmailSettings{Server: "smtp.example.com", Port: 2525, Username: "ops", Password: &pw, From: "pair@example.com", To: []string{"ops@example.com"}},
		SNMP:  []api.SNMPTarget{{Host: "10.0.0.5", Community: "public"}, {Host: "nms.example.com", Port: 1162, Version: "v1", Community: "s3cr3t"}}}
	resp, b := e.do("PUT", "/api/v1/alerts/settings", "basic:"+apitest.Password, in)
	expect(t, resp, b, 200, "")
	if strings.Contains(string(b), pw) {
		t.Errorf("the answer shows the password: %s", b)
	}
	var got api.AlertSettings
	if err := json.Unmarshal(b, &got); err != nil || !got.Email.PasswordSet || got.Email.Security != "starttls" || got.SNMP[0].Version != "v2c" || got.SNMP[1].Address() != "nms.example.com:1162" {
		t.Fatalf("answer %s (%v)", b, err)
	}
	resp, b = e.do("GET", "/api/v1/alerts/settings", "basic:"+apitest.Password, nil)
	expect(t, resp, b, 200, "")
	if !strings.Contains(string(b), `"password_set": true`) {
		t.Errorf("GET: no password_set: %s", b)
	}
	if strings.Contains(string(b), pw) || strings.Contains(string(b), `"password"`) {
		t.Errorf("GET shows the password: %s", b)
	}

	resp, b = e.do("POST", "/api/v1/alerts/test", "basic:"+apitest.Password, nil)
	expect(t, resp, b, 200, "")
	var r api.AlertTestResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Alert.Code != "system.test" || len(r.Deliveries) != 3 || r.Deliveries[0].Target != "email" || !r.Deliveries[2].OK {
		t.Errorf("test alert %+v", r)
	}

	noPW := in
	noPW.Email = &api.EmailSettings{Server: "smtp.example.com", Security: "none", Username: "ops", From: "Pair <pair@example.com>", To: []string{"ops@example.com", "not-an-address"}}
	e.check([]vmCase{
		{"PUT", "/api/v1/alerts/settings", api.AlertSettings{MinSeverity: "loud"}, 400, api.CodeBadParameter, `min_severity "loud": use one of info, warning, error, critical`},
		{"PUT", "/api/v1/alerts/settings", noPW, 400, api.CodeBadParameter,
			`a password is never sent unencrypted: use security "starttls" or "tls"; email: from "Pair <pair@example.com>" is not an address (name@domain); email: to "not-an-address" is not an address`},
		{"PUT", "/api/v1/alerts/settings", api.AlertSettings{SNMP: []api.SNMPTarget{{Host: "bad host", Port: 70000, Version: "v3", Community: ""}}}, 400, api.CodeBadParameter,
			`snmp[0]: host "bad host" is not a host name or IP address; snmp[0]: port 70000: use 1 to 65535 (0 for 162); snmp[0]: version "v3": use "v1" or "v2c"; snmp[0]: community: give 1 to 64 printable characters`},
		{"PUT", "/api/v1/alerts/settings", api.AlertSettings{SNMP: []api.SNMPTarget{{Host: "10.0.0.5", Community: "a"}, {Host: "10.0.0.5", Port: 162, Community: "b"}}}, 400, api.CodeBadParameter,
			`snmp[1]: 10.0.0.5:162 v2c is given twice`},
		{"PUT", "/api/v1/alerts/settings", api.AlertSettings{Email: &api.EmailSettings{Server: "smtp.example.com", CA: "junk", From: "a@b.c", To: []string{"d@e.f"}}}, 400, api.CodeBadParameter,
			`email: ca: no PEM certificate in it`},
		{"PUT", "/api/v1/alerts/settings", raw(`{"email":{"server":"x","pasword":"y"}}`), 400, api.CodeBadRequest, `unknown field "pasword"`},
		{"DELETE", "/api/v1/alerts/settings", nil, 405, api.CodeMethodNotAllowed, "use GET or PUT"},
		{"GET", "/api/v1/alerts/test", nil, 405, api.CodeMethodNotAllowed, "use POST"},
	})
	// Nothing refused was kept.
	if s := get[api.AlertSettings](e, "/api/v1/alerts/settings"); s.MinSeverity != "error" || len(s.SNMP) != 2 || s.Email.Server != "smtp.example.com" {
		t.Errorf("after refused changes: %+v", s)
	}
}
