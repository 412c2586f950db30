package colo

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/ft"
	"github.com/lockstep-ft/lockstep/agent/qmp"
	"github.com/lockstep-ft/lockstep/ci/lab/guest"
	"github.com/lockstep-ft/lockstep/ci/lab/guest/seqlog"
	"github.com/lockstep-ft/lockstep/internal/qemuroot"
)

// rig is an FT VM running the test guest on two "nodes" in one network
// namespace: node A (tap tp-pri, replication address 127.0.0.1) and node B
// (tp-sec, 127.0.0.2), each with its own disk image and work directory.
// The guest boots simplex on A; protect brings in a secondary on the node
// the pair's Spec names, as often as a test needs.
type rig struct {
	t      *testing.T
	ctx    context.Context
	ns     string
	root   *qemuroot.Root
	newCmd ft.CommandFunc
	spec   ft.Spec // the first protection's: A primary, B secondary
	pair   *ft.Pair

	pri, sec *ft.Process         // the current primary and secondary (nil: none)
	start    map[*ft.Process]int // each QEMU's console offset at its start
	boot     *seqlog.Boot        // the guest's boot, as the first primary's console shows it
	conn     net.Conn            // the client's echo connection, opened while simplex
}

// rigOptions vary a rig's guest and protection.
type rigOptions struct {
	// Work boots the guest with lsguest.work=1: it keeps its CPU busy
	// hashing and prints WORK lines (the benchmark's CPU throughput).
	Work bool
	// CheckpointDelay is the pair's Spec.CheckpointDelay; default 1 s.
	CheckpointDelay time.Duration
}

// newRig boots the guest simplex on node A, waits for its network and ten
// records, and opens the echo connection, which must echo while no
// secondary exists. The caller has gated the test (gate).
func newRig(t *testing.T, ctx context.Context, o rigOptions) *rig {
	root, err := qemuroot.Ensure(ctx, qemuroot.DefaultCacheDir(), t.Logf)
	if err != nil {
		missing(t, "QEMU 11.1 (internal/qemuroot): %v", err)
	}
	files, err := guest.BuildFiles(ctx, guest.Options{Logf: t.Logf})
	if err != nil {
		missing(t, "the test guest (ci/lab/guest): %v", err)
	}
	for _, p := range []string{files.Kernel, files.Initrd} {
		if _, err := os.Stat(p); err != nil {
			missing(t, "the test guest's kernel and initramfs: %v", err)
		}
	}
	ns := newNetns(t)

	// Unix socket paths must stay short: not t.TempDir().
	dir, err := os.MkdirTemp("", "colo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &rig{t: t, ctx: ctx, ns: ns, root: root, newCmd: inNetns(ns, root.Command), start: map[*ft.Process]int{}}
	work := ""
	if o.Work {
		// Not last: the guest looks for " lsguest.work=1 " in
		// /proc/cmdline, which ends in a newline.
		work = " lsguest.work=1"
	}
	r.spec = ft.Spec{
		Name:      "lockstep-colo-test",
		VCPUs:     1,
		MemoryMiB: 256,
		Accel:     "tcg",
		Kernel:    files.Kernel,
		Initrd:    files.Initrd,
		Append:    files.Cmdline + work + " lsguest.ip=" + guestIP,
		MAC:       guestMAC,
		Primary: ft.Side{
			Disk:    filepath.Join(dir, "a.raw"),
			Netdev:  "tap,ifname=" + priTap + ",script=no,downscript=no",
			WorkDir: filepath.Join(dir, "a"),
			QMPAddr: "127.0.0.1:4444",
		},
		Secondary: ft.Side{
			Disk:    filepath.Join(dir, "b.raw"),
			Netdev:  "tap,ifname=" + secTap + ",script=no,downscript=no",
			WorkDir: filepath.Join(dir, "b"),
			QMPAddr: "127.0.0.2:4444",
		},
		// Both nodes' replication addresses are on the namespace's loopback.
		Link:            ft.Link{PrimaryHost: "127.0.0.1", SecondaryHost: "127.0.0.2"},
		CheckpointDelay: cmp.Or(o.CheckpointDelay, time.Second),
	}
	// Node A's disk is empty; node B's holds stale data where the guest's
	// record ring lives, which Protect's disk copy must replace.
	stale := bytes.Repeat([]byte{0xa5}, seqlog.RingSize)
	for _, d := range []struct {
		path string
		data []byte
	}{{r.spec.Primary.Disk, nil}, {r.spec.Secondary.Disk, stale}} {
		if err := os.WriteFile(d.path, d.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(d.path, 64<<20); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { saveLogs(t, r.spec) })

	if r.pair, err = ft.NewPair(r.spec); err != nil {
		t.Fatal(err)
	}
	r.pair.Logf = t.Logf
	t.Cleanup(r.pair.Close)

	// The guest boots simplex: no secondary, no COLO.
	begin := time.Now()
	r.pri = r.startQEMU(r.pair.Spec(), ft.PrimaryRole)
	r.boot = waitBoot(t, ctx, r.pri, 4*time.Minute, func(b *seqlog.Boot) bool { return b.Net != nil && b.Seqs >= 10 })
	if r.boot == nil {
		r.fail("the guest did not bring its network up and write 10 records in 4 min")
	}
	if r.boot.Net.MAC.String() != guestMAC || r.boot.Net.Addr.String() != guestIP {
		t.Errorf("NET %+v: want %s on %s", r.boot.Net, guestIP, guestMAC)
	}
	t.Logf("guest up simplex %v after its start: boot %s, NET %s %s", time.Since(begin).Round(time.Millisecond),
		r.boot.ID, r.boot.Net.Interface, r.boot.Net.Addr)
	if st := r.pair.State(); st.Mode != ft.Simplex {
		t.Errorf("state of the unprotected VM: %v", st)
	}
	if r.conn, err = connectEcho(ctx, ns, time.Minute); err != nil {
		r.fail("echo while simplex: %v", err)
	}
	t.Cleanup(func() { r.conn.Close() })
	r.echoes("simplex", 5)
	return r
}

// startQEMU starts one side of spec and remembers where its console
// starts (a node's console log is appended to by each QEMU it runs).
func (r *rig) startQEMU(spec ft.Spec, role ft.Role) *ft.Process {
	side := spec.Primary
	if role == ft.SecondaryRole {
		side = spec.Secondary
		if err := ft.CreateReplicationImages(r.ctx, r.root.Img, spec); err != nil {
			r.t.Fatal(err)
		}
	}
	offset := 0
	if st, err := os.Stat(side.ConsoleLog()); err == nil {
		offset = int(st.Size())
	}
	sctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	defer cancel()
	p, err := ft.Start(sctx, r.newCmd, spec, role)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		p.Kill()
		<-p.Exited()
		p.QMP().Close()
	})
	if !p.QMP().OOB() {
		r.fail("%s: QEMU offers no out-of-band execution on its monitor: yank would queue behind a stuck main loop", role)
	}
	r.start[p] = offset
	r.t.Logf("started the %s QEMU (pid %d) in %s", role, p.Pid(), side.WorkDir)
	return p
}

// console is what p's guest printed since p started.
func (r *rig) console(p *ft.Process) []byte {
	b, _ := os.ReadFile(p.Side.ConsoleLog())
	if off := r.start[p]; off <= len(b) {
		return b[off:]
	}
	return nil
}

// completeConsole is console up to its last full line: the rest is read
// with what comes after it.
func (r *rig) completeConsole(p *ft.Process) []byte {
	b := r.console(p)
	return b[:bytes.LastIndexByte(b, '\n')+1]
}

// dialQMP connects to a QEMU's TCP monitor from inside the namespace, as
// the peer's agent would over the replication link.
func (r *rig) dialQMP(addr string) *qmp.Client {
	conn, err := dialIn(r.ns, addr, 10*time.Second)
	if err != nil {
		r.fail("QMP over TCP: %v", err)
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	c, err := qmp.NewContext(ctx, conn)
	if err != nil {
		r.fail("QMP over TCP %s: %v", addr, err)
	}
	r.t.Cleanup(func() { c.Close() })
	return c
}

// protect starts a new secondary where the pair's Spec puts it and
// protects the running guest with it, driving the secondary over its TCP
// monitor, while the client keeps echoing. The guest must not reboot, the
// echo connection must survive, and the secondary's disk must hold a
// record the guest wrote before Protect (only the disk copy can have put
// it there).
func (r *rig) protect() {
	t := r.t
	spec := r.pair.Spec()
	r.sec = r.startQEMU(spec, ft.SecondaryRole)
	secQMP := r.dialQMP(spec.Secondary.QMPAddr)

	priBefore := r.completeConsole(r.pri)
	before := seqlog.ParseConsole(priBefore).Current()
	if before == nil || before.Short() != r.boot.Short() {
		r.fail("the primary's console before Protect: boot %v, want %s", before, r.boot.Short())
	}
	echo := startPinger(r.conn, 200*time.Millisecond, "during Protect")
	begin := time.Now()
	err := r.pair.Protect(r.ctx, r.pri.QMP(), secQMP)
	echoErr := echo.stop()
	if err != nil {
		r.fail("Protect: %v", err)
	}
	st := r.pair.LastProtect()
	t.Logf("PROTECT: protected in %v: disk copy %d MiB in %v, memory copy (live) %v, guest paused %v; %v",
		time.Since(begin).Round(time.Millisecond), st.DiskBytes>>20, st.DiskCopy.Round(time.Millisecond),
		st.Memory.Round(time.Millisecond), st.Pause.Round(time.Millisecond), r.pair.State())
	if st.Pause <= 0 {
		t.Errorf("Protect measured no pause of the guest: %+v", st)
	}
	if echoErr != nil {
		r.fail("the echo connection during Protect: %v", echoErr)
	}
	if rtts := sorted(echo.rtts); len(rtts) > 0 {
		t.Logf("ECHO during Protect: %d round trips, median %v, max %v", len(rtts),
			quantile(rtts, 0.5).Round(time.Millisecond), rtts[len(rtts)-1].Round(time.Millisecond))
	}
	if s := r.pair.State(); s.Mode != ft.Protected {
		r.fail("after Protect: %v", s)
	}
	r.echoes("protected", 3)
	// A secondary failover waits for these layers to leave the graph:
	// they must be there (by name) for that wait to mean anything.
	var nodes []struct {
		NodeName string `json:"node-name"`
	}
	if err := secQMP.Execute(r.ctx, "query-named-block-nodes", map[string]any{"flat": true}, &nodes); err != nil {
		r.fail("query-named-block-nodes: %v", err)
	}
	for _, want := range []string{"colo-active0", "colo-hidden0", "parent0"} {
		if !slices.ContainsFunc(nodes, func(n struct {
			NodeName string `json:"node-name"`
		}) bool {
			return n.NodeName == want
		}) {
			t.Errorf("the secondary's block graph has no node %s: %+v", want, nodes)
		}
	}

	// The guest went on through Protect: the same boot, records after the
	// last one before it.
	after := r.seqsAfter(r.pri, len(priBefore), before.Seq)
	checkContinues(t, before.Seq, r.boot.Short(), nil, after)
	if cur := seqlog.ParseConsole(r.console(r.pri)).Current(); cur == nil || cur.Short() != r.boot.Short() {
		r.fail("the primary's guest after Protect: boot %v, want %s", cur, r.boot.Short())
	}
	r.checkRecord(r.sec.Side.Disk, before.Seq)
}

// checkRecord checks that disk holds the guest's record seq of its boot.
func (r *rig) checkRecord(disk string, seq uint64) {
	f, err := os.Open(disk)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	slot := make([]byte, seqlog.SlotSize)
	if _, err := f.ReadAt(slot, seqlog.Offset(seq)); err != nil {
		r.t.Fatal(err)
	}
	id, err := seqlog.ParseBootID(r.boot.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	rec, ok := seqlog.Decode(slot)
	if !ok || rec.Seq != seq || rec.BootID != id {
		r.fail("%s: slot of record %d holds %+v (valid %v), want record %d of boot %s: the disk copy missed it",
			disk, seq, rec, ok, seq, r.boot.ID)
	}
	r.t.Logf("DISK: %s holds record %d of boot %s, written before Protect", filepath.Base(disk), seq, r.boot.Short())
}

// echoes runs n round trips on the echo connection.
func (r *rig) echoes(when string, n int) {
	r.t.Helper()
	var longest time.Duration
	for i := range n {
		t0 := time.Now()
		if err := roundTrip(r.conn, fmt.Appendf(nil, "%s %d\n", when, i), time.Now().Add(30*time.Second)); err != nil {
			r.fail("echo %s: %v", when, err)
		}
		longest = max(longest, time.Since(t0))
		time.Sleep(300 * time.Millisecond)
	}
	r.t.Logf("echo %s: %d round trips, max %v", when, n, longest.Round(time.Millisecond))
}

// pinger runs one echo round trip on a connection every interval (the
// next one at once when a round trip took longer), until stop or its
// first error, and notes when each was answered.
type pinger struct {
	stopc chan struct{}
	done  chan struct{}

	mu       sync.Mutex
	answered []time.Time     // when each round trip was answered
	rtts     []time.Duration // how long each took
	err      error
}

// startPinger starts round trips of "<label> <n>" lines on conn, which
// nothing else may use until stop.
func startPinger(conn net.Conn, interval time.Duration, label string) *pinger {
	p := &pinger{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stopc:
				return
			case <-tick.C:
			}
			t0 := time.Now()
			err := roundTrip(conn, fmt.Appendf(nil, "%s %d\n", label, i), t0.Add(60*time.Second))
			now := time.Now()
			p.mu.Lock()
			if err != nil {
				p.err = err
			} else {
				p.answered = append(p.answered, now)
				p.rtts = append(p.rtts, now.Sub(t0))
			}
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p
}

// answers is how many round trips were answered so far.
func (p *pinger) answers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.answered)
}

// stop ends the round trips, after the one in flight, and returns the
// error that ended them early, if one did. The records are the caller's
// from then on.
func (p *pinger) stop() error {
	close(p.stopc)
	<-p.done
	return p.err
}

// gapAround is the client's outage around t: from the last answer before
// t to the first one after it (ok false: no answer on one side).
func (p *pinger) gapAround(t time.Time) (gap time.Duration, before, after time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, _ := slices.BinarySearchFunc(p.answered, t, time.Time.Compare)
	if i == 0 || i == len(p.answered) {
		return 0, time.Time{}, time.Time{}, false
	}
	before, after = p.answered[i-1], p.answered[i]
	return after.Sub(before), before, after, true
}

// sorted is a sorted copy of ds.
func sorted(ds []time.Duration) []time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s
}

// quantile is the q-quantile of sorted durations by the nearest rank (0
// for none): q 0.5 the median, 0.99 the p99.
func quantile(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// soak runs the protected pair for soakTime with the echo connection in
// use, past many checkpoints and two of the guest's 16 MiB write bursts
// (every 10 s). It fails the test if the pair stops being protected, and
// returns why the secondary is out of step ("" if it is not): its guest
// kernel failed during the soak, or colo-compare held the echoes for a
// checkpoint each (the secondary's replies no longer match).
//
// Under TCG the secondary's guest kernel can oops after checkpoints while
// the primary's runs clean: QEMU's COLO copies each checkpoint's pages
// into the secondary's memory with memcpy (colo_flush_ram_cache), and
// nothing there invalidates the code TCG translated from those pages, so
// the secondary may run stale translations. When the guest booted under
// COLO, both sides loaded their kernel modules each at its own random
// address (module KASLR) and the secondary kept translations of its own
// module text (the oops was always in init_timer_key from the e1000
// watchdog). Protecting an already running guest avoids that: the
// secondary starts from the primary's memory. Code pages the guest reuses
// later can still leave a stale translation behind: seen as a NULL
// dereference on a new secondary right after COLO started, which the next
// checkpoints undid (the soak does not count that; repeated oopses during
// the soak are what a failover must not inherit). FT VMs run under KVM,
// which has no translation cache.
func (r *rig) soak() string {
	t := r.t
	before := r.console(r.sec)
	if n := troubleCount(before); n > 0 {
		t.Logf("the secondary's guest kernel failed %d times before the soak (first: %q)", n, kernelTrouble(before))
	}
	var rtts []time.Duration
	for soak := time.Now().Add(soakTime); time.Now().Before(soak); {
		t0 := time.Now()
		if err := roundTrip(r.conn, []byte("under COLO\n"), time.Now().Add(30*time.Second)); err != nil {
			r.fail("echo under COLO: %v", err)
		}
		rtts = append(rtts, time.Since(t0))
		time.Sleep(500 * time.Millisecond)
	}
	slices.Sort(rtts)
	median := rtts[len(rtts)/2]
	t.Logf("SOAK: %d echoes in %v under COLO: median %v, max %v", len(rtts), soakTime,
		median.Round(time.Millisecond), rtts[len(rtts)-1].Round(time.Millisecond))
	if st := r.pair.State(); st.Mode != ft.Protected {
		r.fail("after the soak: %v", st)
	}
	// A primary may have been started as a secondary (it took over).
	for _, side := range []struct {
		p    *ft.Process
		mode string
	}{{r.pri, "primary"}, {r.sec, "secondary"}} {
		st, err := side.p.QMP().QueryColoStatus(r.ctx)
		if err != nil || st.Mode != side.mode {
			r.fail("the %s after the soak: query-colo-status %+v, %v", side.mode, st, err)
		}
	}
	if l := kernelTrouble(r.console(r.pri)); l != "" {
		r.fail("the primary's guest kernel failed: %q", l)
	}
	// The secondary's guest runs the primary's boot: only checkpoints can
	// bring it there (a boot of its own draws another id).
	after := r.console(r.sec)
	if !slices.ContainsFunc(parseSeqs(after), func(l seqLine) bool { return l.id == r.boot.Short() }) {
		r.fail("the secondary's console never shows the guest's boot %s: no checkpoint reached it", r.boot.Short())
	}
	if l := kernelTrouble(after[len(before):]); l != "" {
		return fmt.Sprintf("its guest kernel failed during the soak: %q", l)
	}
	if median > 200*time.Millisecond {
		return fmt.Sprintf("colo-compare held the echoes for a checkpoint each (median %v)", median.Round(time.Millisecond))
	}
	return ""
}

// soakTime is how long the pair runs protected before a side is killed.
const soakTime = 25 * time.Second

// troubleSigns start the lines of a guest kernel in trouble.
var troubleSigns = []string{"BUG:", "Oops", "Kernel panic", "general protection fault", "kernel tried to execute"}

// kernelTrouble is the first line of a console log that shows the guest's
// kernel in trouble (an oops, a BUG, a panic), or "".
func kernelTrouble(log []byte) string {
	for _, line := range strings.Split(string(log), "\n") {
		for _, sign := range troubleSigns {
			if strings.Contains(line, sign) {
				return strings.TrimSpace(line)
			}
		}
	}
	return ""
}

// troubleCount counts the lines that kernelTrouble looks for: about one
// per oops.
func troubleCount(log []byte) int {
	n := 0
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "BUG:") || strings.Contains(line, "Kernel panic") {
			n++
		}
	}
	return n
}

// fail logs both sides' QEMU logs and consoles, then fails the test.
func (r *rig) fail(format string, args ...any) {
	r.t.Helper()
	for _, p := range []*ft.Process{r.pri, r.sec} {
		if p == nil {
			continue
		}
		r.t.Logf("%s QEMU log:\n%s", p.Role, tail(p.Side.QEMULog(), 3000))
		r.t.Logf("%s console (end):\n%s", p.Role, tail(p.Side.ConsoleLog(), 1500))
	}
	r.t.Fatalf(format, args...)
}

// kill SIGKILLs one side's QEMU and waits for the pair's state to turn
// simplex (the watcher sees the monitor go). It returns when QEMU was
// killed.
func (r *rig) kill(p *ft.Process) time.Time {
	killed := time.Now()
	if err := p.Kill(); err != nil {
		r.t.Fatal(err)
	}
	<-p.Exited()
	r.t.Logf("SIGKILL to the %s QEMU (pid %d): %v", p.Role, p.Pid(), p.ExitErr())
	deadline := time.Now().Add(5 * time.Second)
	for r.pair.State().Mode == ft.Protected {
		if time.Now().After(deadline) {
			r.t.Errorf("5 s after the %s's QEMU died, the pair is still %v", p.Role, r.pair.State())
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Logf("state after the kill: %v", r.pair.State())
	return killed
}

// waitBoot polls p's console until the current boot satisfies ok, for at
// most d; nil if it never did or QEMU exited.
func waitBoot(t *testing.T, ctx context.Context, p *ft.Process, d time.Duration, ok func(*seqlog.Boot) bool) *seqlog.Boot {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b, _ := os.ReadFile(p.Side.ConsoleLog())
		if cur := seqlog.ParseConsole(b).Current(); cur != nil && ok(cur) {
			return cur
		}
		select {
		case <-p.Exited():
			t.Logf("%s QEMU exited: %v", p.Role, p.ExitErr())
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

// connectEcho connects to the guest's echo port from the namespace and
// checks that it echoes, retrying until d has passed.
func connectEcho(ctx context.Context, ns string, d time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(d)
	for {
		c, err := dialIn(ns, guestAddr, 5*time.Second)
		if err == nil {
			if err = roundTrip(c, []byte("hello\n"), time.Now().Add(20*time.Second)); err == nil {
				return c, nil
			}
			c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("no echo from %s in %v: %w", guestAddr, d, err)
		}
		time.Sleep(time.Second)
	}
}
