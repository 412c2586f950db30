package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// ftRunner runs this node's sides of the FT VMs (SPEC A8): the active QEMU
// of each FT VM that runs here, and the secondaries of those that run on
// the peer. The VM manager starts and stops FT VMs through it as through
// libvirt (vmHypervisors); the peer's runner asks for secondaries through
// the peer service (ftpeer.go).
//
// A node fails over on its own side only: the membership says which node
// runs a VM, and the runner of that node either starts the active QEMU or,
// if it held the secondary of a peer that was lost, turns that secondary
// into the active side.
type ftRunner struct {
	ftConfig

	mu          sync.Mutex
	active      map[string]*ftEntry
	secondaries map[string]*ftSecondaryEntry
}

// ftConfig is what an ftRunner works with.
type ftConfig struct {
	eng            ftEngine
	peer           ftPeer
	self, peerName string
	status         func() membership.Status
	record         func(name string) (*ha.Record, bool)
	define         func(r *ha.Record) (ftVM, error)
	// claim records, in the background, that this node's copy of the
	// VM's disk is now the only current one (ha.Volume.Current).
	claim func(name string)
	// console shows QEMU's console log at the VM's console path here.
	console func(name, log string)
	// crashed moves name to the peer after its active QEMU here exited by
	// itself while the pair was protected (the VM service's move, which
	// ends in Migrate): the secondary holds the guest's last checkpoint.
	crashed func(name string) error
	// alert raises an alert (alertLog.raise, sent): a VM's protection
	// lost or regained is the administrator's business, not only the
	// console's.
	alert func(severity, code, msg string)
	logf  func(string, ...any)

	// Backoff is the pause before protecting again after a failure or a
	// loss of the secondary; Poll how often the membership is read while
	// waiting on it; OrphanGrace how long a secondary whose active side
	// is gone may wait for a take-over while the peer is connected.
	Backoff, Poll, OrphanGrace time.Duration
}

// ftEntry is an FT VM whose active side runs here.
type ftEntry struct {
	a        ftActive
	cancel   context.CancelFunc // ends the protect loop
	loopDone chan struct{}

	mu sync.Mutex
	// final: the VM is being stopped for good (an operator's power-off
	// or shutdown, or the guest's own): the peer's secondary goes with
	// it. Otherwise (a release by the membership, a move, a crash) the
	// secondary stays, since it may be what takes over.
	final       bool
	secondaryOn string // the node with the secondary while protecting
	note        string // why it is not protected, from the runner's side
	// protected: the pair was in COLO when last seen, so the peer's
	// secondary holds a checkpoint of this run; killed: Destroy or
	// Migrate killed QEMU, so an exit is no crash.
	protected, killed bool

	// done runs the entry's cleanup once, whoever gets there first (the
	// exit watcher, Destroy, Migrate): a later call waits for it. A stop
	// of the peer's secondary must never come after a new start of the VM
	// has asked for a new one.
	done sync.Once
}

type ftSecondaryEntry struct {
	sec ftSecondary
}

func newFTRunner(c ftConfig) *ftRunner {
	if c.Backoff == 0 {
		c.Backoff = 30 * time.Second
	}
	if c.Poll == 0 {
		c.Poll = 500 * time.Millisecond
	}
	if c.OrphanGrace == 0 {
		c.OrphanGrace = takeOverGrace
	}
	return &ftRunner{ftConfig: c, active: map[string]*ftEntry{}, secondaries: map[string]*ftSecondaryEntry{}}
}

func (e *ftEntry) set(secondaryOn, note string) {
	e.mu.Lock()
	e.secondaryOn, e.note = secondaryOn, note
	e.mu.Unlock()
}

func (e *ftEntry) isFinal() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.final
}

func (e *ftEntry) setProtected(on bool) {
	e.mu.Lock()
	e.protected = on
	e.mu.Unlock()
}

func (e *ftEntry) setKilled() {
	e.mu.Lock()
	e.killed = true
	e.mu.Unlock()
}

// crashedProtected: QEMU exited by itself (no kill of ours, no power-off)
// while the pair was protected.
func (e *ftEntry) crashedProtected() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.protected && !e.killed && !e.final
}

func (r *ftRunner) entry(name string) *ftEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active[name]
}

// Running lists the FT VMs whose active side runs here; secondaries are
// not running VMs.
func (r *ftRunner) Running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for n := range r.active {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Has reports whether name's active side runs here.
func (r *ftRunner) Has(name string) bool { return r.entry(name) != nil }

// Start runs name here. A secondary of name here after the peer was lost
// takes over (no reboot); otherwise the active QEMU starts from this
// node's disk, which must hold the current data.
func (r *ftRunner) Start(ctx context.Context, rec *ha.Record) error {
	name := rec.Spec.Name
	if r.Has(name) {
		return nil
	}
	if s := r.takeSecondary(name); s != nil {
		if r.status().PeerLost {
			a, err := s.sec.TakeOver(ctx)
			if err == nil {
				r.logf("vms: %s: the peer was lost; the secondary here took over (the guest runs on from its last checkpoint)", name)
				r.run(name, a, true)
				return nil
			}
			r.logf("vms: %s: the secondary here cannot take over: %v", name, err)
		} else {
			// Not a take-over: the secondary's checkpoint is of an
			// earlier run and must not be resumed.
			r.logf("vms: %s: stopping the secondary here before the VM starts", name)
		}
		killWait(ctx, s.sec)
	}
	v, err := ftVolume(rec)
	if err != nil {
		return err
	}
	if v.Current != "" && v.Current != r.self {
		return fmt.Errorf("only %s has the current data of volume %s (the VM last ran there unprotected): it starts there, or when %s is back",
			v.Current, v.Name, v.Current)
	}
	vm, err := r.define(rec)
	if err != nil {
		return err
	}
	a, err := r.eng.StartActive(ctx, vm)
	if err != nil {
		return err
	}
	r.logf("vms: %s: started its active side here, unprotected until the secondary on %s is in sync", name, r.peerName)
	r.run(name, a, v.Current == "")
	return nil
}

// run keeps a as name's active side here: its console, its protect loop
// and its end.
func (r *ftRunner) run(name string, a ftActive, claim bool) {
	ctx, cancel := context.WithCancel(context.Background())
	e := &ftEntry{a: a, cancel: cancel, loopDone: make(chan struct{})}
	r.mu.Lock()
	r.active[name] = e
	r.mu.Unlock()
	r.console(name, a.ConsoleLog())
	if claim {
		r.claim(name)
	}
	go r.protectLoop(ctx, name, e)
	go func() {
		<-a.Exited()
		cancel()
		<-e.loopDone
		if err := a.ExitErr(); err != nil {
			r.logf("vms: %s: its QEMU here exited: %v", name, err)
			// A crash of the active side is a failover like a loss of
			// its node: the secondary resumes the guest from the last
			// checkpoint, with no reboot.
			if e.crashedProtected() && r.crashed != nil && r.status().Connected {
				r.logf("vms: %s: its secondary on %s takes over", name, r.peerName)
				if err := r.crashed(name); err != nil {
					r.logf("vms: %s: the take-over by its secondary on %s failed: %v", name, r.peerName, err)
				}
			}
		} else {
			// The guest powered off: that is for good, whoever asked.
			e.mu.Lock()
			e.final = true
			e.mu.Unlock()
		}
		r.finish(name, e, true)
	}()
}

// Shutdown asks the guest to power off (ACPI); the peer's secondary is
// stopped once the active side has exited.
func (r *ftRunner) Shutdown(ctx context.Context, name string) error {
	e := r.entry(name)
	if e == nil {
		return fmt.Errorf("vm %s: its FT active side does not run here", name)
	}
	return e.a.Powerdown(ctx)
}

// Final marks name as being stopped for good (an operator's shutdown or
// power-off), so that its secondary on the peer goes too; a release by the
// membership leaves the secondary, which may be what takes over.
func (r *ftRunner) Final(name string) {
	if e := r.entry(name); e != nil {
		e.mu.Lock()
		e.final = true
		e.mu.Unlock()
	}
}

// Destroy kills name's active side here at once, and its secondary on the
// peer if Final was called.
func (r *ftRunner) Destroy(ctx context.Context, name string) error {
	e := r.entry(name)
	if e == nil {
		return nil
	}
	e.setKilled()
	e.cancel()
	killWait(ctx, e.a)
	if ctx.Err() != nil {
		return fmt.Errorf("vm %s: QEMU did not exit: %w", name, ctx.Err())
	}
	<-e.loopDone
	r.finish(name, e, true)
	return nil
}

// finish forgets e as name's active side and, if the VM was stopped for
// good and stopSecondary, stops the peer's secondary; only its first call
// does anything, and it returns only once that is done.
func (r *ftRunner) finish(name string, e *ftEntry, stopSecondary bool) {
	e.done.Do(func() {
		r.mu.Lock()
		if r.active[name] == e {
			delete(r.active, name)
		}
		r.mu.Unlock()
		if stopSecondary && e.isFinal() {
			r.stopPeerSecondary(name)
		}
	})
}

// Migrate moves name to the peer by a controlled failover: the pair must
// be protected (or was, when the active QEMU here crashed); the active side
// here is killed and the peer's secondary takes over from the last
// checkpoint, as after a loss of this node.
// Killing first means that the two sides never run at once; colo-compare
// has released no output the secondary did not produce as well, so the
// guest's clients see a pause.
func (r *ftRunner) Migrate(ctx context.Context, name string) error {
	e := r.entry(name)
	if e == nil {
		return fmt.Errorf("vm %s: its FT active side does not run here", name)
	}
	if st := e.a.State(); st.Mode != ftProtected && !e.crashedProtected() {
		return fmt.Errorf("vm %s is %s (%s): moving an FT VM is a failover to its secondary on %s, which needs a protected pair; "+
			"wait until 'vm info' shows it protected", name, st.Mode, st.Reason, r.peerName)
	}
	// The protect loop must not take the broken pair for a lost
	// secondary and fail over here.
	e.setKilled()
	e.cancel()
	<-e.loopDone
	killWait(ctx, e.a)
	if ctx.Err() != nil {
		return fmt.Errorf("vm %s: QEMU did not exit: %w", name, ctx.Err())
	}
	// Handed over, not stopped: the secondary must stay.
	r.finish(name, e, false)
	if err := r.peer.TakeOver(ctx, name); err != nil {
		return fmt.Errorf("vm %s: its active side here is stopped, but its secondary on %s did not take over: %w; start the VM again",
			name, r.peerName, err)
	}
	r.logf("vms: %s: handed over to %s (its secondary took over)", name, r.peerName)
	return nil
}

// killWait kills p and waits for its exit (or ctx).
func killWait(ctx context.Context, p ftProcess) {
	_ = p.Kill()
	select {
	case <-p.Exited():
	case <-ctx.Done():
	}
}

// stopPeerSecondary asks the peer to stop name's secondary, if the peer
// is there to ask.
func (r *ftRunner) stopPeerSecondary(name string) {
	if !r.status().Connected {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.peer.StopSecondary(ctx, name); err != nil {
		r.logf("vms: %s: stopping its secondary on %s: %v", name, r.peerName, err)
	}
}

// errFTActiveHere refuses a secondary for a VM whose active side is here.
var errFTActiveHere = errors.New("its active side runs on this node")
