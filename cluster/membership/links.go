package membership

import (
	"fmt"
	"time"
)

// link is this node's view of one link: it is up while heartbeats arrive on
// it and down after PeerTimeout of silence. Every change is remembered for
// the flap window; too many changes make it "flapping", which replaces its
// up/down alerts by one alert until it has been quiet for a whole window.
// A link's state never decides anything by itself: only all links being
// down loses the peer.
type link struct {
	name         string
	up           bool
	everUp       bool
	downReported bool // a link-down alert was raised and no link-up since
	lastSeen     time.Time
	changes      []time.Time
	lastChange   time.Time
	flapping     bool
}

func (l *link) status(now time.Time, window time.Duration) LinkStatus {
	n := 0
	for _, t := range l.changes {
		if now.Sub(t) < window {
			n++
		}
	}
	return LinkStatus{Name: l.name, Up: l.up, LastSeen: l.lastSeen, Flapping: l.flapping, Changes: n}
}

// heard records a heartbeat on the link.
func (m *Machine) linkHeard(l *link) {
	l.lastSeen = m.now
	if l.up {
		return
	}
	l.up = true
	m.linksChanged = true
	if l.everUp {
		m.linkChanged(l)
	}
	l.everUp = true
	if l.downReported && !l.flapping {
		m.alert(Alert{Kind: AlertLinkUp, Link: l.name, Detail: "heartbeats from " + m.cfg.Self.Other().String() + " arrive again"})
	}
	l.downReported = false
}

// expireLinks takes down links that have been silent for PeerTimeout and
// ends flapping that has calmed down.
func (m *Machine) expireLinks() {
	timeout := m.cfg.PeerTimeout
	for _, l := range m.links {
		switch {
		case l.up && !m.now.Before(l.lastSeen.Add(timeout)):
			l.up = false
			m.linksChanged = true
			m.linkChanged(l)
			if !l.flapping {
				m.alert(Alert{Kind: AlertLinkDown, Link: l.name, Detail: fmt.Sprintf("no heartbeat for %v", timeout)})
				l.downReported = true
			}
		case !l.everUp && !l.downReported && !m.now.Before(m.startedAt.Add(timeout)):
			m.alert(Alert{Kind: AlertLinkDown, Link: l.name, Detail: fmt.Sprintf("no heartbeat within %v of start", timeout)})
			l.downReported = true
		}
		if l.flapping && !m.now.Before(l.lastChange.Add(m.cfg.FlapWindow)) {
			l.flapping = false
			l.changes = nil
			m.linksChanged = true
			if l.up {
				m.alert(Alert{Kind: AlertLinkUp, Link: l.name, Detail: fmt.Sprintf("stable again (up) after flapping; no change for %v", m.cfg.FlapWindow)})
			} else {
				m.alert(Alert{Kind: AlertLinkDown, Link: l.name, Detail: fmt.Sprintf("stopped flapping and stayed down for %v", m.cfg.FlapWindow)})
				l.downReported = true
			}
		}
	}
}

// linkChanged counts one up/down change for flap detection.
func (m *Machine) linkChanged(l *link) {
	l.lastChange = m.now
	keep := l.changes[:0]
	for _, t := range l.changes {
		if m.now.Sub(t) < m.cfg.FlapWindow {
			keep = append(keep, t)
		}
	}
	l.changes = append(keep, m.now)
	if !l.flapping && len(l.changes) >= m.cfg.FlapThreshold {
		l.flapping = true
		m.alert(Alert{Kind: AlertLinkFlapping, Link: l.name,
			Detail: fmt.Sprintf("%d up/down changes within %v; up/down alerts for this link are held back until it is stable", len(l.changes), m.cfg.FlapWindow)})
	}
}

// linkDeadline is the next time expireLinks has something to do for l.
func (m *Machine) linkDeadline(l *link) time.Time {
	var t time.Time
	if l.up {
		t = l.lastSeen.Add(m.cfg.PeerTimeout)
	} else if !l.everUp && !l.downReported {
		t = m.startedAt.Add(m.cfg.PeerTimeout)
	}
	if l.flapping {
		t = earliest(t, l.lastChange.Add(m.cfg.FlapWindow))
	}
	return t
}

func (m *Machine) allLinksDown() bool {
	for _, l := range m.links {
		if l.up {
			return false
		}
	}
	return true
}

func (m *Machine) linkStatuses() []LinkStatus {
	out := make([]LinkStatus, len(m.links))
	for i, l := range m.links {
		out[i] = l.status(m.now, m.cfg.FlapWindow)
	}
	return out
}

// earliest returns the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
