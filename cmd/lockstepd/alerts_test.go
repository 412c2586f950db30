package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// Alerts get stable codes, a link-up clears that link's link-down only,
// the history survives a restart and is listed newest first.
func TestAlertLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	l := newAlertLog(path, "node0", t.Logf)
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	l.add(t0, membership.Alert{Kind: membership.AlertLinkDown, Link: "priv0", Detail: "no heartbeat for 1s"})
	l.add(t0.Add(time.Second), membership.Alert{Kind: membership.AlertLinkDown, Link: "alink0", Detail: "no heartbeat for 1s"})
	l.add(t0.Add(2*time.Second), membership.Alert{Kind: membership.AlertLinkUp, Link: "priv0"})

	got := l.list(time.Time{}, 10)
	if len(got) != 3 || got[0].Code != "link.up" || got[2].Code != "link.down" {
		t.Fatalf("list: %+v", got)
	}
	if !got[2].Cleared || got[1].Cleared {
		t.Errorf("priv0 down cleared %v (want true), alink0 down cleared %v (want false)", got[2].Cleared, got[1].Cleared)
	}
	if got[2].Message != "link-down on priv0: no heartbeat for 1s" || got[2].Severity != "warning" || got[2].Node != "node0" {
		t.Errorf("alert %+v", got[2])
	}
	if s := l.list(t0.Add(time.Second), 10); len(s) != 2 {
		t.Errorf("since: %d alerts, want 2", len(s))
	}
	if s := l.list(time.Time{}, 1); len(s) != 1 || s[0].ID != 3 {
		t.Errorf("limit 1: %+v", s)
	}

	again := newAlertLog(path, "node0", t.Logf)
	if s := again.list(time.Time{}, 10); len(s) != 3 {
		t.Fatalf("after a restart: %d alerts", len(s))
	}
	again.add(t0.Add(3*time.Second), membership.Alert{Kind: membership.AlertPeerLost})
	if s := again.list(time.Time{}, 1); s[0].ID != 4 || s[0].Code != "node.lost" || s[0].Severity != "critical" {
		t.Errorf("after a restart the next alert is %+v", s[0])
	}
}
