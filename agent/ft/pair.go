package ft

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/agent/qmp"
)

// Pair is one FT VM's COLO pair as the agent drives it: Protect brings
// the running primary and a new secondary into COLO, FailoverSecondary and
// FailoverPrimary make the survivor run alone (and ready for the next
// Protect), State tells how protected the VM is.
//
// A Pair holds both monitors, as the primary's agent does once Protect
// has run (the secondary's over QMPAddr). An agent that holds only its own
// QEMU's monitor runs FailoverSecondaryOn or FailoverPrimaryOn.
type Pair struct {
	spec Spec

	// StepTimeout bounds each QMP command of a sequence (default 10 s).
	StepTimeout time.Duration
	// SyncTimeout bounds each of Protect's two copies: the disk's to the
	// secondary, and the first checkpoint's of all of the guest's memory
	// (default 10 min).
	SyncTimeout time.Duration
	// Poll is the interval of query-colo-status polls (default 100 ms).
	Poll time.Duration
	// Logf gets a line per step (default: none).
	Logf func(format string, args ...any)
	// Now is the clock of State.Since (default time.Now).
	Now func() time.Time

	mu        sync.Mutex
	state     State
	gen       int // bumped by every sequence; a watcher of an older one stays quiet
	primary   *qmp.Client
	secondary *qmp.Client
	stopWatch context.CancelFunc
	stats     ProtectStats
	// lost is closed when the protection that made it ends; nil while
	// not protected.
	lost chan struct{}
}

// closed is the channel Lost gives while the pair is not protected.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// NewPair returns the pair of spec, simplex until Protect.
func NewPair(spec Spec) (*Pair, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("ft: %w", err)
	}
	p := &Pair{spec: spec.withDefaults()}
	p.state = State{Mode: Simplex, Reason: "not protected yet", Since: p.now()}
	return p, nil
}

// Spec is the pair's spec, with defaults filled in: the roles of the
// current (or next) protection. After FailoverSecondary it is Swap of
// what it was: start the next secondary with SecondaryArgs of it.
func (p *Pair) Spec() Spec {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.spec
}

// State is the VM's protection now.
func (p *Pair) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Lost is closed when the pair's protection ends: either side left COLO
// or its monitor was lost (State says which), a failover or another
// Protect began, or the pair was closed. While the pair is not protected
// it is closed already. An agent that holds both monitors fails over
// when it closes, as colo-compare holds the guest's output until then.
func (p *Pair) Lost() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lost == nil {
		return closed
	}
	return p.lost
}

// Close stops watching the pair's monitors; it leaves QEMU alone.
func (p *Pair) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	if p.stopWatch != nil {
		p.stopWatch()
		p.stopWatch = nil
	}
	p.endProtection()
}

// endProtection closes lost, if protected. With p.mu held.
func (p *Pair) endProtection() {
	if p.lost != nil {
		close(p.lost)
		p.lost = nil
	}
}

// setLocked changes the state, with p.mu held.
func (p *Pair) setLocked(mode Mode, reason string) {
	if mode != Protected {
		p.endProtection()
	} else if p.lost == nil {
		p.lost = make(chan struct{})
	}
	p.state = State{Mode: mode, Reason: reason, Since: p.now()}
}

func (p *Pair) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pair) logf(format string, args ...any) {
	if p.Logf != nil {
		p.Logf(format, args...)
	}
}

func (p *Pair) options() Options {
	return Options{StepTimeout: p.StepTimeout, Poll: p.Poll, Logf: p.Logf}
}

func (p *Pair) stepTimeout() time.Duration {
	if p.StepTimeout > 0 {
		return p.StepTimeout
	}
	return 10 * time.Second
}

func (p *Pair) syncTimeout() time.Duration {
	if p.SyncTimeout > 0 {
		return p.SyncTimeout
	}
	return 10 * time.Minute
}

func (p *Pair) poll() time.Duration {
	if p.Poll > 0 {
		return p.Poll
	}
	return 100 * time.Millisecond
}

// begin starts a sequence: it stops the watcher of the previous one and
// sets the state; the returned generation identifies the sequence.
func (p *Pair) begin(mode Mode, reason string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	if p.stopWatch != nil {
		p.stopWatch()
		p.stopWatch = nil
	}
	p.setLocked(mode, reason)
	return p.gen
}

// set changes the state if no later sequence has begun since gen.
func (p *Pair) set(gen int, mode Mode, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.gen {
		return
	}
	if p.state.Mode != mode || p.state.Reason != reason {
		p.setLocked(mode, reason)
	}
}

// watch turns a protected pair simplex as soon as either side leaves COLO
// (COLO_EXIT: QEMU gave up on the peer, or a failover) or its monitor
// goes away (QEMU died). It runs until ctx ends.
func (p *Pair) watch(ctx context.Context, gen int, primary, secondary *qmp.Client) {
	pev, pcancel := primary.Subscribe(qmp.EventColoExit)
	sev, scancel := secondary.Subscribe(qmp.EventColoExit)
	go func() {
		defer pcancel()
		defer scancel()
		for {
			var ev qmp.Event
			var ok bool
			var side Role
			var c *qmp.Client
			select {
			case <-ctx.Done():
				return
			case ev, ok = <-pev:
				side, c = PrimaryRole, primary
			case ev, ok = <-sev:
				side, c = SecondaryRole, secondary
			}
			if !ok {
				if ctx.Err() != nil {
					return
				}
				p.set(gen, Simplex, fmt.Sprintf("lost the %s's monitor: %v", side, c.Err()))
				return
			}
			d, err := ev.ColoExit()
			if err != nil {
				p.set(gen, Simplex, fmt.Sprintf("the %s left COLO", side))
			} else {
				p.set(gen, Simplex, fmt.Sprintf("the %s left COLO (reason %s)", side, d.Reason))
			}
			return
		}
	}()
}
