package membership

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/witness"
)

// witnessState is this node's view of one witness.
type witnessState struct {
	name      string
	known     bool // answered or timed out at least once
	reachable bool
	// grantUntil: the lease this node holds counts until then (sent-time +
	// 9/10 of the granted lease, rule Q3); zero or past: no lease.
	grantUntil time.Time
	grantTerm  uint64
	nextProbe  time.Time
}

// request is an AskWitness awaiting its answer.
type request struct {
	witness  *witnessState
	kind     witness.Kind
	term     uint64
	sentAt   time.Time
	deadline time.Time
	retried  bool
}

// wins is the vote rule (Q2): more than half of the configured witnesses,
// or exactly half (one of two) for node0.
func wins(self NodeID, configured, grants int) bool {
	if configured == 0 || grants == 0 {
		return false
	}
	return 2*grants > configured || 2*grants == configured && self == Node0
}

func (m *Machine) wins() bool { return wins(m.cfg.Self, len(m.wit), m.liveGrants()) }

func (m *Machine) liveGrants() int {
	n := 0
	for _, w := range m.wit {
		if w.grantUntil.After(m.now) {
			n++
		}
	}
	return n
}

// grantTerm is the highest term among the live grants.
func (m *Machine) grantTerm() uint64 {
	var t uint64
	for _, w := range m.wit {
		if w.grantUntil.After(m.now) {
			t = max(t, w.grantTerm)
		}
	}
	return t
}

// askVotes asks every witness without a vote request in flight for term.
func (m *Machine) askVotes(term uint64) {
	for _, w := range m.wit {
		if !m.pending(w, witness.KindVote) {
			m.ask(w, witness.KindVote, term)
		}
	}
}

func (m *Machine) pending(w *witnessState, kind witness.Kind) bool {
	for _, r := range m.reqs {
		if r.witness == w && r.kind == kind {
			return true
		}
	}
	return false
}

func (m *Machine) ask(w *witnessState, kind witness.Kind, term uint64) *request {
	m.nextReq++
	r := &request{witness: w, kind: kind, term: term, sentAt: m.now, deadline: m.now.Add(m.cfg.WitnessTimeout)}
	m.reqs[m.nextReq] = r
	req := witness.Request{Kind: kind, System: m.cfg.SystemID, Node: uint8(m.cfg.Self)}
	if kind == witness.KindVote {
		req.Term, req.Lease = term, m.cfg.WitnessLease
		m.proposal = max(m.proposal, term)
	}
	w.nextProbe = m.now.Add(m.cfg.ProbeInterval)
	m.emit(AskWitness{Witness: w.name, ID: m.nextReq, Request: req})
	return r
}

// releaseGrants hands back every lease this node holds (the witness would
// otherwise keep the other node waiting until the lease ends).
func (m *Machine) releaseGrants() {
	for _, w := range m.wit {
		if w.grantUntil.After(m.now) {
			m.ask(w, witness.KindRelease, 0)
		}
		w.grantUntil = time.Time{}
	}
}

func (m *Machine) witnessReply(e WitnessReply) {
	r, ok := m.reqs[e.ID]
	if !ok || r.witness.name != e.Witness || m.state == StateStopped {
		return // unknown, already timed out, or from before a restart
	}
	delete(m.reqs, e.ID)
	w := r.witness
	if e.NoAnswer {
		m.setReachable(w, false, fmt.Sprintf("no answer within %v", m.cfg.WitnessTimeout))
		return
	}
	m.setReachable(w, true, "")
	rep := e.Reply
	m.proposal = max(m.proposal, rep.Term)
	if r.kind != witness.KindVote {
		return
	}
	switch rep.Result {
	case witness.Granted:
		lease := min(rep.Lease, m.cfg.WitnessLease)
		until := r.sentAt.Add(lease * 9 / 10)
		if until.After(w.grantUntil) {
			w.grantUntil = until
		}
		w.grantTerm = max(w.grantTerm, rep.Term)
		if m.ep == nil {
			m.releaseGrants() // connected again meanwhile: nothing to hold
		}
	case witness.Refused:
		stillOurs := rep.Held && rep.Holder == uint8(m.cfg.Self)
		if rep.Reason != witness.ReasonQuarantine && !stillOurs {
			// A quarantined witness grants nobody, so a lease held from
			// before its restart stays exclusive until it ends; any other
			// refusal, unless the witness says we still hold the lease,
			// means it is gone.
			w.grantUntil = time.Time{}
		}
		stale := rep.Reason == witness.ReasonStaleTerm || rep.Reason == witness.ReasonTermUsed
		if stale && !r.retried && m.ep != nil && m.now.Before(r.deadline) {
			// Our term was behind the witness's: ask once more right away,
			// above it, within the same round.
			m.ask(w, witness.KindVote, max(m.term, m.proposal)+1).retried = true
		}
	}
}

// expireRequests turns requests past their deadline into "no answer".
func (m *Machine) expireRequests() {
	for _, id := range slices.Sorted(maps.Keys(m.reqs)) { // sorted: same input, same output
		if r := m.reqs[id]; !m.now.Before(r.deadline) {
			delete(m.reqs, id)
			m.setReachable(r.witness, false, fmt.Sprintf("no answer within %v", m.cfg.WitnessTimeout))
		}
	}
}

// probeWitnesses checks every witness every ProbeInterval, so that a dead
// witness is reported in normal operation, before a failure needs it.
func (m *Machine) probeWitnesses() {
	for _, w := range m.wit {
		if !m.now.Before(w.nextProbe) && !m.pending(w, witness.KindProbe) && !m.pending(w, witness.KindVote) {
			m.ask(w, witness.KindProbe, 0)
		}
	}
}

func (m *Machine) setReachable(w *witnessState, ok bool, detail string) {
	if w.known && w.reachable == ok {
		return
	}
	first := !w.known
	w.known, w.reachable = true, ok
	switch {
	case !ok:
		m.alert(Alert{Kind: AlertWitnessUnreachable, Witness: w.name, Detail: detail})
	case !first:
		m.alert(Alert{Kind: AlertWitnessReachable, Witness: w.name, Detail: "answers again"})
	}
}
