// Package sim runs two membership machines and up to two witnesses on a
// simulated network in virtual time, for scripted scenarios: links cut both
// ways or one way, delayed or flapping, nodes powered off and on, witnesses
// lost. Everything is deterministic — same script, same trace — and a
// minute of virtual time takes milliseconds.
//
// After every instant of virtual time the simulator checks the invariants
// (see Sim.Violations): at most one primary, no resource running on both
// nodes, and no takeover the membership rules do not allow.
package sim

import (
	"container/heap"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
	"github.com/lockstep-ft/lockstep/cluster/witness"
)

// Epoch is virtual time zero.
var Epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Options describe the simulated system.
type Options struct {
	// Links default to priv0 and alink0.
	Links []string
	// Witnesses is the number of witnesses (0, 1 or 2), named w1, w2.
	Witnesses int
	// Configure adjusts both nodes' configuration (after the defaults above).
	Configure func(*membership.Config)
	// LinkDelay is the one-way latency of every link (default 1 ms).
	LinkDelay time.Duration
	// WitnessDelay is the one-way latency to every witness (default 2 ms).
	WitnessDelay time.Duration
	// SharedResourcesAllowed disables the "no resource on both nodes"
	// invariant (rule W0 accepts it in a full partition without witness);
	// the no-witness rules are then checked instead.
	SharedResourcesAllowed bool
	// Verbose also traces heartbeats.
	Verbose bool
}

// Node is one simulated server.
type Node struct {
	ID          membership.NodeID
	Config      membership.Config
	M           *membership.Machine // nil while powered off
	On          bool
	Incarnation uint64
	SavedTerm   uint64
	// Owned is what this node runs according to the actions it was told to
	// carry out (checked against the machine's own view).
	Owned  []string
	tickAt time.Time
}

// Link is one simulated cable between the nodes.
type Link struct {
	Name string
	// Cut[i]: heartbeats sent by node i are lost.
	Cut [2]bool
	// Delay[i]: latency of heartbeats sent by node i.
	Delay [2]time.Duration
}

// Witness is one simulated witness; it runs the real witness.Ledger.
type Witness struct {
	Name   string
	Ledger *witness.Ledger
	Up     bool
	// Cut[i]: node i cannot reach this witness (either way).
	Cut   [2]bool
	Delay time.Duration
}

// Entry is one line of the trace.
type Entry struct {
	At   time.Duration
	Node string
	What string
	// Action is set for machine actions.
	Action membership.Action
}

func (e Entry) String() string { return fmt.Sprintf("%8v %-6s %s", e.At, e.Node, e.What) }

// Sim is one simulation.
type Sim struct {
	opts      Options
	now       time.Time
	queue     queue
	seq       uint64
	sameTime  int
	Nodes     [2]*Node
	Links     map[string]*Link
	linkOrder []string
	Witnesses []*Witness
	// Trace is everything that happened (heartbeats only if Verbose).
	Trace []Entry
	// Violations are the broken invariants, with the time.
	Violations []string

	noMajoritySince [2]time.Time // per node, for invariant I4
}

// New builds a simulation; nodes are off until PowerOn.
func New(opts Options) *Sim {
	if len(opts.Links) == 0 {
		opts.Links = []string{"priv0", "alink0"}
	}
	if opts.LinkDelay == 0 {
		opts.LinkDelay = time.Millisecond
	}
	if opts.WitnessDelay == 0 {
		opts.WitnessDelay = 2 * time.Millisecond
	}
	s := &Sim{opts: opts, now: Epoch, Links: map[string]*Link{}, linkOrder: opts.Links}
	var names []string
	for i := range opts.Witnesses {
		w := &Witness{Name: fmt.Sprintf("w%d", i+1), Up: true, Delay: opts.WitnessDelay,
			Ledger: witness.NewLedger(time.Minute, witness.State{}, nil)}
		s.Witnesses = append(s.Witnesses, w)
		names = append(names, w.Name)
	}
	for _, name := range opts.Links {
		s.Links[name] = &Link{Name: name, Delay: [2]time.Duration{opts.LinkDelay, opts.LinkDelay}}
	}
	for i := range s.Nodes {
		cfg := membership.Config{SystemID: "sys-test", Self: membership.NodeID(i), Links: opts.Links, Witnesses: names}
		if opts.Configure != nil {
			opts.Configure(&cfg)
		}
		s.Nodes[i] = &Node{ID: membership.NodeID(i), Config: cfg.WithDefaults()}
	}
	return s
}

// Now is the current virtual time since Epoch.
func (s *Sim) Now() time.Duration { return s.now.Sub(Epoch) }

// At schedules a script step at virtual time d.
func (s *Sim) At(d time.Duration, what string, fn func()) {
	s.schedule(Epoch.Add(d), func() {
		s.note("script", what)
		fn()
	})
}

// Run processes events until virtual time d (inclusive), checking the
// invariants after every instant.
func (s *Sim) Run(d time.Duration) {
	end := Epoch.Add(d)
	for s.queue.Len() > 0 && !s.queue[0].at.After(end) {
		ev := heap.Pop(&s.queue).(*event)
		if ev.at.After(s.now) {
			s.check()
			s.now, s.sameTime = ev.at, 0
		}
		if s.sameTime++; s.sameTime > 100000 {
			s.violate("livelock: more than 100000 events at one instant")
			return
		}
		ev.fn()
	}
	s.check()
	if end.After(s.now) {
		s.now = end
	}
}

func (s *Sim) schedule(at time.Time, fn func()) {
	if at.Before(s.now) {
		at = s.now
	}
	s.seq++
	heap.Push(&s.queue, &event{at: at, seq: s.seq, fn: fn})
}

func (s *Sim) note(who, what string) {
	s.Trace = append(s.Trace, Entry{At: s.Now(), Node: who, What: what})
}

func (s *Sim) violate(format string, args ...any) {
	s.Violations = append(s.Violations, fmt.Sprintf("at %v: ", s.Now())+fmt.Sprintf(format, args...))
}

// TraceText renders the last n trace entries (all if n <= 0).
func (s *Sim) TraceText(n int) string {
	t := s.Trace
	if n > 0 && len(t) > n {
		t = t[len(t)-n:]
	}
	var b strings.Builder
	for _, e := range t {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// step feeds one event to a powered node and carries out its actions.
func (s *Sim) step(n *Node, ev membership.Event) {
	if !n.On {
		return
	}
	acts := n.M.Step(s.now, ev)
	for _, a := range acts {
		s.carryOut(n, a)
	}
	s.checkActions(n, acts)
	if _, stopped := ev.(membership.Stop); stopped {
		s.powerDown(n)
		return
	}
	s.scheduleTick(n)
}

func (s *Sim) scheduleTick(n *Node) {
	next := n.M.Next()
	if next.IsZero() || next.Equal(n.tickAt) {
		return
	}
	n.tickAt = next
	inc := n.Incarnation
	s.schedule(next, func() {
		if n.On && n.Incarnation == inc && n.tickAt.Equal(next) {
			n.tickAt = time.Time{}
			s.step(n, membership.Tick{})
		}
	})
}

func (s *Sim) carryOut(n *Node, a membership.Action) {
	if _, hb := a.(membership.SendHeartbeat); !hb || s.opts.Verbose {
		s.Trace = append(s.Trace, Entry{At: s.Now(), Node: n.ID.String(), What: membership.Describe(a), Action: a})
	}
	switch a := a.(type) {
	case membership.SendHeartbeat:
		s.sendHeartbeat(n, a)
	case membership.AskWitness:
		s.askWitness(n, a)
	case membership.TakeOver:
		n.Owned = sortedUnion(n.Owned, a.Resources)
	case membership.Release:
		n.Owned = sortedMinus(n.Owned, a.Resources)
	case membership.SaveTerm:
		n.SavedTerm = a.Term
	}
}

func (s *Sim) sendHeartbeat(n *Node, a membership.SendHeartbeat) {
	l := s.Links[a.Link]
	if l == nil || l.Cut[n.ID] {
		return
	}
	to := s.Nodes[n.ID.Other()]
	s.schedule(s.now.Add(l.Delay[n.ID]), func() {
		s.step(to, membership.Received{Link: a.Link, Heartbeat: a.Heartbeat})
	})
}

func (s *Sim) askWitness(n *Node, a membership.AskWitness) {
	var w *Witness
	for _, x := range s.Witnesses {
		if x.Name == a.Witness {
			w = x
		}
	}
	inc := n.Incarnation
	deliver := func(ev membership.WitnessReply) {
		if n.On && n.Incarnation == inc {
			s.step(n, ev)
		}
	}
	timeout := n.Config.WitnessTimeout
	if w == nil || !w.Up || w.Cut[n.ID] {
		// What a real client reports after its timeout.
		s.schedule(s.now.Add(timeout), func() { deliver(membership.WitnessReply{Witness: a.Witness, ID: a.ID, NoAnswer: true}) })
		return
	}
	s.schedule(s.now.Add(w.Delay), func() {
		if !w.Up || w.Cut[n.ID] {
			return // lost on the way; the machine times the request out
		}
		rep := w.Ledger.Decide(s.now, a.Request)
		if a.Request.Kind != witness.KindProbe || s.opts.Verbose {
			s.note(w.Name, fmt.Sprintf("%s %s term=%d → %s", witness.NodeName(a.Request.Node), a.Request.Kind, a.Request.Term, rep))
		}
		s.schedule(s.now.Add(w.Delay), func() {
			if w.Up && !w.Cut[n.ID] {
				deliver(membership.WitnessReply{Witness: a.Witness, ID: a.ID, Reply: rep})
			}
		})
	})
}

func sortedUnion(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func sortedMinus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
