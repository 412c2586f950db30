package main

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/agent/ft"
	"github.com/lockstep-ft/lockstep/agent/qmp"
)

// The node's QEMU; it runs as root, with KVM.
const (
	qemuBinary = "/usr/bin/qemu-system-x86_64"
	qemuImg    = "/usr/bin/qemu-img"
)

// ftStepTimeout bounds each QMP command and wait of agent/ft's sequences.
// agent/ft's 10 s default is short for the last step of a take-over,
// which waits while QEMU commits what the secondary wrote since its last
// checkpoint (up to a checkpoint delay's worth of the guest's writes): a
// take-over that gave up there would have the runner kill a guest that
// already runs here.
const ftStepTimeout = 30 * time.Second

// qemuEngine is ftEngine on agent/ft: this node's QEMU of each FT VM,
// whichever side it is. The node that runs the guest builds the ft.Spec
// with itself as primary every time it protects, so a secondary that took
// over is simply the primary of its next protection (agent/ft's Protect
// takes a QEMU started with SecondaryArgs as primary); the peer builds the
// same spec with itself as secondary.
type qemuEngine struct {
	logf func(string, ...any)

	// The seams a test replaces: QEMU's start, qemu-img, the dial of the
	// peer's secondary's monitor, and the NICs' taps.
	start  func(ctx context.Context, spec ft.Spec, role ft.Role) (qemuProc, error)
	img    ft.CommandFunc
	dial   func(ctx context.Context, addr string) (*qmp.Client, error)
	addTap func(name, bridge string) error
	delTap func(name string) error
}

// qemuProc is what the adapter uses of an ft.Process.
type qemuProc interface {
	QMP() *qmp.Client
	Exited() <-chan struct{}
	ExitErr() error
	Kill() error
}

func newQEMUEngine(logf func(string, ...any)) *qemuEngine {
	return &qemuEngine{
		logf: logf,
		start: func(ctx context.Context, spec ft.Spec, role ft.Role) (qemuProc, error) {
			p, err := ft.Start(ctx, command(qemuBinary), spec, role)
			if err != nil {
				return nil, err // not a nil *ft.Process in a non-nil interface
			}
			return p, nil
		},
		img:    command(qemuImg),
		dial:   ft.DialQMP,
		addTap: addTap,
		delTap: delTap,
	}
}

func command(bin string) ft.CommandFunc {
	return func(ctx context.Context, args ...string) *exec.Cmd { return exec.CommandContext(ctx, bin, args...) }
}

// spec is vm's COLO pair as agent/ft describes it, with this node as the
// primary (the side that runs the guest) or the secondary. Both nodes
// derive the same spec from the same record: the logical volume, work
// directory and tap names are the same on both (ftVM), so this node's
// side serves for the peer's too, and the link's addresses are swapped.
// Only the secondary has a TCP monitor, for the primary's agent.
func (e *qemuEngine) spec(vm ftVM, primary bool) (ft.Spec, error) {
	// ftProblems refuses other FT VMs at create; a record from before
	// that rule ends here.
	if len(vm.NICs) != 1 {
		return ft.Spec{}, fmt.Errorf("vm %s has %d NICs: an FT VM has exactly one (COLO's net filters here follow one NIC)", vm.Name, len(vm.NICs))
	}
	// Without a size the guest would see the whole logical volume,
	// including the end that DRBD's metadata needs after a change to HA.
	if vm.DiskBytes <= 0 {
		return ft.Spec{}, fmt.Errorf("vm %s: the size of its disk is unknown", vm.Name)
	}
	if !vm.Link.Local.IsValid() || !vm.Link.Peer.IsValid() {
		return ft.Spec{}, fmt.Errorf("vm %s: the replication link has no addresses", vm.Name)
	}
	nic := vm.NICs[0]
	side := ft.Side{Disk: vm.Disk, WorkDir: vm.WorkDir, Netdev: "tap,ifname=" + nic.Tap + ",script=no,downscript=no"}
	pri, sec := vm.Link.Local, vm.Link.Peer
	if !primary {
		pri, sec = sec, pri
	}
	p := vm.Link.Ports
	s := ft.Spec{
		Name: vm.Name, VCPUs: vm.VCPUs, MemoryMiB: int(vm.MemoryMiB),
		// No -cpu: the nodes are identical, so QEMU's default model for
		// KVM loads a checkpoint of either on the other.
		Accel: "kvm",
		// Empty (no VCD): the guest boots from its disk.
		CDROM: vm.CD,
		MAC:   nic.MAC,
		// The guest sees the volume's bytes, not the logical volume's.
		DiskSize: vm.DiskBytes,
		// QEMU's default (20 s) lets the two guests drift apart for
		// long: every checkpoint then carries more memory and pauses
		// the guest longer, and the secondary's disk layers grow.
		CheckpointDelay: ftCheckpointDelay,
		Primary:         side, Secondary: side,
		Link: ft.Link{PrimaryHost: pri.String(), SecondaryHost: sec.String(),
			MirrorPort: p.Mirror, ComparePort: p.Compare, MigrationPort: p.Migration, NBDPort: p.NBD},
	}
	s.Secondary.QMPAddr = netip.AddrPortFrom(sec, uint16(p.QMP)).String()
	s.Secondary.Console = filepath.Join(vm.WorkDir, ftSecondaryConsole)
	if err := s.Validate(); err != nil {
		return ft.Spec{}, fmt.Errorf("vm %s: %w", vm.Name, err)
	}
	return s, nil
}

// ftCheckpointDelay is the longest time between two checkpoints of an FT
// VM (a difference in the guests' network output takes one sooner).
const ftCheckpointDelay = 2 * time.Second

// newPair is the pair for vm's QEMU here as its primary (spec).
func (e *qemuEngine) newPair(vm ftVM, spec ft.Spec) (*ft.Pair, error) {
	pair, err := ft.NewPair(spec)
	if err != nil {
		return nil, err
	}
	pair.Logf = e.vmLogf(vm.Name)
	pair.StepTimeout = ftStepTimeout
	pair.SyncTimeout = syncTimeout(vm)
	return pair, nil
}

// syncTimeout bounds each of Protect's copies (the disk's, the memory's
// first checkpoint). It only catches a copy that is stuck: agent/ft's
// 10 min default is short for a large guest, so it grows with the guest
// at a pace any working replication link exceeds (50 MiB/s).
func syncTimeout(vm ftVM) time.Duration {
	bytes := vm.DiskBytes + vm.MemoryMiB<<20
	return 10*time.Minute + time.Duration(bytes/(50<<20))*time.Second
}

func (e *qemuEngine) options(name string) ft.Options {
	return ft.Options{StepTimeout: ftStepTimeout, Logf: e.vmLogf(name)}
}

func (e *qemuEngine) vmLogf(name string) func(string, ...any) {
	return func(format string, args ...any) { e.logf("vms: %s: %s", name, fmt.Sprintf(format, args...)) }
}

// StartActive implements ftEngine: the primary QEMU, whose guest runs at
// once, unprotected.
func (e *qemuEngine) StartActive(ctx context.Context, vm ftVM) (ftActive, error) {
	spec, err := e.spec(vm, true)
	if err != nil {
		return nil, err
	}
	pair, err := e.newPair(vm, spec)
	if err != nil {
		return nil, err
	}
	side, err := e.startSide(ctx, vm, spec, ft.PrimaryRole)
	if err != nil {
		return nil, err
	}
	side.setPair(pair)
	return &qemuActive{qemuSide: side, pair: pair}, nil
}

// StartSecondary implements ftEngine: new, empty active and hidden
// images (a new secondary starts from its disk alone, which Protect
// overwrites), then QEMU waiting for the migration.
func (e *qemuEngine) StartSecondary(ctx context.Context, vm ftVM) (ftSecondary, error) {
	spec, err := e.spec(vm, false)
	if err != nil {
		return nil, err
	}
	if err := ft.CreateReplicationImages(ctx, e.img, spec); err != nil {
		return nil, err
	}
	side, err := e.startSide(ctx, vm, spec, ft.SecondaryRole)
	if err != nil {
		return nil, err
	}
	s := &qemuSecondary{qemuSide: side, addr: spec.Secondary.QMPAddr, detached: make(chan struct{}), stop: make(chan struct{})}
	// Subscribed before the peer can start COLO, so no COLO_EXIT is missed.
	events, cancel := side.proc.QMP().Subscribe(qmp.EventColoExit)
	go s.watch(events, cancel)
	return s, nil
}

// startSide makes the NIC's tap and starts QEMU on it.
func (e *qemuEngine) startSide(ctx context.Context, vm ftVM, spec ft.Spec, role ft.Role) (*qemuSide, error) {
	nic := vm.NICs[0]
	if err := e.addTap(nic.Tap, nic.Bridge); err != nil {
		return nil, err
	}
	proc, err := e.start(ctx, spec, role)
	if err != nil {
		if derr := e.delTap(nic.Tap); derr != nil {
			e.logf("vms: %s: %v", vm.Name, derr)
		}
		return nil, err
	}
	console := spec.Primary.ConsoleLog()
	if role == ft.SecondaryRole {
		console = spec.Secondary.ConsoleLog()
	}
	s := &qemuSide{e: e, vm: vm, proc: proc, console: console, exited: make(chan struct{})}
	go s.reap()
	return s, nil
}

// ftSecondaryConsole is the secondary's console log in the VM's work
// directory (ft.Side.Console): once it takes over, the VM's console shows
// it; until then nothing does.
const ftSecondaryConsole = "secondary-console.log"

// qemuSide is one QEMU of an FT VM here, as primary or secondary.
type qemuSide struct {
	e       *qemuEngine
	vm      ftVM
	proc    qemuProc
	console string
	// exited closes once QEMU has exited and its tap is gone: a QEMU
	// started next for the VM makes a tap of the same name.
	exited chan struct{}

	mu   sync.Mutex
	gone bool
	pair *ft.Pair    // once it runs the guest
	peer *qmp.Client // the peer's secondary's monitor, from Protect on
}

// reap cleans up after QEMU's exit.
func (s *qemuSide) reap() {
	<-s.proc.Exited()
	s.proc.QMP().Close()
	s.mu.Lock()
	s.gone = true
	pair, peer := s.pair, s.peer
	s.peer = nil
	s.mu.Unlock()
	if pair != nil {
		pair.Close()
	}
	if peer != nil {
		peer.Close()
	}
	if err := s.e.delTap(s.vm.NICs[0].Tap); err != nil {
		s.e.logf("vms: %s: %v", s.vm.Name, err)
	}
	close(s.exited)
}

func (s *qemuSide) Exited() <-chan struct{} { return s.exited }
func (s *qemuSide) ExitErr() error          { return s.proc.ExitErr() }
func (s *qemuSide) Kill() error             { return s.proc.Kill() }
func (s *qemuSide) ConsoleLog() string      { return s.console }

func (s *qemuSide) setPair(p *ft.Pair) {
	s.mu.Lock()
	gone := s.gone
	s.pair = p
	s.mu.Unlock()
	if gone {
		p.Close()
	}
}

// setPeer keeps c (nil: none) as the peer's secondary's monitor and
// closes the one before.
func (s *qemuSide) setPeer(c *qmp.Client) {
	s.mu.Lock()
	old := s.peer
	s.peer = c
	if s.gone {
		s.peer = nil // reap has run: nobody would close it
	}
	keep := s.peer
	s.mu.Unlock()
	if old != nil && old != keep {
		old.Close()
	}
	if c != nil && c != keep && c != old {
		c.Close()
	}
}

// qemuActive is the QEMU that runs the guest, with the pair it protects
// with.
type qemuActive struct {
	*qemuSide
	pair *ft.Pair
}

func (a *qemuActive) Powerdown(ctx context.Context) error {
	return a.proc.QMP().Execute(ctx, "system_powerdown", nil, nil)
}

// Protect implements ftActive: agent/ft's Protect of this running QEMU
// with the peer's new secondary, driven over its TCP monitor.
func (a *qemuActive) Protect(ctx context.Context, secondaryQMP string) (<-chan struct{}, error) {
	// The peer's secondary listens by the time the peer answered: a
	// dial that takes long goes to a peer that is gone.
	dctx, cancel := context.WithTimeout(ctx, ftStepTimeout)
	c, err := a.e.dial(dctx, secondaryQMP)
	cancel()
	if err != nil {
		return nil, err
	}
	a.setPeer(c)
	if err := a.pair.Protect(ctx, a.proc.QMP(), c); err != nil {
		a.setPeer(nil)
		return nil, err
	}
	return a.pair.Lost(), nil
}

// ContinueAlone implements ftActive: agent/ft's primary failover, on this
// QEMU's own monitor. The secondary's monitor is of no further use: the
// next protection has a new secondary.
func (a *qemuActive) ContinueAlone(ctx context.Context) error {
	err := a.pair.FailoverPrimary(ctx)
	a.setPeer(nil)
	return err
}

// State implements ftActive; agent/ft's modes are spelled as the API's.
func (a *qemuActive) State() ftState {
	st := a.pair.State()
	return ftState{Mode: string(st.Mode), Reason: st.Reason, Since: st.Since}
}

// qemuSecondary is the QEMU that follows the peer's primary.
type qemuSecondary struct {
	*qemuSide
	addr     string
	detached chan struct{}
	stop     chan struct{} // closed by a take-over: no more detach watch
	stopOnce sync.Once
}

func (s *qemuSecondary) QMPAddr() string           { return s.addr }
func (s *qemuSecondary) Detached() <-chan struct{} { return s.detached }

// watch closes detached when the secondary leaves COLO (COLO_EXIT: QEMU
// gave up on the primary) or its monitor or process goes.
func (s *qemuSecondary) watch(events <-chan qmp.Event, cancel func()) {
	defer cancel()
	select {
	case <-events: // COLO_EXIT, or closed with the monitor
	case <-s.proc.Exited():
	case <-s.stop:
		return
	}
	close(s.detached)
}

// TakeOver implements ftSecondary: agent/ft's secondary failover on this
// QEMU's own monitor. The guest resumes from the last checkpoint; the
// QEMU then is this node's primary, with a pair whose spec has this node
// as primary.
func (s *qemuSecondary) TakeOver(ctx context.Context) (ftActive, error) {
	c := s.proc.QMP()
	// COLO mode secondary means the first checkpoint (all of the guest's
	// memory and devices) has loaded; last-mode secondary, that it had
	// when it left COLO by itself (its primary's sockets closed).
	st, err := c.QueryColoStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("vm %s: query-colo-status: %w", s.vm.Name, err)
	}
	if st.Mode != qmp.ColoModeSecondary && st.LastMode != qmp.ColoModeSecondary {
		return nil, fmt.Errorf("vm %s: %w (COLO mode %q, last mode %q)", s.vm.Name, errFTNoCheckpoint, st.Mode, st.LastMode)
	}
	spec, err := s.e.spec(s.vm, true)
	if err != nil {
		return nil, err
	}
	pair, err := s.e.newPair(s.vm, spec)
	if err != nil {
		return nil, err
	}
	s.stopOnce.Do(func() { close(s.stop) })
	if err := ft.FailoverSecondaryOn(ctx, c, s.e.options(s.vm.Name)); err != nil {
		return nil, err
	}
	s.setPair(pair)
	return &qemuActive{qemuSide: s.qemuSide, pair: pair}, nil
}

var (
	_ ftEngine = (*qemuEngine)(nil)
	_ qemuProc = (*ft.Process)(nil)
)
