package ft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/qmp"
	"github.com/lockstep-ft/lockstep/agent/qmp/qmptest"
)

// fakeSide is a qmptest server playing one QEMU of the pair. Its COLO mode
// is what the test (or wire) set; x-colo-lost-heartbeat ends it. A mirror
// job started with blockdev-mirror is READY at once and ends on
// block-job-cancel; stop and cont set the run state, with STOP and
// RESUME.
type fakeSide struct {
	*qmptest.Server
	mode      atomic.Value // string: the COLO mode
	lastTwo   atomic.Value // string: the mode before the heartbeat
	job       atomic.Pointer[map[string]any]
	objects   atomic.Value // []string: qom-list /objects
	running   atomic.Bool
	migration atomic.Value // string: query-migrate's status
}

func newFakeSide(t *testing.T) *fakeSide {
	f := &fakeSide{Server: qmptest.New(t)}
	f.mode.Store("none")
	f.lastTwo.Store("none")
	f.objects.Store([]string{})
	f.running.Store(true)
	f.migration.Store("none")
	f.Handle("query-colo-status", func(context.Context, qmptest.Command) (any, error) {
		m, last := f.mode.Load().(string), f.lastTwo.Load().(string)
		reason := "none"
		if m == "none" && last != "none" {
			reason = "request"
		}
		return map[string]any{"mode": m, "last-mode": last, "reason": reason}, nil
	})
	f.Handle("x-colo-lost-heartbeat", func(context.Context, qmptest.Command) (any, error) {
		f.lastTwo.Store(f.mode.Load())
		f.mode.Store("none")
		return nil, nil
	})
	f.Handle("blockdev-mirror", func(_ context.Context, c qmptest.Command) (any, error) {
		f.job.Store(&map[string]any{"type": "mirror", "device": c.Args["job-id"], "len": 64 << 20,
			"offset": 64 << 20, "ready": true, "status": "ready", "busy": false, "paused": false,
			"speed": 0, "io-status": "ok"})
		return nil, nil
	})
	f.Handle("query-block-jobs", f.blockJobs)
	f.Handle("block-job-cancel", func(_ context.Context, c qmptest.Command) (any, error) {
		f.job.Store(nil)
		f.Emit("BLOCK_JOB_COMPLETED", map[string]any{"type": "mirror", "device": c.Args["device"], "len": 1, "offset": 1, "speed": 0})
		return nil, nil
	})
	f.Handle("stop", func(context.Context, qmptest.Command) (any, error) {
		f.stop()
		return nil, nil
	})
	f.Handle("cont", func(context.Context, qmptest.Command) (any, error) {
		f.cont()
		return nil, nil
	})
	f.Handle("query-status", func(context.Context, qmptest.Command) (any, error) {
		if f.running.Load() {
			return map[string]any{"running": true, "status": "running"}, nil
		}
		return map[string]any{"running": false, "status": "paused"}, nil
	})
	f.Handle("query-migrate", func(context.Context, qmptest.Command) (any, error) {
		return map[string]any{"status": f.migration.Load()}, nil
	})
	f.Handle("qom-list", func(context.Context, qmptest.Command) (any, error) {
		var out []any
		for _, o := range f.objects.Load().([]string) {
			out = append(out, map[string]any{"name": o, "type": "child<x>"})
		}
		return out, nil
	})
	f.Return("query-named-block-nodes", []any{})
	f.Return("query-yank", []map[string]any{{"type": "migration"}, {"type": "chardev", "id": "red0"}})
	return f
}

// blockJobs answers query-block-jobs: the mirror job as it is, if any.
func (f *fakeSide) blockJobs(context.Context, qmptest.Command) (any, error) {
	if j := f.job.Load(); j != nil {
		return []any{*j}, nil
	}
	return []any{}, nil
}

func (f *fakeSide) stop() {
	f.running.Store(false)
	f.Emit("STOP", nil)
}

// preSwitchover is the end of the live migration with
// pause-before-switchover: the guest stops, the status says so.
func (f *fakeSide) preSwitchover() {
	f.stop()
	f.migration.Store("pre-switchover")
	f.Emit("MIGRATION", map[string]any{"status": "pre-switchover"})
}

func (f *fakeSide) cont() {
	f.running.Store(true)
	f.Emit("RESUME", nil)
}

// wire plays the first checkpoint: pri's migrate stops its guest at
// pre-switchover, and migrate-continue starts COLO on both sides after
// pause and resumes the guest.
func wire(pri, sec *fakeSide, pause time.Duration) {
	pri.Handle("migrate", func(context.Context, qmptest.Command) (any, error) {
		pri.preSwitchover()
		return nil, nil
	})
	pri.Handle("migrate-continue", func(context.Context, qmptest.Command) (any, error) {
		time.Sleep(pause)
		pri.migration.Store("colo")
		pri.mode.Store("primary")
		pri.lastTwo.Store("primary")
		sec.mode.Store("secondary")
		sec.lastTwo.Store("secondary")
		pri.cont()
		return nil, nil
	})
}

// pairOf is a protected pair over two fake sides.
func pairOf(t *testing.T) (*Pair, *fakeSide, *fakeSide) {
	t.Helper()
	p, pri, sec := newPair(t)
	protect(t, p, pri, sec)
	return p, pri, sec
}

// protect runs p.Protect with pri as the primary and sec as the
// secondary, and fails the test if it fails or takes 10s.
func protect(t *testing.T, p *Pair, pri, sec *fakeSide) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Protect(ctx, pri.Client(), sec.Client()); err != nil {
		t.Fatal(err)
	}
}

// secondaryFor is a new fake secondary for pri, wired to start COLO at
// the first checkpoint.
func secondaryFor(t *testing.T, pri *fakeSide) *fakeSide {
	sec := newFakeSide(t)
	wire(pri, sec, 0)
	return sec
}

func newPair(t *testing.T) (*Pair, *fakeSide, *fakeSide) {
	t.Helper()
	pri := newFakeSide(t)
	sec := secondaryFor(t, pri)
	p, err := NewPair(testSpec())
	if err != nil {
		t.Fatal(err)
	}
	p.Poll = 5 * time.Millisecond
	p.Logf = t.Logf
	t.Cleanup(p.Close)
	return p, pri, sec
}

// call is a command as the tests expect it: name, arguments as JSON
// (empty: none), out-of-band or not.
type call struct {
	name string
	args string
	oob  bool
}

func (c call) String() string {
	s := c.name
	if c.args != "" {
		s += " " + c.args
	}
	if c.oob {
		s += " (oob)"
	}
	return s
}

// calls are the commands a fake received, without the negotiation and
// without the polls named in skip.
func calls(t *testing.T, s *fakeSide, skip ...string) []call {
	t.Helper()
	var out []call
next:
	for _, c := range s.Commands() {
		if c.Name == "qmp_capabilities" {
			continue
		}
		for _, n := range skip {
			if c.Name == n {
				continue next
			}
		}
		var args string
		if c.Args != nil {
			b, err := json.Marshal(c.Args) // sorted keys
			if err != nil {
				t.Fatal(err)
			}
			args = string(b)
		}
		out = append(out, call{c.Name, args, c.OOB})
	}
	return out
}

func checkCalls(t *testing.T, side string, got, want []call) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s received:\n%s\nwant:\n%s", side, list(got), list(want))
	}
}

func list(cs []call) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "\t%s\n", c)
	}
	return b.String()
}

const (
	caps    = `{"capabilities":[{"capability":"return-path","state":true},{"capability":"x-colo","state":true}]}`
	priCaps = `{"capabilities":[{"capability":"events","state":true},{"capability":"pause-before-switchover","state":true},` +
		`{"capability":"return-path","state":true},{"capability":"x-colo","state":true}]}`
)

// wantSecondaryProtect is what Protect sends a secondary listening on
// host.
func wantSecondaryProtect(host string) []call {
	return []call{
		{"migrate-set-capabilities", caps, false},
		{"nbd-server-start", `{"addr":{"data":{"host":"` + host + `","port":"9999"},"type":"inet"}}`, false},
		{"block-export-add", `{"id":"colo-export0","node-name":"parent0","type":"nbd","writable":true}`, false},
		{"migrate-incoming", `{"uri":"tcp:` + host + `:9998"}`, false},
		{"query-colo-status", "", false},
	}
}

// wantPrimaryProtect is what Protect sends a primary on priHost with its
// work directory work, protected by a secondary on secHost; rewriter: the
// primary was a secondary before (its filters go before rew0).
func wantPrimaryProtect(priHost, secHost, work string, rewriter bool) []call {
	chardev := func(id, addr string, server string) call {
		return call{"chardev-add", `{"backend":{"data":{"addr":` + addr + `,` + server + `},"type":"socket"},"id":"` + id + `"}`, false}
	}
	inet := func(port string) string {
		return `{"data":{"host":"` + priHost + `","port":"` + port + `"},"type":"inet"}`
	}
	unix := func(name string) string { return `{"data":{"path":"` + work + `/` + name + `.sock"},"type":"unix"}` }
	const srv, cli = `"server":true,"wait":false`, `"server":false`
	ins := ""
	if rewriter {
		ins = `"insert":"before",`
	}
	pos := ""
	if rewriter {
		pos = `"position":"id=rew0",`
	}
	nbd := `"server":{"host":"` + secHost + `","port":"9999","type":"inet"}`
	return []call{
		{"qom-list", `{"path":"/objects"}`, false},
		chardev("mirror0", inet("9003"), srv),
		chardev("compare1", inet("9004"), srv),
		chardev("compare0", unix("compare0"), srv),
		chardev("compare0-0", unix("compare0"), cli),
		chardev("compare_out", unix("compare_out"), srv),
		chardev("compare_out0", unix("compare_out"), cli),
		{"query-status", "", false},
		{"migrate-set-capabilities", priCaps, false},
		{"migrate-set-parameters", `{"x-checkpoint-delay":1000}`, false},
		{"blockdev-add", `{"driver":"nbd","export":"parent0","node-name":"colo-resync0",` + nbd + `}`, false},
		{"blockdev-mirror", `{"device":"colo-disk0","job-id":"colo-resync","sync":"full","target":"colo-resync0"}`, false},
		{"query-block-jobs", "", false},
		{"migrate", `{"uri":"tcp:` + secHost + `:9998"}`, false},
		{"query-migrate", "", false},
		{"block-job-cancel", `{"device":"colo-resync"}`, false},
		{"query-block-jobs", "", false},
		{"blockdev-del", `{"node-name":"colo-resync0"}`, false},
		{"blockdev-add", `{"driver":"replication","file":{"driver":"nbd","export":"parent0","node-name":"colo-nbd0",` + nbd + `},` +
			`"mode":"primary","node-name":"replication0"}`, false},
		{"x-blockdev-change", `{"node":"replication0","parent":"colo-disk0"}`, false},
		{"object-add", `{"id":"m0",` + ins + `"netdev":"hn0","outdev":"mirror0",` + pos + `"qom-type":"filter-mirror","queue":"tx"}`, false},
		{"object-add", `{"id":"redire0","indev":"compare_out",` + ins + `"netdev":"hn0",` + pos + `"qom-type":"filter-redirector","queue":"rx"}`, false},
		{"object-add", `{"id":"redire1",` + ins + `"netdev":"hn0","outdev":"compare0",` + pos + `"qom-type":"filter-redirector","queue":"rx"}`, false},
		{"object-add", `{"id":"iothread1","qom-type":"iothread"}`, false},
		{"object-add", `{"id":"comp0","iothread":"iothread1","outdev":"compare_out0","primary_in":"compare0-0","qom-type":"colo-compare","secondary_in":"compare1"}`, false},
		{"migrate-continue", `{"state":"pre-switchover"}`, false},
		{"query-colo-status", "", false},
	}
}

func TestProtect(t *testing.T) {
	p, pri, sec := newPair(t)
	wire(pri, sec, 30*time.Millisecond)
	if st := p.State(); st.Mode != Simplex || st.Reason != "not protected yet" {
		t.Errorf("state before Protect: %v", st)
	}
	var during []State
	at := func(name string, run func()) {
		pri.Handle(name, func(context.Context, qmptest.Command) (any, error) {
			during = append(during, p.State())
			run()
			return nil, nil
		})
	}
	at("migrate-set-parameters", func() {})
	at("block-job-cancel", func() { pri.job.Store(nil) })
	protect(t, p, pri, sec)
	if len(during) != 2 || during[0].Mode != Syncing || during[1].Mode != Syncing ||
		!strings.Contains(during[1].Reason, "paused") || during[0].Reason == during[1].Reason {
		t.Errorf("states during Protect: %v, want syncing, the second one paused", during)
	}
	if st := p.State(); st.Mode != Protected || !strings.Contains(st.Reason, "every 1s") {
		t.Errorf("state after Protect: %v", st)
	}
	checkCalls(t, "secondary", calls(t, sec), wantSecondaryProtect("127.0.0.2"))
	checkCalls(t, "primary", calls(t, pri), wantPrimaryProtect("127.0.0.1", "127.0.0.2", "/p/work", false))
	st := p.LastProtect()
	if st.DiskBytes != 64<<20 || st.Pause < 30*time.Millisecond || st.Pause > 5*time.Second || st.Total < st.Pause {
		t.Errorf("stats %+v: want a 64 MiB disk, a pause of at least the 30 ms migrate took", st)
	}
}

// TestProtectWaitsForTheDiskCopy: the guest is stopped only once the
// mirror is READY.
func TestProtectWaitsForTheDiskCopy(t *testing.T) {
	p, pri, sec := newPair(t)
	var polls atomic.Int32
	pri.Handle("query-block-jobs", func(context.Context, qmptest.Command) (any, error) {
		j := pri.job.Load()
		if j == nil {
			return []any{}, nil
		}
		if polls.Add(1) < 4 {
			return []any{map[string]any{"type": "mirror", "device": "colo-resync", "len": 100, "offset": 10,
				"ready": false, "status": "running", "busy": true, "paused": false, "speed": 0, "io-status": "ok"}}, nil
		}
		return []any{*j}, nil
	})
	protect(t, p, pri, sec)
	if got := names(t, pri); !strings.Contains(got, "blockdev-mirror query-block-jobs query-block-jobs query-block-jobs query-block-jobs migrate") {
		t.Errorf("commands: %s", got)
	}
}

// TestProtectWaitsForPreSwitchover: the guest's memory is copied live;
// Protect goes on as soon as MIGRATION says pre-switchover, without
// waiting for its next poll.
func TestProtectWaitsForPreSwitchover(t *testing.T) {
	p, pri, sec := newPair(t)
	p.Poll = time.Hour // only the event can wake the wait
	pri.Handle("migrate", func(context.Context, qmptest.Command) (any, error) {
		pri.migration.Store("active")
		go func() {
			time.Sleep(50 * time.Millisecond)
			pri.preSwitchover()
		}()
		return nil, nil
	})
	pri.Handle("query-block-jobs", pri.blockJobs) // READY at the first poll
	protect(t, p, pri, sec)
	if got := names(t, pri); !strings.Contains(got, "migrate query-migrate query-migrate block-job-cancel") {
		t.Errorf("commands: %s", got)
	}
	if st := p.LastProtect(); st.Memory < 50*time.Millisecond {
		t.Errorf("memory copy %v, want the 50 ms the fake took", st.Memory)
	}
}

// TestProtectFormerSecondary: a primary that was a secondary keeps its
// rewriter; the filters go before it.
func TestProtectFormerSecondary(t *testing.T) {
	p, pri, sec := newPair(t)
	pri.objects.Store([]string{"iothread0", "rew0"})
	protect(t, p, pri, sec)
	checkCalls(t, "primary", calls(t, pri), wantPrimaryProtect("127.0.0.1", "127.0.0.2", "/p/work", true))
}

func TestProtectStepFails(t *testing.T) {
	p, pri, sec := newPair(t)
	sec.Fail("nbd-server-start", qmp.ErrorClassGeneric, "Failed to bind socket: Address already in use")
	err := p.Protect(context.Background(), pri.Client(), sec.Client())
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("Protect: %v, want a *StepError", err)
	}
	if se.Sequence != "protect" || se.Side != SecondaryRole || se.Step != "nbd-server-start" || se.N != 2 || se.Of != 31 {
		t.Errorf("StepError %+v", se)
	}
	var qe *qmp.Error
	if !errors.As(err, &qe) || !strings.Contains(qe.Desc, "Address already in use") {
		t.Errorf("the QMP error is not wrapped: %v", err)
	}
	if !strings.Contains(err.Error(), "step 2/31, secondary nbd-server-start") {
		t.Errorf("message %q does not say which step failed", err)
	}
	if got := calls(t, pri); len(got) != 0 {
		t.Errorf("the primary received %v after the secondary failed", got)
	}
	if st := p.State(); st.Mode != Simplex || !strings.Contains(st.Reason, "protect failed") || !strings.Contains(st.Reason, "nbd-server-start") {
		t.Errorf("state %v", st)
	}
}

// TestProtectDiskCopyFails: the mirror ends with an error (the secondary
// went away); Protect says why and takes its chardevs and NBD node back,
// the guest never stopped.
func TestProtectDiskCopyFails(t *testing.T) {
	p, pri, sec := newPair(t)
	pri.Handle("blockdev-mirror", func(_ context.Context, c qmptest.Command) (any, error) {
		pri.Emit("BLOCK_JOB_COMPLETED", map[string]any{"type": "mirror", "device": "colo-resync", "len": 100, "offset": 10,
			"speed": 0, "error": "Input/output error"})
		return nil, nil
	})
	err := p.Protect(context.Background(), pri.Client(), sec.Client())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "wait for the disk copy" || !strings.Contains(err.Error(), "Input/output error") {
		t.Fatalf("Protect: %v, want the disk copy to fail with QEMU's reason", err)
	}
	checkCalls(t, "primary after the failure", afterFirst(t, pri, "query-block-jobs"), append([]call{
		{"query-block-jobs", "", false},
		{"blockdev-del", `{"node-name":"colo-resync0"}`, false},
		{"query-status", "", false},
	}, chardevsRemoved...))
	if st := p.State(); st.Mode != Simplex || !strings.Contains(st.Reason, "Input/output error") {
		t.Errorf("state %v", st)
	}
}

// chardevsRemoved is a failed Protect's last undo: the chardevs, newest
// first.
var chardevsRemoved = []call{
	{"chardev-remove", `{"id":"compare_out0"}`, false},
	{"chardev-remove", `{"id":"compare_out"}`, false},
	{"chardev-remove", `{"id":"compare0-0"}`, false},
	{"chardev-remove", `{"id":"compare0"}`, false},
	{"chardev-remove", `{"id":"compare1"}`, false},
	{"chardev-remove", `{"id":"mirror0"}`, false},
}

// names are the names of the commands s received, as in calls, with a
// space between them.
func names(t *testing.T, s *fakeSide) string {
	t.Helper()
	var order []string
	for _, c := range calls(t, s) {
		order = append(order, c.name)
	}
	return strings.Join(order, " ")
}

// afterFirst is what s received after the first command called name.
func afterFirst(t *testing.T, s *fakeSide, name string) []call {
	t.Helper()
	got := calls(t, s)
	i := 0
	for i < len(got) && got[i].name != name {
		i++
	}
	return got[i+1:]
}

// after is what s received after the last command called name.
func after(t *testing.T, s *fakeSide, name string) []call {
	got := calls(t, s)
	i := len(got) - 1
	for i >= 0 && got[i].name != name {
		i--
	}
	return got[i+1:]
}

// TestProtectMigrationFails: the live migration fails before
// pre-switchover; Protect undoes everything on the primary, newest first,
// the mirror included, and resumes the guest if QEMU did not.
func TestProtectMigrationFails(t *testing.T) {
	p, pri, sec := newPair(t)
	pri.Handle("migrate", func(context.Context, qmptest.Command) (any, error) {
		pri.stop() // as if QEMU left the guest stopped
		pri.migration.Store("failed")
		return nil, nil
	})
	pri.Handle("query-migrate", func(context.Context, qmptest.Command) (any, error) {
		return map[string]any{"status": pri.migration.Load(), "error-desc": "Unable to write to socket: Broken pipe"}, nil
	})
	err := p.Protect(context.Background(), pri.Client(), sec.Client())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "wait for pre-switchover" || se.N != 19 {
		t.Fatalf("Protect: %v, want the wait for pre-switchover to fail", err)
	}
	if !strings.Contains(err.Error(), "Broken pipe") {
		t.Errorf("QEMU's reason is missing: %v", err)
	}
	checkCalls(t, "primary after the failure", after(t, pri, "migrate"), append([]call{
		{"query-migrate", "", false},
		{"query-colo-status", "", false},
		{"migrate_cancel", "", false},
		{"query-migrate", "", false},
		{"query-block-jobs", "", false},
		{"block-job-cancel", `{"device":"colo-resync","force":true}`, false},
		{"query-block-jobs", "", false},
		{"blockdev-del", `{"node-name":"colo-resync0"}`, false},
		{"query-status", "", false},
		{"cont", "", false},
	}, chardevsRemoved...))
}

// TestProtectFirstCheckpointFails: the migration fails after
// migrate-continue; the net objects and the replication child go before
// the migration is cancelled (QEMU resumes the guest then).
func TestProtectFirstCheckpointFails(t *testing.T) {
	p, pri, sec := newPair(t)
	pri.Handle("migrate-continue", func(context.Context, qmptest.Command) (any, error) {
		pri.migration.Store("failed")
		return nil, nil
	})
	pri.Handle("migrate_cancel", func(context.Context, qmptest.Command) (any, error) {
		pri.cont()
		return nil, nil
	})
	err := p.Protect(context.Background(), pri.Client(), sec.Client())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "wait for COLO" || se.N != 31 {
		t.Fatalf("Protect: %v, want the wait for COLO to fail", err)
	}
	checkCalls(t, "primary after the failure", afterFirst(t, pri, "migrate-continue"), append([]call{
		{"query-colo-status", "", false},
		{"query-migrate", "", false},
		{"object-del", `{"id":"comp0"}`, false},
		{"object-del", `{"id":"iothread1"}`, false},
		{"object-del", `{"id":"redire1"}`, false},
		{"object-del", `{"id":"redire0"}`, false},
		{"object-del", `{"id":"m0"}`, false},
		{"x-blockdev-change", `{"child":"children.1","parent":"colo-disk0"}`, false},
		{"blockdev-del", `{"node-name":"replication0"}`, false},
		{"query-colo-status", "", false},
		{"migrate_cancel", "", false},
		{"query-migrate", "", false},
		{"query-status", "", false},
	}, chardevsRemoved...))
	if st := p.State(); st.Mode != Simplex || !strings.Contains(st.Reason, "protect failed") {
		t.Errorf("state %v", st)
	}
}

func TestProtectStepTimeout(t *testing.T) {
	p, pri, sec := newPair(t)
	p.StepTimeout = 100 * time.Millisecond
	pri.Handle("x-blockdev-change", func(ctx context.Context, _ qmptest.Command) (any, error) {
		<-ctx.Done() // a QEMU that never answers
		return nil, ctx.Err()
	})
	start := time.Now()
	err := p.Protect(context.Background(), pri.Client(), sec.Client())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "x-blockdev-change" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Protect: %v, want x-blockdev-change to time out", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the step timed out after %v", d)
	}
}

func TestWatchColoExit(t *testing.T) {
	p, pri, _ := pairOf(t)
	pri.Emit("COLO_EXIT", map[string]any{"mode": "primary", "reason": "error"})
	waitState(t, p, func(s State) bool {
		return s.Mode == Simplex && s.Reason == "the primary left COLO (reason error)"
	})
}

func TestWatchMonitorLost(t *testing.T) {
	p, _, sec := pairOf(t)
	sec.CloseConnections() // QEMU died
	waitState(t, p, func(s State) bool {
		return s.Mode == Simplex && strings.HasPrefix(s.Reason, "lost the secondary's monitor")
	})
}

// TestLost: Lost is closed while the pair is not protected, open while
// it is, and closes when the protection ends, however it ends.
func TestLost(t *testing.T) {
	isClosed := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	waitClosed := func(what string, c <-chan struct{}) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Lost did not close", what)
		}
	}

	p, pri, sec := newPair(t)
	if !isClosed(p.Lost()) {
		t.Error("Lost is open before Protect")
	}
	protect(t, p, pri, sec)
	lost := p.Lost()
	if isClosed(lost) {
		t.Fatal("Lost is closed while protected")
	}
	sec.Emit("COLO_EXIT", map[string]any{"mode": "secondary", "reason": "error"})
	waitClosed("COLO_EXIT", lost)
	if st := p.State(); st.Mode != Simplex {
		t.Errorf("state %v after Lost closed", st)
	}
	if err := p.FailoverPrimary(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A failover the agent starts ends the protection too.
	next := secondaryFor(t, pri)
	protect(t, p, pri, next)
	if lost2 := p.Lost(); isClosed(lost2) || lost2 == lost {
		t.Fatal("the second protection has no open Lost of its own")
	}
	lost = p.Lost()
	if err := p.FailoverPrimary(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitClosed("FailoverPrimary", lost)

	// And so does closing the pair.
	protect(t, p, pri, secondaryFor(t, pri))
	lost = p.Lost()
	p.Close()
	waitClosed("Close", lost)
}

func waitState(t *testing.T, p *Pair, ok func(State) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(p.State()) {
		if time.Now().After(deadline) {
			t.Fatalf("state %v", p.State())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantSecondaryFailover is what FailoverSecondaryOn sends.
var wantSecondaryFailover = []call{
	{"query-yank", "", true},
	{"yank", `{"instances":[{"type":"migration"}]}`, true},
	{"nbd-server-stop", "", false},
	{"x-colo-lost-heartbeat", "", false},
	{"query-colo-status", "", false},
	{"object-del", `{"id":"f2"}`, false},
	{"object-del", `{"id":"f1"}`, false},
	{"chardev-remove", `{"id":"red1"}`, false},
	{"chardev-remove", `{"id":"red0"}`, false},
	{"announce-self", `{"initial":50,"max":550,"rounds":5,"step":100}`, false},
	{"query-named-block-nodes", `{"flat":true}`, false},
}

// wantPrimaryFailover is what FailoverPrimaryOn sends.
var wantPrimaryFailover = []call{
	{"query-yank", "", true},
	{"yank", `{"instances":[{"type":"migration"},{"node-name":"colo-nbd0","type":"block-node"}]}`, true},
	{"x-blockdev-change", `{"child":"children.1","parent":"colo-disk0"}`, false},
	{"blockdev-del", `{"node-name":"replication0"}`, false},
	{"object-del", `{"id":"comp0"}`, false},
	{"object-del", `{"id":"iothread1"}`, false},
	{"object-del", `{"id":"m0"}`, false},
	{"object-del", `{"id":"redire0"}`, false},
	{"object-del", `{"id":"redire1"}`, false},
	{"x-colo-lost-heartbeat", "", false},
	{"query-colo-status", "", false},
	{"chardev-remove", `{"id":"mirror0"}`, false},
	{"chardev-remove", `{"id":"compare1"}`, false},
	{"chardev-remove", `{"id":"compare0"}`, false},
	{"chardev-remove", `{"id":"compare0-0"}`, false},
	{"chardev-remove", `{"id":"compare_out"}`, false},
	{"chardev-remove", `{"id":"compare_out0"}`, false},
}

// TestFailoverSecondaryOn: the secondary's own agent fails over with its
// own monitor only, no Pair.
func TestFailoverSecondaryOn(t *testing.T) {
	sec := newFakeSide(t)
	sec.mode.Store("secondary")
	if err := FailoverSecondaryOn(context.Background(), sec.Client(), Options{Poll: 5 * time.Millisecond, Logf: t.Logf}); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "secondary", calls(t, sec), wantSecondaryFailover)
}

func TestFailoverPrimaryOn(t *testing.T) {
	pri := newFakeSide(t)
	pri.mode.Store("primary")
	pri.Return("query-yank", []map[string]any{{"type": "migration"}, {"type": "block-node", "node-name": "colo-nbd0"}})
	if err := FailoverPrimaryOn(context.Background(), pri.Client(), Options{Poll: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "primary", calls(t, pri), wantPrimaryFailover)
}

func TestFailoverSecondary(t *testing.T) {
	p, pri, sec := pairOf(t)
	before := len(calls(t, sec))
	pri.CloseConnections() // the primary died
	if err := p.FailoverSecondary(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "secondary", calls(t, sec)[before:], wantSecondaryFailover)
	// A late COLO_EXIT or the lost primary must not overwrite the outcome.
	sec.Emit("COLO_EXIT", map[string]any{"mode": "secondary", "reason": "request"})
	time.Sleep(20 * time.Millisecond)
	if st := p.State(); st.Mode != Simplex || st.Reason != "primary lost: the secondary runs the VM alone" {
		t.Errorf("state %v", st)
	}
	if got, want := p.Spec(), testSpec().withDefaults().Swap(); !reflect.DeepEqual(got, want) {
		t.Errorf("spec after the secondary took over:\n%+v\nwant the swapped one:\n%+v", got, want)
	}
}

// TestFailoverSecondaryWaitsForColoToEnd: the failover runs in QEMU's main
// loop after x-colo-lost-heartbeat's reply; the filters go only after it.
func TestFailoverSecondaryWaitsForColoToEnd(t *testing.T) {
	p, _, sec := pairOf(t)
	var polls atomic.Int32
	sec.Handle("x-colo-lost-heartbeat", func(context.Context, qmptest.Command) (any, error) { return nil, nil })
	sec.Handle("query-colo-status", func(context.Context, qmptest.Command) (any, error) {
		if polls.Add(1) < 4 {
			return map[string]any{"mode": "secondary", "last-mode": "secondary", "reason": "none"}, nil
		}
		return map[string]any{"mode": "none", "last-mode": "secondary", "reason": "request"}, nil
	})
	if err := p.FailoverSecondary(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := names(t, sec)
	if !strings.Contains(got, "x-colo-lost-heartbeat query-colo-status query-colo-status query-colo-status query-colo-status object-del") {
		t.Errorf("commands: %s", got)
	}
}

// TestFailoverSecondaryWaitsForTheCommit: replication commits the active
// and hidden layers after the failover; the sequence ends once they have
// left the graph.
func TestFailoverSecondaryWaitsForTheCommit(t *testing.T) {
	sec := newFakeSide(t)
	sec.mode.Store("secondary")
	var polls atomic.Int32
	sec.Handle("query-named-block-nodes", func(context.Context, qmptest.Command) (any, error) {
		nodes := []any{map[string]any{"node-name": "parent0"}, map[string]any{"node-name": "childs0"}}
		if polls.Add(1) < 3 {
			nodes = append(nodes, map[string]any{"node-name": "colo-active0"}, map[string]any{"node-name": "colo-hidden0"})
		}
		return nodes, nil
	})
	if err := FailoverSecondaryOn(context.Background(), sec.Client(), Options{Poll: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if n := polls.Load(); n != 3 {
		t.Errorf("%d polls of the block graph, want 3", n)
	}
	sec.Handle("query-named-block-nodes", func(context.Context, qmptest.Command) (any, error) {
		return []any{map[string]any{"node-name": "colo-active0"}}, nil
	})
	sec.mode.Store("secondary")
	err := FailoverSecondaryOn(context.Background(), sec.Client(), Options{Poll: 5 * time.Millisecond, StepTimeout: 50 * time.Millisecond})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "wait for the replication commit" || !strings.Contains(err.Error(), "colo-active0") {
		t.Errorf("FailoverSecondaryOn with a commit that never ends: %v", err)
	}
}

func TestFailoverSecondaryYanksOnlyWhatExists(t *testing.T) {
	p, _, sec := pairOf(t)
	sec.Return("query-yank", []map[string]any{{"type": "chardev", "id": "red0"}}) // COLO's migration is gone
	if err := p.FailoverSecondary(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(sec.Named("yank")); n != 0 {
		t.Errorf("%d yank commands, want none", n)
	}
}

func TestFailoverSecondaryStepFails(t *testing.T) {
	p, _, sec := pairOf(t)
	sec.Handle("object-del", func(_ context.Context, c qmptest.Command) (any, error) {
		if c.Args["id"] == "f1" {
			return nil, &qmp.Error{Class: qmp.ErrorClassGeneric, Desc: "object 'f1' not found"}
		}
		return nil, nil
	})
	err := p.FailoverSecondary(context.Background())
	var se *StepError
	if !errors.As(err, &se) || se.Sequence != "secondary failover" || se.Step != "object-del f1" || se.N != 6 || se.Of != 10 {
		t.Fatalf("FailoverSecondary: %v", err)
	}
	if n := len(sec.Named("chardev-remove")); n != 0 {
		t.Errorf("the sequence went on after the failed step: %d chardev-remove", n)
	}
	if st := p.State(); st.Mode != Simplex || !strings.Contains(st.Reason, "secondary failover failed") {
		t.Errorf("state %v", st)
	}
	if got := p.Spec(); got.Primary != testSpec().Primary {
		t.Errorf("the roles swapped after a failed failover")
	}
}

func TestFailoverPrimary(t *testing.T) {
	p, pri, sec := pairOf(t)
	pri.Return("query-yank", []map[string]any{{"type": "migration"}, {"type": "block-node", "node-name": "colo-nbd0"}})
	before := len(calls(t, pri))
	sec.CloseConnections() // the secondary died
	if err := p.FailoverPrimary(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "primary", calls(t, pri)[before:], wantPrimaryFailover)
	if st := p.State(); st.Mode != Simplex || st.Reason != "secondary lost: the primary runs the VM alone" {
		t.Errorf("state %v", st)
	}
	if got := p.Spec(); !reflect.DeepEqual(got, testSpec().withDefaults()) {
		t.Errorf("spec changed: %+v", got)
	}
}

func TestFailoverPrimaryStepFails(t *testing.T) {
	p, pri, _ := pairOf(t)
	pri.Fail("blockdev-del", qmp.ErrorClassGeneric, "Node replication0 is in use")
	err := p.FailoverPrimary(context.Background())
	var se *StepError
	if !errors.As(err, &se) || se.Side != PrimaryRole || se.Step != "blockdev-del" || se.N != 3 {
		t.Fatalf("FailoverPrimary: %v", err)
	}
	if !strings.Contains(err.Error(), "in use") {
		t.Errorf("QEMU's message is lost: %v", err)
	}
}

// TestFailoverTimesOut: a failover that QEMU never finishes ends with the
// step and the last COLO status, not a hang.
func TestFailoverTimesOut(t *testing.T) {
	p, _, sec := pairOf(t)
	p.StepTimeout = 100 * time.Millisecond
	sec.Handle("x-colo-lost-heartbeat", func(context.Context, qmptest.Command) (any, error) { return nil, nil })
	err := p.FailoverSecondary(context.Background())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "wait for COLO mode none" || !strings.Contains(err.Error(), `still "secondary"`) {
		t.Fatalf("FailoverSecondary: %v", err)
	}
}

// TestReprotectAfterSecondaryFailover: the former secondary runs the VM
// and is protected again, as primary, by a new secondary on the former
// primary's node; the new secondary's failover then swaps back.
func TestReprotectAfterSecondaryFailover(t *testing.T) {
	p, _, sec := pairOf(t)
	if err := p.FailoverSecondary(context.Background()); err != nil {
		t.Fatal(err)
	}
	sec.objects.Store([]string{"rew0"})
	next := secondaryFor(t, sec)
	before := len(calls(t, sec))
	protect(t, p, sec, next)
	if st := p.State(); st.Mode != Protected {
		t.Errorf("state %v", st)
	}
	checkCalls(t, "new secondary", calls(t, next), wantSecondaryProtect("127.0.0.1"))
	checkCalls(t, "former secondary", calls(t, sec)[before:], wantPrimaryProtect("127.0.0.2", "127.0.0.1", "/s/work", true))

	if err := p.FailoverSecondary(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := p.Spec(); !reflect.DeepEqual(got, testSpec().withDefaults()) {
		t.Errorf("spec after the second swap: %+v", got)
	}
}

// TestReprotectAfterPrimaryFailover: the primary that lost its secondary
// is protected again by a new secondary on the same node.
func TestReprotectAfterPrimaryFailover(t *testing.T) {
	p, pri, _ := pairOf(t)
	if err := p.FailoverPrimary(context.Background()); err != nil {
		t.Fatal(err)
	}
	next := secondaryFor(t, pri)
	before := len(calls(t, pri))
	protect(t, p, pri, next)
	checkCalls(t, "primary", calls(t, pri)[before:], wantPrimaryProtect("127.0.0.1", "127.0.0.2", "/p/work", false))
	if st := p.State(); st.Mode != Protected {
		t.Errorf("state %v", st)
	}
}

func TestFailoverWithoutProtect(t *testing.T) {
	p, err := NewPair(testSpec())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.FailoverSecondary(context.Background()); err == nil {
		t.Error("FailoverSecondary without monitors succeeded")
	}
	if err := p.FailoverPrimary(context.Background()); err == nil {
		t.Error("FailoverPrimary without monitors succeeded")
	}
	if st := p.State(); st.Mode != Simplex {
		t.Errorf("state %v", st)
	}
}

func TestNewPairValidates(t *testing.T) {
	s := testSpec()
	s.MAC = ""
	if _, err := NewPair(s); err == nil || !strings.Contains(err.Error(), "mac") {
		t.Errorf("NewPair: %v", err)
	}
}
