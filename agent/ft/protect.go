package ft

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/lockstep-ft/lockstep/agent/qmp"
)

// coloCapabilities are set on both sides before migrate and
// migrate-incoming. QEMU 11.1's COLO needs return-path as well as x-colo:
// the secondary acknowledges each checkpoint on it.
var coloCapabilities = map[string]bool{"x-colo": true, "return-path": true}

// migrationPreSwitchover is the migration status at which
// pause-before-switchover waits for migrate-continue.
const migrationPreSwitchover = "pre-switchover"

// primaryCapabilities are the primary's: COLO's, and pause-before-switchover
// with events, so that the first checkpoint's live migration stops at
// pre-switchover (the guest stopped, its memory all but copied) and says
// so at once (MIGRATION), for Protect to finish the disk and plug in
// replication and the net filters there. With the stop of the guest left
// to the migration, the guest is paused for the last round of memory
// only, not all of it.
var primaryCapabilities = map[string]bool{"x-colo": true, "return-path": true, "pause-before-switchover": true, "events": true}

// primaryChardevs are the chardevs Protect adds to the primary, in order:
// servers before the clients that connect to them.
var primaryChardevs = []string{
	mirrorChardev, compareSecChardev,
	comparePriServer, comparePriClient,
	compareOutServer, compareOutClient,
}

// ProtectStats is how the last Protect went.
type ProtectStats struct {
	// DiskCopy is how long the copy of the primary's disk to the
	// secondary took (mirror start to READY), DiskBytes its size.
	DiskCopy  time.Duration
	DiskBytes int64
	// Pause is how long the guest was stopped: from the migration's stop
	// (STOP) until COLO resumed it after the first checkpoint (RESUME), as
	// QEMU timed the events (0: unknown). It covers the last round of
	// memory, the end of the disk copy and the new block and net plumbing.
	Pause time.Duration
	// Memory is how long the live part of the first checkpoint took
	// (migrate to pre-switchover), the guest running.
	Memory time.Duration
	// Total is the whole of Protect.
	Total time.Duration
}

// Protect brings a running primary into COLO with a secondary started
// with SecondaryArgs (QEMU's "resume replication", which is also how a
// pair is protected for the first time: the guest need not boot under
// COLO). primary runs the guest, simplex: a QEMU started with PrimaryArgs,
// or one that survived a failover, from either role. Protect returns once
// both sides run in COLO mode (query-colo-status).
//
//  1. Secondary: capabilities, the NBD export of its disk image (parent0),
//     migrate-incoming.
//  2. Primary, the guest running: COLO's chardevs (the secondary's
//     redirectors connect to two of them), capabilities, then a mirror of
//     the guest's disk to the secondary's export (sync full), until READY.
//     The secondary's image may hold anything before: the copy makes it
//     the primary's. Then migrate: the guest's memory is copied live, the
//     mirror keeps the disk in step, until the migration stops the guest
//     at pre-switchover.
//  3. Primary, the guest paused: block-job-cancel of the READY mirror (the
//     target then holds the disk as of the cancel), the replication node
//     as the quorum's second child, the net filters and colo-compare (on a
//     former secondary: before its rewriter, as QEMU's guide has it), then
//     migrate-continue. COLO resumes the guest once the rest of its memory
//     has reached the secondary.
//
// QEMU's guide ("resume replication") stops the guest before its steps of
// 3 and migrates after them, which pauses the guest for the whole copy of
// its memory; pause-before-switchover gives the same order of events with
// the guest stopped for the last round only.
//
// The net filters are added here and not on the command line: colo-compare
// holds the guest's output until a checkpoint, and a simplex primary has
// none, so its network would stall.
//
// The pair keeps the two monitors for the failover sequences and watches
// them: if either side leaves COLO or its monitor is lost, the state turns
// simplex at once and Lost closes. On error the state is simplex with the
// error as its reason, and Protect undoes on the primary what it did (the
// guest keeps running, unprotected; a later Protect can start over); the
// secondary is left as it is, for the caller to stop.
func (p *Pair) Protect(ctx context.Context, primary, secondary *qmp.Client) error {
	gen := p.begin(Syncing, "preparing the secondary")
	p.mu.Lock()
	p.primary, p.secondary = primary, secondary
	s := p.spec
	p.mu.Unlock()
	phase := func(reason string) { p.set(gen, Syncing, reason) }

	stats, err := p.protect(ctx, s, primary, secondary, phase)
	p.mu.Lock()
	p.stats = stats
	p.mu.Unlock()
	if err != nil {
		p.set(gen, Simplex, "protect failed: "+err.Error())
		return err
	}
	// Protected before the watch starts: a COLO_EXIT that comes at once
	// must leave the pair simplex, not be overwritten.
	wctx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	if gen != p.gen {
		p.mu.Unlock()
		cancel() // a failover began meanwhile
		return nil
	}
	p.stopWatch = cancel
	p.setLocked(Protected, fmt.Sprintf("COLO running, checkpoint at least every %v", s.CheckpointDelay))
	p.mu.Unlock()
	p.watch(wctx, gen, primary, secondary)
	return nil
}

// LastProtect is how the last Protect went (zero before the first).
func (p *Pair) LastProtect() ProtectStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

func (p *Pair) protect(ctx context.Context, s Spec, primary, secondary *qmp.Client, phase func(string)) (ProtectStats, error) {
	var stats ProtectStats
	begin := time.Now()
	l := s.Link
	delay := uint32(s.CheckpointDelay / time.Millisecond)
	var undo undoStack
	var rewriterPresent bool
	var copyStart time.Time
	var jobs jobWatch
	var stopped, resumed *qmp.Waiter
	var migration <-chan qmp.Event
	cancelMigration := func() {}
	var memStart time.Time

	steps := []step{
		{side: SecondaryRole, name: "migrate-set-capabilities", run: func(ctx context.Context) error {
			return secondary.MigrateSetCapabilities(ctx, coloCapabilities)
		}},
		{side: SecondaryRole, name: "nbd-server-start", run: func(ctx context.Context) error {
			return secondary.NBDServerStart(ctx, l.SecondaryHost, strconv.Itoa(l.NBDPort))
		}},
		// The export is named after the node, parent0: what the primary's
		// NBD clients ask for.
		{side: SecondaryRole, name: "block-export-add", run: func(ctx context.Context) error {
			return secondary.BlockExportAddNBD(ctx, exportID, parentID, true)
		}},
		{side: SecondaryRole, name: "migrate-incoming", run: func(ctx context.Context) error {
			return secondary.MigrateIncoming(ctx, l.MigrationURI())
		}},
		// A QEMU that ran as secondary before keeps its rewriter; QEMU's
		// guide puts the primary's filters before it.
		{side: PrimaryRole, name: "qom-list /objects", run: func(ctx context.Context) error {
			var objs []struct {
				Name string `json:"name"`
			}
			if err := primary.Execute(ctx, "qom-list", map[string]any{"path": "/objects"}, &objs); err != nil {
				return err
			}
			rewriterPresent = slices.ContainsFunc(objs, func(o struct {
				Name string `json:"name"`
			}) bool {
				return o.Name == rewriter
			})
			return nil
		}},
	}
	for _, id := range primaryChardevs {
		steps = append(steps, step{side: PrimaryRole, name: "chardev-add " + id, run: func(ctx context.Context) error {
			if err := primary.Execute(ctx, "chardev-add", chardevAddArgs(s, id), nil); err != nil {
				return err
			}
			undo.push(id, func(ctx context.Context) error { return primary.ChardevRemove(ctx, id) })
			return nil
		}})
	}
	steps = append(steps,
		step{side: PrimaryRole, name: "query-status", run: func(ctx context.Context) error {
			st, err := primary.QueryStatus(ctx)
			if err == nil && !st.Running {
				err = fmt.Errorf("the guest is not running (%s): COLO would start it", st.Status)
			}
			if err == nil {
				undo.push("resume", func(ctx context.Context) error { return resumeGuest(ctx, primary) })
			}
			return err
		}},
		step{side: PrimaryRole, name: "migrate-set-capabilities", run: func(ctx context.Context) error {
			return primary.MigrateSetCapabilities(ctx, primaryCapabilities)
		}},
		step{side: PrimaryRole, name: "migrate-set-parameters", run: func(ctx context.Context) error {
			return primary.MigrateSetParameters(ctx, qmp.MigrationParameters{XCheckpointDelay: &delay})
		}},
		step{side: PrimaryRole, name: "blockdev-add " + resyncNode, run: func(ctx context.Context) error {
			if err := primary.BlockdevAdd(ctx, nbdOptions(resyncNode, l)); err != nil {
				return err
			}
			undo.push(resyncNode, func(ctx context.Context) error { return primary.BlockdevDel(ctx, resyncNode) })
			return nil
		}},
		step{side: PrimaryRole, name: "blockdev-mirror", run: func(ctx context.Context) error {
			phase("copying the disk to the secondary")
			jobs = watchJobs(primary)
			copyStart = time.Now()
			err := primary.BlockdevMirror(ctx, qmp.BlockdevMirrorOptions{
				JobID: resyncJob, Device: diskID, Target: resyncNode, Sync: "full",
			})
			if err != nil {
				return err
			}
			undo.push(resyncJob, func(ctx context.Context) error {
				list, err := primary.QueryBlockJobs(ctx)
				if err != nil {
					return err
				}
				if !slices.ContainsFunc(list, func(j qmp.BlockJobInfo) bool { return j.Device == resyncJob }) {
					return nil // it failed: QEMU dismissed it
				}
				if err := primary.BlockJobCancel(ctx, resyncJob, true); err != nil {
					return err
				}
				return waitJob(ctx, primary, resyncJob, p.poll(), jobs, func(j *qmp.BlockJobInfo) bool { return j == nil })
			})
			return nil
		}},
		step{side: PrimaryRole, name: "wait for the disk copy", timeout: p.syncTimeout(), run: func(ctx context.Context) error {
			var last *qmp.BlockJobInfo
			err := waitJob(ctx, primary, resyncJob, p.poll(), jobs, func(j *qmp.BlockJobInfo) bool {
				last = j
				return j != nil && j.Ready
			})
			if err != nil {
				return err
			}
			stats.DiskCopy, stats.DiskBytes = time.Since(copyStart), last.Len
			p.logf("ft protect: the secondary's disk caught up: %d MiB in %v", last.Len>>20, stats.DiskCopy.Round(time.Millisecond))
			return nil
		}},
		step{side: PrimaryRole, name: "migrate", run: func(ctx context.Context) error {
			phase("copying the guest's memory to the secondary")
			stopped = primary.Expect(qmp.EventStop, nil)
			resumed = primary.Expect(qmp.EventResume, nil)
			migration, cancelMigration = primary.Subscribe(qmp.EventMigration)
			memStart = time.Now()
			if err := primary.Migrate(ctx, l.MigrationURI()); err != nil {
				return err
			}
			undo.push("migrate", func(ctx context.Context) error { return leaveMigration(ctx, primary, p.options()) })
			return nil
		}},
		// The guest runs until the migration stops it here.
		step{side: PrimaryRole, name: "wait for pre-switchover", timeout: p.syncTimeout(), run: func(ctx context.Context) error {
			err := p.waitMigration(ctx, primary, migration, migrationPreSwitchover)
			if err == nil {
				stats.Memory = time.Since(memStart)
				phase("starting COLO: the guest is paused for the first checkpoint")
			}
			return err
		}},
		// Cancelling a READY mirror drains it: the secondary's image then
		// holds the disk as it is now, with the guest stopped.
		step{side: PrimaryRole, name: "block-job-cancel", run: func(ctx context.Context) error {
			return primary.BlockJobCancel(ctx, resyncJob, false)
		}},
		step{side: PrimaryRole, name: "wait for the mirror to end", run: func(ctx context.Context) error {
			err := waitJob(ctx, primary, resyncJob, p.poll(), jobs, func(j *qmp.BlockJobInfo) bool { return j == nil })
			if err == nil {
				undo.drop(resyncJob)
			}
			return err
		}},
		step{side: PrimaryRole, name: "blockdev-del " + resyncNode, run: func(ctx context.Context) error {
			if err := primary.BlockdevDel(ctx, resyncNode); err != nil {
				return err
			}
			undo.drop(resyncNode)
			return nil
		}},
		// blockdev-add in place of the guide's HMP "drive_add -n buddy":
		// the same node without a BlockBackend. It must come after the
		// copy and with the guest stopped: until COLO starts it,
		// replication fails every write, which the quorum would shrug off
		// (vote-threshold=1) and the secondary's disk would miss.
		step{side: PrimaryRole, name: "blockdev-add " + replicationNode, run: func(ctx context.Context) error {
			if err := primary.BlockdevAdd(ctx, replicationOptions(l)); err != nil {
				return err
			}
			undo.push(replicationNode, func(ctx context.Context) error { return primary.BlockdevDel(ctx, replicationNode) })
			return nil
		}},
		step{side: PrimaryRole, name: "x-blockdev-change", run: func(ctx context.Context) error {
			if err := primary.XBlockdevChange(ctx, diskID, "", replicationNode); err != nil {
				return err
			}
			undo.push("quorum child", func(ctx context.Context) error {
				return primary.XBlockdevChange(ctx, diskID, replicationChild, "")
			})
			return nil
		}},
	)
	for _, o := range primaryNetObjects(func() bool { return rewriterPresent }) {
		steps = append(steps, step{side: PrimaryRole, name: "object-add " + o.id, run: func(ctx context.Context) error {
			if err := primary.ObjectAdd(ctx, o.qomType, o.id, o.props()); err != nil {
				return err
			}
			undo.push(o.id, func(ctx context.Context) error { return primary.ObjectDel(ctx, o.id) })
			return nil
		}})
	}
	steps = append(steps,
		step{side: PrimaryRole, name: "migrate-continue", run: func(ctx context.Context) error {
			return primary.Execute(ctx, "migrate-continue", map[string]any{"state": migrationPreSwitchover}, nil)
		}},
		// The first checkpoint ends the migration; COLO mode follows it.
		step{side: PrimaryRole, name: "wait for COLO", timeout: p.syncTimeout(), run: func(ctx context.Context) error {
			return p.waitColo(ctx, primary, secondary)
		}},
	)

	err := runSteps(ctx, "protect", p.stepTimeout(), p.logf, steps)
	cancelMigration()
	if stopped != nil {
		if err == nil {
			stats.Pause = pauseOf(ctx, stopped, resumed, p.stepTimeout())
		} else {
			stopped.Cancel()
			resumed.Cancel()
		}
	}
	stats.Total = time.Since(begin)
	if err != nil {
		p.rollback(&undo)
		jobs.stop()
		return stats, err
	}
	jobs.stop()
	p.logf("ft protect: COLO runs on both sides after %v; disk copy %v, memory copy (live) %v, guest paused %v",
		stats.Total.Round(time.Millisecond), stats.DiskCopy.Round(time.Millisecond), stats.Memory.Round(time.Millisecond),
		stats.Pause.Round(time.Millisecond))
	return stats, nil
}

// pauseOf is the time between the STOP and RESUME events (QEMU's clock).
func pauseOf(ctx context.Context, stopped, resumed *qmp.Waiter, timeout time.Duration) time.Duration {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := stopped.Wait(wctx)
	if err != nil {
		resumed.Cancel()
		return 0
	}
	r, err := resumed.Wait(wctx)
	if err != nil || s.Time.IsZero() || r.Time.IsZero() {
		return 0
	}
	return r.Time.Sub(s.Time)
}

// rollback undoes a failed Protect on the primary, newest first, each
// with a fresh timeout: the caller's context may be what ended Protect.
func (p *Pair) rollback(u *undoStack) {
	for i := len(u.items) - 1; i >= 0; i-- {
		it := u.items[i]
		ctx, cancel := context.WithTimeout(context.Background(), p.stepTimeout())
		err := it.fn(ctx)
		cancel()
		if err != nil {
			p.logf("ft protect: undo %s on the primary: %v", it.key, err)
		} else {
			p.logf("ft protect: undid %s on the primary", it.key)
		}
	}
}

// undoStack is what a failed Protect has to take back on the primary.
type undoStack struct {
	items []undoItem
}

type undoItem struct {
	key string
	fn  func(context.Context) error
}

func (u *undoStack) push(key string, fn func(context.Context) error) {
	u.items = append(u.items, undoItem{key, fn})
}

// drop forgets key: what it undoes is gone already.
func (u *undoStack) drop(key string) {
	u.items = slices.DeleteFunc(u.items, func(it undoItem) bool { return it.key == key })
}

// leaveMigration ends the primary's part of a migration that did not turn
// into a working pair: migrate_cancel (QEMU resumes the guest it stopped
// for the switchover) and a wait for the migration to end, or, if COLO
// did start on this side, the primary failover's way out (the filters and
// the replication child are undone separately).
func leaveMigration(ctx context.Context, c *qmp.Client, o Options) error {
	st, err := c.QueryColoStatus(ctx)
	if err != nil {
		return err
	}
	if st.Mode == qmp.ColoModePrimary {
		if err := yankPresent(ctx, c, []qmp.YankInstance{qmp.YankMigration(), qmp.YankBlockNode(nbdNode)}); err != nil {
			return err
		}
		if err := c.XColoLostHeartbeat(ctx); err != nil {
			return err
		}
		return waitColoMode(ctx, c, qmp.ColoModeNone, o.poll())
	}
	if err := c.MigrateCancel(ctx); err != nil {
		return err
	}
	t := time.NewTicker(o.poll())
	defer t.Stop()
	for {
		mi, err := c.QueryMigrate(ctx)
		if err != nil {
			return err
		}
		switch mi.Status {
		case qmp.MigrationCancelled, qmp.MigrationFailed, qmp.MigrationCompleted, qmp.MigrationNone, "":
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; migration still %s", ctx.Err(), mi.Status)
		case <-t.C:
		}
	}
}

// resumeGuest runs cont if the guest is not running: the last undo of a
// failed Protect, which found it running.
func resumeGuest(ctx context.Context, c *qmp.Client) error {
	st, err := c.QueryStatus(ctx)
	if err != nil || st.Running {
		return err
	}
	return c.Cont(ctx)
}

// netObject is one of the primary's net objects.
type netObject struct {
	qomType, id string
	props       func() map[string]any
}

// primaryNetObjects are the primary's net filters and colo-compare, in
// QEMU's order. Queue tx holds what the netdev sends towards the guest
// (incoming packets), rx what the guest sends (its output). before tells
// (when the objects are added) whether the filters go before a rewriter.
func primaryNetObjects(before func() bool) []netObject {
	filter := func(props map[string]any) func() map[string]any {
		return func() map[string]any {
			props["netdev"] = netdevID
			if before() {
				props["insert"] = "before"
				props["position"] = "id=" + rewriter
			}
			return props
		}
	}
	return []netObject{
		{"filter-mirror", mirrorFilter, filter(map[string]any{"queue": "tx", "outdev": mirrorChardev})},
		{"filter-redirector", outFilter, filter(map[string]any{"queue": "rx", "indev": compareOutServer})},
		{"filter-redirector", inFilter, filter(map[string]any{"queue": "rx", "outdev": comparePriServer})},
		{"iothread", compareIOThread, func() map[string]any { return nil }},
		{"colo-compare", compareObject, func() map[string]any {
			return map[string]any{
				"primary_in": comparePriClient, "secondary_in": compareSecChardev,
				"outdev": compareOutClient, "iothread": compareIOThread,
			}
		}},
	}
}

// chardevAddArgs are chardev-add's arguments for one of the primary's
// chardevs. The secondary connects to the two TCP servers over the link;
// they do not wait for it (wait=false: chardev-add would block the
// monitor). The two local pairs between the redirectors and colo-compare
// never leave the node: unix sockets in the work directory, so that
// several FT VMs on one node need no loopback ports.
func chardevAddArgs(s Spec, id string) map[string]any {
	l, p := s.Link, s.Primary
	inet := func(port int) map[string]any {
		return map[string]any{"type": "inet", "data": map[string]any{"host": l.PrimaryHost, "port": strconv.Itoa(port)}}
	}
	unix := func(name string) map[string]any {
		return map[string]any{"type": "unix", "data": map[string]any{"path": p.sock(name)}}
	}
	var data map[string]any
	switch id {
	case mirrorChardev:
		data = map[string]any{"addr": inet(l.MirrorPort), "server": true, "wait": false}
	case compareSecChardev:
		data = map[string]any{"addr": inet(l.ComparePort), "server": true, "wait": false}
	case comparePriServer, compareOutServer:
		data = map[string]any{"addr": unix(id), "server": true, "wait": false}
	case comparePriClient:
		data = map[string]any{"addr": unix(comparePriServer), "server": false}
	case compareOutClient:
		data = map[string]any{"addr": unix(compareOutServer), "server": false}
	}
	return map[string]any{"id": id, "backend": map[string]any{"type": "socket", "data": data}}
}

// nbdOptions is an NBD client node of the secondary's parent0 export.
func nbdOptions(name string, l Link) map[string]any {
	return map[string]any{
		"driver":    "nbd",
		"node-name": name,
		"server":    map[string]any{"type": "inet", "host": l.SecondaryHost, "port": strconv.Itoa(l.NBDPort)},
		"export":    parentID,
	}
}

// replicationOptions is the primary's replication node: mode primary over
// an NBD client of the secondary's parent0 export.
func replicationOptions(l Link) map[string]any {
	return map[string]any{
		"driver":    "replication",
		"node-name": replicationNode,
		"mode":      "primary",
		"file":      nbdOptions(nbdNode, l),
	}
}

// jobWatch collects the block job events that say why a job ended:
// query-block-jobs forgets a failed job at once (auto-dismiss).
type jobWatch struct {
	ch     <-chan qmp.Event
	cancel func()
}

func watchJobs(c *qmp.Client) jobWatch {
	ch, cancel := c.Subscribe(qmp.EventBlockJobCompleted, qmp.EventBlockJobError)
	return jobWatch{ch, cancel}
}

func (w jobWatch) stop() {
	if w.cancel != nil {
		w.cancel()
	}
}

// why is the error of an ended job, if an event told it.
func (w jobWatch) why(id string) string {
	for {
		select {
		case ev, ok := <-w.ch:
			if !ok {
				return ""
			}
			var d struct {
				Device    string `json:"device"`
				Error     string `json:"error"`
				Operation string `json:"operation"`
			}
			if ev.Decode(&d) == nil && d.Device == id {
				switch {
				case d.Error != "":
					return d.Error
				case ev.Name == qmp.EventBlockJobError:
					return d.Operation + " error"
				}
			}
		default:
			return ""
		}
	}
}

// waitJob polls query-block-jobs until done accepts job id's entry (nil:
// the job is gone). A job that is gone when done wants it is an error,
// with the reason its events gave.
func waitJob(ctx context.Context, c *qmp.Client, id string, poll time.Duration, w jobWatch, done func(*qmp.BlockJobInfo) bool) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	var last string
	for {
		jobs, err := c.QueryBlockJobs(ctx)
		if err != nil {
			return err
		}
		var j *qmp.BlockJobInfo
		for i := range jobs {
			if jobs[i].Device == id {
				j = &jobs[i]
			}
		}
		if done(j) {
			return nil
		}
		if j == nil {
			if why := w.why(id); why != "" {
				return fmt.Errorf("block job %s ended: %s", id, why)
			}
			return fmt.Errorf("block job %s ended", id)
		}
		if j.Error != "" {
			return fmt.Errorf("block job %s: %s", id, j.Error)
		}
		last = fmt.Sprintf("job %s %s, %d of %d bytes", id, j.Status, j.Offset, j.Len)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; %s", ctx.Err(), last)
		case <-t.C:
		}
	}
}

// waitMigration waits until the primary's migration reaches status want:
// at once when its MIGRATION event comes (events), polling query-migrate
// as well, which also catches a failed migration with QEMU's reason.
func (p *Pair) waitMigration(ctx context.Context, c *qmp.Client, events <-chan qmp.Event, want string) error {
	t := time.NewTicker(p.poll())
	defer t.Stop()
	var last string
	for {
		mi, err := c.QueryMigrate(ctx)
		if err != nil {
			return err
		}
		switch mi.Status {
		case want:
			return nil
		case qmp.MigrationFailed, qmp.MigrationCancelled, qmp.MigrationCompleted, qmp.MigrationColo:
			return fmt.Errorf("migration %s: %s", mi.Status, mi.ErrorDesc)
		}
		last = mi.Status
		if mi.RAM != nil {
			last += fmt.Sprintf(", %d MiB of memory sent, %d MiB left", mi.RAM.Transferred>>20, mi.RAM.Remaining>>20)
		}
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w; migration %s", ctx.Err(), last)
			case ev, ok := <-events:
				if !ok {
					events = nil // the connection is gone: the query says so
					waiting = false
				} else if d, err := ev.Migration(); err == nil && d.Status == want {
					waiting = false
				}
			case <-t.C:
				waiting = false
			}
		}
	}
}

// waitColo polls until the primary reports COLO mode primary and the
// secondary mode secondary. A failed migration ends the wait at once, with
// QEMU's reason.
func (p *Pair) waitColo(ctx context.Context, primary, secondary *qmp.Client) error {
	t := time.NewTicker(p.poll())
	defer t.Stop()
	var last string
	for {
		ps, err := primary.QueryColoStatus(ctx)
		if err != nil {
			return fmt.Errorf("primary: %w", err)
		}
		ss, err := secondary.QueryColoStatus(ctx)
		if err != nil {
			return fmt.Errorf("secondary: %w", err)
		}
		if ps.Mode == qmp.ColoModePrimary && ss.Mode == qmp.ColoModeSecondary {
			return nil
		}
		mi, err := primary.QueryMigrate(ctx)
		if err != nil {
			return fmt.Errorf("primary: %w", err)
		}
		last = fmt.Sprintf("primary COLO mode %q, secondary %q, migration %q", ps.Mode, ss.Mode, mi.Status)
		switch mi.Status {
		case qmp.MigrationFailed, qmp.MigrationCancelled, qmp.MigrationCompleted:
			// completed: the migration ended without turning into COLO.
			return fmt.Errorf("migration %s: %s (%s)", mi.Status, mi.ErrorDesc, last)
		}
		select {
		case <-ctx.Done():
			if last != "" {
				return fmt.Errorf("%w; last seen: %s", ctx.Err(), last)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}
