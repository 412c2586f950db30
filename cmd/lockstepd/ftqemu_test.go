package main

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/ft"
	"github.com/lockstep-ft/lockstep/agent/qmp"
	"github.com/lockstep-ft/lockstep/agent/qmp/qmptest"
)

// testFTVM is an FT VM as node self (0 or 1) defines it: the same record
// gives both nodes the same VM with the link's addresses swapped.
func testFTVM(t *testing.T, self int) ftVM {
	ports, err := ftPortsFor(3)
	if err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("169.254.100.1"), netip.MustParseAddr("169.254.100.2")}
	return ftVM{Name: "web", UUID: "u", VCPUs: 2, MemoryMiB: 1024,
		Disk: "/dev/storage0/lsv3", DiskBytes: 10<<30 + 4096, CD: "/var/lib/lockstep/vcd/d.iso",
		NICs:    []ftNIC{{Bridge: "lsbr-biz0", MAC: "52:54:00:00:00:01", Tap: "lsft3n0"}},
		WorkDir: "/var/lib/lockstep/ft/web",
		Link:    ftLink{Local: addrs[self], Peer: addrs[1-self], Ports: ports}}
}

// TestQEMUSpec: what the adapter asks of agent/ft for an FT VM, and that
// the two nodes derive the same pair from it.
func TestQEMUSpec(t *testing.T) {
	e := newQEMUEngine(t.Logf)
	s, err := e.spec(testFTVM(t, 0), true)
	if err != nil {
		t.Fatal(err)
	}
	side := ft.Side{Disk: "/dev/storage0/lsv3", WorkDir: "/var/lib/lockstep/ft/web",
		Netdev: "tap,ifname=lsft3n0,script=no,downscript=no"}
	secSide := side
	secSide.QMPAddr = "169.254.100.2:20019"
	// The secondary's console is a file of its own (speculative output).
	secSide.Console = "/var/lib/lockstep/ft/web/secondary-console.log"
	want := ft.Spec{Name: "web", VCPUs: 2, MemoryMiB: 1024, Accel: "kvm",
		CDROM: "/var/lib/lockstep/vcd/d.iso", MAC: "52:54:00:00:00:01", DiskSize: 10<<30 + 4096,
		CheckpointDelay: 2 * time.Second,
		Primary:         side, Secondary: secSide,
		Link: ft.Link{PrimaryHost: "169.254.100.1", SecondaryHost: "169.254.100.2",
			MirrorPort: 20015, ComparePort: 20016, MigrationPort: 20017, NBDPort: 20018}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("node0's spec as primary:\n%+v\nwant\n%+v", s, want)
	}

	// The peer's secondary runs the same pair.
	if peer, err := e.spec(testFTVM(t, 1), false); err != nil || !reflect.DeepEqual(peer, s) {
		t.Errorf("node1's spec as secondary (%v):\n%+v\nwant node0's\n%+v", err, peer, s)
	}
	// After node1's secondary took over, node1's spec as primary is the
	// swapped one (only the TCP monitor and the console file of its own
	// stay with the secondary), and node0's new secondary derives the same.
	next, err := e.spec(testFTVM(t, 1), true)
	if err != nil {
		t.Fatal(err)
	}
	swapped := s.Swap()
	swapped.Primary.QMPAddr, swapped.Secondary.QMPAddr = "", "169.254.100.1:20019"
	swapped.Primary.Console, swapped.Secondary.Console = "", secSide.Console
	if !reflect.DeepEqual(next, swapped) {
		t.Errorf("node1's spec as primary:\n%+v\nwant the swap\n%+v", next, swapped)
	}
	if sec, _ := e.spec(testFTVM(t, 0), false); !reflect.DeepEqual(sec, next) {
		t.Errorf("node0's spec as the new secondary:\n%+v\nwant\n%+v", sec, next)
	}

	// QEMU's options: the volume's bytes on both sides, the TCP monitor on
	// the secondary's replication address.
	pa, err := ft.PrimaryArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := ft.SecondaryArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{pa, "children.0.driver=raw,children.0.size=10737422336,children.0.file.filename=/dev/storage0/lsv3"},
		{pa, "-accel kvm"},
		{pa, "file=/var/lib/lockstep/vcd/d.iso"},
		{sa, "node-name=parent0,driver=raw,size=10737422336,file.driver=host_device,file.filename=/dev/storage0/lsv3"},
		{sa, "socket,id=qmp-tcp,host=169.254.100.2,port=20019,server=on,wait=off"},
		{sa, "socket,id=red0,host=169.254.100.1,port=20015,"},
	} {
		if j := strings.Join(c.args, " "); !strings.Contains(j, c.want) {
			t.Errorf("args lack %q:\n%s", c.want, j)
		}
	}

	// Without a CD the guest boots from its disk.
	vm := testFTVM(t, 0)
	vm.CD = ""
	if s, err := e.spec(vm, true); err != nil || s.CDROM != "" {
		t.Errorf("without a CD: %v, %+v", err, s)
	}
}

func TestQEMUSpecRefuses(t *testing.T) {
	e := newQEMUEngine(t.Logf)
	for _, c := range []struct {
		name   string
		change func(*ftVM)
		want   string
	}{
		{"no NIC", func(vm *ftVM) { vm.NICs = nil }, "0 NICs"},
		{"two NICs", func(vm *ftVM) { vm.NICs = append(vm.NICs, vm.NICs[0]) }, "2 NICs"},
		{"no size", func(vm *ftVM) { vm.DiskBytes = 0 }, "size of its disk"},
		{"odd size", func(vm *ftVM) { vm.DiskBytes = 1000 }, "multiple of 512"},
		{"no link", func(vm *ftVM) { vm.Link.Peer = netip.Addr{} }, "replication link"},
	} {
		vm := testFTVM(t, 0)
		c.change(&vm)
		if _, err := e.spec(vm, true); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %q", c.name, err, c.want)
		}
	}
}

// fakeQEMU is a qmptest server playing one QEMU: COLO mode as set, a
// mirror job READY at once, migrate stopping at pre-switchover and
// migrate-continue starting COLO on it and on its peer (the secondary).
type fakeQEMU struct {
	*qmptest.Server
	mode, lastMode atomic.Value // string
	job            atomic.Pointer[map[string]any]
	migration      atomic.Value // string
	peer           atomic.Pointer[fakeQEMU]
}

func newFakeQEMU(t *testing.T) *fakeQEMU {
	f := &fakeQEMU{Server: qmptest.New(t)}
	f.mode.Store("none")
	f.lastMode.Store("none")
	f.migration.Store("none")
	f.Handle("query-colo-status", func(context.Context, qmptest.Command) (any, error) {
		return map[string]any{"mode": f.mode.Load(), "last-mode": f.lastMode.Load(), "reason": "none"}, nil
	})
	f.Handle("x-colo-lost-heartbeat", func(context.Context, qmptest.Command) (any, error) {
		f.lastMode.Store(f.mode.Load())
		f.mode.Store("none")
		return nil, nil
	})
	f.Handle("blockdev-mirror", func(_ context.Context, c qmptest.Command) (any, error) {
		f.job.Store(&map[string]any{"type": "mirror", "device": c.Args["job-id"], "len": 1 << 20,
			"offset": 1 << 20, "ready": true, "status": "ready", "busy": false, "paused": false,
			"speed": 0, "io-status": "ok"})
		return nil, nil
	})
	f.Handle("query-block-jobs", func(context.Context, qmptest.Command) (any, error) {
		if j := f.job.Load(); j != nil {
			return []any{*j}, nil
		}
		return []any{}, nil
	})
	f.Handle("block-job-cancel", func(context.Context, qmptest.Command) (any, error) {
		f.job.Store(nil)
		return nil, nil
	})
	f.Handle("query-migrate", func(context.Context, qmptest.Command) (any, error) {
		return map[string]any{"status": f.migration.Load()}, nil
	})
	f.Handle("migrate", func(context.Context, qmptest.Command) (any, error) {
		f.Emit("STOP", nil)
		f.migration.Store("pre-switchover")
		f.Emit("MIGRATION", map[string]any{"status": "pre-switchover"})
		return nil, nil
	})
	f.Handle("migrate-continue", func(context.Context, qmptest.Command) (any, error) {
		f.migration.Store("colo")
		f.mode.Store("primary")
		f.lastMode.Store("primary")
		if p := f.peer.Load(); p != nil {
			p.mode.Store("secondary")
			p.lastMode.Store("secondary")
		}
		f.Emit("RESUME", nil)
		return nil, nil
	})
	f.Return("qom-list", []any{})
	f.Return("query-named-block-nodes", []any{})
	f.Return("query-yank", []any{})
	return f
}

// fakeQEMUProc is a started QEMU: the fake's monitor, and an exit on Kill.
type fakeQEMUProc struct {
	c      *qmp.Client
	exited chan struct{}
	once   sync.Once
}

func (p *fakeQEMUProc) QMP() *qmp.Client        { return p.c }
func (p *fakeQEMUProc) Exited() <-chan struct{} { return p.exited }
func (p *fakeQEMUProc) ExitErr() error {
	select {
	case <-p.exited:
		return errors.New("signal: killed")
	default:
		return nil
	}
}
func (p *fakeQEMUProc) Kill() error {
	p.once.Do(func() { close(p.exited) })
	return nil
}

// qemuHarness is an engine whose QEMUs are fakes: qemu is the next one
// started, peer the secondary that Protect dials.
type qemuHarness struct {
	e       *qemuEngine
	log     *ftLog
	qemu    *fakeQEMU
	peer    *fakeQEMU
	started []ft.Spec
}

func newQEMUHarness(t *testing.T) *qemuHarness {
	h := &qemuHarness{log: &ftLog{}}
	h.e = &qemuEngine{
		logf: t.Logf,
		start: func(ctx context.Context, spec ft.Spec, role ft.Role) (qemuProc, error) {
			h.log.add("start %s", role)
			h.started = append(h.started, spec)
			c, err := qmp.Dial(ctx, h.qemu.Path())
			if err != nil {
				return nil, err
			}
			return &fakeQEMUProc{c: c, exited: make(chan struct{})}, nil
		},
		img: func(ctx context.Context, args ...string) *exec.Cmd {
			h.log.add("qemu-img %s", strings.Join(args, " "))
			return exec.CommandContext(ctx, "true")
		},
		dial: func(ctx context.Context, addr string) (*qmp.Client, error) {
			h.log.add("dial %s", addr)
			return qmp.Dial(ctx, h.peer.Path())
		},
		addTap: func(name, bridge string) error { h.log.add("add-tap %s %s", name, bridge); return nil },
		delTap: func(name string) error { h.log.add("del-tap %s", name); return nil },
	}
	return h
}

// shortDir is a work directory short enough for QEMU's unix sockets.
func shortDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "ft")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Join(d, "web")
}

func waitClosed(t *testing.T, what string, c <-chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not close", what)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestQEMUActive: the active side starts running on its tap, is protected
// by the peer's secondary over its TCP monitor, hears when the secondary
// leaves COLO, fails over to run alone, and cleans up its tap on exit.
func TestQEMUActive(t *testing.T) {
	h := newQEMUHarness(t)
	h.qemu, h.peer = newFakeQEMU(t), newFakeQEMU(t)
	h.qemu.peer.Store(h.peer)
	ctx := context.Background()
	vm := testFTVM(t, 0)
	vm.WorkDir = shortDir(t)

	a, err := h.e.StartActive(ctx, vm)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.log.all(); !slices.Equal(got, []string{"add-tap lsft3n0 lsbr-biz0", "start primary"}) {
		t.Errorf("calls %q", got)
	}
	if a.ConsoleLog() != filepath.Join(vm.WorkDir, "console.log") {
		t.Errorf("console %q", a.ConsoleLog())
	}
	if st := a.State(); st.Mode != ftSimplex {
		t.Errorf("state before Protect: %+v", st)
	}
	// The guest runs at once: no cont (QEMU starts it).
	if n := len(h.qemu.Named("cont")); n != 0 {
		t.Errorf("%d cont", n)
	}

	lost, err := a.Protect(ctx, "169.254.100.2:20019")
	if err != nil {
		t.Fatal(err)
	}
	if !h.log.has("dial 169.254.100.2:20019") {
		t.Errorf("calls %q", h.log.all())
	}
	if st := a.State(); st.Mode != ftProtected || isClosed(lost) {
		t.Fatalf("after Protect: %+v, lost closed %v", st, isClosed(lost))
	}
	// The primary's COLO listeners bind to this node's replication
	// address; its replication writes go to the peer's NBD server.
	var listens, nbd bool
	for _, c := range h.qemu.Commands() {
		j := string(c.RawArgs)
		listens = listens || c.Name == "chardev-add" && strings.Contains(j, `"host":"169.254.100.1","port":"20015"`)
		nbd = nbd || c.Name == "blockdev-add" && strings.Contains(j, `"host":"169.254.100.2","port":"20018"`)
	}
	if !listens || !nbd {
		t.Errorf("primary's commands (mirror listener %v, NBD %v): %+v", listens, nbd, h.qemu.Commands())
	}

	h.peer.Emit("COLO_EXIT", map[string]any{"mode": "secondary", "reason": "error"})
	waitClosed(t, "lost", lost)
	if err := a.ContinueAlone(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(h.qemu.Named("x-colo-lost-heartbeat")); n != 1 {
		t.Errorf("the primary failover ran %d times", n)
	}
	if st := a.State(); st.Mode != ftSimplex {
		t.Errorf("after ContinueAlone: %+v", st)
	}

	// Protected again by a new secondary, then QEMU goes.
	h.peer = newFakeQEMU(t)
	h.qemu.peer.Store(h.peer)
	h.qemu.mode.Store("none")
	lost, err = a.Protect(ctx, "169.254.100.2:20019")
	if err != nil {
		t.Fatal(err)
	}
	a.Kill()
	waitClosed(t, "exited", a.Exited())
	waitClosed(t, "lost after the exit", lost)
	if !h.log.has("del-tap lsft3n0") {
		t.Errorf("tap not removed: %q", h.log.all())
	}
	if a.ExitErr() == nil {
		t.Error("no exit error after a kill")
	}
}

// TestQEMUProtectFails: a failed Protect leaves the active side running
// alone and drops the secondary's monitor.
func TestQEMUProtectFails(t *testing.T) {
	h := newQEMUHarness(t)
	h.qemu, h.peer = newFakeQEMU(t), newFakeQEMU(t)
	h.peer.Fail("nbd-server-start", "GenericError", "Failed to bind socket")
	vm := testFTVM(t, 0)
	vm.WorkDir = shortDir(t)
	a, err := h.e.StartActive(context.Background(), vm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Protect(context.Background(), "169.254.100.2:20019"); err == nil || !strings.Contains(err.Error(), "Failed to bind") {
		t.Fatalf("Protect: %v", err)
	}
	if st := a.State(); st.Mode != ftSimplex {
		t.Errorf("state %+v", st)
	}
	a.(*qemuActive).mu.Lock()
	peer := a.(*qemuActive).peer
	a.(*qemuActive).mu.Unlock()
	if peer != nil {
		t.Error("the secondary's monitor is kept after a failed Protect")
	}
}

// TestQEMUSecondary: the secondary gets fresh replication images of the
// guest's disk size, says when it detaches, refuses to take over without
// a checkpoint, and, after one, takes over and is the primary of the next
// protection (its own address the primary's).
func TestQEMUSecondary(t *testing.T) {
	h := newQEMUHarness(t)
	h.qemu = newFakeQEMU(t)
	ctx := context.Background()
	vm := testFTVM(t, 1)
	vm.WorkDir = shortDir(t)

	s, err := h.e.StartSecondary(ctx, vm)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"qemu-img create -q -f qcow2 " + vm.WorkDir + "/active.qcow2 10737422336",
		"qemu-img create -q -f qcow2 " + vm.WorkDir + "/hidden.qcow2 10737422336",
		"add-tap lsft3n0 lsbr-biz0",
		"start secondary",
	}
	if got := h.log.all(); !slices.Equal(got, want) {
		t.Errorf("calls\n%q\nwant\n%q", got, want)
	}
	if s.QMPAddr() != "169.254.100.2:20019" {
		t.Errorf("QMP address %q", s.QMPAddr())
	}
	if sp := h.started[0]; sp.Secondary.QMPAddr != s.QMPAddr() || sp.Link.SecondaryHost != "169.254.100.2" {
		t.Errorf("the secondary's spec: %+v", sp)
	}

	// No checkpoint yet: nothing to resume.
	if _, err := s.TakeOver(ctx); !errors.Is(err, errFTNoCheckpoint) {
		t.Fatalf("TakeOver before a checkpoint: %v", err)
	}
	if n := len(h.qemu.Named("x-colo-lost-heartbeat")); n != 0 {
		t.Errorf("failed over without a checkpoint")
	}
	if isClosed(s.Detached()) {
		t.Error("detached before COLO")
	}

	// COLO ran, then the primary's sockets closed: QEMU left COLO by
	// itself, with the last checkpoint.
	h.qemu.lastMode.Store("secondary")
	h.qemu.Emit("COLO_EXIT", map[string]any{"mode": "secondary", "reason": "error"})
	waitClosed(t, "detached", s.Detached())
	a, err := s.TakeOver(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"nbd-server-stop", "x-colo-lost-heartbeat", "announce-self"} {
		if len(h.qemu.Named(cmd)) != 1 {
			t.Errorf("the secondary failover did not send %s: %+v", cmd, h.qemu.Commands())
		}
	}
	if st := a.State(); st.Mode != ftSimplex {
		t.Errorf("after the take-over: %+v", st)
	}
	if a.ConsoleLog() != s.ConsoleLog() {
		t.Errorf("console %q, was %q", a.ConsoleLog(), s.ConsoleLog())
	}

	// Protected by a new secondary on node0: this node's address is the
	// primary's now, a rewriter from its secondary days is in place.
	h.qemu.Return("qom-list", []any{map[string]any{"name": "rew0", "type": "child<filter-rewriter>"}})
	h.peer = newFakeQEMU(t)
	h.qemu.peer.Store(h.peer)
	lost, err := a.Protect(ctx, "169.254.100.1:20019")
	if err != nil {
		t.Fatal(err)
	}
	if isClosed(lost) || a.State().Mode != ftProtected {
		t.Errorf("after Protect: %+v", a.State())
	}
	var listens, before bool
	for _, c := range h.qemu.Commands() {
		j := string(c.RawArgs)
		listens = listens || c.Name == "chardev-add" && strings.Contains(j, `"host":"169.254.100.2","port":"20016"`)
		before = before || c.Name == "object-add" && strings.Contains(j, `"position":"id=rew0"`)
	}
	if !listens || !before {
		t.Errorf("the former secondary as primary (compare listener %v, filters before rew0 %v): %+v", listens, before, h.qemu.Commands())
	}
	if got := h.peer.Named("migrate-incoming"); len(got) != 1 || got[0].Args["uri"] != "tcp:169.254.100.1:20017" {
		t.Errorf("the new secondary's migrate-incoming: %+v", got)
	}
	a.Kill()
	waitClosed(t, "exited", a.Exited())
}

// TestQEMUSecondaryExit: a secondary whose QEMU exits is detached.
func TestQEMUSecondaryExit(t *testing.T) {
	h := newQEMUHarness(t)
	h.qemu = newFakeQEMU(t)
	vm := testFTVM(t, 1)
	vm.WorkDir = shortDir(t)
	s, err := h.e.StartSecondary(context.Background(), vm)
	if err != nil {
		t.Fatal(err)
	}
	s.Kill()
	waitClosed(t, "detached", s.Detached())
	waitClosed(t, "exited", s.Exited())
	if !h.log.has("del-tap lsft3n0") {
		t.Errorf("tap not removed: %q", h.log.all())
	}
}
