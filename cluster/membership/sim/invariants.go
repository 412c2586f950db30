package sim

import (
	"slices"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// check verifies the invariants that must hold at every instant:
//
//   - I1: at most one node is primary (holds the system IP) — stronger than
//     "never two primaries that see each other": with the timing rules of
//     package membership not even a partition produces two.
//   - I2: no resource runs on both nodes (unless SharedResourcesAllowed).
//   - I3: each machine's own list of resources is what it told the driver.
//   - I4: a primary that does not see its peer holds a witness majority in
//     the witnesses' own ledgers, except during the grace its first vote
//     round may take (rule P1); without witnesses only node0 may be such a
//     primary.
func (s *Sim) check() {
	if p := s.Primaries(); len(p) > 1 {
		s.violate("I1: two primaries %v (terms %d and %d)", p, s.Nodes[0].M.Status().Term, s.Nodes[1].M.Status().Term)
	}
	n0, n1 := s.Nodes[0], s.Nodes[1]
	if n0.On && n1.On && !s.opts.SharedResourcesAllowed {
		for _, r := range n0.Owned {
			if slices.Contains(n1.Owned, r) {
				s.violate("I2: %s runs on both nodes", r)
			}
		}
	}
	for _, n := range s.Nodes {
		if !n.On {
			continue
		}
		st := n.M.Status()
		if !slices.Equal(st.Owned, n.Owned) && !(len(st.Owned) == 0 && len(n.Owned) == 0) {
			s.violate("I3: %s believes it runs %v but was told to run %v", n.ID, st.Owned, n.Owned)
		}
		s.checkDisconnectedPrimary(n, st)
	}
}

// grace is how long a disconnected incumbent may stay primary before its
// first vote round has an answer (rule P1), plus the message latency.
func (s *Sim) grace(n *Node) time.Duration {
	return n.Config.WitnessTimeout + 2*s.opts.WitnessDelay
}

func (s *Sim) checkDisconnectedPrimary(n *Node, st membership.Status) {
	since := &s.noMajoritySince
	if st.State != membership.StatePrimary || st.Connected || (len(s.Witnesses) > 0 && s.holdsMajority(n.ID)) {
		since[n.ID] = time.Time{}
		return
	}
	if len(s.Witnesses) == 0 {
		if n.ID != membership.Node0 {
			s.violate("I4: node1 is primary without seeing node0 and without a witness (rule W0)")
		}
		return
	}
	if since[n.ID].IsZero() {
		since[n.ID] = s.now
	}
	if s.now.Sub(since[n.ID]) > s.grace(n) {
		s.violate("I4: %s is primary, disconnected, without a witness majority for %v", n.ID, s.now.Sub(since[n.ID]))
		since[n.ID] = s.now // report once per grace period
	}
}

// holdsMajority asks the witnesses' ledgers (not the node) whether node
// holds live leases from a winning set (rule Q2).
func (s *Sim) holdsMajority(node membership.NodeID) bool {
	grants := 0
	for _, w := range s.Witnesses {
		if rec, ok := w.Ledger.Record(s.Nodes[0].Config.SystemID); ok && rec.Live(s.now) && rec.Holder == uint8(node) {
			grants++
		}
	}
	n := len(s.Witnesses)
	return grants > 0 && (2*grants > n || 2*grants == n && node == membership.Node0)
}

// checkActions verifies every takeover against the rules, right after the
// step that made it.
func (s *Sim) checkActions(n *Node, acts []membership.Action) {
	if !n.On {
		return
	}
	st := n.M.Status()
	for _, a := range acts {
		var what string
		switch a := a.(type) {
		case membership.BecomePrimary:
			what = "became primary"
		case membership.TakeOver:
			what = "took over " + a.Resources[0] + "…"
			if a.FromPeer && len(s.Witnesses) == 0 && n.ID == membership.Node1 {
				s.violate("W0: node1 took over the peer's resources %v without a witness", a.Resources)
			}
		default:
			continue
		}
		if st.Connected {
			continue // decided by heartbeats, both nodes in view
		}
		switch {
		case len(s.Witnesses) == 0 && n.ID == membership.Node1:
			s.violate("W0: node1 %s while disconnected, without a witness", what)
		case len(s.Witnesses) > 0 && !s.holdsMajority(n.ID):
			s.violate("Q2: %s %s while disconnected without a witness majority in the ledgers", n.ID, what)
		}
	}
}
