package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// claimScenarios: claims under rule E2 whose heartbeats cross on slow links
// (rule E3).
func claimScenarios() []scenario {
	var out []scenario
	for wits := range 3 {
		out = append(out, scenario{
			// Chaos seeds 54824, 57425 and 57696: node1's last "joining"
			// heartbeat reaches node0 just after node0's start, and node0
			// claims on the tie. node0's own "joining" heartbeat reaches node1
			// only after node1 has given up waiting for it (isolated, rank
			// running): without rule E3 node1 claimed too, at the same term,
			// and both were primary until node0's claim arrived.
			name: fmt.Sprintf("start 0.9 s apart behind 140 ms links, %d witnesses: the claims do not cross", wits),
			opts: Options{Witnesses: wits, LinkDelay: 140 * time.Millisecond}, until: 6 * sec,
			script: func(s *Sim) {
				s.At(0, "power on node1", func() { s.PowerOn(1) })
				s.At(900*time.Millisecond, "power on node0", func() { s.PowerOn(0) })
			},
			check: func(t *testing.T, s *Sim) {
				expectNone(t, s, "node1", 0, "node1 primary", is[membership.BecomePrimary])
				prim := expectSome(t, s, "node0", 0, "node0 primary", is[membership.BecomePrimary])
				within(t, "election after node0's start", prim-900*time.Millisecond, sec)
				expectNone(t, s, "", 0, "step down", is[membership.StepDown])
				expectPrimary(t, s, 0)
				expectState(t, s, 1, membership.StateSecondary)
			},
		})
	}
	return append(out, scenario{
		// node0 restarts while node1's last "joining" heartbeat, sent before
		// node1 heard node0 stop and claimed, is on its way: the new
		// incarnation must not claim on it (both "joining", tie to node0).
		name: "quick restart after a graceful stop, node1's joining heartbeat in flight: the claims do not cross",
		opts: Options{Witnesses: 1}, until: 6 * sec,
		script: func(s *Sim) {
			s.At(0, "links slow (node0 → node1 100 ms, node1 → node0 140 ms), node1 → node0 cut; power on node0", func() {
				for name := range s.Links {
					s.DelayFrom(name, 0, 100*time.Millisecond)
					s.DelayFrom(name, 1, 140*time.Millisecond)
				}
				s.CutAll(From1)
				s.PowerOn(0)
			})
			s.At(130*time.Millisecond, "power on node1", func() { s.PowerOn(1) })
			s.At(500*time.Millisecond, "stop node0; node1 → node0 restored", func() {
				s.StopNode(0)
				s.RestoreAll()
			})
			s.At(600*time.Millisecond, "power on node0", func() { s.PowerOn(0) })
		},
		check: func(t *testing.T, s *Sim) {
			expectSome(t, s, "node1", 0, "node1 primary on node0's stop", is[membership.BecomePrimary])
			expectNone(t, s, "node0", 0, "node0 primary", is[membership.BecomePrimary])
			expectPrimary(t, s, 1)
			expectState(t, s, 0, membership.StateSecondary)
		},
	})
}
