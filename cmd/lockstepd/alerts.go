package main

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// maxAlerts bounds the history kept in memory and read back at start.
const maxAlerts = 1000

// alertLog is this node's alert history (SPEC A12): kept in memory and
// appended to a JSON-lines file on STATE, so that it survives a restart.
type alertLog struct {
	path string
	node string
	logf func(string, ...any)

	// sent is handed each alert added (by add or raise), outside the
	// lock, for delivery; nil: none.
	sent func(api.Alert)

	mu     sync.Mutex
	alerts []api.Alert
	next   int64
}

func newAlertLog(path, node string, logf func(string, ...any)) *alertLog {
	l := &alertLog{path: path, node: node, logf: logf, next: 1}
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var a api.Alert
			if json.Unmarshal(sc.Bytes(), &a) != nil {
				continue
			}
			// A later line of the same alert is its deliveries' outcome.
			if n := len(l.alerts); n > 0 && a.ID <= l.alerts[n-1].ID {
				if i := l.index(a.ID); i >= 0 {
					l.alerts[i] = a
				}
				continue
			}
			l.alerts = append(l.alerts, a)
			l.next = max(l.next, a.ID+1)
		}
		f.Close()
		if n := len(l.alerts); n > maxAlerts {
			l.alerts = slices.Clone(l.alerts[n-maxAlerts:])
		}
	}
	return l
}

// alertCodes maps membership alerts to the API's stable codes.
var alertCodes = map[membership.AlertKind]struct{ code, severity string }{
	membership.AlertLinkDown:           {"link.down", "warning"},
	membership.AlertLinkUp:             {"link.up", "info"},
	membership.AlertLinkFlapping:       {"link.flapping", "warning"},
	membership.AlertPeerLost:           {"node.lost", "critical"},
	membership.AlertPeerJoined:         {"node.joined", "info"},
	membership.AlertOneWayLoss:         {"link.one_way", "error"},
	membership.AlertSplitBrainAverted:  {"system.split_brain_averted", "critical"},
	membership.AlertQuorumLost:         {"system.quorum_lost", "critical"},
	membership.AlertWitnessUnreachable: {"witness.unreachable", "warning"},
	membership.AlertWitnessReachable:   {"witness.reachable", "info"},
	membership.AlertResourceConflict:   {"resource.conflict", "error"},
}

// clearedBy: the alert kind that ends the condition of another.
var clearedBy = map[membership.AlertKind]membership.AlertKind{
	membership.AlertLinkUp:           membership.AlertLinkDown,
	membership.AlertPeerJoined:       membership.AlertPeerLost,
	membership.AlertWitnessReachable: membership.AlertWitnessUnreachable,
}

func (l *alertLog) add(t time.Time, a membership.Alert) {
	c, ok := alertCodes[a.Kind]
	if !ok {
		c.code, c.severity = string(a.Kind), "warning"
	}
	msg := string(a.Kind)
	if a.Link != "" {
		msg += " on " + a.Link
	}
	if a.Witness != "" {
		msg += " (witness " + a.Witness + ")"
	}
	if a.Detail != "" {
		msg += ": " + a.Detail
	}
	l.mu.Lock()
	// A condition that ends clears the alerts that raised it.
	if clears, ok := clearedBy[a.Kind]; ok {
		for i := range l.alerts {
			x := &l.alerts[i]
			if x.Code == alertCodes[clears].code && !x.Cleared && (a.Link == "" || strings.HasPrefix(x.Message, string(clears)+" on "+a.Link+":")) {
				x.Cleared = true
			}
		}
	}
	al := l.appendLocked(api.Alert{Time: t.UTC(), Severity: c.severity, Code: c.code, Message: msg})
	l.mu.Unlock()
	if l.sent != nil {
		l.sent(al)
	}
}

// raise adds an alert that is not the membership's (a VM's, a test
// alert); notify says whether it goes to l.sent.
func (l *alertLog) raise(t time.Time, severity, code, msg string, notify bool) api.Alert {
	l.mu.Lock()
	al := l.appendLocked(api.Alert{Time: t.UTC(), Severity: severity, Code: code, Message: msg})
	l.mu.Unlock()
	if notify && l.sent != nil {
		l.sent(al)
	}
	return al
}

func (l *alertLog) appendLocked(al api.Alert) api.Alert {
	al.ID, al.Node = l.next, l.node
	l.next++
	l.alerts = append(l.alerts, al)
	if len(l.alerts) > maxAlerts {
		l.alerts = slices.Delete(l.alerts, 0, len(l.alerts)-maxAlerts)
	}
	l.write(al)
	return al
}

// delivered records how sending alert id went.
func (l *alertLog) delivered(id int64, ds []api.Delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := l.index(id); i >= 0 {
		l.alerts[i].Deliveries = slices.Clone(ds)
		l.write(l.alerts[i])
	}
}

func (l *alertLog) index(id int64) int {
	i, ok := slices.BinarySearchFunc(l.alerts, id, func(a api.Alert, id int64) int { return int(a.ID - id) })
	if !ok {
		return -1
	}
	return i
}

// write appends al to the file; a later line of the same id replaces an
// earlier one when the file is read back.
func (l *alertLog) write(al api.Alert) {
	b, _ := json.Marshal(al)
	if err := appendLine(l.path, b); err != nil {
		l.logf("alert history: %v", err)
	}
}

// list returns at most limit alerts at or after since, newest first.
func (l *alertLog) list(since time.Time, limit int) []api.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []api.Alert
	for i := len(l.alerts) - 1; i >= 0 && len(out) < limit; i-- {
		if a := l.alerts[i]; !a.Time.Before(since) {
			out = append(out, a)
		}
	}
	return out
}
