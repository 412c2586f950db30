package membership

import (
	"fmt"
	"time"
)

// episode is one stretch of time during which the two nodes do not see each
// other: this node hears the peer on no link, or the peer reports it hears
// this node on none. It begins at "lost" (L in the package comment) and
// ends when both see each other again.
type episode struct {
	start time.Time
	// peerOwned: the resources the peer ran when the episode began; the
	// winner restarts them (minus any a still-visible peer reports running).
	peerOwned []string
	// askAt: first vote round (with witnesses) or node0's claim (without).
	askAt time.Time
	asked bool
	// roundEnd: the current vote round's answers are due.
	roundEnd time.Time
	// decided: the first round is over (won, or fenced).
	decided    bool
	takeoverAt time.Time
	tookOver   bool
	nextRenew  time.Time
	nextRetry  time.Time
	// unseenSince: when the visible peer first reported this node lost
	// (zero while the peer is silent or says it hears us).
	unseenSince time.Time
}

// deadlines reports the times at which the episode has something to do.
func (e *episode) deadlines(m *Machine, add func(time.Time)) {
	if !e.asked {
		add(e.askAt)
	}
	add(e.roundEnd)
	if !e.tookOver && m.state == StatePrimary {
		add(e.takeoverAt)
	}
	if e.decided && len(m.wit) > 0 {
		if m.state == StatePrimary {
			add(e.nextRenew)
		} else {
			add(e.nextRetry)
		}
	}
	if !e.unseenSince.IsZero() && len(m.wit) == 0 {
		add(e.unseenSince.Add(m.cfg.unseenGrace()))
	}
	if m.state != StatePrimary {
		add(m.challengeAt())
	}
}

// beginEpisode starts a disconnected episode now (rules P1, P2, W0).
func (m *Machine) beginEpisode() {
	e := &episode{start: m.now, takeoverAt: m.now.Add(m.cfg.TakeoverDelay())}
	if m.peer.incarnation != 0 {
		e.peerOwned = setOf(m.peer.hb.Owned)
	}
	m.ep = e
	if m.peer.status == peerVisible {
		m.alert(Alert{Kind: AlertOneWayLoss, Detail: fmt.Sprintf("%s is heard here but reports hearing this node on no link", m.cfg.Self.Other())})
	}
	switch {
	case len(m.wit) == 0 && m.cfg.Self == Node0:
		e.askAt = m.now.Add(m.cfg.ChallengeDelay(Node0))
	case len(m.wit) == 0:
		e.asked, e.decided = true, true
		detail := "node0 cannot be seen and no witness is configured: node1 takes over nothing (rule W0)"
		if m.state == StatePrimary {
			m.stepDown(StateIsolated, "node0 cannot be seen and no witness is configured: node0 takes the system (rule W0)")
			detail = "node0 cannot be seen and no witness is configured: node1 gave up the system IP for node0 and takes over nothing (rule W0)"
		}
		m.alert(Alert{Kind: AlertSplitBrainAverted, Detail: detail})
	case m.state == StatePrimary:
		e.askAt = m.now // the incumbent asks at once
	default:
		e.askAt = m.now.Add(m.cfg.ChallengeDelay(m.cfg.Self))
	}
	if m.state != StatePrimary {
		m.state = StateIsolated
	}
}

// endEpisode: both nodes see each other again.
func (m *Machine) endEpisode() {
	m.releaseGrants()
	m.ep = nil
}

// episodeRules run while the nodes do not see each other.
func (m *Machine) episodeRules() {
	e := m.ep
	if m.peer.status == peerVisible && m.peer.hb.PeerLost {
		if e.unseenSince.IsZero() {
			e.unseenSince = m.now
		}
	} else {
		e.unseenSince = time.Time{}
	}
	if len(m.wit) == 0 {
		m.noWitnessRules(e)
		return
	}
	m.quorumRules(e)
}

// noWitnessRules: rule W0, node0 is preferred.
func (m *Machine) noWitnessRules(e *episode) {
	if m.cfg.Self == Node0 {
		if !e.asked && !m.now.Before(e.askAt) && (m.state == StatePrimary || m.mayChallenge()) {
			e.asked, e.decided = true, true
			if m.state != StatePrimary {
				m.becomePrimary(max(m.term, m.proposal)+1, "node1 cannot be seen and no witness is configured: node0 is preferred (rule W0)")
			}
		}
		m.takeOverIfDue(e, "node1 cannot be seen and no witness is configured: node0 is preferred (rule W0)")
		return
	}
	// node1 never takes over. If node0 is visibly alive and says it lost us,
	// it is about to start our resources: stop them here first.
	if !e.unseenSince.IsZero() && !m.now.Before(e.unseenSince.Add(m.cfg.unseenGrace())) && len(m.owned) > 0 {
		m.fence(false, "node0 is alive but cannot hear this node, and takes its resources (rule W0)")
	}
}

// quorumRules: rules P1–P3 and Q1–Q4 of the package comment.
func (m *Machine) quorumRules(e *episode) {
	roundOver := !e.roundEnd.IsZero() && !m.now.Before(e.roundEnd)
	switch {
	case m.state != StatePrimary && m.peerVisiblyPrimary():
		// A peer we hear, and which says it is primary, holds the system:
		// it either hears us soon (a node starting, a heartbeat in
		// flight) or keeps its own lease and takes our resources. Asking
		// could win a lease the incumbent has just given back on hearing
		// us (rule P4); conceding at once is what a refused vote would do.
		if !e.asked && !m.now.Before(e.askAt) {
			e.asked, e.decided = true, true
			e.nextRetry = m.now.Add(m.retryInterval())
			if len(m.owned) > 0 {
				m.fence(false, fmt.Sprintf("%s is primary and hears this node on no link: it keeps the system and takes these resources", m.cfg.Self.Other()))
			}
		}
	case m.wins():
		e.roundEnd = time.Time{}
		switch {
		case m.state != StatePrimary:
			m.becomePrimary(max(m.term, m.grantTerm()), fmt.Sprintf("%s lost; won the witness vote (%d of %d)", m.cfg.Self.Other(), m.liveGrants(), len(m.wit)))
			m.takeOver(m.fenced, false, "this node stopped them when it had no witness majority; it has one now")
			e.nextRenew = m.now.Add(m.cfg.WitnessLease / 3)
		case !e.decided:
			// The incumbent kept the system; it now claims at the won term.
			m.saveTerm(m.grantTerm())
			e.nextRenew = m.now.Add(m.cfg.WitnessLease / 3)
		case !m.now.Before(e.nextRenew):
			m.askVotes(m.term)
			e.nextRenew = m.now.Add(m.cfg.WitnessLease / 3)
		}
		e.asked, e.decided = true, true
	case !e.asked:
		switch {
		case m.now.Before(e.askAt):
		case m.state == StatePrimary || m.mayChallenge():
			e.asked = true
			m.voteRound()
		default:
			// The peer was lost after L, so it was seen during the
			// episode, reporting this node lost: it noticed the cut first
			// and, if it wins, takes these resources on its own clock.
			// Concede now, as under rule P4, and ask once it can no longer
			// be a primary unaware of the cut (rule P2a).
			e.asked, e.decided = true, true
			e.nextRetry = m.challengeAt()
			if len(m.owned) > 0 {
				m.fence(false, fmt.Sprintf("%s reported this node lost and went out of sight: it may hold the witness majority and take these resources", m.cfg.Self.Other()))
			}
		}
	case roundOver:
		e.roundEnd = time.Time{}
		if m.state == StatePrimary || !e.decided {
			m.fence(false, fmt.Sprintf("no witness majority within %v (%d of %d grants)", m.cfg.WitnessTimeout, m.liveGrants(), len(m.wit)))
		} else {
			m.releaseGrants() // a partial majority would only block the peer
		}
		e.decided = true
		e.nextRetry = m.now.Add(m.retryInterval())
	case e.decided && m.state == StatePrimary:
		// Won earlier, but the grants ran out without renewal: step down
		// now, before any witness can hand the lease on (rule Q4).
		m.fence(true, fmt.Sprintf("the witness majority lapsed (%d of %d grants live)", m.liveGrants(), len(m.wit)))
		e.nextRetry = m.now.Add(m.retryInterval())
	case e.decided && e.roundEnd.IsZero() && !m.now.Before(e.nextRetry) && m.mayChallenge():
		m.voteRound()
		e.nextRetry = m.now.Add(m.retryInterval())
	}
	if m.state == StatePrimary {
		m.takeOverIfDue(e, fmt.Sprintf("%s lost and this node holds the witness majority", m.cfg.Self.Other()))
	}
}

// challengeAt is the earliest time at which this node, not primary, may ask
// the witnesses (or node0, without witnesses, claim the system) while it
// cannot see the peer: ChallengeDelay after it last declared the peer lost,
// whatever began the episode (rule P2). Until that moment this node's
// heartbeats said it heard the peer, so a primary peer may have gone on
// hearing them, unaware of the cut and without a lease, and notices up to
// PeerTimeout+HeartbeatInterval later (rule L3). Zero while the peer is
// visible: during an episode its heartbeat then reports this node lost, so
// it has noticed, and rule P4 covers a primary peer.
func (m *Machine) challengeAt() time.Time {
	if m.peer.status != peerLost {
		return time.Time{}
	}
	return m.peer.lostAt.Add(m.cfg.ChallengeDelay(m.cfg.Self))
}

func (m *Machine) mayChallenge() bool { return !m.now.Before(m.challengeAt()) }

// peerVisiblyPrimary: the peer is heard on some link and its latest
// heartbeat says it is primary.
func (m *Machine) peerVisiblyPrimary() bool {
	return m.peer.status == peerVisible && m.peer.hb.State == StatePrimary
}

// retryInterval: node1 retries a little less often, so that when both are
// asking in vain (say, a partial majority each) node0 gets through first.
func (m *Machine) retryInterval() time.Duration {
	if m.cfg.Self == Node1 {
		return m.cfg.RetryInterval * 3 / 2
	}
	return m.cfg.RetryInterval
}

// voteRound asks every witness for a new term.
func (m *Machine) voteRound() {
	m.askVotes(max(m.term, m.proposal) + 1)
	m.ep.roundEnd = m.now.Add(m.cfg.WitnessTimeout)
}

// takeOverIfDue starts the peer's resources once TakeoverDelay has passed
// since the episode began (rule P3), except those a visible peer still
// reports running.
func (m *Machine) takeOverIfDue(e *episode, reason string) {
	if e.tookOver || m.state != StatePrimary || m.now.Before(e.takeoverAt) {
		return
	}
	e.tookOver = true
	res := e.peerOwned
	if m.peer.status == peerVisible {
		res = minus(res, m.peer.hb.Owned)
	}
	m.takeOver(res, true, reason)
}

// fence gives everything up: the system IP, the resources (kept in the
// fenced list, to be restarted by whoever wins) and any partial grants.
func (m *Machine) fence(quorumLost bool, reason string) {
	wasPrimary := m.state == StatePrimary
	m.stepDown(StateIsolated, reason)
	m.release(m.owned, true, reason)
	m.releaseGrants()
	kind := AlertSplitBrainAverted
	if quorumLost && wasPrimary {
		kind = AlertQuorumLost
	}
	m.alert(Alert{Kind: kind, Detail: reason})
}
