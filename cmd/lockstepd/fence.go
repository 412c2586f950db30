package main

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"

	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/agent/sysip"
	"github.com/lockstep-ft/lockstep/agent/system"
	"github.com/lockstep-ft/lockstep/agent/vm"
)

// `lockstepd -fence` runs after the agent has stopped, however it stopped
// (lockstepd.service's ExecStopPost): a crash, a kill, an OOM kill. The
// membership assumes that what a node ran stops with its agent (rules P3
// and R3 of cluster/membership): the peer takes a lost node's VMs over
// some 4 s after its last heartbeat, and a new incarnation of the agent does
// not own what the old one ran. FT VMs' QEMUs are the agent's children and
// go with its control group; libvirt runs HA VMs in a cgroup of its own,
// where they would outlive the agent and, once the peer took them over,
// run on both nodes, each side writing its own copy of the volumes. So
// this destroys them, and gives up the system IP, which would otherwise
// stay on ibiz0 beside the peer's. A clean stop has done both already
// (rule S1): then there is nothing left to do.

// fenceTargets is what a fence acts on (libvirt and the kernel's
// addresses in production).
type fenceTargets interface {
	RunningDomains() ([]string, error)
	DestroyDomain(name string) error
	ReleaseSystemIP() error
}

// fence destroys the running domains that are VMs of table and releases
// the system IP; it does as much as it can and reports every failure.
func fence(table *ha.Table, t fenceTargets, logf func(string, ...any)) error {
	var errs []error
	running, err := t.RunningDomains()
	if err != nil {
		errs = append(errs, err)
	}
	for _, name := range running {
		if _, ok := table.VMs[name]; !ok {
			continue // not one of the system's VMs
		}
		if err := t.DestroyDomain(name); err != nil {
			errs = append(errs, fmt.Errorf("vm %s: %w", name, err))
			continue
		}
		logf("fence: vm %s stopped: the agent is gone, and the peer may take it over", name)
	}
	if err := t.ReleaseSystemIP(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// nodeFence is fenceTargets on this node.
type nodeFence struct {
	lv       *vm.Libvirt // nil: libvirt is not running, so neither is any VM
	ip       *sysip.Manager
	systemIP netip.Prefix // invalid: the node has joined no system
}

func (f nodeFence) RunningDomains() ([]string, error) {
	if f.lv == nil {
		return nil, nil
	}
	ds, err := f.lv.List()
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	slices.Sort(out)
	return out, err
}

func (f nodeFence) DestroyDomain(name string) error { return f.lv.Destroy(name) }

func (f nodeFence) ReleaseSystemIP() error {
	if !f.systemIP.IsValid() {
		return nil
	}
	return f.ip.Release(netcfg.Ibiz0, f.systemIP)
}

// runFence is `lockstepd -fence` on the node whose STATE is at stateDir.
func runFence(stateDir string, logf func(string, ...any)) error {
	table, err := ha.LoadTable(filepath.Join(stateDir, "vms.json"))
	if err != nil {
		return err
	}
	var f nodeFence
	if id, err := system.Load(stateDir); err == nil {
		if ip, err := netip.ParseAddr(id.Config.IP); err == nil {
			f.systemIP = netip.PrefixFrom(ip, 32)
		}
	}
	if f.ip, err = sysip.Open(); err != nil {
		return err
	}
	if len(table.VMs) > 0 {
		lv, err := vm.Open(libvirtURI)
		if err != nil {
			return fmt.Errorf("fence: libvirt: %w (its VMs cannot be stopped)", err)
		}
		defer lv.Close()
		f.lv = lv
	}
	return fence(table, f, logf)
}
