package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockstep-ft/lockstep/agent/alert"
	"github.com/lockstep-ft/lockstep/agent/api"
)

// alertSendTimeout bounds one attempt at one target: an SMTP server that
// accepts the connection and then says nothing must not hold a sender.
const alertSendTimeout = 30 * time.Second

// alertRetries are the waits before the second, third … attempt at a
// target that failed: a mail relay restarting, or the management network
// down during the very fault being reported, must not lose the alert.
var alertRetries = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute}

// maxAlertsInFlight bounds the alerts being sent or waiting for a retry:
// a flapping link with the mail relay unreachable must not pile up
// goroutines. An alert beyond it is recorded as not sent.
const maxAlertsInFlight = 64

// alertSender delivers this node's alerts to the targets of the system's
// alert settings (SPEC A12). Each node sends the alerts it raises itself,
// so that a node loss is reported by the survivor.
type alertSender struct {
	ctx context.Context // the agent's: retries end with it
	// settings are the current ones and the SMTP password; ok is false
	// while this node has no VM table (no settings) yet.
	settings func() (s api.AlertSettings, password string, ok bool)
	email    func(context.Context, api.EmailSettings, string, alert.Message) error
	trap     func(context.Context, api.SNMPTarget, alert.Message) error
	system   string
	systemID string
	record   func(id int64, ds []api.Delivery)
	logf     func(string, ...any)
	retries  []time.Duration
	sleep    func(context.Context, time.Duration) bool // false: ctx ended

	inFlight atomic.Int32
}

// alertTarget is one place an alert goes, and how to send it there.
type alertTarget struct {
	name string
	send func(context.Context, alert.Message) error
}

// targets lists s's targets: the email recipients as one, each trap
// receiver as one.
func (a *alertSender) targets(s api.AlertSettings, password string) []alertTarget {
	var ts []alertTarget
	if e := s.Email; e != nil {
		e := *e
		ts = append(ts, alertTarget{name: "email " + e.Address(), send: func(ctx context.Context, m alert.Message) error {
			return a.email(ctx, e, password, m)
		}})
	}
	for _, t := range s.SNMP {
		ts = append(ts, alertTarget{name: fmt.Sprintf("snmp %s %s", t.Address(), t.Version), send: func(ctx context.Context, m alert.Message) error {
			return a.trap(ctx, t, m)
		}})
	}
	return ts
}

// notify sends al in the background, retrying the targets that failed,
// if the settings want alerts of its severity.
func (a *alertSender) notify(al api.Alert) {
	s, pw, ok := a.settings()
	if !ok || api.SeverityRank(al.Severity) < api.SeverityRank(s.MinSeverity) {
		return
	}
	ts := a.targets(s, pw)
	if len(ts) == 0 {
		return
	}
	if a.inFlight.Add(1) > maxAlertsInFlight {
		a.inFlight.Add(-1)
		ds := make([]api.Delivery, len(ts))
		for i, t := range ts {
			ds[i] = api.Delivery{Target: t.name, Error: fmt.Sprintf("not sent: %d alerts were being sent already", maxAlertsInFlight)}
		}
		a.record(al.ID, ds)
		a.logf("alerts: alert %d (%s) not sent: %d alerts are being sent already", al.ID, al.Code, maxAlertsInFlight)
		return
	}
	go func() {
		defer a.inFlight.Add(-1)
		a.deliver(al, ts)
	}()
}

// deliver sends al to ts, and again to those that failed after each of
// a.retries, recording the outcome after every round.
func (a *alertSender) deliver(al api.Alert, ts []alertTarget) {
	m := a.message(al, false)
	ds := make([]api.Delivery, len(ts))
	todo := make([]int, len(ts))
	for i := range ts {
		todo[i] = i
	}
	for round := 0; ; round++ {
		a.sendTo(m, ts, todo, ds)
		a.record(al.ID, ds)
		var failed []int
		for _, i := range todo {
			if !ds[i].OK {
				failed = append(failed, i)
				a.logf("alerts: alert %d (%s) to %s: %s", al.ID, al.Code, ts[i].name, ds[i].Error)
			}
		}
		todo = failed
		if len(todo) == 0 || round == len(a.retries) || !a.sleep(a.ctx, a.retries[round]) {
			return
		}
	}
}

// sendTo sends m to the targets ts[i] for i in which, at once, and puts
// each outcome in ds[i].
func (a *alertSender) sendTo(m alert.Message, ts []alertTarget, which []int, ds []api.Delivery) {
	var wg sync.WaitGroup
	for _, i := range which {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(a.ctx, alertSendTimeout)
			defer cancel()
			d := api.Delivery{Target: ts[i].name, OK: true}
			if err := ts[i].send(ctx, m); err != nil {
				d.OK, d.Error = false, err.Error()
			}
			ds[i] = d
		}()
	}
	wg.Wait()
}

// test sends al, a test alert, to every target once, whatever its
// severity, and returns how each went.
func (a *alertSender) test(al api.Alert) []api.Delivery {
	s, pw, ok := a.settings()
	if !ok {
		return nil
	}
	ts := a.targets(s, pw)
	ds := make([]api.Delivery, len(ts))
	all := make([]int, len(ts))
	for i := range ts {
		all[i] = i
	}
	a.sendTo(a.message(al, true), ts, all, ds)
	a.record(al.ID, ds)
	return ds
}

func (a *alertSender) message(al api.Alert, test bool) alert.Message {
	return alert.Message{System: a.system, SystemID: a.systemID, Alert: al, Test: test}
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
