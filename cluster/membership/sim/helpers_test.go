package sim

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

const sec = time.Second

// scenario is one scripted run.
type scenario struct {
	name   string
	opts   Options
	script func(s *Sim)
	until  time.Duration
	check  func(t *testing.T, s *Sim)
}

func (sc scenario) run(t *testing.T) *Sim {
	t.Helper()
	s := New(sc.opts)
	sc.script(s)
	s.Run(sc.until)
	for _, v := range s.Violations {
		t.Errorf("invariant: %s", v)
	}
	if sc.check != nil {
		sc.check(t, s)
	}
	if t.Failed() || os.Getenv("SIM_TRACE") != "" {
		t.Logf("trace:\n%s", s.TraceText(200))
	}
	return s
}

// formed powers both nodes on at 0 and has node0 run vm-a and node1 vm-b
// from 2 s on.
func formed(s *Sim) {
	s.At(0, "power on node0 and node1", func() { s.PowerOn(0); s.PowerOn(1) })
	s.At(2*sec, "agents start VMs", func() { s.Assign(0, "vm-a"); s.Assign(1, "vm-b") })
}

// primaryNode1 is formed with node1 primary: node0 reboots at 3 s and
// rejoins as secondary; node1 runs vm-a (restarted after the reboot) and vm-b.
func primaryNode1(s *Sim) {
	formed(s)
	s.At(3*sec, "power off node0", func() { s.PowerOff(0) })
	s.At(6*sec, "power on node0", func() { s.PowerOn(0) })
}

func is[T membership.Action](a membership.Action) bool { _, ok := a.(T); return ok }

func roleChange(a membership.Action) bool {
	return is[membership.BecomePrimary](a) || is[membership.StepDown](a)
}

func alertOf(kind membership.AlertKind) func(membership.Action) bool {
	return func(a membership.Action) bool { al, ok := a.(membership.Alert); return ok && al.Kind == kind }
}

func node(i int) string { return membership.NodeID(i).String() }

// first returns the time of node's first matching action at or after from.
func first(s *Sim, nd string, from time.Duration, match func(membership.Action) bool) (time.Duration, bool) {
	if e := s.Find(nd, from, match); len(e) > 0 {
		return e[0].At, true
	}
	return 0, false
}

func expectPrimary(t *testing.T, s *Sim, want int) {
	t.Helper()
	if p := s.Primaries(); len(p) != 1 || int(p[0]) != want {
		t.Errorf("primaries at %v = %v, want only %s", s.Now(), p, node(want))
	}
}

func expectState(t *testing.T, s *Sim, i int, want membership.State) {
	t.Helper()
	if got := s.State(i); got != want {
		t.Errorf("%s is %s at %v, want %s", node(i), got, s.Now(), want)
	}
}

func expectOwned(t *testing.T, s *Sim, i int, want ...string) {
	t.Helper()
	if got := s.Nodes[i].Owned; !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s runs %v at %v, want %v", node(i), got, s.Now(), want)
	}
}

func expectNone(t *testing.T, s *Sim, nd string, from time.Duration, what string, match func(membership.Action) bool) {
	t.Helper()
	for _, e := range s.Find(nd, from, match) {
		t.Errorf("unexpected %s: %s", what, e)
	}
}

func expectSome(t *testing.T, s *Sim, nd string, from time.Duration, what string, match func(membership.Action) bool) time.Duration {
	t.Helper()
	at, ok := first(s, nd, from, match)
	if !ok {
		t.Errorf("no %s by %s after %v", what, nd, from)
	}
	return at
}

func within(t *testing.T, what string, got, limit time.Duration) {
	t.Helper()
	if got > limit {
		t.Errorf("%s took %v, more than %v", what, got, limit)
	}
}
