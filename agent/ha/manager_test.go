package ha

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// fakes records every side effect as one line, in order.
type fakes struct {
	log      []string
	running  []string
	failOn   string // a log line prefix whose call fails
	resource []string
}

func (f *fakes) do(s string) error {
	f.log = append(f.log, s)
	if f.failOn != "" && strings.HasPrefix(s, f.failOn) {
		return errors.New("injected failure")
	}
	return nil
}
func (f *fakes) Ensure(_ context.Context, v Volume) error { return f.do("ensure " + v.Resource()) }
func (f *fakes) Promote(_ context.Context, v Volume, force bool) error {
	return f.do(fmt.Sprintf("promote %s force=%v", v.Resource(), force))
}
func (f *fakes) Demote(_ context.Context, v Volume) error { return f.do("demote " + v.Resource()) }
func (f *fakes) Remove(_ context.Context, v Volume) error { return f.do("remove " + v.Resource()) }
func (f *fakes) AllowTwoPrimaries(_ context.Context, v Volume, on bool) error {
	return f.do(fmt.Sprintf("two-primaries %s %v", v.Resource(), on))
}
func (f *fakes) Migrate(_ context.Context, n, xml string) error {
	if err := f.do("migrate " + n); err != nil {
		return err
	}
	f.running = slices.DeleteFunc(f.running, func(s string) bool { return s == n })
	return nil
}
func (f *fakes) Start(_ context.Context, xml string) error {
	if err := f.do("start " + xml); err != nil {
		return err
	}
	f.running = append(f.running, xml)
	return nil
}
func (f *fakes) Shutdown(_ context.Context, n string) error { return f.do("shutdown " + n) }
func (f *fakes) Destroy(_ context.Context, n string) error {
	f.running = slices.DeleteFunc(f.running, func(s string) bool { return s == n })
	return f.do("destroy " + n)
}
func (f *fakes) Running(context.Context) ([]string, error) { return slices.Clone(f.running), nil }
func (f *fakes) SetResources(o []string)                   { f.resource = o }

func newManager(t *testing.T) (*Manager, *fakes) {
	f := &fakes{}
	m, err := New(Options{TablePath: filepath.Join(t.TempDir(), "vms.json"), Storage: f, Hypervisor: f, Membership: f,
		Domain: func(r *Record) (string, error) { return r.Spec.Name, nil }})
	if err != nil {
		t.Fatal(err)
	}
	tab := &Table{Generation: 1, VMs: map[string]*Record{
		"web": {Spec: api.VMSpec{Name: "web", Mode: api.ModeHA}, Want: WantRunning,
			Volumes: []Volume{{Name: "root", SizeMiB: 64, Minor: 0}, {Name: "data", SizeMiB: 64, Minor: 1}}},
		"db": {Spec: api.VMSpec{Name: "db", Mode: api.ModeHA}, Want: WantStopped, Volumes: []Volume{{Name: "root", SizeMiB: 64, Minor: 2}}},
	}}
	if ok, err := m.SetTable(context.Background(), tab, false); !ok || err != nil {
		t.Fatalf("SetTable: %v %v", ok, err)
	}
	f.log = nil
	return m, f
}

func TestStartPromotesThenRuns(t *testing.T) {
	m, f := newManager(t)
	if err := m.Start(context.Background(), "web", false); err != nil {
		t.Fatal(err)
	}
	want := []string{"ensure lsv0", "promote lsv0 force=false", "ensure lsv1", "promote lsv1 force=false", "start web"}
	if !slices.Equal(f.log, want) {
		t.Errorf("calls %q, want %q", f.log, want)
	}
	if !slices.Equal(f.resource, []string{"vm:web"}) || !slices.Equal(m.Running(), []string{"web"}) {
		t.Errorf("resources %q running %q", f.resource, m.Running())
	}
}

func TestFailedStartDemotesWhatItPromoted(t *testing.T) {
	m, f := newManager(t)
	f.failOn = "start"
	if err := m.Start(context.Background(), "web", false); err == nil || !strings.Contains(err.Error(), "vm web") {
		t.Fatalf("err %v", err)
	}
	if got := f.log[len(f.log)-2:]; !slices.Equal(got, []string{"demote lsv0", "demote lsv1"}) {
		t.Errorf("after the failure: %q", got)
	}
	if len(m.Running()) != 0 || f.resource != nil {
		t.Errorf("running %q resources %q", m.Running(), f.resource)
	}
}

func TestTakeOverForcesAndSkipsStoppedVMs(t *testing.T) {
	m, f := newManager(t)
	if err := m.TakeOver(context.Background(), []string{"vm:web", "vm:db", "other"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.log, "promote lsv0 force=true") || slices.Contains(f.log, "start db") {
		t.Errorf("calls %q", f.log)
	}
}

func TestReleaseDestroysAndDemotes(t *testing.T) {
	m, f := newManager(t)
	m.Start(context.Background(), "web", false)
	f.log = nil
	if err := m.Release(context.Background(), []string{"vm:web"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"destroy web", "demote lsv0", "demote lsv1"}
	if !slices.Equal(f.log, want) || len(f.resource) != 0 {
		t.Errorf("calls %q resources %q", f.log, f.resource)
	}
}

func TestReconcileAdoptsAndReleases(t *testing.T) {
	m, f := newManager(t)
	var stopped []string
	m.o.Stopped = func(n string) { stopped = append(stopped, n) }
	f.running = []string{"db", "stranger"}
	if err := m.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Running(), []string{"db"}) {
		t.Fatalf("running %q: want db adopted, the stranger (not in the table) left alone", m.Running())
	}
	f.running = nil
	m.Reconcile(context.Background())
	if len(m.Running()) != 0 || !slices.Equal(stopped, []string{"db"}) || !slices.Contains(f.log, "demote lsv2") {
		t.Errorf("running %q stopped %q calls %q", m.Running(), stopped, f.log)
	}
}

func TestSetTableTakesOnlyNewerAndRemovesDeletedVolumes(t *testing.T) {
	m, f := newManager(t)
	old := m.Table()
	if ok, _ := m.SetTable(context.Background(), old, false); ok {
		t.Error("a table of the same generation was taken")
	}
	next := m.Table()
	next.Generation++
	delete(next.VMs, "db")
	if ok, err := m.SetTable(context.Background(), next, false); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if !slices.Contains(f.log, "remove lsv2") || slices.Contains(f.log, "remove lsv0") {
		t.Errorf("calls %q", f.log)
	}
	again, err := LoadTable(m.o.TablePath)
	if err != nil || again.Generation != next.Generation || len(again.VMs) != 1 {
		t.Errorf("saved table %+v %v", again, err)
	}
}

func TestFreeMinorAndNames(t *testing.T) {
	m, _ := newManager(t)
	tab := m.Table()
	if got := tab.FreeMinor(); got != 3 {
		t.Errorf("FreeMinor %d", got)
	}
	if got := tab.FreeMinor(3, 4); got != 5 {
		t.Errorf("FreeMinor(3,4) %d", got)
	}
	if ValidName("vm", "Web") == "" || ValidName("vm", "-x") == "" || ValidName("vm", "web-1") != "" {
		t.Error("ValidName")
	}
}

func TestLiveMigration(t *testing.T) {
	src, fs := newManager(t)
	dst, fd := newManager(t)
	ctx := context.Background()
	src.Start(ctx, "db", false)
	fs.log = nil
	if err := dst.PrepareIncoming(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"ensure lsv2", "two-primaries lsv2 true", "promote lsv2 force=false"}; !slices.Equal(fd.log, want) {
		t.Errorf("destination prepare: %q, want %q", fd.log, want)
	}
	// The VM appears on the destination before it is announced there:
	// Reconcile must not adopt it yet.
	fd.running = []string{"db"}
	dst.Reconcile(ctx)
	if len(dst.Running()) != 0 {
		t.Fatal("an incoming VM was adopted before the migration finished")
	}
	if err := src.MigrateOut(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"two-primaries lsv2 true", "migrate db", "demote lsv2", "two-primaries lsv2 false"}; !slices.Equal(fs.log, want) {
		t.Errorf("source: %q, want %q", fs.log, want)
	}
	if len(src.Running()) != 0 || len(fs.resource) != 0 {
		t.Errorf("source still announces %q", fs.resource)
	}
	asked := 0
	if err := dst.FinishIncoming(ctx, "db", true, func() bool { asked++; return asked < 3 }); err != nil {
		t.Fatal(err)
	}
	if asked != 3 || !slices.Equal(fd.resource, []string{"vm:db"}) {
		t.Errorf("destination announced %q after asking %d times", fd.resource, asked)
	}
}

func TestFailedMigrationUndoes(t *testing.T) {
	src, fs := newManager(t)
	dst, fd := newManager(t)
	ctx := context.Background()
	src.Start(ctx, "db", false)
	dst.PrepareIncoming(ctx, "db")
	fs.failOn = "migrate"
	if err := src.MigrateOut(ctx, "db"); err == nil {
		t.Fatal("no error")
	}
	if !slices.Equal(src.Running(), []string{"db"}) || fs.log[len(fs.log)-1] != "two-primaries lsv2 false" {
		t.Errorf("source after a failed migration: running %q, calls %q", src.Running(), fs.log)
	}
	fd.log = nil
	dst.FinishIncoming(ctx, "db", false, func() bool { return false })
	if want := []string{"demote lsv2", "two-primaries lsv2 false"}; !slices.Equal(fd.log, want) || len(dst.Running()) != 0 {
		t.Errorf("destination undo: %q running %q", fd.log, dst.Running())
	}
}

// A guest that shut down by itself is reported with the manager's lock
// free: the primary's report changes the table, which takes the lock.
func TestStoppedIsReportedOutsideTheLock(t *testing.T) {
	m, f := newManager(t)
	m.Start(context.Background(), "web", false)
	done := make(chan struct{})
	m.o.Stopped = func(n string) {
		m.Prepare(context.Background()) // takes the lock
		close(done)
	}
	f.running = nil
	go m.Reconcile(context.Background())
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Reconcile deadlocked reporting a stopped VM")
	}
}
