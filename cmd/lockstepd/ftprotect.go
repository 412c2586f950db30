package main

import (
	"context"
	"fmt"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// FT modes, as the engine reports them.
const (
	ftProtected = api.FTProtected
	ftSyncing   = api.FTSyncing
	ftSimplex   = api.FTSimplex
)

// protectLoop keeps name protected while it runs here and the peer is
// connected: it has the peer start a secondary, protects, and when the
// secondary is lost fails over on this side at once (colo-compare holds
// the guest's network output until then), then tries again after the
// back-off. It ends when ctx does or the active side exits.
func (r *ftRunner) protectLoop(ctx context.Context, name string, e *ftEntry) {
	defer close(e.loopDone)
	for ctx.Err() == nil {
		if !r.status().Connected {
			e.set("", fmt.Sprintf("%s is not connected", r.peerName))
			if !r.pause(ctx, e, r.Poll) {
				return
			}
			continue
		}
		// The last failure stays the reason until this attempt ends.
		e.mu.Lock()
		e.secondaryOn = r.peerName
		e.mu.Unlock()
		addr, err := r.peer.StartSecondary(ctx, name)
		var lost <-chan struct{}
		if err == nil {
			lost, err = e.a.Protect(ctx, addr)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.logf("vms: %s: protecting with a secondary on %s failed: %v", name, r.peerName, err)
			// A secondary that did not get into COLO cannot be used
			// again: the next attempt starts a new one.
			r.stopPeerSecondary(name)
			e.set("", fmt.Sprintf("protecting failed, trying again in %v: %v", r.Backoff, err))
			if !r.pause(ctx, e, r.Backoff) {
				return
			}
			continue
		}
		e.set(r.peerName, "")
		e.setProtected(true)
		r.logf("vms: %s is protected: its secondary runs on %s", name, r.peerName)
		r.alert("info", "vm.protected", fmt.Sprintf("FT VM %s is protected: it runs on %s, its secondary on %s", name, r.self, r.peerName))
		why := r.waitLost(ctx, e, lost)
		if why == "" {
			return
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		err = e.a.ContinueAlone(fctx)
		cancel()
		// A crashed QEMU also breaks COLO, and may be seen as a lost
		// secondary first: its failover cannot succeed. The pair then
		// counts as protected still, so the secondary takes over (run's
		// exit watcher).
		wait := time.Duration(0)
		if err != nil {
			wait = 2 * time.Second
		}
		select {
		case <-e.a.Exited():
			return // the guest went down meanwhile: nothing to continue
		case <-time.After(wait):
		}
		e.setProtected(false)
		if err != nil {
			r.logf("vms: %s: %s, and the failover to this side failed: %v", name, why, err)
			r.alert("critical", "vm.ft_failover_failed", fmt.Sprintf("FT VM %s: %s, and going on alone on %s failed: %v", name, why, r.self, err))
		} else {
			r.logf("vms: %s: %s; it runs on here alone", name, why)
			r.alert("error", "vm.unprotected", fmt.Sprintf("FT VM %s runs unprotected on %s: %s; protecting again in %v", name, r.self, why, r.Backoff))
		}
		r.stopPeerSecondary(name)
		e.set("", fmt.Sprintf("%s; protecting again in %v", why, r.Backoff))
		if !r.pause(ctx, e, r.Backoff) {
			return
		}
	}
}

// waitLost waits until the protection of e ends and says why: the engine
// lost the secondary, or the membership declared the peer lost while this
// node holds the system (the secondary's connections to a dead node may
// take long to break). "": ctx ended or the active side exited.
//
// A peer loss while this node is not the primary is not acted on: the
// membership is about to fence this node, the peer's secondary then takes
// over, and releasing the guest's output here would run the VM twice.
func (r *ftRunner) waitLost(ctx context.Context, e *ftEntry, lost <-chan struct{}) string {
	t := time.NewTicker(r.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-e.a.Exited():
			return ""
		case <-lost:
			return "the secondary on " + r.peerName + " was lost"
		case <-t.C:
			if st := r.status(); st.PeerLost && st.State == membership.StatePrimary {
				return r.peerName + " was lost"
			}
		}
	}
}

// pause waits d; false if ctx ended or the active side exited.
func (r *ftRunner) pause(ctx context.Context, e *ftEntry, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-e.a.Exited():
		return false
	case <-time.After(d):
		return true
	}
}

// FTStatus is name's protection, if its active side runs here.
func (r *ftRunner) FTStatus(name string) (api.FTStatus, bool) {
	e := r.entry(name)
	if e == nil {
		return api.FTStatus{}, false
	}
	st := e.a.State()
	e.mu.Lock()
	on, note := e.secondaryOn, e.note
	e.mu.Unlock()
	fs := api.FTStatus{State: st.Mode, Reason: st.Reason, Since: st.Since}
	if st.Mode == ftSimplex {
		on = ""
		if note != "" {
			fs.Reason = note
		}
	}
	fs.SecondaryOn = on
	return fs, true
}

// FTStatuses are the protections of the FT VMs active here.
func (r *ftRunner) FTStatuses() map[string]api.FTStatus {
	out := map[string]api.FTStatus{}
	for _, n := range r.Running() {
		if fs, ok := r.FTStatus(n); ok {
			out[n] = fs
		}
	}
	return out
}
