package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/agent/vm"
)

// libvirtURI is the node's own libvirt (QEMU/KVM).
const libvirtURI = "qemu:///system"

// hypervisor adapts agent/vm's libvirt to what the VM manager needs.
type hypervisor struct {
	lv   vm.Hypervisor
	peer netip.Addr // the peer's replication address
}

// Migrate implements ha.Hypervisor: peer to peer, to the peer's libvirtd
// on the replication link, and QEMU's migration stream over the same link
// (by default QEMU would use the host name, which is not on that link).
func (h hypervisor) Migrate(ctx context.Context, name, xml string) error {
	dest := fmt.Sprintf("qemu+tcp://%s:%d/system", h.peer, libvirtPort)
	return h.lv.Migrate(ctx, name, dest, xml, vm.MigrateOptions{DataURI: "tcp://" + h.peer.String(), AutoConverge: true})
}

func (h hypervisor) Start(ctx context.Context, xml string) error { return h.lv.Start(ctx, xml) }
func (h hypervisor) Shutdown(_ context.Context, name string) error {
	return h.lv.Shutdown(name)
}
func (h hypervisor) Destroy(_ context.Context, name string) error {
	err := h.lv.Destroy(name)
	if errors.Is(err, vm.ErrNotRunning) {
		return nil
	}
	return err
}
func (h hypervisor) Running(context.Context) ([]string, error) {
	ds, err := h.lv.List()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out, nil
}

// openLibvirt waits for the node's libvirt: its daemon is socket-activated
// and may still be starting when the agent comes up.
func openLibvirt(ctx context.Context, logf func(string, ...any)) (*vm.Libvirt, error) {
	for i := 0; ; i++ {
		lv, err := vm.Open(libvirtURI)
		if err == nil {
			return lv, nil
		}
		if i%10 == 0 {
			logf("vms: libvirt: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// domain is a VM record as libvirt should run it on this node: its
// volumes are this node's DRBD devices, its CD this node's copy of the VCD,
// its NICs on the bridges of their business networks.
//
// FT VMs run outside libvirt: the FT runner makes their QEMU command lines
// from the record itself (ftVM), so they have no libvirt definition.
func (s *vmService) domain(r *ha.Record) (string, error) {
	if r.Spec.Mode == api.ModeFT {
		return "", nil
	}
	d := vm.Domain{Name: r.Spec.Name, UUID: r.UUID, VCPUs: r.Spec.VCPUs, MemoryMiB: r.Spec.MemoryMiB,
		ConsoleLog: s.consolePath(r.Spec.Name)}
	for _, v := range r.Volumes {
		d.Disks = append(d.Disks, vm.Disk{Path: v.Device(), Serial: v.Name})
	}
	if r.Spec.CD != "" {
		// A VCD this node lacks (it was away when it was uploaded, and
		// the copy has not come yet) leaves the drive empty: a guest
		// restarted after a node loss boots from its disk, and must not
		// stay down for want of its install medium.
		if _, err := os.Stat(s.c.vcdPath(r.Spec.CD)); err == nil {
			d.CD = s.c.vcdPath(r.Spec.CD)
		} else {
			s.c.vmLogf("vms: %s starts with an empty CD drive: VCD %s is not on this node", r.Spec.Name, r.Spec.CD)
		}
	}
	if len(r.MACs) != len(r.Spec.NICs) {
		return "", fmt.Errorf("%d NICs but %d MACs", len(r.Spec.NICs), len(r.MACs))
	}
	nets := s.mgr.Table().Networks
	for i, n := range r.Spec.NICs {
		// A VM from before business networks existed may name one that
		// was never made; libvirt's "no such device" would not say so.
		if nets[n.Network] == nil {
			return "", fmt.Errorf("NIC %d: business network %q does not exist: create it, or give the VM another network", i, n.Network)
		}
		d.NICs = append(d.NICs, vm.NIC{Bridge: netcfg.BridgeName(n.Network), MAC: r.MACs[i]})
	}
	return vm.DomainXML(d)
}

func vmMAC(systemID, name string, i int) string { return vm.MAC(systemID, name, i) }

// modeOf is name's mode in the table, "" if it is not there.
func (s *vmService) modeOf(name string) string {
	if r, ok := s.mgr.Table().VMs[name]; ok {
		return r.Spec.Mode
	}
	return ""
}
