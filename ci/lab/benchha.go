package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/ci/lab/guest"
	"github.com/lockstep-ft/lockstep/ci/lab/guest/seqlog"
)

// The HA benchmark (issue 6): the lab's test guest (ci/lab/guest) as an HA
// VM. The guest times its own writes (SEQ latencies, BURST rates), so the
// figures do not depend on how fast the lab reads its console.
const (
	benchHAVM  = "bench-ha"
	benchHAVCD = "bench-ha.iso"
	// The link whose cut leaves the volume unmirrored: the replication link.
	benchHALink = "alink0"
)

// HARun is one node loss with the HA VM on the lost node.
type HARun struct {
	Killed, Survivor string
	// Detection: power cut to the survivor's peer-lost console line.
	Detection time.Duration
	// AgentRestart: detection to the survivor agent's "vm … started here"
	// console line, printed once libvirt has started the domain: the
	// take-over, the volume's promotion and the domain's start.
	AgentRestart time.Duration
	// Firmware: the domain's start to the guest kernel's start (SeaBIOS and
	// isolinux reading the VCD, slow under nested KVM in TCG).
	Firmware time.Duration
	// GuestBoot: the guest kernel's start to its first acknowledged write.
	GuestBoot time.Duration
	// Total: power cut to the guest's first acknowledged write.
	Total time.Duration
}

// GuestWrites is what the guest measured over one window.
type GuestWrites struct {
	Writes      int // SEQ records: 4 KiB, O_DIRECT|O_SYNC, then fdatasync
	Median, P99 time.Duration
	Bursts      []float64 // sequential writes, MiB/s
}

// HAReport is the HA benchmark's result; a failed run returns what it had.
type HAReport struct {
	Runs                 []HARun
	Mirrored, Unmirrored GuestWrites
	// The resync after the link came back: ResyncBytes in Resync, which
	// started Reconnect after the restore; ResyncTimed says how it was timed.
	ResyncBytes       int64
	Resync, Reconnect time.Duration
	ResyncTimed       string
	// Link holds the linktest samples in MiB/s.
	Link []float64
	// The initial full sync of the VM's new volume at its creation:
	// InitialBytes in Initial (zero when the console lines were not found).
	InitialBytes int64
	Initial      time.Duration
}

// BenchHA uploads the test guest, runs it as an HA VM and measures its
// writes with the volume mirrored and with the replication link cut, the
// resync once the link is back against the link's measured bandwidth, and
// runs times the restart of the VM after a power cut of the node running
// it (the node comes back and the volume resyncs before the next run). The
// VM and its VCD are deleted at the end. The lab must be up and formed.
func (l *Lab) BenchHA(ctx context.Context, runs int, logf func(string, ...any)) (r HAReport, err error) {
	o, err := l.Observe()
	if err != nil {
		return r, err
	}
	if ok, why := SystemFormed(o); !ok {
		return r, fmt.Errorf("lab: the system is not formed: %s", why)
	}
	b := &haBench{l: l, logf: logf, known: map[string]bool{}}
	b.remove(ctx) // what an interrupted run left; errors: there was nothing
	defer func() {
		// Its own context: ctx may be what ended the benchmark.
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if rerr := b.remove(cctx); rerr != nil {
			if err == nil {
				err = rerr
			} else {
				logf("cleanup: %v", rerr)
			}
		}
	}()
	if err := b.create(ctx, &r); err != nil {
		return r, err
	}
	if err := b.writesAndResync(ctx, &r); err != nil {
		return r, err
	}
	for i := range runs {
		run, err := b.restart(ctx)
		if run.Total > 0 { // measured; whatever failed came after
			r.Runs = append(r.Runs, run)
			logf("HA run %d: %s off: detection %v, agent restart %v, firmware %v, guest boot %v, total %v", i+1, run.Killed,
				run.Detection.Round(time.Millisecond), run.AgentRestart.Round(time.Millisecond), run.Firmware.Round(time.Millisecond),
				run.GuestBoot.Round(time.Millisecond), run.Total.Round(time.Millisecond))
		}
		if err != nil {
			return r, fmt.Errorf("lab: HA run %d: %w", i+1, err)
		}
	}
	return r, nil
}

type haBench struct {
	l    *Lab
	logf func(string, ...any)
	// known are the guest boots seen before the current power cut: the
	// restarted guest is a boot not among them.
	known map[string]bool
}

// haVMView is the part of the API's VM the benchmark reads.
type haVMView struct {
	State     string `json:"state"`
	RunningOn string `json:"running_on"`
	Volumes   []struct {
		Disks         map[string]string `json:"disks"`
		Sync          string            `json:"sync"`
		ResyncedBytes int64             `json:"resynced_bytes"`
	} `json:"volume_status"`
}

// inSync: the one volume is UpToDate on both nodes.
func (v haVMView) inSync() bool {
	if len(v.Volumes) != 1 {
		return false
	}
	vol := v.Volumes[0]
	return vol.Sync == "in-sync" && vol.Disks["node0"] == "UpToDate" && vol.Disks["node1"] == "UpToDate"
}

func (b *haBench) cli(ctx context.Context, timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return b.l.CLI(ctx, "", args...)
}

func (b *haBench) vm(ctx context.Context) (haVMView, error) {
	var v haVMView
	out, err := b.cli(ctx, 10*time.Second, "--json", "vm", "info", benchHAVM)
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(out, &v)
}

// waitVM polls the VM every interval until ok holds.
func (b *haBench) waitVM(ctx context.Context, what string, interval, timeout time.Duration, ok func(haVMView) bool) (haVMView, error) {
	deadline := time.Now().Add(timeout)
	for {
		v, err := b.vm(ctx)
		if err == nil && ok(v) {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("%s not within %v: %+v (%v)", what, timeout, v, err)
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// waitProtected waits until the VM runs with its volume in sync.
func (b *haBench) waitProtected(ctx context.Context, timeout time.Duration) (haVMView, error) {
	return b.waitVM(ctx, "the VM running with its volume in sync", 2*time.Second, timeout, func(v haVMView) bool {
		return v.State == "running" && v.RunningOn != "" && v.inSync()
	})
}

// console is the tail of the guest's console; every boot in it counts as
// known when remember is set.
func (b *haBench) console(ctx context.Context, bytes int, remember bool) (*seqlog.Console, error) {
	out, err := b.cli(ctx, 10*time.Second, "vm", "console", benchHAVM, "--bytes", strconv.Itoa(bytes))
	if err != nil {
		return nil, err
	}
	c := seqlog.ParseConsole(out)
	if remember {
		for _, bt := range c.Boots {
			b.known[bt.Short()] = true
		}
	}
	return c, nil
}

// benchHAVolume is the VM's volume: big enough that its initial full sync
// measures DRBD's resync rate rather than its start-up.
const benchHAVolume = "root:256M"

// create uploads the guest, creates and starts the VM on node0 and waits
// until it is protected and its guest has acknowledged writes; the volume's
// initial full sync is timed on the node consoles.
func (b *haBench) create(ctx context.Context, r *HAReport) error {
	iso, err := guest.Build(ctx, b.l.cfg.CacheDir)
	if err != nil {
		return fmt.Errorf("lab: the test guest: %w", err)
	}
	for _, args := range [][]string{
		{"vcd", "upload", iso, "--name", benchHAVCD},
		{"vm", "create", benchHAVM, "--mode", "ha", "--vcpus", "1", "--memory", "256M",
			"--volume", benchHAVolume, "--cd", benchHAVCD, "--node", "node0"},
		{"vm", "start", benchHAVM},
	} {
		if args[0] == "vm" && args[1] == "create" {
			stop := b.l.watchResync()
			defer func() {
				if s, e, kib, ok := firstResync(stop()); ok {
					r.Initial, r.InitialBytes = e.Sub(s), kib<<10
					b.logf("initial sync: %d bytes in %v", r.InitialBytes, r.Initial)
				}
			}()
		}
		if out, err := b.cli(ctx, 10*time.Minute, args...); err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
	}
	if _, err := b.waitProtected(ctx, 5*time.Minute); err != nil {
		return err
	}
	for deadline := time.Now().Add(5 * time.Minute); ; {
		c, err := b.console(ctx, 1<<20, true)
		if err == nil && c.Current() != nil && c.Current().Seqs >= 10 {
			b.logf("HA VM %s runs: guest %s at SEQ %d", benchHAVM, c.Current().Short(), c.Current().Seq)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the guest acknowledged no 10 writes in 5 minutes (%v)", err)
		}
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			return err
		}
	}
}

// remove powers the VM off and deletes it and its VCD.
func (b *haBench) remove(ctx context.Context) error {
	var errs []string
	if v, err := b.vm(ctx); err == nil {
		if v.State != "stopped" {
			b.cli(ctx, time.Minute, "vm", "poweroff", benchHAVM)
			if _, err := b.waitVM(ctx, "the VM stopped", time.Second, 2*time.Minute, func(v haVMView) bool { return v.State == "stopped" }); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if _, err := b.cli(ctx, 2*time.Minute, "vm", "delete", benchHAVM, "--yes"); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if _, err := b.cli(ctx, time.Minute, "vcd", "delete", benchHAVCD, "--yes"); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("lab: removing %s: %s", benchHAVM, strings.Join(errs, "; "))
	}
	return nil
}

// linktest measures the replication link from node0 to node1.
func (b *haBench) linktest(ctx context.Context) (float64, error) {
	out, err := b.cli(ctx, 2*time.Minute, "--json", "node", "linktest", "node0")
	if err != nil {
		return 0, err
	}
	var lt struct {
		MiBPerS float64 `json:"mib_per_s"`
	}
	if err := json.Unmarshal(out, &lt); err != nil || lt.MiBPerS <= 0 {
		return 0, fmt.Errorf("linktest: unexpected answer %q (%v)", out, err)
	}
	b.logf("linktest node0 -> node1: %.1f MiB/s", lt.MiBPerS)
	return lt.MiBPerS, nil
}

// writesAndResync measures the guest's writes mirrored, then with the
// replication link cut, then the resync once it is back; the linktest runs
// before (nothing else on the link) and after the resync.
func (b *haBench) writesAndResync(ctx context.Context, r *HAReport) (err error) {
	bw, err := b.linktest(ctx)
	if err != nil {
		return err
	}
	r.Link = append(r.Link, bw)
	if r.Mirrored, err = b.writes(ctx, 20*time.Second); err != nil {
		return fmt.Errorf("mirrored writes: %w", err)
	}
	b.logf("mirrored: %d writes, median %v, p99 %v; bursts %v MiB/s", r.Mirrored.Writes, r.Mirrored.Median, r.Mirrored.P99, r.Mirrored.Bursts)

	if err := b.l.Cut(benchHALink); err != nil {
		return err
	}
	cut := true
	defer func() {
		if cut {
			b.l.Restore(benchHALink)
		}
	}()
	// DRBD disconnects and the agent's fencing outdates the peer's copy;
	// the guest's writes then go on locally.
	if err := sleepCtx(ctx, 5*time.Second); err != nil {
		return err
	}
	if r.Unmirrored, err = b.writes(ctx, 20*time.Second); err != nil {
		return fmt.Errorf("unmirrored writes: %w", err)
	}
	b.logf("unmirrored: %d writes, median %v, p99 %v; bursts %v MiB/s", r.Unmirrored.Writes, r.Unmirrored.Median, r.Unmirrored.P99, r.Unmirrored.Bursts)

	stop := b.l.watchResync()
	restored := time.Now()
	err = b.l.Restore(benchHALink)
	cut = err != nil
	if err != nil {
		stop()
		return err
	}
	// vm info is also the fallback timing: from the first poll that shows
	// the resync (else from the restore) to the first that shows it done.
	var first time.Time
	v, err := b.waitVM(ctx, "the volume in sync after the restore", 200*time.Millisecond, 10*time.Minute, func(v haVMView) bool {
		if len(v.Volumes) == 1 && v.Volumes[0].Sync == "resyncing" && first.IsZero() {
			first = time.Now()
		}
		return v.inSync()
	})
	end := time.Now()
	evs := stop()
	if err != nil {
		return err
	}
	r.ResyncBytes = v.Volumes[0].ResyncedBytes
	if s, e, ok := resyncWindow(evs, r.ResyncBytes); ok {
		r.Resync, r.Reconnect, r.ResyncTimed = e.Sub(s), s.Sub(restored), "the agents' resync lines on the node consoles"
	} else if !first.IsZero() {
		r.Resync, r.Reconnect, r.ResyncTimed = end.Sub(first), first.Sub(restored), "vm info every 200 ms"
	} else {
		r.Resync, r.ResyncTimed = end.Sub(restored), "vm info every 200 ms, from the restore"
	}
	b.logf("resync: %d bytes in %v, %v after the restore (%s)", r.ResyncBytes, r.Resync, r.Reconnect, r.ResyncTimed)
	if bw, err = b.linktest(ctx); err != nil {
		return err
	}
	r.Link = append(r.Link, bw)
	return nil
}

// writes reads the guest's writes for at least d and until a burst that
// began after the window opened has ended: the first burst to end in the
// window may have begun before it, so it is left out.
func (b *haBench) writes(ctx context.Context, d time.Duration) (GuestWrites, error) {
	c, err := b.console(ctx, 1<<20, true)
	if err != nil {
		return GuestWrites{}, err
	}
	b0 := c.Current()
	if b0 == nil || b0.Seqs == 0 {
		return GuestWrites{}, fmt.Errorf("the guest has acknowledged no write")
	}
	start, seq0 := time.Now(), b0.Seq
	for {
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			return GuestWrites{}, err
		}
		c, err := b.console(ctx, 1<<20, false)
		if err != nil {
			continue
		}
		cur := c.Current()
		if cur == nil {
			continue
		}
		if cur.Short() != b0.Short() {
			return GuestWrites{}, fmt.Errorf("the guest restarted (boot %s, was %s)", cur.Short(), b0.Short())
		}
		w := windowWrites(cur, seq0)
		if time.Since(start) >= d && len(w.Bursts) > 0 {
			return w, nil
		}
		if time.Since(start) > d+3*time.Minute {
			return w, fmt.Errorf("%d writes but no whole burst in %v", w.Writes, time.Since(start).Round(time.Second))
		}
	}
}

// windowWrites summarizes boot's writes after SEQ seq0 (a reader saw it
// as the last): the records after it, and the bursts after the first one
// that ended after it.
func windowWrites(boot *seqlog.Boot, seq0 uint64) GuestWrites {
	var lat []time.Duration
	for _, w := range boot.Writes {
		if w.Seq > seq0 {
			lat = append(lat, w.Latency)
		}
	}
	var g GuestWrites
	skipped := false
	for _, x := range boot.Bursts {
		switch {
		case x.AfterSeq <= seq0:
		case !skipped:
			skipped = true
		default:
			g.Bursts = append(g.Bursts, x.MiBps)
		}
	}
	if g.Writes = len(lat); g.Writes > 0 {
		g.Median, g.P99 = median(lat), p99(lat)
	}
	return g
}

// p99 is the 99th percentile, nearest rank.
func p99(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(99*len(s)+99)/100-1]
}

func medianFloat(f []float64) float64 {
	s := slices.Clone(f)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// resyncEvent is an agent's resync line on a node console, dated when the
// lab read it.
type resyncEvent struct {
	Res  string // the DRBD resource
	Done bool
	KiB  int64 // out of sync at the start
	At   time.Time
}

// resyncLineRE matches cmd/lockstepd's storage lines, e.g.
// "LOCKSTEP VMS storage: lsv3 resync started (SyncSource, 20480 KiB out of sync)"
// and "LOCKSTEP VMS storage: lsv3 resync done: disk UpToDate, peer UpToDate".
var resyncLineRE = regexp.MustCompile(`LOCKSTEP VMS storage: (\S+) resync (?:started \(\S+, (\d+) KiB out of sync\)|(done):)`)

func parseResyncLine(line string) (resyncEvent, bool) {
	m := resyncLineRE.FindStringSubmatch(line)
	if m == nil {
		return resyncEvent{}, false
	}
	kib, _ := strconv.ParseInt(m[2], 10, 64)
	return resyncEvent{Res: m[1], Done: m[3] != "", KiB: kib}, true
}

// watchResync reads both node consoles every 20 ms from now on and dates
// their resync lines; stop ends it and returns them. The console lines
// time the resync itself to tens of milliseconds, which vm info (a CLI
// call per poll) cannot, and leave out DRBD's reconnect after the restore.
func (l *Lab) watchResync() (stop func() []resyncEvent) {
	stopLines := l.watchConsoles(func(line string) bool { return resyncLineRE.MatchString(line) })
	return func() []resyncEvent {
		var evs []resyncEvent
		for _, cl := range stopLines() {
			if e, ok := parseResyncLine(cl.Text); ok {
				e.At = cl.At
				evs = append(evs, e)
			}
		}
		return evs
	}
}

// consoleLine is a node console's line, dated when the lab read it.
type consoleLine struct {
	Node string
	Text string
	At   time.Time
}

// watchConsoles reads both node consoles every 20 ms from now on and keeps
// the lines keep accepts; stop ends it and returns them.
func (l *Lab) watchConsoles(keep func(string) bool) (stop func() []consoleLine) {
	var (
		mu    sync.Mutex
		lines []consoleLine
		wg    sync.WaitGroup
		done  = make(chan struct{})
	)
	for _, n := range Nodes {
		path := NodeFiles(l.cfg.StateDir, n).Console
		mark := fileSize(path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				last := false
				select {
				case <-done:
					last = true // read once more: what was printed up to now
				default:
				}
				s, _ := readFrom(path, mark)
				if i := strings.LastIndexByte(s, '\n'); i >= 0 {
					at := time.Now()
					for _, line := range strings.Split(s[:i], "\n") {
						if keep(line) {
							mu.Lock()
							lines = append(lines, consoleLine{Node: n.Name, Text: line, At: at})
							mu.Unlock()
						}
					}
					mark += int64(i + 1)
				}
				if last {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	return func() []consoleLine {
		close(done)
		wg.Wait()
		return lines
	}
}

// firstResync is the first resync among the events, from its first start
// line to the first done line of the same resource; kib is its size.
func firstResync(evs []resyncEvent) (start, end time.Time, kib int64, ok bool) {
	for _, e := range evs {
		if !e.Done {
			start, end, ok = resyncWindow(evs, e.KiB<<10)
			return start, end, e.KiB, ok
		}
	}
	return start, end, 0, false
}

// resyncWindow finds the benchmark volume's resync among the events: the
// API does not name its DRBD resource, but the resync's start names the
// out-of-sync size that the API reports as resynced. Both nodes print
// both lines; the first of each counts.
func resyncWindow(evs []resyncEvent, bytes int64) (start, end time.Time, ok bool) {
	res := ""
	for _, e := range evs {
		if !e.Done && e.KiB<<10 == bytes && (res == "" || e.At.Before(start)) {
			res, start = e.Res, e.At
		}
	}
	if res == "" {
		return start, end, false
	}
	for _, e := range evs {
		if e.Done && e.Res == res && !e.At.Before(start) && (end.IsZero() || e.At.Before(end)) {
			end = e.At
		}
	}
	return start, end, !end.IsZero()
}

// restart cuts the power of the node running the VM and times its restart
// on the other node, then powers the node on again and waits until the VM
// is protected again.
func (b *haBench) restart(ctx context.Context) (HARun, error) {
	l := b.l
	o, err := l.Observe()
	if err != nil {
		return HARun{}, err
	}
	if ok, why := SystemFormed(o); !ok {
		return HARun{}, fmt.Errorf("the system is not formed: %s", why)
	}
	v, err := b.waitProtected(ctx, time.Minute)
	if err != nil {
		return HARun{}, err
	}
	victim, err := NodeByName(v.RunningOn)
	if err != nil {
		return HARun{}, err
	}
	survivor := Nodes[1-victim.Index]
	if _, err := b.console(ctx, 1<<20, true); err != nil {
		return HARun{}, err
	}

	// failoverOnce (BenchFailover's) cuts the power and times the survivor's
	// peer-lost line from its own t0, taken a few milliseconds after this
	// one, once its system IP probe runs.
	type detected struct {
		r   FailoverRun
		err error
	}
	det := make(chan detected, 1)
	startedLine := "LOCKSTEP VMS ha: vm " + benchHAVM + " started here"
	stopLines := l.watchConsoles(func(line string) bool { return strings.Contains(line, startedLine) })
	linesStopped := false
	defer func() {
		if !linesStopped {
			stopLines()
		}
	}()
	t0 := time.Now()
	go func() {
		r, err := l.failoverOnce(ctx, victim, survivor)
		det <- detected{r, err}
	}()

	// The guest runs when its new boot has acknowledged a write: the first
	// poll that shows a SEQ of it (at most a poll late). Each poll that shows
	// a TICK bounds the kernel's start from above by (poll - its uptime);
	// the least bound of a few polls is within a poll's latency of it.
	var running, kernel time.Time
	boot, ticks := "", 0
	for ticks < 5 || running.IsZero() {
		if time.Since(t0) > 5*time.Minute {
			return HARun{}, fmt.Errorf("no new guest boot with a write and ticks within 5 minutes of the power cut of %s", victim.Name)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return HARun{}, err
		}
		c, err := b.console(ctx, 64<<10, false)
		at := time.Now()
		if err != nil || c.Current() == nil || b.known[c.Current().Short()] {
			continue
		}
		cur := c.Current()
		if cur.Short() != boot { // the first new boot, or one after it
			boot, running, kernel, ticks = cur.Short(), time.Time{}, time.Time{}, 0
		}
		if cur.Ticks > 0 {
			k := at.Add(-cur.Uptime)
			if k.Before(t0) {
				// An older boot on the survivor's console log.
				b.known[cur.Short()] = true
				continue
			}
			if kernel.IsZero() || k.Before(kernel) {
				kernel = k
			}
			ticks++
		}
		if cur.Seqs > 0 && running.IsZero() {
			running = at
		}
	}
	b.known[boot] = true
	var d detected
	select {
	case d = <-det:
	case <-ctx.Done():
		return HARun{}, ctx.Err()
	}
	if d.err != nil {
		return HARun{}, d.err
	}
	detect := t0.Add(d.r.Detection)
	var started time.Time
	linesStopped = true
	for _, cl := range stopLines() {
		if cl.Node == survivor.Name && started.IsZero() {
			started = cl.At
		}
	}
	if started.IsZero() || started.After(kernel) {
		return HARun{}, fmt.Errorf("no %q line on %s's console before the guest kernel started", startedLine, survivor.Name)
	}
	run := HARun{Killed: victim.Name, Survivor: survivor.Name, Detection: d.r.Detection,
		AgentRestart: started.Sub(detect), Firmware: kernel.Sub(started), GuestBoot: running.Sub(kernel), Total: running.Sub(t0)}

	if err := l.PowerOn(victim.Name); err != nil {
		return run, err
	}
	if _, err := l.WaitReady(ctx, victim.Name, l.cfg.BootTimeout); err != nil {
		return run, err
	}
	if err := l.WaitSystemFormed(ctx, 3*time.Minute); err != nil {
		return run, err
	}
	_, err = b.waitProtected(ctx, 10*time.Minute)
	return run, err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// WriteHAReport prints the report; parts a failed run did not reach are
// left out.
func WriteHAReport(w io.Writer, r HAReport) {
	if len(r.Runs) > 0 {
		fmt.Fprintf(w, "HA restart after a node loss (lab, %d runs):\n", len(r.Runs))
		fmt.Fprintf(w, "%-4s %-7s %-8s %10s %14s %9s %11s %9s\n", "run", "killed", "survivor", "detection", "agent restart", "firmware", "guest boot", "total")
		var det, ag, fw, gb, tot []time.Duration
		for i, x := range r.Runs {
			fmt.Fprintf(w, "%-4d %-7s %-8s %9.2fs %13.2fs %8.2fs %10.2fs %8.2fs\n", i+1, x.Killed, x.Survivor,
				x.Detection.Seconds(), x.AgentRestart.Seconds(), x.Firmware.Seconds(), x.GuestBoot.Seconds(), x.Total.Seconds())
			det, ag, fw, gb, tot = append(det, x.Detection), append(ag, x.AgentRestart), append(fw, x.Firmware), append(gb, x.GuestBoot), append(tot, x.Total)
		}
		col := func(name string, d []time.Duration, note string) {
			fmt.Fprintf(w, "%-14s median %.2fs max %.2fs%s\n", name, median(d).Seconds(), slices.Max(d).Seconds(), note)
		}
		col("detection", det, " (power cut -> the survivor's peer-lost line)")
		col("agent restart", ag, " (detection -> the survivor's agent has started the domain; goal <= 15s)")
		col("firmware", fw, " (domain start -> guest kernel start: SeaBIOS + isolinux reading the VCD)")
		col("guest boot", gb, " (guest kernel start -> first write acknowledged)")
		col("total", tot, " (power cut -> first write acknowledged)")
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if m, u := r.Mirrored, r.Unmirrored; m.Writes > 0 && u.Writes > 0 {
		fmt.Fprintf(w, "guest writes (4 KiB + fdatasync every 100 ms): mirrored median %.1f ms p99 %.1f ms (%d writes); "+
			"unmirrored (%s cut) median %.1f ms p99 %.1f ms (%d writes); ratio %.2fx\n",
			ms(m.Median), ms(m.P99), m.Writes, benchHALink, ms(u.Median), ms(u.P99), u.Writes, ms(m.Median)/ms(u.Median))
	}
	if m, u := r.Mirrored.Bursts, r.Unmirrored.Bursts; len(m) > 0 && len(u) > 0 {
		fmt.Fprintf(w, "guest sequential writes (16 MiB O_DIRECT + fdatasync): mirrored %.1f MiB/s (%d); unmirrored %.1f MiB/s (%d); ratio %.2fx\n",
			medianFloat(m), len(m), medianFloat(u), len(u), medianFloat(m)/medianFloat(u))
	}
	if r.Initial > 0 && len(r.Link) > 0 {
		mib := float64(r.InitialBytes) / (1 << 20)
		rate := mib / r.Initial.Seconds()
		fmt.Fprintf(w, "initial full sync of the new volume: %.1f MiB in %.2fs = %.1f MiB/s; A-Link %.1f MiB/s; ratio %.2f (goal >= 0.8)\n",
			mib, r.Initial.Seconds(), rate, slices.Max(r.Link), rate/slices.Max(r.Link))
	}
	if r.Resync > 0 && len(r.Link) > 0 {
		mib := float64(r.ResyncBytes) / (1 << 20)
		rate, link := mib/r.Resync.Seconds(), slices.Max(r.Link)
		var samples []string
		for _, s := range r.Link {
			samples = append(samples, fmt.Sprintf("%.1f", s))
		}
		fmt.Fprintf(w, "resync after the cut: %.1f MiB in %.2fs = %.1f MiB/s; A-Link measured %.1f MiB/s (linktest, max of %s); ratio %.2f (goal >= 0.8)\n",
			mib, r.Resync.Seconds(), rate, link, strings.Join(samples, ", "), rate/link)
		fmt.Fprintf(w, "  resync timed by %s", r.ResyncTimed)
		if r.Reconnect > 0 {
			fmt.Fprintf(w, "; it began %.2fs after the link was restored", r.Reconnect.Seconds())
		}
		fmt.Fprintln(w)
	}
}
