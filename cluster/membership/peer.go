package membership

import (
	"fmt"
	"time"
)

type peerStatus uint8

const (
	peerUnknown peerStatus = iota // not heard since start, PeerTimeout not over
	peerVisible                   // heard on at least one link
	peerLost                      // silent on every link for PeerTimeout
)

// peerView is what this node knows of the peer.
type peerView struct {
	status      peerStatus
	incarnation uint64
	seq         uint64
	hb          Heartbeat // latest accepted heartbeat
	hbAt        time.Time // when hb arrived
	lastHeard   time.Time
	lostAt      time.Time // when it was last declared lost
	// oldOwned are the resources of a previous incarnation: the peer
	// restarted, so they stopped with it and wait for a restart (rule R3).
	oldOwned []string
}

// receive handles a heartbeat from link.
func (m *Machine) receive(linkName string, hb Heartbeat) {
	if m.state == StateStopped || hb.System != m.cfg.SystemID || hb.From != m.cfg.Self.Other() || hb.Incarnation == 0 {
		return // not our pair
	}
	var l *link
	for _, x := range m.links {
		if x.name == linkName {
			l = x
		}
	}
	if l == nil || hb.Incarnation < m.peer.incarnation {
		return // unknown link, or a delayed heartbeat of a previous boot (rule T3)
	}
	m.linkHeard(l)
	p := &m.peer
	p.lastHeard = m.now
	if hb.Incarnation == p.incarnation && hb.Seq <= p.seq {
		return // duplicate or overtaken by a newer one: it only proves the link
	}
	restarted := p.incarnation != 0 && hb.Incarnation > p.incarnation
	if restarted {
		p.oldOwned = union(p.oldOwned, p.hb.Owned, p.hb.Fenced)
	}
	was := p.status
	p.incarnation, p.seq, p.hb, p.hbAt, p.status = hb.Incarnation, hb.Seq, hb, m.now, peerVisible
	if restarted || was != peerVisible {
		m.emit(PeerJoined{Incarnation: hb.Incarnation, Restarted: restarted})
		if was == peerLost || restarted {
			m.alert(Alert{Kind: AlertPeerJoined, Detail: fmt.Sprintf("%s heard again on %s (incarnation %d, %s)", hb.From, linkName, hb.Incarnation, hb.State)})
		}
	}
	m.termRule(hb)
}

// termRule: the higher term wins, a tie goes to node0 (rules T1, T2).
func (m *Machine) termRule(hb Heartbeat) {
	if m.state == StatePrimary && hb.State == StatePrimary && peerWins(hb.Term, hb.From, m.term) {
		m.stepDown(m.notPrimaryState(), fmt.Sprintf("%s is primary at term %d (this node: term %d); the higher term wins, a tie goes to node0", hb.From, hb.Term, m.term))
	}
	if hb.Term > m.term {
		m.saveTerm(hb.Term)
	}
}

// peerWins reports whether a claim at peerTerm by peer beats our claim at ours.
func peerWins(peerTerm uint64, peer NodeID, ours uint64) bool {
	return peerTerm > ours || peerTerm == ours && peer == Node0
}

func (m *Machine) notPrimaryState() State {
	if m.ep != nil {
		return StateIsolated
	}
	return StateSecondary
}

// checkPeer declares the peer lost when every link is down (rule L1), or
// when it has not been heard at all within PeerTimeout of start.
func (m *Machine) checkPeer() {
	p := &m.peer
	switch {
	case p.status == peerVisible && m.allLinksDown():
		p.status, p.lostAt = peerLost, m.now
		m.emit(PeerLost{LastHeard: p.lastHeard})
		detail := fmt.Sprintf("no heartbeat from %s on any of %d links for %v", m.cfg.Self.Other(), len(m.links), m.now.Sub(p.lastHeard))
		if p.hb.State == StateStopped {
			detail = fmt.Sprintf("%s was stopped by its administrator", m.cfg.Self.Other())
		}
		m.alert(Alert{Kind: AlertPeerLost, Detail: detail})
	case p.status == peerUnknown && !m.now.Before(m.startedAt.Add(m.cfg.PeerTimeout)):
		p.status, p.lostAt = peerLost, m.now
		m.emit(PeerLost{})
		m.alert(Alert{Kind: AlertPeerLost, Detail: fmt.Sprintf("no heartbeat from %s within %v of start", m.cfg.Self.Other(), m.cfg.PeerTimeout)})
	}
}

// connected: both nodes see each other — we hear the peer, and its latest
// heartbeat says it hears us.
func (m *Machine) connected() bool {
	return m.peer.status == peerVisible && !m.peer.hb.PeerLost
}

// connectedRules run while both nodes see each other (rules T2, E1–E3, R1–R3, S1).
func (m *Machine) connectedRules() {
	hb := m.peer.hb
	if m.state == StatePrimary && hb.State == StatePrimary && peerWins(hb.Term, hb.From, m.term) {
		m.stepDown(StateSecondary, fmt.Sprintf("%s is primary at term %d", hb.From, hb.Term))
	}
	if m.state == StateIsolated {
		m.state = StateSecondary // the episode is over
	}
	if m.state != StatePrimary && hb.State != StatePrimary && !hb.Disconnected && m.mayClaim(hb) {
		m.becomePrimary(max(m.term, hb.Term, m.proposal)+1, m.claimReason(hb))
	}
	if m.state == StateJoining && hb.State == StatePrimary {
		// A joining node becomes secondary only under a primary: were it to
		// turn secondary beside a secondary peer, both would rank equal and
		// node0 could claim while the peer claims over our "joining".
		m.state = StateSecondary
	}
	if m.state == StatePrimary || hb.State == StateStopped {
		// R2, R3, S1: the primary (or the survivor of a stopped peer)
		// restarts what was stopped by a fence, a restart or a hand-over
		// and now runs nowhere.
		orphans := minus(union(m.fenced, hb.Fenced, m.peer.oldOwned), m.owned, hb.Owned)
		m.takeOver(orphans, false, "stopped by a fence, a restart or a hand-over and running nowhere")
	}
	if m.state != StatePrimary && (hb.State == StatePrimary || m.cfg.Self == Node1) {
		if both := intersect(m.owned, hb.Owned); len(both) > 0 {
			m.release(both, false, fmt.Sprintf("%s runs them too; the primary keeps them", hb.From))
			m.alert(Alert{Kind: AlertResourceConflict, Detail: fmt.Sprintf("%v ran on both nodes (a split brain without a witness); stopped here, kept on %s", both, hb.From)})
		}
	}
	running := union(m.owned, hb.Owned)
	m.fenced = minus(m.fenced, running)
	m.peer.oldOwned = minus(m.peer.oldOwned, running)
}

// mayClaim: neither node is primary; who takes the system (rules E2, E3)?
func (m *Machine) mayClaim(hb Heartbeat) bool {
	if len(m.wit) == 0 && m.cfg.Self == Node1 && hb.State == StateStopped {
		return false // W0: without a witness node1 is never primary without node0 running
	}
	if hb.State != StateStopped && m.peer.hbAt.Before(m.rankedAt.Add(2*m.cfg.HeartbeatInterval)) {
		// Rule E3: a heartbeat this node sent at its lower rank may still be
		// on its way, or just in, and the peer claims on it while we claim
		// on this one, sent before it: each sees the other below itself.
		// One that arrives two intervals after the rise was sent after the
		// peer had all of them, and would show its claim. A stopped peer
		// claims nothing; when it starts, its own start holds it back.
		return false
	}
	mine, his := m.state.rank(), hb.State.rank()
	return mine > his || mine == his && m.cfg.Self == Node0
}

func (m *Machine) claimReason(hb Heartbeat) string {
	switch {
	case hb.State == StateStopped:
		return fmt.Sprintf("%s stopped and handed over", hb.From)
	case m.state.rank() > hb.State.rank():
		return fmt.Sprintf("no primary; %s is only %s", hb.From, hb.State)
	}
	return "no primary; both nodes " + m.state.String() + ", node0 is preferred"
}
