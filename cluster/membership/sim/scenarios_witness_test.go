package sim

import (
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// witnessScenarios: witness loss, two witnesses, long partitions.
func witnessScenarios() []scenario {
	w1 := Options{Witnesses: 1}
	return []scenario{
		{
			name: "witness lost in normal operation: alert only", opts: w1, until: 30 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "witness down", func() { s.WitnessUp(0, false) })
				s.At(20*sec, "witness up", func() { s.WitnessUp(0, true) })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "", 2*sec, "role change", roleChange)
				for i := range 2 {
					at := expectSome(t, s, node(i), 5*sec, "witness-unreachable alert", alertOf(membership.AlertWitnessUnreachable))
					within(t, "witness loss report", at-5*sec, membership.DefaultProbeInterval+membership.DefaultWitnessTimeout)
					expectSome(t, s, node(i), 20*sec, "witness-reachable alert", alertOf(membership.AlertWitnessReachable))
				}
				expectPrimary(t, s, 0)
			},
		},
		{
			name: "witness lost during a partition: nobody without a vote takes over", opts: w1, until: 20 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "witness down", func() { s.WitnessUp(0, false) })
				s.At(8*sec, "cut all links", func() { s.CutAll(Both) })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "", 8*sec, "takeover during the partition", func(a membership.Action) bool {
					return is[membership.TakeOver](a) || is[membership.BecomePrimary](a)
				})
				if n := len(s.Primaries()); n != 0 {
					t.Errorf("%d primaries during the partition, want none", n)
				}
				expectSome(t, s, "node0", 8*sec, "node0 steps down", is[membership.StepDown])
				expectSome(t, s, "node0", 8*sec, "split-brain-averted alert", alertOf(membership.AlertSplitBrainAverted))
				expectSome(t, s, "node1", 8*sec, "split-brain-averted alert", alertOf(membership.AlertSplitBrainAverted))
			},
		},
		{
			name: "witness lost during a partition, then links heal: node0 restarts everything", opts: w1, until: 30 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "witness down", func() { s.WitnessUp(0, false) })
				s.At(8*sec, "cut all links", func() { s.CutAll(Both) })
				s.At(20*sec, "restore links", func() { s.RestoreAll() })
			},
			check: func(t *testing.T, s *Sim) {
				if p, ok := first(s, "", 8*sec, is[membership.BecomePrimary]); !ok || p < 20*sec {
					t.Errorf("first primary after the cut at %v (found %v), want after the heal at 20s", p, ok)
				}
				expectPrimary(t, s, 0)
				expectOwned(t, s, 0, "vm-a", "vm-b")
				expectOwned(t, s, 1)
			},
		},
		{
			name: "two witnesses, w2 down, node1 dies: node0 keeps the system with one grant", until: 15 * sec,
			opts: Options{Witnesses: 2},
			script: func(s *Sim) {
				formed(s)
				s.At(3*sec, "w2 down", func() { s.WitnessUp(1, false) })
				s.At(5*sec, "power off node1", func() { s.PowerOff(1) })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "node0", 2*sec, "role change", roleChange)
				expectPrimary(t, s, 0)
				expectOwned(t, s, 0, "vm-a", "vm-b")
			},
		},
		{
			name: "two witnesses, w2 down, node0 dies: one grant is not enough for node1", until: 15 * sec,
			opts: Options{Witnesses: 2},
			script: func(s *Sim) {
				formed(s)
				s.At(3*sec, "w2 down", func() { s.WitnessUp(1, false) })
				s.At(5*sec, "power off node0", func() { s.PowerOff(0) })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "node1", 0, "node1 primary", is[membership.BecomePrimary])
				expectNone(t, s, "node1", 0, "node1 takeover", is[membership.TakeOver])
				expectSome(t, s, "node1", 5*sec, "split-brain-averted alert", alertOf(membership.AlertSplitBrainAverted))
				if n := len(s.Primaries()); n != 0 {
					t.Errorf("%d primaries, want none", n)
				}
			},
		},
		{
			name: "two witnesses, each node reaches a different one: node0 wins", until: 20 * sec,
			opts: Options{Witnesses: 2},
			script: func(s *Sim) {
				formed(s)
				s.At(3*sec, "node1 cannot reach w1, node0 cannot reach w2", func() { s.CutWitness(0, 1, true); s.CutWitness(1, 0, true) })
				s.At(5*sec, "cut all links", func() { s.CutAll(Both) })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "node0", 2*sec, "role change of node0", roleChange)
				expectNone(t, s, "node1", 0, "node1 primary", is[membership.BecomePrimary])
				expectPrimary(t, s, 0)
				expectOwned(t, s, 0, "vm-a", "vm-b")
			},
		},
		{
			name: "two witnesses, each node reaches a different one, node1 was primary: node0 wins", until: 20 * sec,
			opts: Options{Witnesses: 2},
			script: func(s *Sim) {
				formed(s)
				s.At(3*sec, "reboot node0", func() { s.PowerOff(0) })
				s.At(3500*time.Millisecond, "node0 back", func() { s.PowerOn(0) })
				s.At(6*sec, "node1 cannot reach w1, node0 cannot reach w2", func() { s.CutWitness(0, 1, true); s.CutWitness(1, 0, true) })
				s.At(8*sec, "cut all links", func() { s.CutAll(Both) })
			},
			check: func(t *testing.T, s *Sim) {
				expectSome(t, s, "node1", 8*sec, "node1 steps down", is[membership.StepDown])
				expectSome(t, s, "node0", 8*sec, "node0 primary", is[membership.BecomePrimary])
				expectPrimary(t, s, 0)
			},
		},
		{
			name: "two witnesses, node0 dies: node1 wins with both grants", until: 15 * sec,
			opts: Options{Witnesses: 2},
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "power off node0", func() { s.PowerOff(0) })
			},
			check: func(t *testing.T, s *Sim) {
				prim := expectSome(t, s, "node1", 5*sec, "node1 primary", is[membership.BecomePrimary])
				within(t, "system IP move", prim-5*sec, 2800*time.Millisecond)
				expectPrimary(t, s, 1)
				expectOwned(t, s, 1, "vm-a", "vm-b")
			},
		},
		{
			name: "long partition: the winner renews its lease, the loser keeps asking in vain", opts: w1, until: 50 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "cut all links", func() { s.CutAll(Both) })
				s.At(40*sec, "heal", func() { s.RestoreAll() })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "", 2*sec, "role change", roleChange)
				if n := len(s.Find("node1", 5*sec, is[membership.AskWitness])); n < 10 {
					t.Errorf("node1 asked the witness %d times in a 35 s partition", n)
				}
				expectPrimary(t, s, 0)
				expectOwned(t, s, 0, "vm-a", "vm-b")
			},
		},
		{
			name: "the winner dies during the partition: node1 wins once its lease is over", opts: w1, until: 30 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "cut all links", func() { s.CutAll(Both) })
				s.At(12*sec, "power off node0", func() { s.PowerOff(0) })
			},
			check: func(t *testing.T, s *Sim) {
				prim := expectSome(t, s, "node1", 12*sec, "node1 primary", is[membership.BecomePrimary])
				within(t, "failover after the winner's death", prim-12*sec, membership.DefaultWitnessLease+2*sec)
				expectPrimary(t, s, 1)
				expectOwned(t, s, 1, "vm-a", "vm-b")
			},
		},
	}
}
