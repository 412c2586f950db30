package ft

import (
	"context"
	"fmt"
	"time"
)

// Role is a side of the pair.
type Role string

const (
	PrimaryRole   Role = "primary"
	SecondaryRole Role = "secondary"
)

// step is one QMP command (or wait) of a sequence, on one side.
type step struct {
	side Role
	name string // the command, or what is awaited
	run  func(ctx context.Context) error
	// timeout bounds this step in place of the sequence's step timeout
	// (waits for copies of the disk or of memory).
	timeout time.Duration
}

// StepError says which step of a sequence failed and why.
type StepError struct {
	Sequence string // "protect", "secondary failover", "primary failover"
	Side     Role
	Step     string // the QMP command (or wait) that failed
	N, Of    int    // its position in the sequence, from 1
	Err      error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("ft %s: step %d/%d, %s %s: %v", e.Sequence, e.N, e.Of, e.Side, e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// runSteps runs the steps in order, each bounded by timeout (and ctx), and
// stops at the first error. A QMP command whose reply does not come in
// time may still have been executed: the sequence is not retried blindly.
func runSteps(ctx context.Context, sequence string, timeout time.Duration, logf func(string, ...any), steps []step) error {
	for i, s := range steps {
		d := timeout
		if s.timeout > 0 {
			d = s.timeout
		}
		sctx, cancel := context.WithTimeout(ctx, d)
		start := time.Now()
		err := s.run(sctx)
		cancel()
		if err != nil {
			return &StepError{Sequence: sequence, Side: s.side, Step: s.name, N: i + 1, Of: len(steps), Err: err}
		}
		logf("ft %s: %d/%d %s %s (%v)", sequence, i+1, len(steps), s.side, s.name, time.Since(start).Round(time.Millisecond))
	}
	return nil
}
