package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// ftLog records the fakes' calls, one line each, in order.
type ftLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *ftLog) add(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *ftLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func (l *ftLog) has(line string) bool { return slices.Contains(l.all(), line) }

func (l *ftLog) count(prefix string) int {
	n := 0
	for _, s := range l.all() {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// eventually polls until cond holds (the runner's loops are goroutines).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// fakeProc is a QEMU process.
type fakeProc struct {
	log    *ftLog
	what   string // "active web", "secondary web"
	once   sync.Once
	exited chan struct{}
	err    error
}

func newFakeProc(l *ftLog, what string) *fakeProc {
	return &fakeProc{log: l, what: what, exited: make(chan struct{})}
}

func (p *fakeProc) exit(err error) {
	p.once.Do(func() { p.err = err; close(p.exited) })
}
func (p *fakeProc) Exited() <-chan struct{} { return p.exited }
func (p *fakeProc) ExitErr() error {
	select {
	case <-p.exited:
		return p.err
	default:
		return nil
	}
}
func (p *fakeProc) Kill() error {
	p.log.add("kill %s", p.what)
	p.exit(errors.New("signal: killed"))
	return nil
}
func (p *fakeProc) ConsoleLog() string { return "/work/" + p.what + "/console.log" }

// fakeActive is an active side; its protection is driven by the test.
type fakeActive struct {
	*fakeProc
	name        string
	protectErr  error
	continueErr error // ContinueAlone's answer: a QEMU that is dying

	mu    sync.Mutex
	state ftState
	lost  chan struct{}
}

func (a *fakeActive) Protect(ctx context.Context, addr string) (<-chan struct{}, error) {
	a.log.add("protect %s %s", a.name, addr)
	if a.protectErr != nil {
		return nil, a.protectErr
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lost = make(chan struct{})
	a.state = ftState{Mode: ftProtected, Reason: "COLO running"}
	return a.lost, nil
}

// loseSecondary is the engine noticing that the secondary is gone.
func (a *fakeActive) loseSecondary() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.state = ftState{Mode: ftSimplex, Reason: "lost the secondary's monitor"}
	close(a.lost)
}

func (a *fakeActive) ContinueAlone(context.Context) error {
	a.log.add("continue-alone %s", a.name)
	if a.continueErr != nil {
		return a.continueErr
	}
	a.mu.Lock()
	a.state = ftState{Mode: ftSimplex, Reason: "secondary lost: the primary runs the VM alone"}
	a.mu.Unlock()
	return nil
}

// Powerdown: the guest powers off at once, QEMU exits cleanly.
func (a *fakeActive) Powerdown(context.Context) error {
	a.log.add("powerdown %s", a.name)
	a.exit(nil)
	return nil
}

func (a *fakeActive) State() ftState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// fakeSecondary is a secondary side.
type fakeSecondary struct {
	*fakeProc
	name         string
	detached     chan struct{}
	noCheckpoint bool
}

func (s *fakeSecondary) QMPAddr() string           { return "169.254.100.2:20004" }
func (s *fakeSecondary) Detached() <-chan struct{} { return s.detached }
func (s *fakeSecondary) TakeOver(context.Context) (ftActive, error) {
	s.log.add("take-over %s", s.name)
	if s.noCheckpoint {
		return nil, errFTNoCheckpoint
	}
	return &fakeActive{fakeProc: s.fakeProc, name: s.name, state: ftState{Mode: ftSimplex, Reason: "primary lost"}}, nil
}

// fakeEngine starts fake QEMUs.
type fakeEngine struct {
	log *ftLog

	mu          sync.Mutex
	actives     []*fakeActive
	secondaries []*fakeSecondary
	protectErr  error
}

func (e *fakeEngine) StartActive(_ context.Context, vm ftVM) (ftActive, error) {
	e.log.add("start-active %s", vm.Name)
	a := &fakeActive{fakeProc: newFakeProc(e.log, "active "+vm.Name), name: vm.Name, protectErr: e.protectErr,
		state: ftState{Mode: ftSimplex, Reason: "not protected yet"}}
	e.mu.Lock()
	e.actives = append(e.actives, a)
	e.mu.Unlock()
	return a, nil
}

func (e *fakeEngine) StartSecondary(_ context.Context, vm ftVM) (ftSecondary, error) {
	e.log.add("start-secondary %s", vm.Name)
	s := &fakeSecondary{fakeProc: newFakeProc(e.log, "secondary "+vm.Name), name: vm.Name, detached: make(chan struct{})}
	e.mu.Lock()
	e.secondaries = append(e.secondaries, s)
	e.mu.Unlock()
	return s, nil
}

func (e *fakeEngine) active(i int) *fakeActive {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.actives[i]
}

// fakePeer is the peer's runner, as seen through the peer service.
type fakePeer struct {
	log      *ftLog
	startErr error
}

func (p *fakePeer) StartSecondary(_ context.Context, name string) (string, error) {
	p.log.add("peer start-secondary %s", name)
	return "169.254.100.2:20004", p.startErr
}
func (p *fakePeer) StopSecondary(_ context.Context, name string) error {
	p.log.add("peer stop-secondary %s", name)
	return nil
}
func (p *fakePeer) TakeOver(_ context.Context, name string) error {
	p.log.add("peer take-over %s", name)
	return nil
}

// ftHarness is a runner on node0 (or node1) with fakes all round.
type ftHarness struct {
	r    *ftRunner
	eng  *fakeEngine
	peer *fakePeer
	log  *ftLog
	recs map[string]*ha.Record

	mu     sync.Mutex
	st     membership.Status
	alerts []string // raised: "<severity> <code>: <message>"
}

func (h *ftHarness) raised() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.alerts)
}

func (h *ftHarness) status() membership.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}

func (h *ftHarness) setStatus(fn func(*membership.Status)) {
	h.mu.Lock()
	fn(&h.st)
	h.mu.Unlock()
}

func ftRecord(name, current string) *ha.Record {
	return &ha.Record{Spec: api.VMSpec{Name: name, Mode: api.ModeFT, VCPUs: 2, MemoryMiB: 1024,
		Volumes: []api.VolumeSpec{{Name: "root", SizeMiB: 1024}}},
		Volumes: []ha.Volume{{Name: "root", SizeMiB: 1024, Group: "storage0", Minor: 3, Replication: ha.ReplicationCOLO, Current: current}}}
}

func newFTHarness(t *testing.T, self int) *ftHarness {
	l := &ftLog{}
	h := &ftHarness{eng: &fakeEngine{log: l}, peer: &fakePeer{log: l}, log: l,
		recs: map[string]*ha.Record{"web": ftRecord("web", "")},
		st:   membership.Status{State: membership.StatePrimary, Connected: true, PeerVisible: true}}
	h.r = newFTRunner(ftConfig{eng: h.eng, peer: h.peer, self: nodeName(self), peerName: nodeName(1 - self),
		status: h.status,
		record: func(name string) (*ha.Record, bool) {
			h.mu.Lock()
			defer h.mu.Unlock()
			r, ok := h.recs[name]
			return r, ok
		},
		define:  func(r *ha.Record) (ftVM, error) { return ftVM{Name: r.Spec.Name}, nil },
		claim:   func(name string) { l.add("claim %s", name) },
		console: func(name, log string) { l.add("console %s %s", name, log) },
		// The VM service's move, reduced to its step on this node.
		crashed: func(name string) error {
			l.add("move %s", name)
			return h.r.Migrate(context.Background(), name)
		},
		alert: func(severity, code, msg string) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.alerts = append(h.alerts, severity+" "+code+": "+msg)
		},
		logf:    func(string, ...any) {}, // goroutines log after the test ends
		Backoff: 20 * time.Millisecond, Poll: time.Millisecond, OrphanGrace: 30 * time.Millisecond})
	t.Cleanup(func() {
		for _, n := range h.r.Running() {
			h.r.Destroy(context.Background(), n)
		}
	})
	return h
}
