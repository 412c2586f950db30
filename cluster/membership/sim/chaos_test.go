package sim

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// TestChaos runs seeded random fault sequences — power cycles, graceful
// stops, cuts in either direction, latency changes (up to 150 ms, below one
// heartbeat interval: the timing rules assume it, see package membership),
// flapping, witness outages and per-node witness cuts — and checks only the
// invariants, then that everything heals into one primary.
// A failing seed replays exactly: LOCKSTEP_CHAOS_SEED=N go test -run TestChaos
// (SIM_TRACE=1 also logs the trace, heartbeats included, of a passing seed).
// LOCKSTEP_CHAOS_SEEDS=N runs seeds 0..N-1 instead of the default 150.
func TestChaos(t *testing.T) {
	seeds := 150
	if testing.Short() {
		seeds = 30
	}
	if v := os.Getenv("LOCKSTEP_CHAOS_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("LOCKSTEP_CHAOS_SEEDS=%q: want a positive number", v)
		}
		seeds = n
	}
	list := make([]int, seeds)
	for i := range list {
		list[i] = i
	}
	if v := os.Getenv("LOCKSTEP_CHAOS_SEED"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("LOCKSTEP_CHAOS_SEED=%q: want a seed number", v)
		}
		list = []int{n}
	}
	trace := os.Getenv("SIM_TRACE") != ""
	for _, seed := range list {
		wits := seed % 3
		t.Run(fmt.Sprintf("seed=%d,witnesses=%d", seed, wits), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 42))
			s := New(Options{Witnesses: wits, SharedResourcesAllowed: wits == 0, Verbose: trace})
			s.At(0, "power on both", func() { s.PowerOn(0); s.PowerOn(1) })
			vm := 0
			at := 500 * time.Millisecond
			for at < 90*sec {
				op, what := chaosOp(s, r, wits, &vm)
				s.At(at, what, op)
				at += time.Duration(200+r.IntN(3000)) * time.Millisecond
			}
			// Then everything heals: the system must settle with one primary.
			s.At(90*sec, "heal everything", func() {
				s.RestoreAll()
				for _, l := range s.Links {
					l.Delay = [2]time.Duration{time.Millisecond, time.Millisecond}
				}
				for i := range s.Witnesses {
					s.WitnessUp(i, true)
					s.CutWitness(i, 0, false)
					s.CutWitness(i, 1, false)
				}
				s.PowerOn(0)
				s.PowerOn(1)
			})
			s.Run(110 * sec)
			for _, v := range s.Violations {
				t.Errorf("invariant: %s", v)
			}
			if p := s.Primaries(); len(p) != 1 {
				t.Errorf("after healing everything: primaries %v, want one", p)
			}
			for i := range 2 {
				if !s.Nodes[i].M.Status().Connected {
					t.Errorf("%s not connected after healing everything", node(i))
				}
			}
			if fenced := append(s.Nodes[0].M.Status().Fenced, s.Nodes[1].M.Status().Fenced...); len(fenced) > 0 {
				t.Errorf("resources left stopped after healing: %v", fenced)
			}
			switch {
			case trace:
				t.Logf("trace:\n%s", s.TraceText(0))
			case t.Failed():
				t.Logf("trace:\n%s", s.TraceText(300))
			}
		})
	}
}

func chaosOp(s *Sim, r *rand.Rand, wits int, vm *int) (func(), string) {
	links := []string{"priv0", "alink0"}
	l := links[r.IntN(2)]
	d := Direction(r.IntN(3))
	n := r.IntN(2)
	switch k := r.IntN(14); {
	case k == 0:
		return func() { s.PowerOff(n) }, "power off " + node(n)
	case k == 1:
		return func() { s.PowerOn(n) }, "power on " + node(n)
	case k == 2:
		return func() { s.StopNode(n) }, "stop " + node(n)
	case k <= 4:
		return func() { s.Cut(l, d) }, fmt.Sprintf("cut %s dir %d", l, d)
	case k == 5:
		return func() { s.CutAll(d) }, fmt.Sprintf("cut all dir %d", d)
	case k <= 7:
		return func() { s.RestoreAll() }, "restore all"
	case k == 8:
		dl := time.Duration(r.IntN(150)) * time.Millisecond
		return func() { s.Delay(l, dl) }, fmt.Sprintf("delay %s %v", l, dl)
	case k == 9:
		dur := time.Duration(2+r.IntN(6)) * sec
		period := time.Duration(100+r.IntN(1500)) * time.Millisecond
		return func() { s.Flap(l, period, s.Now()+dur) }, fmt.Sprintf("flap %s every %v for %v", l, period, dur)
	case k <= 11 && wits > 0:
		w, up := r.IntN(wits), r.IntN(2) == 0
		return func() { s.WitnessUp(w, up) }, fmt.Sprintf("witness %d up=%v", w+1, up)
	case k == 12 && wits > 0:
		w, cut := r.IntN(wits), r.IntN(2) == 0
		return func() { s.CutWitness(w, n, cut) }, fmt.Sprintf("%s↔witness %d cut=%v", node(n), w+1, cut)
	default:
		*vm++
		name := fmt.Sprintf("vm-%d", *vm)
		// The agents start a VM on the primary's word: on the primary
		// itself, or on a node that sees it. A node cut off without the
		// system never starts anything new.
		return func() {
			if m := s.Nodes[n].M; m != nil && (m.Status().State == membership.StatePrimary || m.Status().Connected) {
				s.Assign(n, name)
			}
		}, "start " + name + " on " + node(n) + " (if primary or connected)"
	}
}
