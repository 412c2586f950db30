package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/lockstep-ft/lockstep/agent/ft"
)

// qemuBinary is the node's system emulator; QEMU runs as root with KVM.
const qemuBinary = "/usr/bin/qemu-system-x86_64"

// qemuEngine is ftEngine on agent/ft. Where agent/ft cannot yet do what
// the runner asks, it refuses with errFTEngine and says what is missing,
// so that the VM shows why (the runner keeps the reason in its FT state)
// instead of running in a way that could lose data.
type qemuEngine struct {
	newCmd ft.CommandFunc
	logf   func(string, ...any)
}

func newQEMUEngine(logf func(string, ...any)) *qemuEngine {
	return &qemuEngine{logf: logf, newCmd: func(ctx context.Context, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, qemuBinary, args...)
	}}
}

// errFTEngine marks what agent/ft does not do yet.
var errFTEngine = errors.New("not supported by this build's FT engine")

func engineGap(what string) error { return fmt.Errorf("%w: %s", errFTEngine, what) }

// spec is vm's COLO pair as agent/ft describes it, with this node as the
// primary (the side that runs the guest) or the secondary. Both nodes
// derive the same machine: the logical volume, work directory and tap
// names are the same on both (ftVM), so each side's paths serve for the
// other's.
func (e *qemuEngine) spec(vm ftVM, primary bool) (ft.Spec, error) {
	// The engine's disk is its whole file: the guest would see, and
	// could write, the end of the logical volume that a change to HA
	// needs for DRBD's metadata (and that ensureCOLO zeroes).
	if vm.DiskBytes > 0 {
		return ft.Spec{}, engineGap("the guest's disk size (QEMU's raw driver size= on each side's disk; ft.Spec.DiskSize sizes only the secondary's active and hidden images)")
	}
	if vm.CD == "" {
		return ft.Spec{}, engineGap("booting from the disk alone (ft.Spec needs a kernel or a CD)")
	}
	if len(vm.NICs) != 1 {
		return ft.Spec{}, engineGap(fmt.Sprintf("%d NICs (ft.Spec has exactly one)", len(vm.NICs)))
	}
	side := ft.Side{Disk: vm.Disk, WorkDir: vm.WorkDir,
		Netdev: "tap,ifname=" + vm.NICs[0].Tap + ",script=no,downscript=no"}
	p := vm.Link.Ports
	link := ft.Link{PrimaryHost: vm.Link.Local.String(), SecondaryHost: vm.Link.Peer.String(),
		MirrorPort: p.Mirror, ComparePort: p.Compare, MigrationPort: p.Migration, NBDPort: p.NBD}
	if !primary {
		link.PrimaryHost, link.SecondaryHost = link.SecondaryHost, link.PrimaryHost
	}
	s := ft.Spec{Name: vm.Name, VCPUs: vm.VCPUs, MemoryMiB: int(vm.MemoryMiB), CDROM: vm.CD, MAC: vm.NICs[0].MAC,
		DiskSize: vm.DiskBytes, Primary: side, Secondary: side, Link: link}
	return s, s.Validate()
}

// StartActive implements ftEngine: the primary QEMU, then "cont", since
// agent/ft starts the primary paused (-S) for a Protect that follows at
// once, and an FT VM here runs before its secondary exists.
func (e *qemuEngine) StartActive(ctx context.Context, vm ftVM) (ftActive, error) {
	spec, err := e.spec(vm, true)
	if err != nil {
		return nil, err
	}
	pair, err := ft.NewPair(spec)
	if err != nil {
		return nil, err
	}
	pair.Logf = e.logf
	if err := addTap(vm.NICs[0].Tap, vm.NICs[0].Bridge); err != nil {
		return nil, err
	}
	p, err := ft.Start(ctx, e.newCmd, spec, ft.PrimaryRole)
	if err != nil {
		delTap(vm.NICs[0].Tap)
		return nil, err
	}
	if err := p.QMP().Execute(ctx, "cont", nil, nil); err != nil {
		p.Kill()
		<-p.Exited()
		delTap(vm.NICs[0].Tap)
		return nil, fmt.Errorf("ft: cont: %w", err)
	}
	a := &qemuActive{p: p, pair: pair, tap: vm.NICs[0].Tap}
	go func() {
		<-p.Exited()
		p.QMP().Close()
		pair.Close()
		delTap(a.tap)
	}()
	return a, nil
}

// StartSecondary implements ftEngine.
func (e *qemuEngine) StartSecondary(ctx context.Context, vm ftVM) (ftSecondary, error) {
	if _, err := e.spec(vm, false); err != nil {
		return nil, err
	}
	return nil, engineGap("a QMP listener on the replication link for the peer's agent (ft.Side / SecondaryArgs)")
}

// qemuActive is the primary QEMU of agent/ft.
type qemuActive struct {
	p    *ft.Process
	pair *ft.Pair
	tap  string
}

func (a *qemuActive) Exited() <-chan struct{} { return a.p.Exited() }
func (a *qemuActive) ExitErr() error          { return a.p.ExitErr() }
func (a *qemuActive) Kill() error             { return a.p.Kill() }
func (a *qemuActive) ConsoleLog() string      { return a.p.Side.ConsoleLog() }

func (a *qemuActive) Powerdown(ctx context.Context) error {
	return a.p.QMP().Execute(ctx, "system_powerdown", nil, nil)
}

// Protect implements ftActive. agent/ft's Protect needs both disks equal
// when it starts, which a running guest's are not.
func (a *qemuActive) Protect(ctx context.Context, secondaryQMP string) (<-chan struct{}, error) {
	return nil, engineGap("protecting a running primary (copy its disk to the secondary's NBD export, then COLO), " +
		"with a channel that closes when the protection ends")
}

// ContinueAlone implements ftActive: agent/ft's primary failover, on the
// monitors Protect gave the pair.
func (a *qemuActive) ContinueAlone(ctx context.Context) error {
	return a.pair.FailoverPrimary(ctx)
}

// State implements ftActive; agent/ft's modes are spelled as the API's.
func (a *qemuActive) State() ftState {
	st := a.pair.State()
	return ftState{Mode: string(st.Mode), Reason: st.Reason, Since: st.Since}
}
