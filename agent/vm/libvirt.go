//go:build cgo

package vm

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"libvirt.org/go/libvirt"
)

// Libvirt is the Hypervisor of this node: a connection to libvirtd
// (qemu:///system), or to libvirt's test driver (test:///default) in tests.
// It is not to be used after Close.
type Libvirt struct {
	conn *libvirt.Connect
	cbID int // the connection's one lifecycle callback
	mu   sync.Mutex
	subs map[int]func(Event) // Events' subscribers; nil once closed
	next int
	done chan struct{} // closed by Close
}

var _ Hypervisor = (*Libvirt)(nil)

var eventLoop struct {
	once sync.Once
	err  error
}

// startEventLoop runs libvirt's default event loop for the process. libvirt
// delivers events (and keepalives) only through a registered loop, and it
// must be registered before the first connection is opened.
func startEventLoop() error {
	eventLoop.once.Do(func() {
		if eventLoop.err = libvirt.EventRegisterDefaultImpl(); eventLoop.err != nil {
			return
		}
		go func() {
			for {
				if libvirt.EventRunDefaultImpl() != nil {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	})
	return eventLoop.err
}

// Open connects to the libvirtd at uri.
func Open(uri string) (*Libvirt, error) {
	if err := startEventLoop(); err != nil {
		return nil, fmt.Errorf("libvirt event loop: %w", lverr(err))
	}
	c, err := libvirt.NewConnect(uri)
	if err != nil {
		return nil, fmt.Errorf("libvirt %s: %w", uri, lverr(err))
	}
	l := &Libvirt{conn: c, subs: map[int]func(Event){}, done: make(chan struct{})}
	// A libvirtd that exits closes the socket; one that hangs is only found
	// out by keepalive. Drivers without a daemon (test:///) refuse it.
	_ = c.SetKeepAlive(5, 3)
	// One callback, fanned out to Events' subscribers: libvirt refuses a
	// second lifecycle callback on a connection ("event callback already
	// tracked"), since the Go binding's C function is the same for all.
	if l.cbID, err = c.DomainEventLifecycleRegister(nil, l.lifecycle); err != nil {
		c.Close()
		return nil, fmt.Errorf("libvirt %s: events: %w", uri, lverr(err))
	}
	if err := c.RegisterCloseCallback(l.disconnected); err != nil {
		c.DomainEventDeregister(l.cbID)
		c.Close()
		return nil, fmt.Errorf("libvirt %s: %w", uri, lverr(err))
	}
	return l, nil
}

// Close drops the connection. The event callback goes first: it holds a
// reference on the connection, which would otherwise stay open.
func (l *Libvirt) Close() error {
	l.mu.Lock()
	if l.subs == nil {
		l.mu.Unlock()
		return nil
	}
	l.subs = nil
	close(l.done)
	l.mu.Unlock()
	l.conn.DomainEventDeregister(l.cbID)
	l.conn.UnregisterCloseCallback()
	_, err := l.conn.Close()
	return lverr(err)
}

// Start creates the domain without a persistent definition (transient):
// libvirt forgets it when it stops, and nothing in libvirt restarts it, so
// a node that comes back after a failover never autostarts an old copy of a
// VM that now runs on the peer: only the agent decides where a VM runs.
// Not AUTODESTROY either: the VM must survive a restart of the agent.
// VALIDATE checks the XML against libvirt's schema: without it libvirt
// ignores what it does not know, and a misspelt setting silently becomes
// the default.
func (l *Libvirt) Start(ctx context.Context, domainXML string) error {
	var v struct {
		Name string `xml:"name"`
	}
	_ = xml.Unmarshal([]byte(domainXML), &v)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("vm %q: start: %w", v.Name, err)
	}
	d, err := l.conn.DomainCreateXML(domainXML, libvirt.DOMAIN_START_VALIDATE)
	if err != nil {
		if v.Name != "" && l.active(v.Name) {
			return fmt.Errorf("vm %q: %w", v.Name, ErrAlreadyRunning)
		}
		return fmt.Errorf("vm %q: start: %w", v.Name, lverr(err))
	}
	d.Free()
	return nil
}

// Warm makes libvirt probe the hypervisor now: the first domain started
// after libvirtd comes up otherwise waits for it to run QEMU and read its
// capabilities, about six seconds on a loaded node, which a take-over
// after a node loss must not spend.
func (l *Libvirt) Warm(machine string) (time.Duration, error) {
	start := time.Now()
	_, err := l.conn.GetDomainCapabilities("", "x86_64", machine, "kvm", 0)
	if err != nil {
		return time.Since(start), fmt.Errorf("libvirt domain capabilities: %w", lverr(err))
	}
	return time.Since(start), nil
}

// Shutdown presses the ACPI power button: libvirt's default method for
// QEMU tries the guest agent only when the domain has its channel, which
// DomainXML never adds. (Asking for ACPI by flag would be the same, but
// the test driver refuses any flag.)
func (l *Libvirt) Shutdown(name string) error {
	return l.do(name, "shut down", (*libvirt.Domain).Shutdown)
}

// Destroy kills QEMU (SIGTERM, SIGKILL after a grace period).
func (l *Libvirt) Destroy(name string) error {
	return l.do(name, "power off", (*libvirt.Domain).Destroy)
}

func (l *Libvirt) State(name string) (State, error) {
	d, err := l.conn.LookupDomainByName(name)
	if err != nil {
		if isCode(err, libvirt.ERR_NO_DOMAIN) {
			return StateShutoff, nil
		}
		return StateUnknown, fmt.Errorf("vm %q: %w", name, lverr(err))
	}
	defer d.Free()
	s, _, err := d.GetState()
	if err != nil {
		if isCode(err, libvirt.ERR_NO_DOMAIN) {
			return StateShutoff, nil
		}
		return StateUnknown, fmt.Errorf("vm %q: %w", name, lverr(err))
	}
	return state(s), nil
}

func (l *Libvirt) List() ([]DomainInfo, error) {
	ds, err := l.conn.ListAllDomains(libvirt.CONNECT_LIST_DOMAINS_ACTIVE)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", lverr(err))
	}
	var out []DomainInfo
	for _, d := range ds {
		name, err1 := d.GetName()
		uuid, err2 := d.GetUUIDString()
		s, _, err3 := d.GetState()
		d.Free()
		// A domain that stopped since the listing is gone, not an error.
		if err := errors.Join(err1, err2, err3); err != nil && !isCode(err, libvirt.ERR_NO_DOMAIN) {
			return nil, fmt.Errorf("list domains: %w", lverr(err))
		} else if err == nil {
			out = append(out, DomainInfo{Name: name, UUID: uuid, State: state(s)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Migrate live-migrates name to the libvirtd at destURI (e.g.
// qemu+tls://169.254.100.2/system). Always set:
//   - LIVE: the guest runs while its memory is copied.
//   - PEER2PEER: this node's libvirtd connects to destURI itself (with its
//     own TLS client certificate) and drives the migration to its end, so
//     the agent holds no connection to the peer's libvirtd, and an agent
//     crash mid-way leaves libvirtd to finish or roll back.
//   - ABORT_ON_ERROR: an I/O error during the copy aborts the migration
//     instead of moving a guest paused on that error.
//
// Never set: NON_SHARED_DISK/INC (the disks are DRBD devices present on both
// nodes, dual-primary while migrating: copying them would fight DRBD),
// PERSIST_DEST/UNDEFINE_SOURCE (domains stay transient), TUNNELLED (the
// stream goes QEMU to QEMU over DataURI, TLS if asked), POSTCOPY (losing
// either node during post-copy loses the guest; pre-copy keeps the source
// whole until the switch) and UNSAFE (cache='none' satisfies libvirt).
//
// Cancelling ctx aborts the migration; the guest keeps running here.
func (l *Libvirt) Migrate(ctx context.Context, name, destURI, domainXML string, opt MigrateOptions) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("vm %q: migrate: %w", name, err)
	}
	flags := libvirt.MIGRATE_LIVE | libvirt.MIGRATE_PEER2PEER | libvirt.MIGRATE_ABORT_ON_ERROR
	if opt.TLS {
		flags |= libvirt.MIGRATE_TLS
	}
	if opt.AutoConverge {
		flags |= libvirt.MIGRATE_AUTO_CONVERGE
	}
	p := &libvirt.DomainMigrateParameters{}
	if domainXML != "" {
		p.DestXMLSet, p.DestXML = true, domainXML
	}
	if opt.DataURI != "" {
		p.URISet, p.URI = true, opt.DataURI
	}
	if opt.BandwidthMiBs > 0 {
		p.BandwidthSet, p.Bandwidth = true, opt.BandwidthMiBs
	}
	return l.do(name, "migrate to "+destURI, func(d *libvirt.Domain) error {
		done := make(chan error, 1)
		go func() { done <- d.MigrateToURI3(destURI, p, flags) }()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			d.AbortJob()
			if err := <-done; err != nil {
				return fmt.Errorf("%w (%v)", ctx.Err(), lverr(err))
			}
			return nil // finished before the abort took
		}
	})
}

// ChangeMedia swaps the CD drive's medium. FORCE: a guest may have locked
// the tray (an installer still running); without it QEMU only asks the guest
// to open it and libvirt gives up after a while. LIVE only: a transient
// domain has no persistent configuration to change.
func (l *Libvirt) ChangeMedia(name, cdPath string) error {
	if cdPath != "" && !filepath.IsAbs(cdPath) {
		return fmt.Errorf("vm %q: CD %q is not an absolute path", name, cdPath)
	}
	cd := cdrom(cdPath)
	x, err := cd.Marshal()
	if err != nil {
		return err
	}
	op := "insert " + cdPath
	if cdPath == "" {
		op = "eject CD"
	}
	return l.do(name, op, func(d *libvirt.Domain) error {
		return d.UpdateDeviceFlags(x, libvirt.DOMAIN_DEVICE_MODIFY_LIVE|libvirt.DOMAIN_DEVICE_MODIFY_FORCE)
	})
}

func (l *Libvirt) Events(ctx context.Context, fn func(Event)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.subs == nil {
		return errors.New("libvirt events: connection closed")
	}
	id := l.next
	l.next++
	l.subs[id] = fn
	go func() {
		select {
		case <-ctx.Done():
		case <-l.done:
		}
		l.mu.Lock()
		delete(l.subs, id)
		l.mu.Unlock()
	}()
	return nil
}

func (l *Libvirt) lifecycle(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventLifecycle) {
	ev := lifecycleEvent(e)
	// d is lent by libvirt for the call: not to be freed.
	ev.Domain, _ = d.GetName()
	ev.UUID, _ = d.GetUUIDString()
	l.publish(ev)
}

func (l *Libvirt) disconnected(_ *libvirt.Connect, reason libvirt.ConnectCloseReason) {
	if reason == libvirt.CONNECT_CLOSE_REASON_CLIENT {
		return
	}
	why := map[libvirt.ConnectCloseReason]string{
		libvirt.CONNECT_CLOSE_REASON_ERROR:     "error",
		libvirt.CONNECT_CLOSE_REASON_EOF:       "eof",
		libvirt.CONNECT_CLOSE_REASON_KEEPALIVE: "keepalive",
	}[reason]
	l.publish(Event{Kind: EventDisconnected, Reason: why})
}

// publish runs on the event loop; subscribers are called outside the lock
// so that one may cancel itself or subscribe another.
func (l *Libvirt) publish(ev Event) {
	l.mu.Lock()
	fns := make([]func(Event), 0, len(l.subs))
	for _, fn := range l.subs {
		fns = append(fns, fn)
	}
	l.mu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

// do runs f on the running domain name. A domain that is absent gives
// ErrNotRunning; one that stops while f runs too, with libvirt's message
// ("no domain" or "domain is not running", depending on the moment).
func (l *Libvirt) do(name, op string, f func(*libvirt.Domain) error) error {
	d, err := l.conn.LookupDomainByName(name)
	if isCode(err, libvirt.ERR_NO_DOMAIN) {
		return fmt.Errorf("vm %q: %w", name, ErrNotRunning)
	}
	if err == nil {
		err = f(d)
		d.Free()
		if err != nil && !l.active(name) {
			return fmt.Errorf("vm %q: %s: %w (%v)", name, op, ErrNotRunning, lverr(err))
		}
	}
	if err != nil {
		return fmt.Errorf("vm %q: %s: %w", name, op, lverr(err))
	}
	return nil
}

func (l *Libvirt) active(name string) bool {
	d, err := l.conn.LookupDomainByName(name)
	if err != nil {
		return false
	}
	defer d.Free()
	ok, err := d.IsActive()
	return err == nil && ok
}

func state(s libvirt.DomainState) State {
	switch s {
	case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED:
		return StateRunning
	case libvirt.DOMAIN_PAUSED:
		return StatePaused
	case libvirt.DOMAIN_SHUTDOWN:
		return StateShuttingDown
	case libvirt.DOMAIN_SHUTOFF:
		return StateShutoff
	case libvirt.DOMAIN_CRASHED:
		return StateCrashed
	case libvirt.DOMAIN_PMSUSPENDED:
		return StateSuspended
	}
	return StateUnknown
}

var eventKinds = map[libvirt.DomainEventType]struct {
	kind    EventKind
	reasons map[int]string
}{
	libvirt.DOMAIN_EVENT_STARTED: {EventStarted, map[int]string{
		int(libvirt.DOMAIN_EVENT_STARTED_BOOTED):   "booted",
		int(libvirt.DOMAIN_EVENT_STARTED_MIGRATED): "migrated",
		int(libvirt.DOMAIN_EVENT_STARTED_RESTORED): "restored",
	}},
	libvirt.DOMAIN_EVENT_STOPPED: {EventStopped, map[int]string{
		int(libvirt.DOMAIN_EVENT_STOPPED_SHUTDOWN):  "shutdown",
		int(libvirt.DOMAIN_EVENT_STOPPED_DESTROYED): "destroyed",
		int(libvirt.DOMAIN_EVENT_STOPPED_CRASHED):   "crashed",
		int(libvirt.DOMAIN_EVENT_STOPPED_MIGRATED):  "migrated",
		int(libvirt.DOMAIN_EVENT_STOPPED_SAVED):     "saved",
		int(libvirt.DOMAIN_EVENT_STOPPED_FAILED):    "failed",
	}},
	libvirt.DOMAIN_EVENT_SUSPENDED: {EventPaused, map[int]string{
		int(libvirt.DOMAIN_EVENT_SUSPENDED_PAUSED):    "paused",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_MIGRATED):  "migrated",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_IOERROR):   "ioerror",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_WATCHDOG):  "watchdog",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_API_ERROR): "api-error",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_POSTCOPY):  "postcopy",
	}},
	libvirt.DOMAIN_EVENT_RESUMED: {EventResumed, map[int]string{
		int(libvirt.DOMAIN_EVENT_RESUMED_UNPAUSED): "unpaused",
		int(libvirt.DOMAIN_EVENT_RESUMED_MIGRATED): "migrated",
		int(libvirt.DOMAIN_EVENT_RESUMED_POSTCOPY): "postcopy",
	}},
	libvirt.DOMAIN_EVENT_SHUTDOWN: {EventShutdown, map[int]string{
		int(libvirt.DOMAIN_EVENT_SHUTDOWN_FINISHED): "finished",
		int(libvirt.DOMAIN_EVENT_SHUTDOWN_GUEST):    "guest",
		int(libvirt.DOMAIN_EVENT_SHUTDOWN_HOST):     "host",
	}},
	libvirt.DOMAIN_EVENT_CRASHED: {EventCrashed, map[int]string{
		int(libvirt.DOMAIN_EVENT_CRASHED_PANICKED): "panicked",
	}},
}

func lifecycleEvent(e *libvirt.DomainEventLifecycle) Event {
	k, ok := eventKinds[e.Event]
	if !ok {
		return Event{Kind: EventOther, Reason: fmt.Sprintf("event-%d-%d", e.Event, e.Detail)}
	}
	r, ok := k.reasons[e.Detail]
	if !ok {
		r = fmt.Sprintf("detail-%d", e.Detail)
	}
	return Event{Kind: k.kind, Reason: r}
}

func isCode(err error, code libvirt.ErrorNumber) bool {
	var e libvirt.Error
	return errors.As(err, &e) && e.Code == code
}

// lverr keeps libvirt's message, which names the domain and the cause,
// and drops the codes its Error method adds.
func lverr(err error) error {
	var e libvirt.Error
	if errors.As(err, &e) {
		return errors.New(e.Message)
	}
	return err
}
