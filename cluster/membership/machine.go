package membership

import (
	"fmt"
	"slices"
	"time"
)

// Machine is the membership state machine of one node. It is driven only
// through Step; it starts no goroutines, reads no clock and does no I/O.
// It is not safe for concurrent use.
type Machine struct {
	cfg Config
	now time.Time

	state       State
	incarnation uint64
	seq         uint64
	term        uint64
	proposal    uint64 // highest term asked for or heard of from a witness
	startedAt   time.Time
	// rankedAt: this node last rose in rank, at its start or on leaving
	// "joining"; claims wait for heartbeats sent after it (rule E3).
	rankedAt time.Time

	owned  []string // resources this node runs
	fenced []string // resources this node stopped that nobody runs yet

	links []*link
	peer  peerView
	ep    *episode

	wit     []*witnessState
	reqs    map[uint64]*request
	nextReq uint64

	nextHB       time.Time
	lastSent     *Heartbeat
	linksChanged bool
	out          []Action
}

// New returns a stopped machine for cfg (after defaults); Step it with Start.
func New(cfg Config) (*Machine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("membership config: %w", err)
	}
	cfg.Links = slices.Clone(cfg.Links)
	cfg.Witnesses = slices.Clone(cfg.Witnesses)
	return &Machine{cfg: cfg, reqs: map[uint64]*request{}}, nil
}

// Config returns the configuration in use (with defaults).
func (m *Machine) Config() Config { return m.cfg }

// Step feeds one event at time now and returns what the node must do.
// Time never goes backwards: an earlier now is taken as the last one.
func (m *Machine) Step(now time.Time, ev Event) []Action {
	if now.After(m.now) {
		m.now = now
	}
	m.out = nil
	was := m.state
	switch e := ev.(type) {
	case Start:
		m.start(e)
	case Stop:
		m.stop()
	case Received:
		m.receive(e.Link, e.Heartbeat)
	case WitnessReply:
		m.witnessReply(e)
	case SetResources:
		if m.state != StateStopped {
			m.owned = setOf(e.Owned)
			m.fenced = minus(m.fenced, m.owned)
		}
	case Tick:
	}
	m.evaluate()
	if m.state.rank() > was.rank() {
		m.rankedAt = m.now
	}
	return m.out
}

// Next is the latest time at which the machine wants its next Step (a Tick
// if nothing else happens); zero when stopped. Ticking exactly then keeps
// every bound exact: the peer is declared lost PeerTimeout after the last
// heartbeat, not up to a tick later.
func (m *Machine) Next() time.Time {
	if m.state == StateStopped {
		return time.Time{}
	}
	// Everything due at or before now was handled by the last Step, so
	// only later deadlines count (this also rules out a busy loop).
	var t time.Time
	add := func(d time.Time) {
		if d.After(m.now) {
			t = earliest(t, d)
		}
	}
	add(m.nextHB)
	for _, l := range m.links {
		add(m.linkDeadline(l))
	}
	if m.peer.status == peerUnknown {
		add(m.startedAt.Add(m.cfg.PeerTimeout))
	}
	for _, r := range m.reqs {
		add(r.deadline)
	}
	for _, w := range m.wit {
		add(w.nextProbe)
		add(w.grantUntil)
	}
	if m.ep != nil {
		m.ep.deadlines(m, add)
	}
	return t
}

// Status returns a snapshot of the machine.
func (m *Machine) Status() Status {
	s := Status{
		Self: m.cfg.Self, State: m.state, Term: m.term, Incarnation: m.incarnation,
		PeerVisible: m.peer.status == peerVisible, PeerLost: m.peer.status == peerLost,
		Connected: m.state != StateStopped && m.connected(), PeerState: m.peer.hb.State,
		Owned: slices.Clone(m.owned), Fenced: slices.Clone(m.fenced), Links: m.linkStatuses(),
		PeerOwned: slices.Clone(m.peer.hb.Owned),
	}
	for _, w := range m.wit {
		ws := WitnessStatus{Name: w.name, Reachable: w.reachable, Known: w.known}
		if w.grantUntil.After(m.now) {
			ws.Granted = w.grantUntil
		}
		s.Witnesses = append(s.Witnesses, ws)
	}
	return s
}

func (m *Machine) emit(a Action) { m.out = append(m.out, a) }

func (m *Machine) alert(a Alert) { m.emit(a) }

func (m *Machine) start(e Start) {
	if m.state != StateStopped {
		return // already running: a repeated start changes nothing
	}
	inc := e.Incarnation
	if inc <= m.incarnation {
		inc = m.incarnation + 1
	}
	*m = Machine{cfg: m.cfg, now: m.now, reqs: map[uint64]*request{}, nextReq: m.nextReq}
	m.state = StateJoining
	m.incarnation = inc
	m.term = e.Term
	m.proposal = e.Term
	m.startedAt = m.now
	m.nextHB = m.now
	for _, name := range m.cfg.Links {
		m.links = append(m.links, &link{name: name})
	}
	for _, name := range m.cfg.Witnesses {
		m.wit = append(m.wit, &witnessState{name: name, nextProbe: m.now})
	}
}

// stop hands everything over: resources are stopped and listed as fenced in
// a last heartbeat, so the peer restarts them at once (rule S1).
func (m *Machine) stop() {
	if m.state == StateStopped {
		return
	}
	if m.state == StatePrimary {
		m.emit(StepDown{Term: m.term, Reason: "node stopped by the administrator"})
	}
	if len(m.owned) > 0 {
		m.emit(Release{Resources: m.owned, Reason: "node stopped by the administrator; handed over to " + m.cfg.Self.Other().String()})
		m.fenced = union(m.fenced, m.owned)
		m.owned = nil
	}
	m.releaseGrants()
	m.state = StateStopped
	m.ep = nil
	m.sendHeartbeats(true)
	m.reqs = map[uint64]*request{}
}

// evaluate applies every rule that depends on time or on the latest view.
// It runs after every event and is idempotent.
func (m *Machine) evaluate() {
	if m.state == StateStopped {
		return
	}
	m.expireLinks()
	m.checkPeer()
	m.expireRequests()
	switch {
	case m.connected():
		if m.ep != nil {
			m.endEpisode()
		}
		m.connectedRules()
	case m.peer.status != peerUnknown:
		if m.ep == nil {
			m.beginEpisode()
		}
		m.episodeRules()
	}
	m.probeWitnesses()
	m.sendHeartbeats(false)
	if m.linksChanged {
		m.linksChanged = false
		m.emit(LinkReport{Links: m.linkStatuses()})
	}
}

func (m *Machine) heartbeat() Heartbeat {
	return Heartbeat{
		System: m.cfg.SystemID, From: m.cfg.Self, Incarnation: m.incarnation, Seq: m.seq,
		Term: m.term, State: m.state, PeerLost: m.peer.status == peerLost,
		Disconnected: m.ep != nil, Owned: m.owned, Fenced: m.fenced,
	}
}

// sendHeartbeats sends on every link when the interval is due, or at once
// when anything the peer decides on has changed.
func (m *Machine) sendHeartbeats(force bool) {
	hb := m.heartbeat()
	if !force && m.now.Before(m.nextHB) && m.lastSent != nil && sameView(*m.lastSent, hb) {
		return
	}
	m.seq++
	hb.Seq = m.seq
	m.lastSent = &hb
	m.nextHB = m.now.Add(m.cfg.HeartbeatInterval)
	for _, l := range m.links {
		m.emit(SendHeartbeat{Link: l.name, Heartbeat: hb})
	}
}

func sameView(a, b Heartbeat) bool {
	return a.Term == b.Term && a.State == b.State && a.PeerLost == b.PeerLost &&
		a.Disconnected == b.Disconnected && slices.Equal(a.Owned, b.Owned) && slices.Equal(a.Fenced, b.Fenced)
}

func (m *Machine) saveTerm(t uint64) {
	if t > m.term {
		m.term = t
		m.emit(SaveTerm{Term: t})
	}
	m.proposal = max(m.proposal, t)
}

func (m *Machine) becomePrimary(term uint64, reason string) {
	m.saveTerm(term)
	m.state = StatePrimary
	m.emit(BecomePrimary{Term: m.term, Reason: reason})
}

// stepDown leaves the primary role; next is Secondary or Isolated.
func (m *Machine) stepDown(next State, reason string) {
	if m.state == StatePrimary {
		m.emit(StepDown{Term: m.term, Reason: reason})
	}
	m.state = next
}

// takeOver starts res (minus what runs here already).
func (m *Machine) takeOver(res []string, fromPeer bool, reason string) {
	res = minus(setOf(res), m.owned)
	if len(res) == 0 {
		return
	}
	m.owned = union(m.owned, res)
	m.fenced = minus(m.fenced, res)
	m.emit(TakeOver{Resources: res, FromPeer: fromPeer, Reason: reason})
}

// release stops res; fence marks them as waiting for a restart elsewhere.
func (m *Machine) release(res []string, fence bool, reason string) {
	res = intersect(m.owned, res)
	if len(res) == 0 {
		return
	}
	m.owned = minus(m.owned, res)
	if fence {
		m.fenced = union(m.fenced, res)
	}
	m.emit(Release{Resources: res, Reason: reason})
}
