package sim

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// Defaults under test: heartbeat 200 ms, loss after 1 s, witness timeout
// 300 ms, so the detection skew is 1.2 s, D0 = 1.5 s, D1 = 1.7 s and the
// takeover delay F = 3.2 s: node1 holds the system IP at most 2.7 s after
// node0 dies, and runs node0's resources at most 4.2 s after.

func TestScenarios(t *testing.T) {
	for _, sc := range slices.Concat(nodeScenarios(), linkScenarios(), witnessScenarios(), claimScenarios()) {
		t.Run(sc.name, func(t *testing.T) { sc.run(t) })
	}
}

// TestSimultaneousStart: whatever the start offsets and witnesses, exactly
// one primary results; node0 when both start within PeerTimeout.
func TestSimultaneousStart(t *testing.T) {
	offsets := []time.Duration{0, time.Millisecond, 100 * time.Millisecond, 199 * time.Millisecond, 900 * time.Millisecond, 1500 * time.Millisecond, 3 * sec}
	for wits := range 3 {
		for _, off := range offsets {
			for _, firstNode := range []int{0, 1} {
				name := fmt.Sprintf("%d witnesses, %s first by %v", wits, node(firstNode), off)
				t.Run(name, func(t *testing.T) {
					scenario{
						opts: Options{Witnesses: wits}, until: off + 6*sec,
						script: func(s *Sim) {
							s.At(0, "power on "+node(firstNode), func() { s.PowerOn(firstNode) })
							s.At(off, "power on "+node(1-firstNode), func() { s.PowerOn(1 - firstNode) })
						},
						check: func(t *testing.T, s *Sim) {
							p := s.Primaries()
							if len(p) != 1 {
								t.Fatalf("primaries %v, want exactly one", p)
							}
							if off < membership.DefaultPeerTimeout && p[0] != membership.Node0 {
								t.Errorf("primary %v, want node0 when both start within the peer timeout", p[0])
							}
							expectNone(t, s, "", off+2*sec, "role change once formed", roleChange)
						},
					}.run(t)
				})
			}
		}
	}
}

// TestDetectionBound powers node0 off at 20 different phases of the
// heartbeat cycle and reports detection, system-IP move and takeover times.
func TestDetectionBound(t *testing.T) {
	var worst [3]time.Duration
	for k := range 20 {
		off := 5*sec + time.Duration(k)*11*time.Millisecond
		s := New(Options{Witnesses: 1})
		formed(s)
		s.At(off, "power off node0", func() { s.PowerOff(0) })
		s.Run(off + 5*sec)
		if len(s.Violations) > 0 {
			t.Fatalf("phase %v: %v", off, s.Violations)
		}
		for i, match := range []func(membership.Action) bool{is[membership.PeerLost], is[membership.BecomePrimary], is[membership.TakeOver]} {
			at, ok := first(s, "node1", off, match)
			if !ok {
				t.Fatalf("phase %v: event %d missing\n%s", off, i, s.TraceText(50))
			}
			worst[i] = max(worst[i], at-off)
		}
	}
	t.Logf("worst over 20 phases: detection %v, system IP on node1 %v, vm-a restarted %v", worst[0], worst[1], worst[2])
	within(t, "detection", worst[0], sec)
	within(t, "system IP move", worst[1], 2800*time.Millisecond)
	within(t, "takeover", worst[2], 4300*time.Millisecond)
}

// TestOneWayThenOther cuts every link one way, then the other way after a
// gap of 0 to 2.5 s: the node that went on hearing its peer notices the cut
// up to PeerTimeout plus an interval after the other (rule L3). Whatever
// the gap, the witnesses, the direction and which node is primary, the
// invariants hold.
func TestOneWayThenOther(t *testing.T) {
	for wits := range 3 {
		for _, primary := range []int{0, 1} {
			for _, first := range []Direction{From0, From1} {
				second := From0 + From1 - first
				for gap := time.Duration(0); gap <= 2500*time.Millisecond; gap += 50 * time.Millisecond {
					s := New(Options{Witnesses: wits, SharedResourcesAllowed: wits == 0})
					if primary == 1 {
						primaryNode1(s)
					} else {
						formed(s)
					}
					s.At(10*sec, fmt.Sprintf("cut all dir %d", first), func() { s.CutAll(first) })
					s.At(10*sec+gap, fmt.Sprintf("cut all dir %d", second), func() { s.CutAll(second) })
					s.Run(20 * sec)
					if len(s.Violations) > 0 {
						t.Errorf("%d witnesses, %s primary, dir %d cut first, dir %d %v later: %v\n%s",
							wits, node(primary), first, second, gap, s.Violations, s.TraceText(60))
					}
				}
			}
		}
	}
}

// TestDeterministic: the same script gives the same trace.
func TestDeterministic(t *testing.T) {
	run := func() string {
		s := New(Options{Witnesses: 2, Verbose: true})
		formed(s)
		s.At(5*sec, "cut all", func() { s.CutAll(Both) })
		s.At(9*sec, "heal", func() { s.RestoreAll() })
		s.Run(15 * sec)
		return s.TraceText(0)
	}
	if a, b := run(), run(); a != b {
		t.Fatal("two runs of one script differ")
	}
}
