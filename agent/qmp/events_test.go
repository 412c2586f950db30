package qmp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/qmp"
	"github.com/lockstep-ft/lockstep/agent/qmp/qmptest"
)

func recv(t *testing.T, ch <-chan qmp.Event) qmp.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return qmp.Event{}
}

// roundTrip makes sure every event emitted before it has been dispatched: the
// fake writes events and replies on one stream, in order.
func roundTrip(t *testing.T, c *qmp.Client) {
	t.Helper()
	if _, err := c.QueryStatus(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestSubscribeFiltersByName(t *testing.T) {
	srv := qmptest.New(t)
	c := srv.Client()
	stops, cancelStops := c.Subscribe(qmp.EventStop)
	all, cancelAll := c.Subscribe()
	defer cancelAll()

	before := time.Now().Add(-time.Second)
	srv.Emit(qmp.EventResume, nil)
	srv.Emit(qmp.EventStop, nil)
	srv.Emit(qmp.EventMigration, map[string]string{"status": "colo"})
	roundTrip(t, c)

	ev := recv(t, stops)
	if ev.Name != qmp.EventStop || ev.Data != nil || ev.Time.Before(before) || ev.Time.After(time.Now()) {
		t.Errorf("STOP subscriber got %+v", ev)
	}
	select {
	case ev := <-stops:
		t.Errorf("STOP subscriber also got %s", ev.Name)
	default:
	}
	for _, want := range []string{qmp.EventResume, qmp.EventStop, qmp.EventMigration} {
		if ev := recv(t, all); ev.Name != want {
			t.Errorf("all-events subscriber got %s, want %s", ev.Name, want)
		}
	}

	cancelStops()
	if _, ok := <-stops; ok {
		t.Error("channel not closed by cancel")
	}
	cancelStops() // idempotent
	srv.Emit(qmp.EventStop, nil)
	roundTrip(t, c)
	if ev := recv(t, all); ev.Name != qmp.EventStop {
		t.Errorf("got %s after cancel of another subscriber", ev.Name)
	}
}

func TestSlowSubscriberDoesNotBlockReplies(t *testing.T) {
	srv := qmptest.New(t)
	c := srv.Client()
	ch, cancel := c.Subscribe(qmp.EventMigrationPass)
	defer cancel()
	const n = qmp.SubscriberBuffer + 10
	for i := range n {
		srv.Emit(qmp.EventMigrationPass, map[string]int{"pass": i})
	}
	roundTrip(t, c) // would hang if the reader waited for the subscriber
	if got := c.DroppedEvents(); got != 10 {
		t.Errorf("DroppedEvents = %d, want 10", got)
	}
	if len(ch) != qmp.SubscriberBuffer {
		t.Errorf("buffered %d events, want %d", len(ch), qmp.SubscriberBuffer)
	}
	// The oldest events are kept, in order.
	var d struct{ Pass int }
	if err := recv(t, ch).Decode(&d); err != nil || d.Pass != 0 {
		t.Errorf("first kept event pass=%d (%v), want 0", d.Pass, err)
	}
}

// QEMU emits RESUME before the reply to cont: a wait registered only
// after the reply misses it, one registered with Expect does not.
func TestExpectCatchesEventBeforeReply(t *testing.T) {
	srv := qmptest.New(t)
	srv.Handle("cont", func(context.Context, qmptest.Command) (any, error) {
		srv.Emit(qmp.EventResume, nil)
		return nil, nil
	})
	c := srv.Client()
	ctx := testCtx(t)

	w := c.Expect(qmp.EventResume, nil)
	if err := c.Cont(ctx); err != nil {
		t.Fatal(err)
	}
	if ev, err := w.Wait(ctx); err != nil || ev.Name != qmp.EventResume {
		t.Errorf("Wait = %+v, %v", ev, err)
	}

	// The same sequence with WaitEvent after the command misses the event,
	// which is why Expect exists (and shows this test can fail).
	if err := c.Cont(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.WaitEvent(short, qmp.EventResume, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("late WaitEvent = %v, want DeadlineExceeded (events are not replayed)", err)
	}
}

func TestWaitEventMatch(t *testing.T) {
	srv := qmptest.New(t)
	c := srv.Client()
	ctx := testCtx(t)
	seen := make(chan string, 100)
	type result struct {
		ev  qmp.Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		ev, err := c.WaitEvent(ctx, qmp.EventMigration, func(ev qmp.Event) bool {
			m, err := ev.Migration()
			seen <- m.Status
			return err == nil && m.Status == qmp.MigrationCompleted
		})
		done <- result{ev, err}
	}()
	// Emit until the waiter has seen one event (it is registered then);
	// the events right after must not be missed.
	for registered := false; !registered; {
		srv.Emit(qmp.EventMigration, map[string]string{"status": "setup"})
		select {
		case <-seen:
			registered = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	srv.Emit(qmp.EventStop, nil)
	srv.Emit(qmp.EventMigration, map[string]string{"status": "active"})
	srv.Emit(qmp.EventMigration, map[string]string{"status": "completed"})
	srv.Emit(qmp.EventMigration, map[string]string{"status": "failed"})
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if m, _ := r.ev.Migration(); m.Status != "completed" {
		t.Errorf("WaitEvent returned status %q, want completed", m.Status)
	}
}

func TestWaiterCancel(t *testing.T) {
	srv := qmptest.New(t)
	c := srv.Client()
	w := c.Expect(qmp.EventShutdown, nil)
	w.Cancel()
	srv.Emit(qmp.EventShutdown, nil)
	roundTrip(t, c)
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	if ev, err := w.Wait(ctx); err == nil {
		t.Errorf("cancelled waiter got %+v", ev)
	}
}

func TestTypedEventDecoders(t *testing.T) {
	srv := qmptest.New(t)
	c := srv.Client()
	ch, cancel := c.Subscribe()
	defer cancel()
	srv.Emit(qmp.EventColoExit, map[string]string{"mode": "secondary", "reason": "request"})
	srv.Emit(qmp.EventBlockJobReady, map[string]any{"type": "mirror", "device": "resync", "len": 1024, "offset": 1024, "speed": 0})
	srv.Emit(qmp.EventMigration, map[string]string{"status": "colo"})

	exit, err := recv(t, ch).ColoExit()
	if err != nil || exit != (qmp.ColoExitEvent{Mode: qmp.ColoModeSecondary, Reason: qmp.ColoExitRequest}) {
		t.Errorf("ColoExit = %+v, %v", exit, err)
	}
	job, err := recv(t, ch).BlockJob()
	if err != nil || job.Device != "resync" || job.Type != "mirror" || job.Len != 1024 || job.Offset != 1024 {
		t.Errorf("BlockJob = %+v, %v", job, err)
	}
	ev := recv(t, ch)
	if m, err := ev.Migration(); err != nil || m.Status != qmp.MigrationColo {
		t.Errorf("Migration = %+v, %v", m, err)
	}
	if _, err := ev.ColoExit(); err == nil {
		t.Error("ColoExit accepted a MIGRATION event")
	}
}
