package main

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/alert"
	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// fakeTargets stands for the SMTP server and the trap receivers: it
// records what each got and fails the first failures[target] attempts.
type fakeTargets struct {
	mu       sync.Mutex
	got      map[string][]alert.Message
	failures map[string]int
	sleeps   []time.Duration
}

func (f *fakeTargets) take(target string, m alert.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures[target] > 0 {
		f.failures[target]--
		return errors.New(target + " refused")
	}
	f.got[target] = append(f.got[target], m)
	return nil
}

func newTestSender(t *testing.T, l *alertLog, s api.AlertSettings, pw string) (*alertSender, *fakeTargets) {
	f := &fakeTargets{got: map[string][]alert.Message{}, failures: map[string]int{}}
	a := &alertSender{ctx: t.Context(), system: "pair", systemID: "sys-1", record: l.delivered, logf: t.Logf,
		retries: alertRetries,
		settings: func() (api.AlertSettings, string, bool) {
			return s, pw, true
		},
		email: func(_ context.Context, e api.EmailSettings, p string, m alert.Message) error {
			if p != pw || e.Server != s.Email.Server {
				t.Errorf("email sent with %q to %s", p, e.Server)
			}
			return f.take("email", m)
		},
		trap: func(_ context.Context, x api.SNMPTarget, m alert.Message) error { return f.take("snmp "+x.Host, m) },
		sleep: func(_ context.Context, d time.Duration) bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.sleeps = append(f.sleeps, d)
			return true
		},
	}
	l.sent = a.notify
	return a, f
}

var testAlertSettings = api.AlertSettings{MinSeverity: "warning",
	Email: &api.EmailSettings{Server: "smtp.example.com", Security: api.SecuritySTARTTLS, From: "pair@example.com", To: []string{"ops@example.com"}},
	SNMP:  []api.SNMPTarget{{Host: "10.0.0.5", Version: api.SNMPv2c, Community: "public"}, {Host: "10.0.0.6", Version: api.SNMPv1, Community: "public"}}}

// waitAlert waits for the alert's deliveries to be settled by want.
func waitAlert(t *testing.T, l *alertLog, want func(api.Alert) bool) api.Alert {
	t.Helper()
	for range 500 {
		for _, a := range l.list(time.Time{}, 10) {
			if want(a) {
				return a
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("alerts: %+v", l.list(time.Time{}, 10))
	return api.Alert{}
}

// An alert of the settings' severity goes to every target, a target that
// fails is tried again after the retry waits until it takes it, the
// history says how each went, and that survives a restart.
func TestAlertSenderRetriesAndRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	l := newAlertLog(path, "node1", t.Logf)
	_, f := newTestSender(t, l, testAlertSettings, "pw")
	f.failures["email"] = 2
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

	l.add(t0, membership.Alert{Kind: membership.AlertLinkUp, Link: "priv0"}) // info: history only
	l.add(t0, membership.Alert{Kind: membership.AlertPeerLost, Detail: "node0: no heartbeat on any link"})
	a := waitAlert(t, l, func(a api.Alert) bool { return a.Code == "node.lost" && len(a.Deliveries) == 3 && a.Deliveries[0].OK })
	for _, d := range a.Deliveries {
		if !d.OK || d.Error != "" {
			t.Errorf("delivery %+v", d)
		}
	}
	if want := []string{"email smtp.example.com:587", "snmp 10.0.0.5:162 v2c", "snmp 10.0.0.6:162 v1"}; !slices.Equal(targetNames(a.Deliveries), want) {
		t.Errorf("targets %v, want %v", targetNames(a.Deliveries), want)
	}
	f.mu.Lock()
	if len(f.got["email"]) != 1 || len(f.got["snmp 10.0.0.5"]) != 1 || len(f.got["snmp 10.0.0.6"]) != 1 {
		t.Errorf("sent: %v", f.got)
	}
	if m := f.got["email"][0]; m.Alert.Code != "node.lost" || m.System != "pair" || m.SystemID != "sys-1" || m.Test || m.Alert.Node != "node1" {
		t.Errorf("message %+v", m)
	}
	if !slices.Equal(f.sleeps, alertRetries[:2]) {
		t.Errorf("waits %v, want %v", f.sleeps, alertRetries[:2])
	}
	f.mu.Unlock()
	if up := l.list(time.Time{}, 10)[1]; up.Code != "link.up" || up.Deliveries != nil {
		t.Errorf("an info alert under min severity warning: %+v", up)
	}

	again := newAlertLog(path, "node1", t.Logf)
	got := again.list(time.Time{}, 10)
	if len(got) != 2 || len(got[0].Deliveries) != 3 || !got[0].Deliveries[0].OK {
		t.Fatalf("after a restart: %+v", got)
	}
	if n := again.raise(t0, "info", "x", "y", false); n.ID != 3 {
		t.Errorf("next id after a restart %d, want 3", n.ID)
	}
}

func targetNames(ds []api.Delivery) []string {
	var n []string
	for _, d := range ds {
		n = append(n, d.Target)
	}
	return n
}

// A target that never takes the alert is given up after the last retry,
// with its error in the history; the others are not sent it twice.
func TestAlertSenderGivesUp(t *testing.T) {
	l := newAlertLog(filepath.Join(t.TempDir(), "alerts.jsonl"), "node0", t.Logf)
	_, f := newTestSender(t, l, testAlertSettings, "")
	f.failures["snmp 10.0.0.6"] = 100
	l.add(time.Now(), membership.Alert{Kind: membership.AlertQuorumLost})
	a := waitAlert(t, l, func(a api.Alert) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(a.Deliveries) == 3 && len(f.sleeps) == len(alertRetries) && f.failures["snmp 10.0.0.6"] == 100-len(alertRetries)-1
	})
	if d := a.Deliveries[2]; d.OK || d.Error != "snmp 10.0.0.6 refused" {
		t.Errorf("the failing receiver: %+v", d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got["email"]) != 1 || len(f.got["snmp 10.0.0.5"]) != 1 {
		t.Errorf("sent: %v", f.got)
	}
}

// A test alert goes to every target once whatever the minimum severity,
// and says which failed; the history has it.
func TestAlertSenderTest(t *testing.T) {
	l := newAlertLog(filepath.Join(t.TempDir(), "alerts.jsonl"), "node0", t.Logf)
	s := testAlertSettings
	s.MinSeverity = "critical"
	a, f := newTestSender(t, l, s, "")
	f.failures["email"] = 1
	al := l.raise(time.Now(), "info", "system.test", "test", false)
	ds := a.test(al)
	if len(ds) != 3 || ds[0].OK || ds[0].Error != "email refused" || !ds[1].OK || !ds[2].OK {
		t.Fatalf("deliveries %+v", ds)
	}
	if got := l.list(time.Time{}, 1)[0]; len(got.Deliveries) != 3 {
		t.Errorf("history: %+v", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sleeps) != 0 || len(f.got["snmp 10.0.0.5"]) != 1 || !f.got["snmp 10.0.0.5"][0].Test {
		t.Errorf("a test alert is sent once, as a test: %v %v", f.sleeps, f.got)
	}
}
