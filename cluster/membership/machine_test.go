package membership

import (
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/witness"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

const ms = time.Millisecond

func newMachine(t *testing.T, change func(*Config)) *Machine {
	t.Helper()
	c := validConfig()
	if change != nil {
		change(&c)
	}
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	m.Step(t0, Start{Incarnation: 1})
	return m
}

func peerHB(seq uint64, st State) Heartbeat {
	return Heartbeat{System: "sys-1", From: Node1, Incarnation: 1, Seq: seq, State: st}
}

func all[T Action](acts []Action) []T {
	var out []T
	for _, a := range acts {
		if x, ok := a.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func alerts(acts []Action, kind AlertKind) []Alert {
	var out []Alert
	for _, a := range all[Alert](acts) {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// runUntil ticks m at its own Next until stop returns true or limit passes;
// it returns the time and actions of the stopping step.
func runUntil(m *Machine, limit time.Time, stop func([]Action) bool) (time.Time, []Action) {
	for {
		next := m.Next()
		if next.IsZero() || next.After(limit) {
			return time.Time{}, nil
		}
		if acts := m.Step(next, Tick{}); stop(acts) {
			return next, acts
		}
	}
}

func TestIgnoresForeignHeartbeats(t *testing.T) {
	for _, tc := range []struct {
		name string
		link string
		hb   func(*Heartbeat)
	}{
		{"other system", "priv0", func(h *Heartbeat) { h.System = "sys-2" }},
		{"from itself", "priv0", func(h *Heartbeat) { h.From = Node0 }},
		{"incarnation 0", "priv0", func(h *Heartbeat) { h.Incarnation = 0 }},
		{"unknown link", "eth9", func(*Heartbeat) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, nil)
			hb := peerHB(1, StateJoining)
			tc.hb(&hb)
			acts := m.Step(t0.Add(10*ms), Received{Link: tc.link, Heartbeat: hb})
			if len(all[PeerJoined](acts)) > 0 || m.Status().PeerVisible {
				t.Fatalf("heartbeat accepted: %v", acts)
			}
		})
	}
}

func TestPeerLostExactlyAfterTimeoutOnAllLinks(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Witnesses = nil })
	m.Step(t0.Add(100*ms), Received{Link: "priv0", Heartbeat: peerHB(1, StateJoining)})
	last := t0.Add(300 * ms)
	m.Step(last, Received{Link: "alink0", Heartbeat: peerHB(2, StateJoining)})
	// priv0 goes down one second after its last heartbeat: only an alert.
	at, acts := runUntil(m, t0.Add(5*time.Second), func(a []Action) bool { return len(alerts(a, AlertLinkDown)) > 0 })
	if want := t0.Add(1100 * ms); !at.Equal(want) || len(all[PeerLost](acts)) > 0 {
		t.Fatalf("first link down at %v (want %v), actions %v", at, want, acts)
	}
	at, acts = runUntil(m, t0.Add(5*time.Second), func(a []Action) bool { return len(all[PeerLost](a)) > 0 })
	if want := last.Add(time.Second); !at.Equal(want) {
		t.Fatalf("peer lost at %v, want exactly %v", at, want)
	}
	if a := alerts(acts, AlertLinkDown); len(a) != 1 || a[0].Link != "alink0" {
		t.Errorf("link alerts with the loss: %v", a)
	}
}

func TestOneLinkDownKeepsThePeer(t *testing.T) {
	m := newMachine(t, nil)
	var acts []Action
	for i := range 30 {
		link := "alink0"
		if i == 0 {
			link = "priv0"
		}
		acts = append(acts, m.Step(t0.Add(time.Duration(i)*200*ms), Received{Link: link, Heartbeat: peerHB(uint64(i+1), StatePrimary)})...)
		acts = append(acts, m.Step(t0.Add(time.Duration(i)*200*ms+100*ms), Tick{})...)
	}
	if len(all[PeerLost](acts)) > 0 {
		t.Fatal("peer lost while alink0 carries heartbeats")
	}
	if a := alerts(acts, AlertLinkDown); len(a) != 1 || a[0].Link != "priv0" {
		t.Fatalf("link-down alerts %v, want one for priv0", a)
	}
	if st := m.Status(); st.Links[0].Up || !st.Links[1].Up || !st.Connected || st.State != StateSecondary {
		t.Fatalf("status %+v", st)
	}
}

func TestFlappingHoldsBackLinkAlerts(t *testing.T) {
	m := newMachine(t, nil)
	var acts []Action
	seq := uint64(0)
	// alink0 steady; priv0 up 1.5 s, down 1.5 s, five times.
	for ts := time.Duration(0); ts < 15*time.Second; ts += 100 * ms {
		now := t0.Add(ts)
		if ts%(200*ms) == 0 {
			seq++
			acts = append(acts, m.Step(now, Received{Link: "alink0", Heartbeat: peerHB(seq, StatePrimary)})...)
			if (ts/(1500*ms))%2 == 0 {
				seq++
				acts = append(acts, m.Step(now, Received{Link: "priv0", Heartbeat: peerHB(seq, StatePrimary)})...)
			}
		}
		acts = append(acts, m.Step(now, Tick{})...)
	}
	if n := len(alerts(acts, AlertLinkFlapping)); n != 1 {
		t.Fatalf("%d flapping alerts, want 1: %v", n, all[Alert](acts))
	}
	if n := len(alerts(acts, AlertLinkDown)) + len(alerts(acts, AlertLinkUp)); n > 3 {
		t.Errorf("%d up/down alerts despite flapping", n)
	}
	if !m.Status().Links[0].Flapping {
		t.Error("priv0 not reported flapping")
	}
	// Quiet for a whole window: stable again.
	var quiet []Action
	for ts := 15 * time.Second; ts < 27*time.Second; ts += 200 * ms {
		seq++
		quiet = append(quiet, m.Step(t0.Add(ts), Received{Link: "priv0", Heartbeat: peerHB(seq, StatePrimary)})...)
	}
	if len(alerts(quiet, AlertLinkUp)) != 1 || m.Status().Links[0].Flapping {
		t.Errorf("no stable-again alert: %v", all[Alert](quiet))
	}
}

func TestStopHandsOver(t *testing.T) {
	m := newMachine(t, nil)
	acts := m.Step(t0.Add(400*ms), Received{Link: "priv0", Heartbeat: peerHB(1, StateJoining)})
	if len(all[BecomePrimary](acts)) != 1 {
		t.Fatalf("node0 did not claim beside a joining node1: %v", acts)
	}
	m.Step(t0.Add(402*ms), SetResources{Owned: []string{"vm-b", "vm-a", "vm-a"}})
	acts = m.Step(t0.Add(403*ms), Stop{})
	if len(all[StepDown](acts)) != 1 {
		t.Error("no step down")
	}
	if r := all[Release](acts); len(r) != 1 || strings.Join(r[0].Resources, ",") != "vm-a,vm-b" {
		t.Errorf("release %v", r)
	}
	sends := all[SendHeartbeat](acts)
	if len(sends) != 2 {
		t.Fatalf("%d final heartbeats, want one per link", len(sends))
	}
	if hb := sends[0].Heartbeat; hb.State != StateStopped || strings.Join(hb.Fenced, ",") != "vm-a,vm-b" {
		t.Errorf("final heartbeat %+v", hb)
	}
	if acts := m.Step(t0.Add(time.Second), Tick{}); len(acts) != 0 || !m.Next().IsZero() {
		t.Errorf("a stopped machine acted: %v", acts)
	}
	if acts := m.Step(t0.Add(2*time.Second), Start{}); len(all[SendHeartbeat](acts)) != 2 || m.Status().Incarnation != 2 {
		t.Errorf("restart: incarnation %d, actions %v", m.Status().Incarnation, acts)
	}
}

// TestClaimWaitsAfterRise: rule E3 takes no heartbeat that arrived within
// two intervals of this node's start or of its leaving "joining": the peer
// may be claiming on one this node sent before.
func TestClaimWaitsAfterRise(t *testing.T) {
	claims := func(acts []Action) bool { return len(all[BecomePrimary](acts)) == 1 }
	t.Run("node0 just started, node1 joining", func(t *testing.T) {
		m := newMachine(t, nil)
		if acts := m.Step(t0.Add(ms), Received{Link: "priv0", Heartbeat: peerHB(1, StateJoining)}); claims(acts) {
			t.Fatalf("claimed on a heartbeat 1 ms after start: %v", acts)
		}
		if acts := m.Step(t0.Add(400*ms), Received{Link: "priv0", Heartbeat: peerHB(2, StateJoining)}); !claims(acts) {
			t.Fatalf("no claim two intervals after start: %v", acts)
		}
	})
	t.Run("node0 just started, node1 stopped", func(t *testing.T) {
		m := newMachine(t, nil)
		if acts := m.Step(t0.Add(ms), Received{Link: "priv0", Heartbeat: peerHB(1, StateStopped)}); !claims(acts) {
			t.Fatalf("no claim beside a stopped node1: %v", acts)
		}
	})
	t.Run("node1 isolated by its start timeout, node0 joining", func(t *testing.T) {
		m := newMachine(t, func(c *Config) { c.Self = Node1 })
		m.Step(t0.Add(time.Second), Tick{})
		if st := m.Status().State; st != StateIsolated {
			t.Fatalf("node1 is %s after its start timeout, want isolated", st)
		}
		hb := func(seq uint64) Heartbeat {
			return Heartbeat{System: "sys-1", From: Node0, Incarnation: 1, Seq: seq, State: StateJoining}
		}
		if acts := m.Step(t0.Add(1040*ms), Received{Link: "priv0", Heartbeat: hb(1)}); claims(acts) {
			t.Fatalf("claimed 40 ms after leaving joining: %v", acts)
		}
		if acts := m.Step(t0.Add(1400*ms), Received{Link: "priv0", Heartbeat: hb(2)}); !claims(acts) {
			t.Fatalf("no claim two intervals after leaving joining: %v", acts)
		}
	})
}

func TestStaleTermIsRetriedAtOnce(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Self = Node1 })
	at, acts := runUntil(m, t0.Add(5*time.Second), func(a []Action) bool {
		for _, x := range all[AskWitness](a) {
			if x.Request.Kind == witness.KindVote {
				return true
			}
		}
		return false
	})
	// Alone from the start: lost at 1 s, asks at 1 s + D1.
	if want := t0.Add(time.Second + m.Config().ChallengeDelay(Node1)); !at.Equal(want) {
		t.Fatalf("first vote at %v, want %v", at, want)
	}
	var ask AskWitness
	for _, a := range all[AskWitness](acts) {
		if a.Request.Kind == witness.KindVote {
			ask = a
		}
	}
	acts = m.Step(at.Add(5*ms), WitnessReply{Witness: ask.Witness, ID: ask.ID,
		Reply: witness.Reply{Result: witness.Refused, Reason: witness.ReasonStaleTerm, Term: 7}})
	again := all[AskWitness](acts)
	if len(again) != 1 || again[0].Request.Term != 8 {
		t.Fatalf("retry %v, want one vote for term 8", again)
	}
	acts = m.Step(at.Add(10*ms), WitnessReply{Witness: ask.Witness, ID: again[0].ID,
		Reply: witness.Reply{Result: witness.Granted, Term: 8, Lease: 3 * time.Second, Held: true, Holder: 1}})
	if b := all[BecomePrimary](acts); len(b) != 1 || b[0].Term != 8 {
		t.Fatalf("after the grant: %v", acts)
	}
	// A reply nobody asked for changes nothing.
	if acts := m.Step(at.Add(20*ms), WitnessReply{Witness: ask.Witness, ID: 999, NoAnswer: true}); len(alerts(acts, AlertWitnessUnreachable)) > 0 {
		t.Error("unknown reply was taken into account")
	}
}

func TestDescribeEveryAction(t *testing.T) {
	for _, a := range []Action{
		SendHeartbeat{Link: "priv0"}, AskWitness{Witness: "w"}, BecomePrimary{}, StepDown{},
		TakeOver{}, Release{}, PeerLost{}, PeerJoined{}, SaveTerm{}, LinkReport{Links: []LinkStatus{{Name: "priv0"}}},
		Alert{Kind: AlertLinkDown, Link: "priv0", Detail: "x"},
	} {
		if s := Describe(a); s == "" || strings.Contains(s, "%!") || strings.HasPrefix(s, "membership.") {
			t.Errorf("Describe(%T) = %q", a, s)
		}
	}
}

// TestTermRule: two primaries meet (an old primary returns, a stale claim
// arrives): the higher term wins, a tie goes to node0 (rule T2).
func TestTermRule(t *testing.T) {
	for _, tc := range []struct {
		name      string
		self      NodeID
		peerTerm  uint64
		stepsDown bool
	}{
		{"peer has the higher term", Node0, 9, true},
		{"peer has a lower term", Node1, 3, false},
		{"tie, peer is node0", Node1, 5, true},
		{"tie, peer is node1", Node0, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, func(c *Config) { c.Self = tc.self })
			m.state, m.term = StatePrimary, 5 // as if it had won term 5
			hb := Heartbeat{System: "sys-1", From: tc.self.Other(), Incarnation: 1, Seq: 1, State: StatePrimary, Term: tc.peerTerm}
			acts := m.Step(t0.Add(ms), Received{Link: "priv0", Heartbeat: hb})
			if got := len(all[StepDown](acts)) == 1; got != tc.stepsDown {
				t.Fatalf("stepped down: %v, want %v (%v)", got, tc.stepsDown, acts)
			}
			if want := max(5, tc.peerTerm); m.Status().Term != want {
				t.Errorf("term %d, want %d", m.Status().Term, want)
			}
		})
	}
}
