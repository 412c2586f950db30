package main

import (
	"context"
	"slices"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
)

// vmHypervisors is the VM manager's hypervisor: HA VMs run as libvirt
// domains, FT VMs as QEMU COLO pairs of the FT runner (libvirt has no
// COLO). A start goes by the record's mode; the other verbs by the mode
// of the VM in the table (a mode changes only while the VM is stopped),
// or to the FT runner for an FT VM it runs whatever the table says now.
type vmHypervisors struct {
	lv ha.Hypervisor
	ft *ftRunner
	// mode is a VM's mode in the table ("" not in it).
	mode func(name string) string
}

var _ ha.RecordHypervisor = vmHypervisors{}

func (h vmHypervisors) isFT(name string) bool {
	return h.ft.Has(name) || h.mode(name) == api.ModeFT
}

// StartRecord implements ha.RecordHypervisor.
func (h vmHypervisors) StartRecord(ctx context.Context, r *ha.Record, def string) error {
	if r.Spec.Mode == api.ModeFT {
		return h.ft.Start(ctx, r)
	}
	return h.lv.Start(ctx, def)
}

// Start implements ha.Hypervisor for a definition alone: a libvirt
// domain (the manager starts through StartRecord).
func (h vmHypervisors) Start(ctx context.Context, def string) error { return h.lv.Start(ctx, def) }

func (h vmHypervisors) Shutdown(ctx context.Context, name string) error {
	if h.isFT(name) {
		return h.ft.Shutdown(ctx, name)
	}
	return h.lv.Shutdown(ctx, name)
}

func (h vmHypervisors) Destroy(ctx context.Context, name string) error {
	if h.isFT(name) {
		return h.ft.Destroy(ctx, name)
	}
	return h.lv.Destroy(ctx, name)
}

func (h vmHypervisors) Migrate(ctx context.Context, name, def string) error {
	if h.isFT(name) {
		return h.ft.Migrate(ctx, name)
	}
	return h.lv.Migrate(ctx, name, def)
}

// Running lists the libvirt domains and the FT VMs active here.
func (h vmHypervisors) Running(ctx context.Context) ([]string, error) {
	out, err := h.lv.Running(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range h.ft.Running() {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}
