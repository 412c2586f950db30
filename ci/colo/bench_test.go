package colo

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/lockstep-ft/lockstep/agent/ft"
	"github.com/lockstep-ft/lockstep/agent/qmp"
	"github.com/lockstep-ft/lockstep/ci/lab/guest/seqlog"
)

// The benchmark's parameters.
const (
	benchFailovers = 5                     // runs of the failover, each with a fresh pair
	benchRetries   = 2                     // extra pairs for runs discarded as out of step (TCG)
	echoEvery      = 20 * time.Millisecond // the client's round trips
	benchWindow    = 30 * time.Second      // each measuring window
	benchSettle    = 3 * time.Second       // after Protect, before a window
	gapGoal        = time.Second           // the goal under TCG
)

// benchDelays are the checkpoint delays (Spec.CheckpointDelay) of part 2.
var benchDelays = []time.Duration{time.Second, 5 * time.Second}

// TestCOLOBench is the FT benchmark (make bench-ft, ci/bench/ft.sh), on
// the rig of the COLO tests (QEMU 11.1 under TCG, the test guest booted
// simplex and then protected), with LOCKSTEP_COLO_BENCH=1. It prints a
// table at the end:
//
//  1. The service gap a client sees at a failover, in benchFailovers runs
//     of a fresh pair each: a client sends one echo round trip every 20 ms
//     on a connection opened before the kill; the primary QEMU is
//     SIGKILLed and the survivor runs ft.FailoverSecondaryOn on its own
//     monitor at once. The gap is from the last answer before the kill to
//     the first one after it. No acknowledged write may be lost: the
//     guest's records go on on the survivor in the same boot
//     (checkContinues), and a plain QEMU booted on the survivor's disk
//     image afterwards finds (LAST) every record the guest acknowledged.
//  2. Checkpoints at each of benchDelays, on a fresh pair each, the client
//     running: how many per minute, and how long each paused the guest
//     (the primary's STOP to RESUME events, QEMU's timestamps).
//  3. The guest's CPU throughput (lsguest.work=1: 4 KiB SHA-256 blocks
//     per second of host time) under FT against the same guest
//     unprotected just before: the named peer of the ratio.
//
// Under TCG a secondary can fall out of step (see soak): such a pair is
// replaced by another, and the table says so.
func TestCOLOBench(t *testing.T) {
	if os.Getenv("LOCKSTEP_COLO_BENCH") != "1" {
		t.Skip("set LOCKSTEP_COLO_BENCH=1 (as root) to run the FT benchmark (ci/bench/ft.sh, about 7 min)")
	}
	requirements(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()

	var rep benchReport
	// A run whose pair was out of step (TCG) is replaced, a failed one is not.
	for i, done := 1, 0; done < benchFailovers && i <= benchFailovers+benchRetries; i++ {
		run := &failoverRun{n: i}
		rep.failovers = append(rep.failovers, run)
		run.failed = !t.Run(fmt.Sprintf("failover-%d", i), func(t *testing.T) { benchFailover(t, ctx, run) })
		if run.discarded == "" {
			done++
		}
	}
	// Parts 2 and 3 take another pair once if the secondary's guest
	// kernel failed (TCG): its checkpoints and CPU are not FT's.
	for _, d := range benchDelays {
		for try := 1; try <= 2; try++ {
			s := &checkpointRun{delay: d}
			rep.checkpoints = append(rep.checkpoints, s)
			s.failed = !t.Run(fmt.Sprintf("checkpoints-%v-%d", d, try), func(t *testing.T) { benchCheckpoints(t, ctx, s) })
			if s.failed || s.trouble == "" || try == 2 {
				break
			}
			s.discarded = true
		}
	}
	for try := 1; try <= 2; try++ {
		rep.work = workRun{}
		rep.work.failed = !t.Run(fmt.Sprintf("work-%d", try), func(t *testing.T) { benchWork(t, ctx, &rep.work) })
		if rep.work.failed || rep.work.trouble == "" || try == 2 {
			break
		}
		rep.notes = append(rep.notes, fmt.Sprintf("part 3: the pair of work-%d was discarded (it measured %.0f blocks/s unprotected, %.0f protected): the secondary's guest kernel failed (TCG): %s",
			try, rep.work.simplex.work, rep.work.ft.work, rep.work.trouble))
	}
	rep.print(os.Stdout)
}

// failoverRun is one run of part 1.
type failoverRun struct {
	n         int
	failed    bool   // the subtest failed (see its log)
	discarded string // why the pair was not used (its secondary out of step)

	gap         time.Duration // the client's: last answer before the kill to the first after
	failover    time.Duration // the kill until FailoverSecondaryOn returned
	measured    bool          // gap and failover are set
	lastSeq     uint64        // the last record the guest acknowledged before the kill
	first, last uint64        // the survivor's records after the kill
	continues   bool          // on the survivor: same boot, none missing (checkContinues)
	survivorSeq uint64        // the last record the survivor acknowledged before it was stopped
	diskLast    uint64        // LAST of a plain QEMU booted on the survivor's disk
	diskChecked bool
}

// lost is how many of the records acknowledged before the kill the
// survivor lost: the guest's own records rolled back, or the disk behind.
func (f *failoverRun) lost() uint64 {
	var n uint64
	if f.first > 0 && f.first <= f.lastSeq {
		n = f.lastSeq - f.first + 1
	}
	if f.diskChecked && f.diskLast < f.lastSeq {
		n = max(n, f.lastSeq-f.diskLast)
	}
	return n
}

// benchFailover is one run of part 1 on a fresh pair.
func benchFailover(t *testing.T, ctx context.Context, run *failoverRun) {
	r := newRig(t, ctx, rigOptions{})
	conn := r.clientConn()
	r.protect()
	if why := r.soak(); why != "" {
		run.discarded = why
		t.Logf("DISCARDED: QEMU (TCG): the secondary is out of step: %s", why)
		return
	}
	client := startPinger(conn, echoEvery, "client")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(echoEvery) {
		if client.answers() >= 25 {
			break
		}
		if time.Now().After(deadline) {
			client.stop()
			r.fail("the client got fewer than 25 answers in 10 s before the kill: %v", client.err)
		}
	}
	res := r.failoverSecondary(false)
	// The rig waited for ten records on the survivor: the client has had
	// time to be answered after the kill.
	if err := client.stop(); err != nil {
		r.fail("the client's connection, opened before the kill: %v", err)
	}
	gap, before, after, ok := client.gapAround(res.killed)
	if !ok {
		r.fail("the client has no answer on one side of the kill")
	}
	run.gap, run.failover, run.measured = gap, res.failedOver, true
	run.lastSeq, run.continues = res.lastSeq, res.continues
	if n := len(res.after); n > 0 {
		run.first, run.last = res.after[0].seq, res.after[n-1].seq
	}
	t.Logf("CLIENT: echo every %v; last answer %v before the kill, the next %v after it: gap %v (failover sequence %v)",
		echoEvery, res.killed.Sub(before).Round(time.Millisecond), after.Sub(res.killed).Round(time.Millisecond),
		gap.Round(time.Millisecond), res.failedOver.Round(time.Millisecond))

	run.survivorSeq, run.diskLast = r.bootFromDisk()
	run.diskChecked = true
	if run.diskLast < run.lastSeq || run.diskLast < run.survivorSeq {
		t.Errorf("a plain QEMU on the survivor's disk finds LAST %d: the guest acknowledged %d before the kill and %d on the survivor",
			run.diskLast, run.lastSeq, run.survivorSeq)
	}
}

// clientConn opens an echo connection for a client of the benchmark's own
// (the rig's connection serves the rig's checks).
func (r *rig) clientConn() net.Conn {
	conn, err := connectEcho(r.ctx, r.ns, time.Minute)
	if err != nil {
		r.fail("the client's echo connection: %v", err)
	}
	r.t.Cleanup(func() { conn.Close() })
	return conn
}

// bootFromDisk stops the running primary's QEMU (after a failover: the
// survivor, its disk image with the replication layers committed) and
// boots the guest again on that image with a plain QEMU (PrimaryArgs, no
// COLO). It returns the last record the stopped guest acknowledged and
// what the new boot found on the disk (LAST).
func (r *rig) bootFromDisk() (acked, last uint64) {
	p := r.pri
	sctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	err := p.Stop(sctx)
	cancel()
	if err != nil {
		r.fail("stopping the survivor: %v", err)
	}
	if b := seqlog.ParseConsole(r.console(p)).Current(); b != nil {
		acked = b.Seq
	}
	spec := r.pair.Spec()
	if spec.Primary != p.Side {
		spec = spec.Swap()
	}
	r.pri = r.startQEMU(spec, ft.PrimaryRole)
	b := waitBoot(r.t, r.ctx, r.pri, 2*time.Minute, func(b *seqlog.Boot) bool {
		return b.HasLast && b.Short() != r.boot.Short()
	})
	if b == nil {
		r.fail("the guest booted on the survivor's disk printed no LAST in 2 min")
	}
	r.t.Logf("DISK: a plain QEMU on %s: boot %s finds LAST %d; the guest acknowledged %d on the survivor",
		p.Side.Disk, b.Short(), b.Last, acked)
	return acked, b.Last
}

// checkpointRun is one delay of part 2.
type checkpointRun struct {
	delay     time.Duration
	failed    bool
	discarded bool // another pair replaced it (trouble)
	w         window
	trouble   string // the secondary's guest kernel failed (TCG)
}

// benchCheckpoints runs a fresh pair protected with delay s.delay for a
// window with the client running.
func benchCheckpoints(t *testing.T, ctx context.Context, s *checkpointRun) {
	r := newRig(t, ctx, rigOptions{CheckpointDelay: s.delay})
	conn := r.clientConn()
	r.protect()
	time.Sleep(benchSettle)
	s.w = r.measure(conn, benchWindow)
	s.trouble = kernelTrouble(r.console(r.sec))
	t.Logf("CHECKPOINTS at delay %v: %s", s.delay, s.w)
}

// workRun is part 3.
type workRun struct {
	failed      bool
	simplex, ft window
	trouble     string
}

// benchWork measures the WORK guest's rate while simplex, then protected
// (checkpoint delay 1 s), with the client running in both windows.
func benchWork(t *testing.T, ctx context.Context, w *workRun) {
	r := newRig(t, ctx, rigOptions{Work: true})
	conn := r.clientConn()
	w.simplex = r.measure(conn, benchWindow)
	t.Logf("WORK unprotected: %s", w.simplex)
	r.protect()
	time.Sleep(benchSettle)
	w.ft = r.measure(conn, benchWindow)
	w.trouble = kernelTrouble(r.console(r.sec))
	t.Logf("WORK protected: %s", w.ft)
	if w.simplex.work <= 0 || w.ft.work <= 0 {
		r.fail("the guest printed no WORK lines in a window (lsguest.work=1)")
	}
}

// window is what one measuring window on the running primary saw.
type window struct {
	d        time.Duration   // the window, by the host's clock
	rtts     []time.Duration // the client's round trips
	pauses   []time.Duration // checkpoints: the primary's STOP to RESUME, by QEMU's clock
	work     float64         // WORK blocks per second of host time (0: no WORK lines)
	workSpan time.Duration   // the host time the WORK rate is over
	// The CPU the primary's and the secondary's QEMU used (all threads,
	// in cores: 1 is one core all the time; secondary 0 when none), and
	// how busy the host's CPUs were (0 to 1, all of them).
	priCPU, secCPU, hostBusy float64
}

func (w window) perMinute() float64 { return float64(len(w.pauses)) / w.d.Minutes() }

func (w window) String() string {
	p, e := sorted(w.pauses), sorted(w.rtts)
	s := fmt.Sprintf("%v: %d checkpoints (%.1f/min), pause median %v, p99 %v, max %v; %d echoes, median %v, p99 %v",
		w.d.Round(time.Millisecond), len(p), w.perMinute(), ms(quantile(p, 0.5)), ms(quantile(p, 0.99)), ms(quantile(p, 1)),
		len(e), ms(quantile(e, 0.5)), ms(quantile(e, 0.99)))
	if w.work > 0 {
		s += fmt.Sprintf("; WORK %.0f blocks/s over %v", w.work, w.workSpan.Round(time.Millisecond))
	}
	return s + "; " + w.cpu()
}

func (w window) cpu() string {
	return fmt.Sprintf("QEMU CPU: primary %.2f, secondary %.2f cores; host %.0f%% busy", w.priCPU, w.secCPU, 100*w.hostBusy)
}

// measure runs the client's round trips on conn for d and meanwhile
// collects the primary's checkpoints (each a STOP and a RESUME event) and
// the rate of the guest's WORK count by the host's clock: from the first
// WORK line printed in the window to the first one printed after it.
func (r *rig) measure(conn net.Conn, d time.Duration) window {
	events, unsubscribe := r.pri.QMP().Subscribe(qmp.EventStop, qmp.EventResume)
	collected := make(chan []qmp.Event)
	go func() {
		var evs []qmp.Event
		for ev := range events {
			evs = append(evs, ev)
		}
		collected <- evs
	}()
	dropped := r.pri.QMP().DroppedEvents()
	meter := newWorkMeter(r, r.pri)
	defer meter.close()
	client := startPinger(conn, echoEvery, "client")
	cpu0 := r.cpuNow()
	begin := time.Now()
	end := begin.Add(d)
	var first, last workPoint
	for now := begin; ; now = time.Now() {
		if p, ok := meter.poll(now); ok {
			switch {
			case first.at.IsZero():
				first = p
			case !now.Before(end):
				last = p
			}
		}
		// Without WORK lines the window ends on time; with them, at the
		// first one after it.
		if !now.Before(end) && (first.at.IsZero() || !last.at.IsZero() || now.After(end.Add(5*time.Second))) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	w := window{d: time.Since(begin)}
	r.cpuNow().since(cpu0, w.d, &w)
	err := client.stop()
	w.rtts = client.rtts
	unsubscribe()
	evs := <-collected
	if err != nil {
		r.fail("the client's echo connection: %v", err)
	}
	if n := r.pri.QMP().DroppedEvents() - dropped; n > 0 {
		r.t.Errorf("%d QMP events were dropped: the checkpoint count is short", n)
	}
	var stopped time.Time
	for _, ev := range evs {
		switch ev.Name {
		case qmp.EventStop:
			stopped = ev.Time
		case qmp.EventResume:
			if !stopped.IsZero() && !ev.Time.IsZero() {
				w.pauses = append(w.pauses, ev.Time.Sub(stopped))
			}
			stopped = time.Time{}
		}
	}
	if !last.at.IsZero() && last.at.After(first.at) {
		w.workSpan = last.at.Sub(first.at)
		w.work = float64(last.n-first.n) / w.workSpan.Seconds()
	}
	return w
}

// cpuSample is the CPU time the two QEMUs and the host have used so far.
type cpuSample struct {
	pri, sec          time.Duration
	hostBusy, hostAll uint64 // ticks of /proc/stat's cpu line
}

func (r *rig) cpuNow() cpuSample {
	var s cpuSample
	s.pri = cpuTime(r.pri)
	s.sec = cpuTime(r.sec)
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		// cpu user nice system idle iowait irq softirq steal guest...:
		// what this machine had (not steal), busy or not (idle, iowait);
		// guest time is in user's already.
		for i, f := range strings.Fields(line)[1:] {
			n, _ := strconv.ParseUint(f, 10, 64)
			if i >= 7 {
				break
			}
			s.hostAll += n
			if i != 3 && i != 4 {
				s.hostBusy += n
			}
		}
	}
	return s
}

// since sets w's CPU figures from s0 to s, over d.
func (s cpuSample) since(s0 cpuSample, d time.Duration, w *window) {
	w.priCPU = float64(s.pri-s0.pri) / float64(d)
	w.secCPU = float64(s.sec-s0.sec) / float64(d)
	if s.hostAll > s0.hostAll {
		w.hostBusy = float64(s.hostBusy-s0.hostBusy) / float64(s.hostAll-s0.hostAll)
	}
}

// cpuTime is the CPU time all of p's threads have used (their schedstat);
// 0 for none.
func cpuTime(p *ft.Process) time.Duration {
	if p == nil {
		return 0
	}
	paths, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", p.Pid()))
	var sum time.Duration
	for _, path := range paths {
		b, _ := os.ReadFile(path)
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(n)
		}
	}
	return sum
}

// workPoint is a WORK count and when the host first saw it.
type workPoint struct {
	n  uint64
	at time.Time
}

// workMeter reads the WORK lines a QEMU's guest prints from now on.
type workMeter struct {
	f     *os.File
	off   int64
	short string
	n     uint64
}

func newWorkMeter(r *rig, p *ft.Process) *workMeter {
	f, err := os.Open(p.Side.ConsoleLog())
	if err != nil {
		r.t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		r.t.Fatal(err)
	}
	return &workMeter{f: f, off: st.Size(), short: r.boot.Short()}
}

func (m *workMeter) close() { m.f.Close() }

// poll reads the console's new complete lines and reports a new WORK
// count, seen at now.
func (m *workMeter) poll(now time.Time) (workPoint, bool) {
	b, _ := io.ReadAll(io.NewSectionReader(m.f, m.off, 1<<30))
	i := strings.LastIndexByte(string(b), '\n')
	if i < 0 {
		return workPoint{}, false
	}
	m.off += int64(i + 1)
	n := m.n
	for _, boot := range seqlog.ParseConsole(b[:i+1]).Boots {
		if boot.Short() == m.short && boot.Work > 0 {
			n = boot.Work
		}
	}
	if n == m.n {
		return workPoint{}, false
	}
	m.n = n
	return workPoint{n, now}, true
}

// benchReport is the whole benchmark's outcome.
type benchReport struct {
	failovers   []*failoverRun
	checkpoints []*checkpointRun
	work        workRun
	notes       []string // part 3: pairs discarded
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 10*time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

// print writes the benchmark's table.
func (b *benchReport) print(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	p("")
	p("=== FT BENCHMARK: QEMU 11.1 COLO under TCG, test guest (1 vCPU, 256 MiB), both QEMUs on this host ===")
	p("")
	p("1. Client-observed service gap at failover: SIGKILL of the primary QEMU, ft.FailoverSecondaryOn on the survivor's own monitor at once;")
	p("   a client echoing every %v on a connection opened before the kill (checkpoint delay 1 s)", echoEvery)
	p("run\tgap\tfailover\tSEQ before kill\tsurvivor SEQ after kill\tsurvivor's last SEQ\tplain QEMU on its disk: LAST\tlost")
	var gaps []time.Duration
	var lost uint64
	var notes []string
	checked := 0
	for _, f := range b.failovers {
		switch {
		case f.discarded != "":
			p("%d\t-\t-\t-\t-\t-\t-\tdiscarded", f.n)
			notes = append(notes, fmt.Sprintf("run %d discarded: QEMU (TCG): the secondary was out of step before the kill: %s", f.n, f.discarded))
			continue
		case !f.measured:
			p("%d\t-\t-\t-\t-\t-\t-\tFAILED (see the log)", f.n)
			continue
		}
		gaps = append(gaps, f.gap)
		cont := "same boot, none missing"
		if !f.continues {
			cont = "BROKEN (see the log)"
		}
		disk, lostS := "not reached (FAILED)", "?"
		if f.diskChecked {
			disk = fmt.Sprintf("%d", f.diskLast)
			if f.diskLast >= f.lastSeq && f.diskLast >= f.survivorSeq {
				disk += " (≥ both)"
			}
			lostS = fmt.Sprintf("%d", f.lost())
			lost += f.lost()
			if f.continues {
				checked++
			}
		}
		p("%d\t%v\t%v\t%d\t%d..%d, %s\t%d\t%s\t%s", f.n, ms(f.gap), ms(f.failover), f.lastSeq, f.first, f.last, cont,
			f.survivorSeq, disk, lostS)
	}
	for _, n := range notes {
		p("%s", n)
	}
	if g := sorted(gaps); len(g) > 0 {
		met := "met"
		if g[len(g)-1] > gapGoal {
			met = "NOT met"
		}
		p("gap over %d runs: median %v, max %v  (goal ≤ %v under TCG: %s)", len(g), ms(quantile(g, 0.5)), ms(g[len(g)-1]), gapGoal, met)
		met = "met"
		if lost > 0 || checked < len(g) {
			met = "NOT met"
		}
		p("lost acknowledged writes: %d in %d runs, %d of them checked on the survivor and on its disk  (goal 0: %s)", lost, len(g), checked, met)
	}
	p("")
	p("2. Checkpoints while protected (client echoing every %v), %v per delay: the primary's STOP→RESUME (QEMU's timestamps)", echoEvery, benchWindow)
	p("delay\tguest\tcheckpoints\tper minute\tpause median\tp99\tmax\techo median\techo p99\tQEMU CPU pri+sec\thost busy")
	row := func(delay time.Duration, guest string, w window, note string) {
		ps, es := sorted(w.pauses), sorted(w.rtts)
		p("%v\t%s\t%d in %v\t%.1f\t%v\t%v\t%v\t%v\t%v\t%.2f+%.2f\t%.0f%%%s", delay, guest, len(ps), w.d.Round(100*time.Millisecond), w.perMinute(),
			ms(quantile(ps, 0.5)), ms(quantile(ps, 0.99)), ms(quantile(ps, 1)), ms(quantile(es, 0.5)), ms(quantile(es, 0.99)),
			w.priCPU, w.secCPU, 100*w.hostBusy, note)
	}
	trouble := func(s string) string {
		if s == "" {
			return ""
		}
		return "\tthe secondary's guest kernel failed (TCG): " + s
	}
	for _, c := range b.checkpoints {
		switch {
		case c.failed:
			p("%v\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\tFAILED (see the log)", c.delay)
		case c.discarded:
			row(c.delay, "idle", c.w, "\tDISCARDED, the next row replaces it: the secondary's guest kernel failed (TCG): "+c.trouble)
		default:
			row(c.delay, "idle", c.w, trouble(c.trouble))
		}
	}
	if !b.work.failed {
		row(time.Second, "CPU-bound (part 3)", b.work.ft, trouble(b.work.trouble))
	}
	p("")
	p("3. Guest CPU throughput (lsguest.work=1: 4 KiB SHA-256 blocks per second of host time), %v each, client echoing in both", benchWindow)
	if b.work.failed {
		p("FAILED (see the log)")
	} else {
		s, f := b.work.simplex, b.work.ft
		p("unprotected (the peer: the same guest just before Protect)\t%.0f blocks/s\t(%.1f MiB/s hashed)\t%s", s.work, s.work*4/1024, s.cpu())
		p("FT (protected, checkpoint delay 1 s)\t%.0f blocks/s\t(%.1f MiB/s hashed)\t%s", f.work, f.work*4/1024, f.cpu())
		if s.work > 0 {
			p("ratio FT/unprotected\t%.2f×", f.work/s.work)
		}
	}
	for _, n := range b.notes {
		p("%s", n)
	}
	tw.Flush()
}
