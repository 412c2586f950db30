package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/agent/storage/lvm"
)

// FT VMs' ports on the replication link: ftPortsPerVM from ftPortBase up,
// by the DRBD minor of the VM's volume, which no other volume has. They
// stay below Linux's ephemeral ports (32768 up), which a node's outgoing
// connections take, and clear of DRBD's (7800 + minor), the peer
// service's and libvirt's.
const (
	ftPortBase   = 20000
	ftPortsPerVM = 5
	ftMaxMinor   = (32767-ftPortBase)/ftPortsPerVM - 1
)

func ftPortsFor(minor int) (ftPorts, error) {
	if minor < 0 || minor > ftMaxMinor {
		return ftPorts{}, fmt.Errorf("volume minor %d: FT VMs' ports are derived from minors 0 to %d", minor, ftMaxMinor)
	}
	p := ftPortBase + minor*ftPortsPerVM
	return ftPorts{Mirror: p, Compare: p + 1, Migration: p + 2, NBD: p + 3, QMP: p + 4}, nil
}

// ftVolume is an FT VM's one volume (ftProblems refuses others).
func ftVolume(r *ha.Record) (ha.Volume, error) {
	if len(r.Volumes) != 1 {
		return ha.Volume{}, fmt.Errorf("an FT VM has exactly one volume, %s has %d", r.Spec.Name, len(r.Volumes))
	}
	return r.Volumes[0], nil
}

// ftWorkDir is the VM's directory on this node, under STATE; short, for
// QEMU's unix sockets.
func (s *vmService) ftWorkDir(name string) string { return filepath.Join(s.c.stateDir, "ft", name) }

// ftVM is a record as this node's QEMU runs it (see ftVM).
func (s *vmService) ftVM(r *ha.Record) (ftVM, error) {
	return buildFTVM(r, ftNode{
		workDir: s.ftWorkDir(r.Spec.Name), rep: s.rep, networks: s.mgr.Table().Networks,
		vcd: func(name string) string {
			p := s.c.vcdPath(name)
			if _, err := os.Stat(p); err != nil {
				// As for HA VMs: a take-over must not wait for an install
				// medium.
				s.c.vmLogf("vms: %s starts with an empty CD drive: VCD %s is not on this node", r.Spec.Name, name)
				return ""
			}
			return p
		}})
}

// ftNode is what buildFTVM needs of this node.
type ftNode struct {
	workDir  string
	rep      netcfg.Replication
	networks map[string]*ha.Network
	vcd      func(name string) string // this node's copy, "" if none
}

func buildFTVM(r *ha.Record, n ftNode) (ftVM, error) {
	if r.Spec.Mode != api.ModeFT {
		return ftVM{}, fmt.Errorf("vm %s is not an FT VM", r.Spec.Name)
	}
	v, err := ftVolume(r)
	if err != nil {
		return ftVM{}, err
	}
	ports, err := ftPortsFor(v.Minor)
	if err != nil {
		return ftVM{}, err
	}
	if len(r.MACs) != len(r.Spec.NICs) {
		return ftVM{}, fmt.Errorf("%d NICs but %d MACs", len(r.Spec.NICs), len(r.MACs))
	}
	vm := ftVM{Name: r.Spec.Name, UUID: r.UUID, VCPUs: r.Spec.VCPUs, MemoryMiB: r.Spec.MemoryMiB,
		Disk: lvm.VolumePath(v.Group, v.Resource()), DiskBytes: v.Bytes(), WorkDir: n.workDir,
		Link: ftLink{Local: n.rep.Local.Addr(), Peer: n.rep.Peer, Ports: ports}}
	if r.Spec.CD != "" {
		vm.CD = n.vcd(r.Spec.CD)
	}
	var errs []error
	for i, nic := range r.Spec.NICs {
		if n.networks[nic.Network] == nil {
			errs = append(errs, fmt.Errorf("NIC %d: business network %q does not exist: create it, or give the VM another network", i, nic.Network))
			continue
		}
		vm.NICs = append(vm.NICs, ftNIC{Bridge: netcfg.BridgeName(nic.Network), MAC: r.MACs[i], Tap: ftTapName(v.Minor, i)})
	}
	return vm, errors.Join(errs...)
}

// ftTapName is a NIC's tap: unique on the node by the volume's minor
// (interface names hold 15 bytes; "lsft2552n19" is 11). One node runs at
// most one side of a VM, so both sides may use the same name.
func ftTapName(minor, nic int) string { return fmt.Sprintf("lsft%dn%d", minor, nic) }
