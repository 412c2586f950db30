package ha

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
}

// Hypervisor runs VMs on this node (libvirt in production).
type Hypervisor interface {
	Start(ctx context.Context, xml string) error
	Shutdown(ctx context.Context, name string) error
	Destroy(ctx context.Context, name string) error
	// Running lists the VMs that run on this node.
	Running(ctx context.Context) ([]string, error)
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
	// Stopped is told about a VM that stopped here by itself (the guest
	// shut down), so that the primary records it as stopped.
	Stopped func(name string)
}

// Manager runs this node's share of the VMs.
type Manager struct {
	o Options

	mu    sync.Mutex // guards table and owned
	table *Table
	owned map[string]bool // VMs running here

	op sync.Mutex // one start/stop at a time: DRBD roles follow the VM
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
	t, err := LoadTable(o.TablePath)
	if err != nil {
		return nil, err
	}
	return &Manager{o: o, table: t, owned: map[string]bool{}}, nil
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
	return true, m.prepare(ctx, old, t)
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
	if err := m.o.Hypervisor.Start(ctx, xml); err != nil {
		undo()
		return fmt.Errorf("vm %s: %w", name, err)
	}
	m.setOwned(name, true)
	m.o.Logf("ha: vm %s started here", name)
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
	m.op.Lock()
	defer m.op.Unlock()
	running, err := m.o.Hypervisor.Running(ctx)
	if err != nil {
		return err
	}
	for _, n := range running {
		if _, err := m.record(n); err == nil && !m.isRunning(n) {
			m.o.Logf("ha: vm %s found running here; adopted", n)
			m.setOwned(n, true)
		}
	}
	for _, n := range m.Running() {
		if !slices.Contains(running, n) {
			m.gone(ctx, n)
			m.o.Stopped(n)
		}
	}
	return nil
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
