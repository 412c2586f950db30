package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
)

func (b *clusterBackend) AlertSettings(context.Context) (api.AlertSettings, error) {
	s, err := b.svc()
	if err != nil {
		return api.AlertSettings{}, err
	}
	set, _ := s.mgr.Table().AlertSettings()
	return set, nil
}

func (b *clusterBackend) SetAlertSettings(ctx context.Context, in api.AlertSettings) (api.AlertSettings, error) {
	if err := b.editTable(ctx, func(t *ha.Table) error { return t.SetAlertSettings(in) }); err != nil {
		return api.AlertSettings{}, err
	}
	set, err := b.AlertSettings(ctx)
	if err == nil {
		b.c.vmLogf("alerts: alerts of severity %s and worse go to %s", set.MinSeverity, describeTargets(set))
	}
	return set, err
}

// describeTargets names where alerts go, for the console (no secrets).
func describeTargets(s api.AlertSettings) string {
	var ts []string
	if e := s.Email; e != nil {
		ts = append(ts, fmt.Sprintf("%s by %s (%s)", strings.Join(e.To, ", "), e.Address(), e.Security))
	}
	for _, t := range s.SNMP {
		ts = append(ts, fmt.Sprintf("SNMP %s trap receiver %s", t.Version, t.Address()))
	}
	if len(ts) == 0 {
		return "nowhere (history only)"
	}
	return strings.Join(ts, "; ")
}

func (b *clusterBackend) TestAlert(context.Context) (api.AlertTestResult, error) {
	s, err := b.svc()
	if err != nil {
		return api.AlertTestResult{}, err
	}
	set, _ := s.mgr.Table().AlertSettings()
	if set.Email == nil && len(set.SNMP) == 0 {
		return api.AlertTestResult{}, api.Conflict("no alert target is set: give an email server or an SNMP trap receiver first (alert settings)")
	}
	c := b.c
	al := c.alerts.raise(time.Now(), "info", "system.test", fmt.Sprintf("test alert from %s, requested by the administrator", nodeName(c.id.NodeID)), false)
	al.Deliveries = c.sender.test(al)
	for _, d := range al.Deliveries {
		if d.OK {
			c.vmLogf("alerts: test alert %d sent to %s", al.ID, d.Target)
		} else {
			c.vmLogf("alerts: test alert %d to %s failed: %s", al.ID, d.Target, d.Error)
		}
	}
	return api.AlertTestResult{Alert: al, Deliveries: al.Deliveries}, nil
}

// alertSettings are the VM table's, for the sender; none while this node
// has no VM service.
func (c *clusterd) alertSettings() (api.AlertSettings, string, bool) {
	if c.vms == nil {
		return api.AlertSettings{}, "", false
	}
	s, pw := c.vms.mgr.Table().AlertSettings()
	return s, pw, true
}
