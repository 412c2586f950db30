package main

import (
	"context"
	"fmt"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// The secondary side: the peer's runner asks for a secondary of a VM that
// runs there (StartSecondary), stops it (StopSecondary) and, to move the
// VM here, has it take over (TakeOverHere). A node loss makes it take
// over through Start, like any take-over of the membership.

// StartSecondary starts a fresh secondary of name here and returns where
// the peer's agent reaches its QMP. A secondary of name already here is
// replaced: a new protection copies everything again, and an old
// secondary cannot join it.
func (r *ftRunner) StartSecondary(ctx context.Context, name string) (string, error) {
	rec, ok := r.record(name)
	if !ok {
		return "", fmt.Errorf("vm %q: %w", name, api.ErrNotFound)
	}
	if r.Has(name) {
		return "", fmt.Errorf("vm %s: no secondary here: %w", name, errFTActiveHere)
	}
	if old := r.takeSecondary(name); old != nil {
		killWait(ctx, old.sec)
	}
	vm, err := r.define(rec)
	if err != nil {
		return "", err
	}
	sec, err := r.eng.StartSecondary(ctx, vm)
	if err != nil {
		return "", err
	}
	s := &ftSecondaryEntry{sec: sec}
	r.mu.Lock()
	r.secondaries[name] = s
	r.mu.Unlock()
	go r.watchSecondary(name, s)
	r.logf("vms: %s: started its secondary here for the active side on %s", name, r.peerName)
	return sec.QMPAddr(), nil
}

// StopSecondary stops name's secondary here, if there is one.
func (r *ftRunner) StopSecondary(ctx context.Context, name string) error {
	s := r.takeSecondary(name)
	if s == nil {
		return nil
	}
	killWait(ctx, s.sec)
	if ctx.Err() != nil {
		return fmt.Errorf("vm %s: the secondary's QEMU did not exit: %w", name, ctx.Err())
	}
	r.logf("vms: %s: stopped its secondary here", name)
	return nil
}

// TakeOverHere makes name's secondary here its active side: the peer
// killed its own (a controlled failover, Migrate).
func (r *ftRunner) TakeOverHere(ctx context.Context, name string) error {
	s := r.takeSecondary(name)
	if s == nil {
		return fmt.Errorf("vm %s: no secondary runs on %s", name, r.self)
	}
	a, err := s.sec.TakeOver(ctx)
	if err != nil {
		killWait(context.WithoutCancel(ctx), s.sec)
		return fmt.Errorf("vm %s: failover to the secondary on %s: %w", name, r.self, err)
	}
	r.run(name, a, true)
	r.logf("vms: %s: its secondary here took over from %s", name, r.peerName)
	return nil
}

// HasSecondary reports whether a secondary of name runs here.
func (r *ftRunner) HasSecondary(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.secondaries[name] != nil
}

// takeSecondary removes name's secondary from the runner and returns it.
func (r *ftRunner) takeSecondary(name string) *ftSecondaryEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.secondaries[name]
	delete(r.secondaries, name)
	return s
}

// watchSecondary forgets a secondary that exited, and stops one whose
// active side is gone while the peer stays connected: no take-over can
// come for it then, and its checkpoint, left here, could be resumed by a
// later one in place of the data the VM has since (a VM restarted on the
// peer, a peer that continued alone). While the peer is not connected it
// is kept, as the take-over after a loss of the peer needs it; the grace
// covers a take-over that comes with the membership's delay.
func (r *ftRunner) watchSecondary(name string, s *ftSecondaryEntry) {
	mine := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.secondaries[name] == s
	}
	select {
	case <-s.sec.Detached():
	case <-s.sec.Exited():
	}
	t := time.NewTicker(r.Poll)
	defer t.Stop()
	var connected time.Time
	for {
		if !mine() {
			return // taken over or stopped
		}
		select {
		case <-s.sec.Exited():
			if r.takeIf(name, s) {
				r.logf("vms: %s: its secondary here exited: %v", name, s.sec.ExitErr())
			}
			return
		default:
		}
		switch {
		case !r.status().Connected:
			connected = time.Time{}
		case connected.IsZero():
			connected = time.Now()
		case time.Since(connected) >= r.OrphanGrace:
			if r.takeIf(name, s) {
				r.logf("vms: %s: its secondary here lost its active side on %s, which is still there: stopping it", name, r.peerName)
				killWait(context.Background(), s.sec)
			}
			return
		}
		<-t.C
	}
}

// takeIf removes s if it is still name's secondary.
func (r *ftRunner) takeIf(name string, s *ftSecondaryEntry) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secondaries[name] != s {
		return false
	}
	delete(r.secondaries, name)
	return true
}
