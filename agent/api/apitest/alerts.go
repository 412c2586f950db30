package apitest

import (
	"context"
	"fmt"

	"github.com/lockstep-ft/lockstep/agent/api"
)

func (b *Backend) AlertSettings(context.Context) (api.AlertSettings, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, _ := b.Alerting.AlertSettings()
	return s, b.Err
}

func (b *Backend) SetAlertSettings(_ context.Context, s api.AlertSettings) (api.AlertSettings, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return api.AlertSettings{}, b.Err
	}
	b.Calls = append(b.Calls, "alert settings")
	if err := b.Alerting.SetAlertSettings(s); err != nil {
		return api.AlertSettings{}, err
	}
	out, _ := b.Alerting.AlertSettings()
	return out, nil
}

// TestAlert adds a test alert and reports every target as reached, except
// an SNMP receiver on port 9 (discard), which fails: the fake sends
// nothing.
func (b *Backend) TestAlert(context.Context) (api.AlertTestResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return api.AlertTestResult{}, b.Err
	}
	s, _ := b.Alerting.AlertSettings()
	b.Calls = append(b.Calls, "alert test")
	if s.Email == nil && len(s.SNMP) == 0 {
		return api.AlertTestResult{}, api.Conflict("no alert target is set: give an email server or an SNMP trap receiver first")
	}
	a := api.Alert{ID: int64(len(b.AlertList) + 1), Time: T0, Severity: "info", Node: "node0", Code: "system.test",
		Message: "test alert requested by the administrator"}
	var ds []api.Delivery
	if s.Email != nil {
		ds = append(ds, api.Delivery{Target: "email", OK: true})
	}
	for _, t := range s.SNMP {
		d := api.Delivery{Target: fmt.Sprintf("snmp %s %s", t.Address(), t.Version), OK: t.Port != 9}
		if !d.OK {
			d.Error = "connection refused"
		}
		ds = append(ds, d)
	}
	a.Deliveries = ds
	b.AlertList = append(b.AlertList, a)
	return api.AlertTestResult{Alert: a, Deliveries: ds}, nil
}
