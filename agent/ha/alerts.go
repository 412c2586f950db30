package ha

import (
	"slices"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// SetAlertSettings checks s and makes it the table's. An email password
// that s does not give (nil) stays as stored; "" removes it.
func (t *Table) SetAlertSettings(s api.AlertSettings) error {
	s.Normalize()
	s.SNMP = slices.Clone(s.SNMP)
	var pw string
	if s.Email != nil {
		e := *s.Email
		e.To = slices.Clone(e.To)
		switch {
		case e.Password != nil:
			pw = *e.Password
		case t.Alerts != nil && t.Alerts.Email != nil && t.Alerts.Email.Password != nil:
			pw = *t.Alerts.Email.Password
		}
		e.Password, e.PasswordSet = &pw, pw != ""
		s.Email = &e
	}
	if p := s.Validate(pw); len(p) > 0 {
		return &api.BadSpecError{Problems: p}
	}
	t.Alerts = &s
	return nil
}

// AlertSettings returns the table's alert settings (the defaults if none
// were set) and the stored SMTP password.
func (t *Table) AlertSettings() (s api.AlertSettings, password string) {
	if t.Alerts != nil {
		s = *t.Alerts
		s.SNMP = slices.Clone(s.SNMP)
		if s.Email != nil {
			e := *s.Email
			e.To = slices.Clone(e.To)
			if e.Password != nil {
				password = *e.Password
			}
			e.Password = nil
			s.Email = &e
		}
	}
	s.Normalize()
	return s, password
}
