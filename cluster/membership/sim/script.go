package sim

import (
	"fmt"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// The script verbs: what a scenario can do to the simulated system, and
// what it can ask about it.

// PowerOn boots node i (a new incarnation; its saved term survives).
func (s *Sim) PowerOn(i int) {
	n := s.Nodes[i]
	if n.On {
		return
	}
	m, err := membership.New(n.Config)
	if err != nil {
		s.violate("%s: %v", n.ID, err)
		return
	}
	n.M, n.On, n.Owned, n.tickAt = m, true, nil, time.Time{}
	n.Incarnation++
	s.step(n, membership.Start{Incarnation: n.Incarnation, Term: n.SavedTerm})
}

// PowerOff cuts node i's power: everything it ran stops with it.
func (s *Sim) PowerOff(i int) { s.powerDown(s.Nodes[i]) }

func (s *Sim) powerDown(n *Node) {
	n.On, n.M, n.Owned, n.tickAt = false, nil, nil, time.Time{}
}

// StopNode stops node i gracefully (admin stop), then powers it off.
func (s *Sim) StopNode(i int) { s.step(s.Nodes[i], membership.Stop{}) }

// Assign makes node i run res (the agent started them there).
func (s *Sim) Assign(i int, res ...string) {
	n := s.Nodes[i]
	if !n.On {
		return
	}
	n.Owned = sortedUnion(n.Owned, res)
	s.note(n.ID.String(), fmt.Sprintf("agent runs %v", n.Owned))
	s.step(n, membership.SetResources{Owned: n.Owned})
}

// Direction selects which way a cut applies.
type Direction int

const (
	Both  Direction = iota
	From0           // heartbeats node0 → node1 are lost
	From1           // heartbeats node1 → node0 are lost
)

func (d Direction) apply(c *[2]bool, v bool) {
	if d == Both || d == From0 {
		c[0] = v
	}
	if d == Both || d == From1 {
		c[1] = v
	}
}

// Cut cuts link name in direction d; Restore heals it.
func (s *Sim) Cut(name string, d Direction)     { d.apply(&s.Links[name].Cut, true) }
func (s *Sim) Restore(name string, d Direction) { d.apply(&s.Links[name].Cut, false) }

// CutAll cuts every link in direction d; RestoreAll heals every link.
func (s *Sim) CutAll(d Direction) {
	for _, n := range s.linkOrder {
		s.Cut(n, d)
	}
}
func (s *Sim) RestoreAll() {
	for _, n := range s.linkOrder {
		s.Restore(n, Both)
	}
}

// Delay sets link name's latency both ways.
func (s *Sim) Delay(name string, d time.Duration) { s.Links[name].Delay = [2]time.Duration{d, d} }

// DelayFrom sets the latency of link name for heartbeats sent by node i.
func (s *Sim) DelayFrom(name string, i int, d time.Duration) { s.Links[name].Delay[i] = d }

// Flap toggles link name (both ways) every period from now until d.
func (s *Sim) Flap(name string, period, until time.Duration) {
	end := Epoch.Add(until)
	var toggle func()
	toggle = func() {
		l := s.Links[name]
		if !s.now.Before(end) {
			l.Cut = [2]bool{}
			s.note("script", "flapping of "+name+" ends (up)")
			return
		}
		l.Cut = [2]bool{!l.Cut[0], !l.Cut[0]}
		s.schedule(s.now.Add(period), toggle)
	}
	toggle()
}

// WitnessUp sets witness i (0-based) up or down.
func (s *Sim) WitnessUp(i int, up bool) { s.Witnesses[i].Up = up }

// CutWitness cuts (or restores) node's path to witness i.
func (s *Sim) CutWitness(i, node int, cut bool) { s.Witnesses[i].Cut[node] = cut }

// Primaries lists the powered nodes that are primary now.
func (s *Sim) Primaries() []membership.NodeID {
	var out []membership.NodeID
	for _, n := range s.Nodes {
		if n.On && n.M.Status().State == membership.StatePrimary {
			out = append(out, n.ID)
		}
	}
	return out
}

// State is node i's state (StateStopped when off).
func (s *Sim) State(i int) membership.State {
	if n := s.Nodes[i]; n.On {
		return n.M.Status().State
	}
	return membership.StateStopped
}

// Find returns the trace entries of node ("" for any) at or after from
// whose action matches.
func (s *Sim) Find(node string, from time.Duration, match func(membership.Action) bool) []Entry {
	var out []Entry
	for _, e := range s.Trace {
		if e.Action != nil && e.At >= from && (node == "" || e.Node == node) && match(e.Action) {
			out = append(out, e)
		}
	}
	return out
}
