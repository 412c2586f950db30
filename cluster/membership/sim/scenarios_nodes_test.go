package sim

import (
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// nodeScenarios: starts, power cycles, reboots and graceful stops.
func nodeScenarios() []scenario {
	w1 := Options{Witnesses: 1}
	return []scenario{
		{
			name: "normal start", opts: w1, until: 5 * sec, script: formed,
			check: func(t *testing.T, s *Sim) {
				expectPrimary(t, s, 0)
				expectState(t, s, 1, membership.StateSecondary)
				expectOwned(t, s, 0, "vm-a")
				expectOwned(t, s, 1, "vm-b")
				for i := range 2 {
					st := s.Nodes[i].M.Status()
					if !st.Connected {
						t.Errorf("%s not connected", node(i))
					}
					for _, l := range st.Links {
						if !l.Up || l.Flapping {
							t.Errorf("%s: link %s up=%v flapping=%v", node(i), l.Name, l.Up, l.Flapping)
						}
					}
					if !st.Witnesses[0].Reachable {
						t.Errorf("%s: witness not reachable", node(i))
					}
				}
				expectNone(t, s, "", 0, "alert", is[membership.Alert])
			},
		},
		{
			name: "power off node0: node1 takes over within the bound", opts: w1, until: 10 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "power off node0", func() { s.PowerOff(0) })
			},
			check: func(t *testing.T, s *Sim) {
				lost := expectSome(t, s, "node1", 5*sec, "peer lost", is[membership.PeerLost])
				prim := expectSome(t, s, "node1", 5*sec, "become primary", is[membership.BecomePrimary])
				took := expectSome(t, s, "node1", 5*sec, "take over", is[membership.TakeOver])
				within(t, "detection", lost-5*sec, sec)
				within(t, "system IP move", prim-5*sec, 2800*time.Millisecond)
				within(t, "resource takeover", took-5*sec, 4300*time.Millisecond)
				expectPrimary(t, s, 1)
				expectOwned(t, s, 1, "vm-a", "vm-b")
			},
		},
		{
			// Seen in the lab: the replaced node0, busy with its first boot,
			// heard node1's heartbeat from before node1 heard it (node0
			// "lost"), while node1, hearing node0, ended its episode and gave
			// its witness lease back; node0 then won the vote against a
			// primary it could see.
			name: "node0 back, node1's heartbeats late: a visible primary is not challenged", opts: w1, until: 25 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "power off node0", func() { s.PowerOff(0) })
				s.At(10*sec, "node1's heartbeats 2.5 s late on every link", func() {
					for name := range s.Links {
						s.DelayFrom(name, 1, 2500*time.Millisecond)
					}
				})
				s.At(12*sec, "power on node0", func() { s.PowerOn(0) })
				s.At(20*sec, "delays end", func() {
					for name := range s.Links {
						s.DelayFrom(name, 1, 0)
					}
				})
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "", 12*sec, "role change", roleChange)
				expectPrimary(t, s, 1)
				expectState(t, s, 0, membership.StateSecondary)
				expectOwned(t, s, 1, "vm-a", "vm-b")
			},
		},
		{
			name: "power node0 back: it rejoins as secondary, no flip-flop", opts: w1, until: 20 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "power off node0", func() { s.PowerOff(0) })
				s.At(10*sec, "power on node0", func() { s.PowerOn(0) })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "", 10*sec, "role change", roleChange)
				expectPrimary(t, s, 1)
				expectState(t, s, 0, membership.StateSecondary)
				expectOwned(t, s, 1, "vm-a", "vm-b")
				expectSome(t, s, "node1", 10*sec, "peer-joined alert", alertOf(membership.AlertPeerJoined))
			},
		},
		{
			name: "stale heartbeats of a rebooted primary arrive late and are ignored", opts: w1, until: 20 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(4*sec, "priv0 delays 2 s", func() { s.Delay("priv0", 2*sec) })
				s.At(8*sec, "power off node0", func() { s.PowerOff(0) })
				s.At(8500*time.Millisecond, "power on node0", func() { s.PowerOn(0) })
			},
			check: func(t *testing.T, s *Sim) {
				prim := expectSome(t, s, "node1", 8*sec, "node1 primary", is[membership.BecomePrimary])
				if prim > 9*sec {
					t.Errorf("node1 became primary at %v; node0's restart was visible at 8.5s", prim)
				}
				expectNone(t, s, "node1", prim+1, "step down (stale heartbeat)", is[membership.StepDown])
				expectNone(t, s, "node0", 8*sec, "node0 primary", is[membership.BecomePrimary])
				if joins := s.Find("node1", 8*sec, is[membership.PeerJoined]); len(joins) != 1 {
					t.Errorf("node1 saw node0 join %d times after its reboot, want once (stale heartbeats must not count)", len(joins))
				}
				expectPrimary(t, s, 1)
				expectOwned(t, s, 1, "vm-a", "vm-b") // vm-a stopped with node0's reboot (rule R3)
			},
		},
		{
			name: "quick reboot of the primary behind slow links: it rejoins as secondary", opts: w1, until: 15 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(4*sec, "links from node0 get slow (150 ms)", func() {
					s.DelayFrom("priv0", 0, 150*time.Millisecond)
					s.DelayFrom("alink0", 0, 150*time.Millisecond)
				})
				s.At(6*sec, "power off node0", func() { s.PowerOff(0) })
				s.At(6300*time.Millisecond, "power on node0", func() { s.PowerOn(0) })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "node0", 6*sec, "node0 primary", is[membership.BecomePrimary])
				expectPrimary(t, s, 1)
				expectState(t, s, 0, membership.StateSecondary)
			},
		},
		{
			name: "graceful stop of node0: node1 takes over at once", opts: w1, until: 20 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "stop node0", func() { s.StopNode(0) })
				s.At(12*sec, "power on node0", func() { s.PowerOn(0) })
			},
			check: func(t *testing.T, s *Sim) {
				prim := expectSome(t, s, "node1", 5*sec, "node1 primary", is[membership.BecomePrimary])
				took := expectSome(t, s, "node1", 5*sec, "vm-a restarted", is[membership.TakeOver])
				within(t, "hand-over", max(prim, took)-5*sec, 50*time.Millisecond)
				expectNone(t, s, "", 6*sec, "role change", roleChange)
				expectPrimary(t, s, 1)
				expectState(t, s, 0, membership.StateSecondary)
				expectOwned(t, s, 1, "vm-a", "vm-b")
			},
		},
		{
			name: "graceful stop of node0 without witness: node1 runs vm-a but is not primary", until: 20 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "stop node0", func() { s.StopNode(0) })
			},
			check: func(t *testing.T, s *Sim) {
				took := expectSome(t, s, "node1", 5*sec, "vm-a restarted", is[membership.TakeOver])
				within(t, "hand-over", took-5*sec, 50*time.Millisecond)
				expectNone(t, s, "node1", 0, "node1 primary", is[membership.BecomePrimary])
				expectOwned(t, s, 1, "vm-a", "vm-b")
			},
		},
		{
			name: "both nodes power-cycle together", opts: w1, until: 20 * sec,
			script: func(s *Sim) {
				formed(s)
				s.At(5*sec, "power off both", func() { s.PowerOff(0); s.PowerOff(1) })
				s.At(7*sec, "power on both", func() { s.PowerOn(1); s.PowerOn(0) })
			},
			check: func(t *testing.T, s *Sim) {
				expectPrimary(t, s, 0)
				expectState(t, s, 1, membership.StateSecondary)
			},
		},
	}
}
