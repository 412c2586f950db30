package ha

import (
	"errors"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/api"
)

func TestAlertSettingsKeepThePasswordAndNeverShowIt(t *testing.T) {
	tab := &Table{}
	tab.init()
	if s, pw := tab.AlertSettings(); s.MinSeverity != "warning" || s.Email != nil || pw != "" || s.SNMP == nil {
		t.Fatalf("defaults: %+v %q", s, pw)
	}
	secret := "s3cret"
	in := api.AlertSettings{Email: &api.EmailSettings{Server: "smtp.example.com", Username: "ops", Password: &secret,
		From: "pair@example.com", To: []string{"ops@example.com"}}}
	if err := tab.SetAlertSettings(in); err != nil {
		t.Fatal(err)
	}
	s, pw := tab.AlertSettings()
	if pw != secret || s.Email.Password != nil || !s.Email.PasswordSet || s.Email.Security != api.SecuritySTARTTLS {
		t.Fatalf("after set: %+v %q", s.Email, pw)
	}
	// A change that does not give the password keeps it; the table came
	// through JSON as the peer gets it.
	tab = tab.Clone()
	s.Email.To = append(s.Email.To, "oncall@example.com")
	if err := tab.SetAlertSettings(s); err != nil {
		t.Fatal(err)
	}
	if s2, pw := tab.AlertSettings(); pw != secret || len(s2.Email.To) != 2 {
		t.Fatalf("kept: %+v %q", s2.Email, pw)
	}
	// Removing the password while a username stays is refused, and the
	// stored settings are untouched.
	empty := ""
	s.Email.Password = &empty
	err := tab.SetAlertSettings(s)
	var bad *api.BadSpecError
	if !errors.As(err, &bad) || !strings.Contains(err.Error(), "both username and password") {
		t.Fatalf("got %v", err)
	}
	if _, pw := tab.AlertSettings(); pw != secret {
		t.Fatalf("a refused change touched the password: %q", pw)
	}
}
