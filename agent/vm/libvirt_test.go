//go:build cgo

package vm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// openTest connects to libvirt's test driver. Every connection to
// test:///default in a process shares one state (with a predefined running
// domain "test") until the last one closes, so tests use their own names.
func openTest(t *testing.T) *Libvirt {
	t.Helper()
	l, err := Open("test:///default")
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// unavailable skips a test for want of libvirt, except in CI.
func unavailable(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("libvirt test driver: %v", err)
	}
	t.Skipf("libvirt test driver: %v", err)
}

// testDomainXML is sampleDomain for the test driver, with the UUID.
func testDomainXML(t *testing.T, name string) (string, string) {
	t.Helper()
	d := sampleDomain()
	h := sha256.Sum256([]byte(name))
	d.Name, d.Type = name, "test"
	d.UUID = fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	s, err := DomainXML(d)
	if err != nil {
		t.Fatal(err)
	}
	return s, d.UUID
}

// events collects lifecycle events of one domain.
func events(t *testing.T, l *Libvirt, ctx context.Context, name string) <-chan Event {
	t.Helper()
	ch := make(chan Event, 32)
	if err := l.Events(ctx, func(e Event) {
		if e.Domain == name {
			ch <- e
		}
	}); err != nil {
		t.Fatal(err)
	}
	return ch
}

func expect(t *testing.T, ch <-chan Event, kind EventKind, reason string) {
	t.Helper()
	select {
	case e := <-ch:
		if e.Kind != kind || e.Reason != reason {
			t.Errorf("event %+v, want %s (%s)", e, kind, reason)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("no %s (%s) event", kind, reason)
	}
}

func wantState(t *testing.T, l *Libvirt, name string, want State) {
	t.Helper()
	if s, err := l.State(name); s != want || err != nil {
		t.Errorf("State(%s) = %s, %v; want %s", name, s, err, want)
	}
}

func TestLibvirtLifecycle(t *testing.T) {
	l := openTest(t)
	ctx := t.Context()
	ch := events(t, l, ctx, "life")
	x, uuid := testDomainXML(t, "life")

	wantState(t, l, "life", StateShutoff)
	if err := l.Start(ctx, x); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, EventStarted, "booted")
	wantState(t, l, "life", StateRunning)
	list, err := l.List()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range list {
		found = found || d == DomainInfo{Name: "life", UUID: uuid, State: StateRunning}
	}
	if !found {
		t.Errorf("List() = %+v, without life", list)
	}
	if err := l.Start(ctx, x); !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), `"life"`) {
		t.Errorf("second Start: %v, want ErrAlreadyRunning naming life", err)
	}

	if err := l.Shutdown("life"); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, EventStopped, "shutdown")
	wantState(t, l, "life", StateShutoff)

	if err := l.Start(ctx, x); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, EventStarted, "booted")
	if err := l.Destroy("life"); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, EventStopped, "destroyed")
	wantState(t, l, "life", StateShutoff)
	// Transient: a stopped domain leaves nothing behind in libvirt.
	if _, err := l.conn.LookupDomainByName("life"); err == nil {
		t.Error("life is still defined after it stopped")
	}
}

// libvirt parses DomainXML's output (Start validates it against libvirt's
// schema) and keeps what matters.
func TestLibvirtDomainXML(t *testing.T) {
	l := openTest(t)
	in, _ := testDomainXML(t, "xml")
	if err := l.Start(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	defer l.Destroy("xml")
	d, err := l.conn.LookupDomainByName("xml")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	s, err := d.GetXMLDesc(0)
	if err != nil {
		t.Fatal(err)
	}
	var x libvirtxml.Domain
	if err := x.Unmarshal(s); err != nil {
		t.Fatal(err)
	}
	dev := x.Devices
	if len(dev.Disks) != 3 || dev.Disks[0].Driver.Cache != "none" || dev.Disks[0].Driver.IO != "native" ||
		dev.Disks[1].Target.Dev != "vdc" || dev.Disks[2].Device != "cdrom" ||
		dev.Disks[2].Source.File.File != "/var/lib/lockstep/vcd/debian-12.iso" || dev.Disks[2].Boot.Order != 2 {
		t.Errorf("disks as libvirt has them:\n%s", s)
	}
	if len(dev.Interfaces) != 2 || dev.Interfaces[1].MAC.Address != "02:00:5e:10:00:01" ||
		dev.Interfaces[0].Source.Bridge.Bridge != "bbiz0" {
		t.Errorf("NICs as libvirt has them:\n%s", s)
	}
	if x.CPU == nil || x.CPU.Mode != "host-model" || x.OnCrash != "destroy" || dev.MemBalloon.Model != "none" ||
		len(dev.Serials) != 1 || dev.Serials[0].Log == nil || dev.Serials[0].Log.Append != "on" {
		t.Errorf("domain as libvirt has it:\n%s", s)
	}
}

func TestLibvirtBadXML(t *testing.T) {
	l := openTest(t)
	x, _ := testDomainXML(t, "xml")
	err := l.Start(t.Context(), strings.Replace(x, "<memory", "<memroy", 1))
	if err == nil || !strings.Contains(err.Error(), `vm "xml": start:`) {
		t.Errorf("Start with bad XML: %v", err)
	}
	if err := l.Start(t.Context(), "not xml"); err == nil {
		t.Error("Start(not xml) succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := l.Start(ctx, x); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with a cancelled context: %v", err)
	}
	wantState(t, l, "xml", StateShutoff)
}

func TestLibvirtUnknownDomain(t *testing.T) {
	l := openTest(t)
	for op, err := range map[string]error{
		"Shutdown":    l.Shutdown("nosuch"),
		"Destroy":     l.Destroy("nosuch"),
		"ChangeMedia": l.ChangeMedia("nosuch", ""),
		"Migrate":     l.Migrate(t.Context(), "nosuch", "qemu+tls://169.254.100.2/system", "", MigrateOptions{}),
	} {
		if !errors.Is(err, ErrNotRunning) || err.Error() != `vm "nosuch": not running on this node` {
			t.Errorf("%s: %v, want ErrNotRunning naming the domain", op, err)
		}
	}
	wantState(t, l, "nosuch", StateShutoff)
}

// The test driver supports neither migration nor media changes: these only
// check that the calls reach libvirt, fail cleanly and leave the guest be.
func TestLibvirtUnsupportedByTestDriver(t *testing.T) {
	l := openTest(t)
	x, _ := testDomainXML(t, "media")
	if err := l.Start(t.Context(), x); err != nil {
		t.Fatal(err)
	}
	defer l.Destroy("media")
	err := l.Migrate(t.Context(), "media", "test:///default", "", MigrateOptions{DataURI: "tcp://169.254.100.2", AutoConverge: true})
	if err == nil || !strings.Contains(err.Error(), `vm "media": migrate to test:///default: `) {
		t.Errorf("Migrate: %v", err)
	}
	if err := l.ChangeMedia("media", "/var/lib/lockstep/vcd/other.iso"); err == nil || !strings.Contains(err.Error(), `vm "media": insert `) {
		t.Errorf("ChangeMedia: %v", err)
	}
	if err := l.ChangeMedia("media", "relative.iso"); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("ChangeMedia(relative.iso): %v", err)
	}
	wantState(t, l, "media", StateRunning)
}

func TestLibvirtEventsEnd(t *testing.T) {
	l := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	ch := events(t, l, ctx, "stop")
	all := events(t, l, t.Context(), "stop")
	cancel()
	// The cancelled subscription is dropped by a goroutine: wait for it.
	for i := 0; ; i++ {
		l.mu.Lock()
		n := len(l.subs)
		l.mu.Unlock()
		if n == 1 {
			break
		}
		if i == 100 {
			t.Fatalf("%d subscriptions after cancel, want 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	x, _ := testDomainXML(t, "stop")
	if err := l.Start(t.Context(), x); err != nil {
		t.Fatal(err)
	}
	expect(t, all, EventStarted, "booted")
	l.Destroy("stop")
	expect(t, all, EventStopped, "destroyed")
	select {
	case e := <-ch:
		t.Errorf("event %+v after cancel", e)
	default:
	}
}

func TestLibvirtClose(t *testing.T) {
	l, err := Open("test:///default")
	if err != nil {
		unavailable(t, err)
	}
	if err := l.Events(t.Context(), func(Event) {}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Events(t.Context(), func(Event) {}); err == nil {
		t.Error("Events after Close succeeded")
	}
}

func TestOpenError(t *testing.T) {
	_, err := Open("nosuch:///system")
	if err == nil || !strings.HasPrefix(err.Error(), "libvirt nosuch:///system: ") {
		t.Errorf("Open(nosuch:///system): %v", err)
	}
}

// What the test driver cannot produce: crashes, migrations, pauses.
func TestLifecycleEvent(t *testing.T) {
	for _, tc := range []struct {
		e    libvirt.DomainEventLifecycle
		want Event
	}{
		{libvirt.DomainEventLifecycle{Event: libvirt.DOMAIN_EVENT_STOPPED, Detail: int(libvirt.DOMAIN_EVENT_STOPPED_CRASHED)}, Event{Kind: EventStopped, Reason: "crashed"}},
		{libvirt.DomainEventLifecycle{Event: libvirt.DOMAIN_EVENT_STOPPED, Detail: int(libvirt.DOMAIN_EVENT_STOPPED_MIGRATED)}, Event{Kind: EventStopped, Reason: "migrated"}},
		{libvirt.DomainEventLifecycle{Event: libvirt.DOMAIN_EVENT_STARTED, Detail: int(libvirt.DOMAIN_EVENT_STARTED_MIGRATED)}, Event{Kind: EventStarted, Reason: "migrated"}},
		{libvirt.DomainEventLifecycle{Event: libvirt.DOMAIN_EVENT_SUSPENDED, Detail: int(libvirt.DOMAIN_EVENT_SUSPENDED_IOERROR)}, Event{Kind: EventPaused, Reason: "ioerror"}},
		{libvirt.DomainEventLifecycle{Event: libvirt.DOMAIN_EVENT_CRASHED, Detail: int(libvirt.DOMAIN_EVENT_CRASHED_PANICKED)}, Event{Kind: EventCrashed, Reason: "panicked"}},
		{libvirt.DomainEventLifecycle{Event: libvirt.DOMAIN_EVENT_STOPPED, Detail: 99}, Event{Kind: EventStopped, Reason: "detail-99"}},
		{libvirt.DomainEventLifecycle{Event: libvirt.DOMAIN_EVENT_DEFINED, Detail: 1}, Event{Kind: EventOther, Reason: "event-0-1"}},
	} {
		if got := lifecycleEvent(&tc.e); got != tc.want {
			t.Errorf("lifecycleEvent(%+v) = %+v, want %+v", tc.e, got, tc.want)
		}
	}
}
