package ha

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Storage makes a VM's volumes usable on this node.
type Storage interface {
	// Ensure makes v ready here: its logical volume exists and its DRBD
	// resource is up as Secondary. It is idempotent.
	Ensure(ctx context.Context, v Volume) error
	// Promote makes this node's copy the one the VM writes to. force is
	// for a survivor whose peer is gone (DRBD refuses otherwise while
	// it cannot tell that the peer is not primary).
	Promote(ctx context.Context, v Volume, force bool) error
	Demote(ctx context.Context, v Volume) error
	// Remove takes the resource down and deletes the logical volume.
	Remove(ctx context.Context, v Volume) error
	// AllowTwoPrimaries lets both nodes hold v as primary, which only a
	// live migration needs: the destination's QEMU opens the volume
	// before the source's lets go of it.
	AllowTwoPrimaries(ctx context.Context, v Volume, allow bool) error
}

// Hypervisor runs VMs on this node (libvirt in production).
type Hypervisor interface {
	Start(ctx context.Context, xml string) error
	Shutdown(ctx context.Context, name string) error
	Destroy(ctx context.Context, name string) error
	// Running lists the VMs that run on this node.
	Running(ctx context.Context) ([]string, error)
	// Migrate moves a running VM live to the peer node, whose hypervisor
	// runs it from xml.
	Migrate(ctx context.Context, name, xml string) error
}

// RecordHypervisor is a Hypervisor that runs VMs of several kinds (the
// libvirt domains of HA VMs, the QEMU COLO pairs of FT VMs): it starts a VM
// from its record, which says the kind, as well as from Domain's
// definition. The manager uses StartRecord when the hypervisor has it; r
// is the manager's own and must not be changed or kept.
type RecordHypervisor interface {
	Hypervisor
	StartRecord(ctx context.Context, r *Record, def string) error
}

// Membership is told what this node runs (agent/member's Runner).
type Membership interface{ SetResources(owned []string) }

// Options configure a Manager.
type Options struct {
	TablePath  string
	Storage    Storage
	Hypervisor Hypervisor
	Membership Membership
	// Domain turns a record into the hypervisor's definition of the VM.
	Domain func(*Record) (string, error)
	Logf   func(format string, args ...any)
	// Starting is told that a VM is about to start here (from its
	// beginning, not by migration).
	Starting func(name string)
	// Stopped is told about a VM that stopped here by itself (the guest
	// shut down), so that the primary records it as stopped.
	Stopped func(name string)
	// Networks makes this node's bridges match the table's business
	// networks (nil: nothing to do). It gets every table the node takes,
	// the primary's own changes and the peer's alike, before the volumes
	// are prepared, and what ApplyNetworks gives it; never two calls at
	// once, and always the newest table, so that a slow call cannot undo
	// a later change.
	Networks func(ctx context.Context, t *Table)
}

// Manager runs this node's share of the VMs.
type Manager struct {
	o Options

	mu       sync.Mutex // guards table and owned
	table    *Table
	owned    map[string]bool // VMs running here
	incoming map[string]bool // VMs migrating here, not yet announced

	op  sync.Mutex // one start/stop at a time: DRBD roles follow the VM
	net sync.Mutex // one Options.Networks call at a time
}

// New loads the table from o.TablePath.
func New(o Options) (*Manager, error) {
	if o.Storage == nil || o.Hypervisor == nil || o.Membership == nil || o.Domain == nil || o.TablePath == "" {
		return nil, errors.New("ha: TablePath, Storage, Hypervisor, Membership and Domain are required")
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Stopped == nil {
		o.Stopped = func(string) {}
	}
	if o.Starting == nil {
		o.Starting = func(string) {}
	}
	t, err := LoadTable(o.TablePath)
	if err != nil {
		return nil, err
	}
	return &Manager{o: o, table: t, owned: map[string]bool{}, incoming: map[string]bool{}}, nil
}

// Table returns a copy of the VM table.
func (m *Manager) Table() *Table {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.table.Clone()
}

// Running lists the VMs running on this node.
func (m *Manager) Running() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var r []string
	for n := range m.owned {
		r = append(r, n)
	}
	slices.Sort(r)
	return r
}

// SetTable takes t if it is newer than the table held (always, if force:
// the primary's own change), saves it and prepares the volumes of every VM
// on this node. Volumes of VMs no longer in the table are removed unless
// the VM still runs here.
func (m *Manager) SetTable(ctx context.Context, t *Table, force bool) (bool, error) {
	m.mu.Lock()
	if !force && !t.Newer(m.table) {
		m.mu.Unlock()
		return false, nil
	}
	old := m.table
	t = t.Clone()
	if err := t.Save(m.o.TablePath); err != nil {
		m.mu.Unlock()
		return false, err
	}
	m.table = t
	m.mu.Unlock()
	m.ApplyNetworks(ctx)
	return true, m.prepare(ctx, old, t)
}

// ApplyNetworks hands the current table to Options.Networks: at start,
// before any VM starts here, and now and then to catch up with the
// links (a NIC that was missing has appeared).
func (m *Manager) ApplyNetworks(ctx context.Context) {
	if m.o.Networks == nil {
		return
	}
	m.net.Lock()
	defer m.net.Unlock()
	m.o.Networks(ctx, m.Table())
}

// Prepare readies the volumes of every VM in the table (at start-up).
func (m *Manager) Prepare(ctx context.Context) error {
	t := m.Table()
	return m.prepare(ctx, &Table{}, t)
}

func (m *Manager) prepare(ctx context.Context, old, t *Table) error {
	m.op.Lock()
	defer m.op.Unlock()
	var errs []error
	for _, name := range t.Names() {
		for _, v := range t.VMs[name].Volumes {
			if err := m.o.Storage.Ensure(ctx, v); err != nil {
				errs = append(errs, fmt.Errorf("vm %s volume %s: %w", name, v.Name, err))
			}
		}
	}
	keep := map[int]bool{}
	for _, r := range t.VMs {
		for _, v := range r.Volumes {
			keep[v.Minor] = true
		}
	}
	for _, name := range old.Names() {
		if m.isRunning(name) {
			continue
		}
		for _, v := range old.VMs[name].Volumes {
			if !keep[v.Minor] {
				if err := m.o.Storage.Remove(ctx, v); err != nil {
					errs = append(errs, fmt.Errorf("vm %s volume %s: %w", name, v.Name, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) isRunning(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.owned[name]
}

func (m *Manager) record(name string) (*Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.table.VMs[name]
	if !ok {
		return nil, fmt.Errorf("vm %q is not in this node's table", name)
	}
	return r, nil
}

// Start runs the VM here: its volumes become primary on this node, then
// the hypervisor starts it. force promotes the volumes although the peer's
// state is unknown; only a survivor of a node loss may do that.
func (m *Manager) Start(ctx context.Context, name string, force bool) error {
	m.op.Lock()
	defer m.op.Unlock()
	return m.start(ctx, name, force)
}

func (m *Manager) start(ctx context.Context, name string, force bool) error {
	if m.isRunning(name) {
		return nil
	}
	r, err := m.record(name)
	if err != nil {
		return err
	}
	xml, err := m.o.Domain(r)
	if err != nil {
		return fmt.Errorf("vm %s: %w", name, err)
	}
	t0 := time.Now()
	var promoted []Volume
	undo := func() {
		for _, v := range promoted {
			if err := m.o.Storage.Demote(context.WithoutCancel(ctx), v); err != nil {
				m.o.Logf("ha: vm %s volume %s: %v", name, v.Name, err)
			}
		}
	}
	for _, v := range r.Volumes {
		if err := m.o.Storage.Ensure(ctx, v); err != nil {
			undo()
			return fmt.Errorf("vm %s volume %s: %w", name, v.Name, err)
		}
		if err := m.o.Storage.Promote(ctx, v, force); err != nil {
			undo()
			return fmt.Errorf("vm %s volume %s: %w", name, v.Name, err)
		}
		promoted = append(promoted, v)
	}
	m.o.Starting(name)
	t1 := time.Now()
	start := func() error { return m.o.Hypervisor.Start(ctx, xml) }
	if rh, ok := m.o.Hypervisor.(RecordHypervisor); ok {
		start = func() error { return rh.StartRecord(ctx, r, xml) }
	}
	if err := start(); err != nil {
		undo()
		return fmt.Errorf("vm %s: %w", name, err)
	}
	m.setOwned(name, true)
	// The split tells a slow take-over's cause: storage (DRBD waiting on
	// its peer) or the hypervisor (QEMU's start-up).
	m.o.Logf("ha: vm %s started here (volumes %v, hypervisor %v)", name,
		t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
	return nil
}

func (m *Manager) setOwned(name string, on bool) {
	m.mu.Lock()
	if on {
		m.owned[name] = true
	} else {
		delete(m.owned, name)
	}
	var res []string
	for n := range m.owned {
		res = append(res, Resource(n))
	}
	m.mu.Unlock()
	slices.Sort(res)
	m.o.Membership.SetResources(res)
}

// Shutdown asks the guest to shut down (ACPI); the VM counts as running
// until the hypervisor reports it stopped (Reconcile, or Gone).
func (m *Manager) Shutdown(ctx context.Context, name string) error {
	if !m.isRunning(name) {
		return fmt.Errorf("vm %s does not run on this node", name)
	}
	return m.o.Hypervisor.Shutdown(ctx, name)
}

// PowerOff stops the VM at once and releases its volumes.
func (m *Manager) PowerOff(ctx context.Context, name string) error {
	m.op.Lock()
	defer m.op.Unlock()
	return m.stop(ctx, name)
}

func (m *Manager) stop(ctx context.Context, name string) error {
	if err := m.o.Hypervisor.Destroy(ctx, name); err != nil {
		// Already gone is what we want; anything else leaves the VM running.
		if running, lerr := m.o.Hypervisor.Running(ctx); lerr != nil || slices.Contains(running, name) {
			return fmt.Errorf("vm %s: %w", name, err)
		}
	}
	m.gone(ctx, name)
	return nil
}

// gone releases what a stopped VM held here.
func (m *Manager) gone(ctx context.Context, name string) {
	if r, err := m.record(name); err == nil {
		for _, v := range r.Volumes {
			if err := m.o.Storage.Demote(ctx, v); err != nil {
				m.o.Logf("ha: vm %s volume %s: %v", name, v.Name, err)
			}
		}
	}
	if m.isRunning(name) {
		m.setOwned(name, false)
		m.o.Logf("ha: vm %s stopped here", name)
	}
}

// TakeOver starts the VMs among res (membership resource names) here: the
// membership decided this node runs them (the peer was lost, or they run
// nowhere). The peer cannot be writing to their volumes, so the promotion
// is forced.
func (m *Manager) TakeOver(ctx context.Context, res []string) error {
	var errs []error
	for _, n := range vmNames(res) {
		r, err := m.record(n)
		if err == nil && r.Want != WantRunning {
			continue
		}
		if err := m.Start(ctx, n, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Release stops the VMs among res here at once: the membership fenced this
// node or the peer keeps them.
func (m *Manager) Release(ctx context.Context, res []string) error {
	m.op.Lock()
	defer m.op.Unlock()
	var errs []error
	for _, n := range vmNames(res) {
		if err := m.stop(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Reconcile compares what the hypervisor runs with what this node thinks
// it runs: a VM that stopped (the guest shut down, or crashed) is released
// and reported; a VM of the table running unannounced (the agent was
// restarted, the VMs were not) is adopted.
func (m *Manager) Reconcile(ctx context.Context) error {
	stopped, err := m.reconcile(ctx)
	// Outside the lock: the primary records the stop in the table, which
	// prepares volumes under the same lock.
	for _, n := range stopped {
		m.o.Stopped(n)
	}
	return err
}

func (m *Manager) reconcile(ctx context.Context) ([]string, error) {
	m.op.Lock()
	defer m.op.Unlock()
	running, err := m.o.Hypervisor.Running(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range running {
		if _, err := m.record(n); err == nil && !m.isRunning(n) && !m.isIncoming(n) {
			m.o.Logf("ha: vm %s found running here; adopted", n)
			m.setOwned(n, true)
		}
	}
	var stopped []string
	for _, n := range m.Running() {
		if !slices.Contains(running, n) {
			m.gone(ctx, n)
			stopped = append(stopped, n)
		}
	}
	return stopped, nil
}

func vmNames(res []string) []string {
	var n []string
	for _, r := range res {
		if v, ok := strings.CutPrefix(r, ResourcePrefix); ok {
			n = append(n, v)
		}
	}
	return n
}

func (m *Manager) isIncoming(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.incoming[name]
}

// A live migration, as the primary runs it (SPEC A9, A11):
//
//  1. the destination: PrepareIncoming (its volumes primary beside the
//     source's);
//  2. the source: MigrateOut (the hypervisors move the VM; the source's
//     volumes go secondary and it stops announcing the VM);
//  3. the destination: FinishIncoming (it announces the VM once the
//     source's heartbeats no longer do, so that the membership never sees
//     the VM on both nodes and stops one of them).
//
// If step 2 fails, the destination's FinishIncoming(false) undoes step 1.

// PrepareIncoming readies this node to receive name by live migration.
func (m *Manager) PrepareIncoming(ctx context.Context, name string) error {
	m.op.Lock()
	defer m.op.Unlock()
	r, err := m.record(name)
	if err != nil {
		return err
	}
	if m.isRunning(name) {
		return fmt.Errorf("vm %s runs here already", name)
	}
	m.mu.Lock()
	m.incoming[name] = true
	m.mu.Unlock()
	for _, v := range r.Volumes {
		if err := m.o.Storage.Ensure(ctx, v); err != nil {
			return fmt.Errorf("vm %s volume %s: %w", name, v.Name, err)
		}
		if err := m.o.Storage.AllowTwoPrimaries(ctx, v, true); err != nil {
			return fmt.Errorf("vm %s volume %s: %w", name, v.Name, err)
		}
		if err := m.o.Storage.Promote(ctx, v, false); err != nil {
			return fmt.Errorf("vm %s volume %s: %w", name, v.Name, err)
		}
	}
	return nil
}

// MigrateOut moves name, running here, to the peer.
func (m *Manager) MigrateOut(ctx context.Context, name string) error {
	m.op.Lock()
	defer m.op.Unlock()
	r, err := m.record(name)
	if err != nil {
		return err
	}
	if !m.isRunning(name) {
		return fmt.Errorf("vm %s does not run on this node", name)
	}
	xml, err := m.o.Domain(r)
	if err != nil {
		return fmt.Errorf("vm %s: %w", name, err)
	}
	for _, v := range r.Volumes {
		if err := m.o.Storage.AllowTwoPrimaries(ctx, v, true); err != nil {
			return fmt.Errorf("vm %s volume %s: %w", name, v.Name, err)
		}
	}
	off := func() {
		for _, v := range r.Volumes {
			if err := m.o.Storage.AllowTwoPrimaries(context.WithoutCancel(ctx), v, false); err != nil {
				m.o.Logf("ha: vm %s volume %s: %v", name, v.Name, err)
			}
		}
	}
	if err := m.o.Hypervisor.Migrate(ctx, name, xml); err != nil {
		off()
		return fmt.Errorf("vm %s: live migration: %w", name, err)
	}
	for _, v := range r.Volumes {
		if err := m.o.Storage.Demote(ctx, v); err != nil {
			m.o.Logf("ha: vm %s volume %s: %v", name, v.Name, err)
		}
	}
	off()
	m.setOwned(name, false)
	m.o.Logf("ha: vm %s migrated to the peer", name)
	return nil
}

// FinishIncoming ends a migration to this node: ok, the VM runs here and
// is announced once peerOwns says the peer no longer announces it (or
// after a while, if the peer is gone); not ok, the volumes go back.
func (m *Manager) FinishIncoming(ctx context.Context, name string, ok bool, peerOwns func() bool) error {
	m.op.Lock()
	defer m.op.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.incoming, name)
		m.mu.Unlock()
	}()
	r, err := m.record(name)
	if err != nil {
		return err
	}
	for _, v := range r.Volumes {
		if !ok {
			if err := m.o.Storage.Demote(ctx, v); err != nil {
				m.o.Logf("ha: vm %s volume %s: %v", name, v.Name, err)
			}
		}
		if err := m.o.Storage.AllowTwoPrimaries(ctx, v, false); err != nil {
			m.o.Logf("ha: vm %s volume %s: %v", name, v.Name, err)
		}
	}
	if !ok {
		return nil
	}
	for i := 0; i < 100 && peerOwns(); i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	m.setOwned(name, true)
	m.o.Logf("ha: vm %s migrated here", name)
	return nil
}
