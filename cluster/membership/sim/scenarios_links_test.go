package sim

import (
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
	"github.com/lockstep-ft/lockstep/cluster/witness"
)

// linkScenarios: cuts of one or all links, either way, and flapping.
func linkScenarios() []scenario {
	w1 := Options{Witnesses: 1}
	return []scenario{
		{
			name: "cut priv0 only: alert, no failover", opts: w1, until: 20 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "cut priv0", func() { s.Cut("priv0", Both) })
				s.At(12*sec, "restore priv0", func() { s.Restore("priv0", Both) })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "", 2*sec, "role change", roleChange)
				expectNone(t, s, "", 0, "peer loss", is[membership.PeerLost])
				expectNone(t, s, "", 2*sec, "resource move", func(a membership.Action) bool {
					return is[membership.TakeOver](a) || is[membership.Release](a)
				})
				for i := range 2 {
					down := expectSome(t, s, node(i), 5*sec, "link-down alert", alertOf(membership.AlertLinkDown))
					within(t, "link-down alert", down-5*sec, 1100*time.Millisecond)
					expectSome(t, s, node(i), 12*sec, "link-up alert", alertOf(membership.AlertLinkUp))
				}
				reports := s.Find("node1", 5*sec, is[membership.LinkReport])
				if len(reports) == 0 {
					t.Fatal("no link report")
				}
				if l := reports[0].Action.(membership.LinkReport).Links[0]; l.Name != "priv0" || l.Up {
					t.Errorf("first link report after the cut: %+v, want priv0 down", l)
				}
				expectPrimary(t, s, 0)
			},
		},
		{
			name: "cut all links with a witness: exactly one primary", opts: w1, until: 25 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "cut all links", func() { s.CutAll(Both) })
				s.At(15*sec, "restore all links", func() { s.RestoreAll() })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "node0", 2*sec, "role change of the incumbent", roleChange)
				expectNone(t, s, "node1", 0, "node1 primary", is[membership.BecomePrimary])
				expectSome(t, s, "node1", 5*sec, "split-brain-averted alert", alertOf(membership.AlertSplitBrainAverted))
				expectSome(t, s, "node1", 5*sec, "release of vm-b", is[membership.Release])
				took := expectSome(t, s, "node0", 5*sec, "take over of vm-b", is[membership.TakeOver])
				within(t, "takeover", took-5*sec, 4300*time.Millisecond)
				expectPrimary(t, s, 0)
				expectState(t, s, 1, membership.StateSecondary)
				expectOwned(t, s, 0, "vm-a", "vm-b")
				expectOwned(t, s, 1)
			},
		},
		{
			name: "cut all links without witness: node0 primary, node1 takes nothing", until: 25 * sec,
			opts: Options{SharedResourcesAllowed: true},
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "cut all links", func() { s.CutAll(Both) })
				s.At(10*sec, "check during the partition", func() {})
				s.At(15*sec, "restore all links", func() { s.RestoreAll() })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "node0", 2*sec, "role change of node0", roleChange)
				expectNone(t, s, "node1", 0, "node1 primary", is[membership.BecomePrimary])
				expectNone(t, s, "node1", 0, "node1 takeover", is[membership.TakeOver])
				expectSome(t, s, "node0", 5*sec, "node0 takes vm-b (rule W0)", is[membership.TakeOver])
				// After the heal node1 stops its copy of vm-b (rule R1).
				at := expectSome(t, s, "node1", 15*sec, "resource conflict alert", alertOf(membership.AlertResourceConflict))
				within(t, "conflict resolution", at-15*sec, 100*time.Millisecond)
				expectPrimary(t, s, 0)
				expectOwned(t, s, 0, "vm-a", "vm-b")
				expectOwned(t, s, 1)
			},
		},
		{
			name: "cut all links without witness while node1 is primary: node1 steps down", until: 25 * sec,
			opts: Options{SharedResourcesAllowed: true},
			script: func(s *Sim) {
				formed(s)
				s.At(4*sec, "reboot node0", func() { s.PowerOff(0) })
				s.At(4500*time.Millisecond, "node0 back", func() { s.PowerOn(0) })
				s.At(8*sec, "cut all links", func() { s.CutAll(Both) })
			},
			check: func(t *testing.T, s *Sim) {
				if at, ok := first(s, "node1", 4*sec, is[membership.BecomePrimary]); !ok || at > 8*sec {
					t.Fatalf("node1 should have become primary after node0's reboot (at %v, %v)", at, ok)
				}
				down := expectSome(t, s, "node1", 8*sec, "node1 step down", is[membership.StepDown])
				up := expectSome(t, s, "node0", 8*sec, "node0 primary", is[membership.BecomePrimary])
				if up < down {
					t.Errorf("node0 became primary at %v, before node1 stepped down at %v", up, down)
				}
				expectPrimary(t, s, 0)
				// node1 keeps what it ran, node0's resources stay on node1 only
				// if node1 ran them: vm-a moved to node1 with node0's reboot.
				expectNone(t, s, "node1", 8*sec, "node1 takeover", is[membership.TakeOver])
			},
		},
		{
			name: "one-way loss: node0 hears nothing from node1", opts: w1, until: 25 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "cut node1→node0 on all links", func() { s.CutAll(From1) })
				s.At(15*sec, "restore", func() { s.RestoreAll() })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "node0", 2*sec, "role change of node0", roleChange)
				expectNone(t, s, "node1", 0, "node1 primary", is[membership.BecomePrimary])
				expectPrimary(t, s, 0)
				expectOwned(t, s, 0, "vm-a", "vm-b")
				expectOwned(t, s, 1)
			},
		},
		{
			name: "one-way loss: node1 hears nothing from node0", opts: w1, until: 25 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "cut node0→node1 on all links", func() { s.CutAll(From0) })
				s.At(15*sec, "restore", func() { s.RestoreAll() })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "node0", 2*sec, "role change of node0", roleChange)
				expectNone(t, s, "node1", 0, "node1 primary", is[membership.BecomePrimary])
				expectSome(t, s, "node0", 5*sec, "one-way alert", alertOf(membership.AlertOneWayLoss))
				expectPrimary(t, s, 0)
			},
		},
		{
			name: "one-way loss without witness: node0 hears nothing", until: 25 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "cut node1→node0 on all links", func() { s.CutAll(From1) })
				s.At(15*sec, "restore", func() { s.RestoreAll() })
			},
			check: func(t *testing.T, s *Sim) {
				// node1 sees node0 declare it lost, so it stops vm-b before
				// node0 starts it: no copy runs twice even without witness.
				expectSome(t, s, "node1", 5*sec, "release", is[membership.Release])
				expectPrimary(t, s, 0)
				expectOwned(t, s, 0, "vm-a", "vm-b")
			},
		},
		{
			name: "one-way loss without witness: node1 hears nothing", until: 25 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "cut node0→node1 on all links", func() { s.CutAll(From0) })
				s.At(15*sec, "restore", func() { s.RestoreAll() })
			},
			check: func(t *testing.T, s *Sim) {
				// node0 still sees node1 running vm-b: it takes nothing.
				expectNone(t, s, "", 2*sec, "resource move", is[membership.TakeOver])
				expectPrimary(t, s, 0)
				expectOwned(t, s, 0, "vm-a")
				expectOwned(t, s, 1, "vm-b")
			},
		},
		{
			// The two directions fail 0.7 s apart. node0 stops hearing node1
			// first and declares it lost at about 10.8 s; node1 went on
			// hearing node0 say "I hear you" until 10.7 s and notices only
			// at about 11.7 s. With D0 covering one interval of skew, node0
			// won the vote at 11.5 s while node1, unaware, was still
			// primary (two primaries until node1's own vote was refused).
			name: "one-way loss, then the other way 0.7 s later: the challenger waits for the late incumbent", opts: w1, until: 25 * sec,
			script: func(s *Sim) {
				primaryNode1(s)
				s.At(10*sec, "cut node1→node0 on all links", func() { s.CutAll(From1) })
				s.At(10700*time.Millisecond, "cut node0→node1 too", func() { s.CutAll(From0) })
			},
			check: func(t *testing.T, s *Sim) {
				lost0 := expectSome(t, s, "node0", 10*sec, "node0 loses node1", is[membership.PeerLost])
				lost1 := expectSome(t, s, "node1", 10*sec, "node1 loses node0", is[membership.PeerLost])
				if skew := lost1 - lost0; skew <= 2*membership.DefaultHeartbeatInterval {
					t.Errorf("node1 noticed %v after node0; the scenario needs more than two intervals", skew)
				}
				// The incumbent noticed late but in time: it keeps the system.
				expectNone(t, s, "", 10*sec, "role change", roleChange)
				expectPrimary(t, s, 1)
				expectOwned(t, s, 1, "vm-a", "vm-b")
			},
		},
		{
			// Seed 2251 of TestChaos, without the flapping: node1 (primary)
			// reports node0 lost at 10.8 s and wins the vote; node0 hears the
			// report and will concede to the visible primary at its ask time
			// (P4). At 11 s node1 hears node0 again and gives its lease back,
			// but node0 no longer hears node1 (lost at 11.8 s), and at 11.7 s
			// node1 stops hearing node0 too, before node0's "lost" report
			// reaches it. node0's retry, 1 s after its concession, came
			// 0.7 s after it lost node1 and before node1 had noticed
			// anything (at 12.7 s): node0 won and two nodes were primary
			// until node1's own vote was refused.
			name: "conceded to a visible primary that then hears us again and goes silent: no retry until it has noticed", opts: w1, until: 25 * sec,
			script: func(s *Sim) {
				primaryNode1(s)
				s.At(10*sec, "cut node0→node1 on all links", func() { s.CutAll(From0) })
				s.At(11*sec, "node0→node1 back, node1→node0 cut", func() { s.RestoreAll(); s.CutAll(From1) })
				s.At(11700*time.Millisecond, "cut node0→node1 too", func() { s.CutAll(From0) })
			},
			check: func(t *testing.T, s *Sim) {
				lost0 := expectSome(t, s, "node0", 11*sec, "node0 loses node1", is[membership.PeerLost])
				asks := s.Find("node0", 10*sec, func(a membership.Action) bool {
					ask, ok := a.(membership.AskWitness)
					return ok && ask.Request.Kind == witness.KindVote
				})
				if len(asks) == 0 {
					t.Fatal("node0 never asked the witness")
				}
				if d := s.Nodes[0].Config.ChallengeDelay(membership.Node0); asks[0].At < lost0+d {
					t.Errorf("node0 asked at %v, less than D0 (%v) after it lost node1 at %v", asks[0].At, d, lost0)
				}
				expectNone(t, s, "node0", 10*sec, "node0 primary", is[membership.BecomePrimary])
				expectPrimary(t, s, 1)
				expectOwned(t, s, 1, "vm-a", "vm-b")
			},
		},
		{
			// The same skew with the roles the other way round: node0
			// (primary) notices first, wins and takes vm-b at L+F; node1
			// notices 0.5 s later than it used to be assumed possible, and
			// must have stopped vm-b by then.
			name: "one-way loss, then the other way 0.5 s later: the late loser stops before the winner takes over", opts: w1, until: 25 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(10*sec, "cut node1→node0 on all links", func() { s.CutAll(From1) })
				s.At(10500*time.Millisecond, "cut node0→node1 too", func() { s.CutAll(From0) })
			},
			check: func(t *testing.T, s *Sim) {
				stop := expectSome(t, s, "node1", 10*sec, "node1 stops vm-b", is[membership.Release])
				took := expectSome(t, s, "node0", 10*sec, "node0 takes vm-b", is[membership.TakeOver])
				if took <= stop {
					t.Errorf("node0 started vm-b at %v, before node1 stopped it at %v", took, stop)
				}
				expectNone(t, s, "", 10*sec, "role change", roleChange)
				expectPrimary(t, s, 0)
				expectOwned(t, s, 0, "vm-a", "vm-b")
				expectOwned(t, s, 1)
			},
		},
		{
			name: "flapping priv0 while alink0 is up", opts: w1, until: 45 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(3*sec, "priv0 flaps every 1.5 s", func() { s.Flap("priv0", 1500*time.Millisecond, 20*sec) })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "", 2*sec, "role change", roleChange)
				expectNone(t, s, "", 0, "peer loss", is[membership.PeerLost])
				for i := range 2 {
					flap := expectSome(t, s, node(i), 3*sec, "flapping alert", alertOf(membership.AlertLinkFlapping))
					downs := len(s.Find(node(i), 3*sec, alertOf(membership.AlertLinkDown)))
					if downs > 2 {
						t.Errorf("%s raised %d link-down alerts; flapping should hold them back", node(i), downs)
					}
					expectSome(t, s, node(i), flap, "stable-again alert", alertOf(membership.AlertLinkUp))
					if st := s.Nodes[i].M.Status(); st.Links[0].Flapping || !st.Links[0].Up {
						t.Errorf("%s: priv0 %+v at the end", node(i), st.Links[0])
					}
				}
			},
		},
		{
			name: "flapping priv0 with short gaps while alink0 is cut: the peer is never lost", opts: w1, until: 20 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(3*sec, "cut alink0", func() { s.Cut("alink0", Both) })
				s.At(3*sec, "priv0 flaps every 400 ms", func() { s.Flap("priv0", 400*time.Millisecond, 15*sec) })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "", 2*sec, "role change", roleChange)
				expectNone(t, s, "", 0, "peer loss", is[membership.PeerLost])
				expectPrimary(t, s, 0)
			},
		},
		{
			name: "old primary cut from peer and witness returns as secondary", opts: w1, until: 25 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "isolate node0 from node1 and the witness", func() { s.CutAll(Both); s.CutWitness(0, 0, true) })
				s.At(15*sec, "heal", func() { s.RestoreAll(); s.CutWitness(0, 0, false) })
			},
			check: func(t *testing.T, s *Sim) {
				down := expectSome(t, s, "node0", 5*sec, "node0 steps down", is[membership.StepDown])
				up := expectSome(t, s, "node1", 5*sec, "node1 primary", is[membership.BecomePrimary])
				if up < down {
					t.Errorf("node1 primary at %v before node0 stepped down at %v", up, down)
				}
				expectNone(t, s, "", 15*sec, "role change after the heal", roleChange)
				expectPrimary(t, s, 1)
				expectState(t, s, 0, membership.StateSecondary)
				expectOwned(t, s, 1, "vm-a", "vm-b")
				if t0, t1 := s.Nodes[0].M.Status().Term, s.Nodes[1].M.Status().Term; t0 != t1 || t1 < 2 {
					t.Errorf("terms after the heal: node0 %d, node1 %d", t0, t1)
				}
			},
		},
	}
}
