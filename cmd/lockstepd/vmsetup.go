package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
)

// lvmLocalConf keeps the host's LVM away from everything but real disks:
// a VM's volume, and the DRBD device over it, may hold the guest's own LVM
// physical volume, which the host must never activate (or, worse, write).
// lvmlocal.conf overrides lvm.conf; it is on the root's tmpfs, so the agent
// writes it at every start, before any DRBD device exists.
const lvmLocalConf = `# Written by lockstepd: the host's LVM sees physical disks only.
devices {
	global_filter = [ "r|^/dev/drbd|", "a|^/dev/(sd|vd|hd|xvd|nvme|md|cciss)|", "r|.*|" ]
}
`

// startVMs sets up this node's VM service: the replication link's
// address, the storage group on the install's storage partition (made on
// the first start), DRBD, libvirt, the VM manager with the table from
// STATE and the business networks' bridges. The volumes of the table's
// VMs are brought up in the background.
func (c *clusterd) startVMs(ctx context.Context) (*vmService, error) {
	// QEMU runs as libvirt-qemu and opens the VCDs under STATE: STATE
	// must be traversable; the keys keep their own directory closed.
	if err := os.Chmod(c.stateDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(filepath.Join(c.stateDir, "pki"), 0o700); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	rep := netcfg.ReplicationFor(c.cfg.Network, c.id.NodeID)
	if err := netcfg.ApplyReplication(c.links, rep); err != nil {
		return nil, fmt.Errorf("replication link: %w", err)
	}
	if err := os.WriteFile("/etc/lvm/lvmlocal.conf", []byte(lvmLocalConf), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "modprobe", "drbd").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("modprobe drbd: %v: %s", err, strings.TrimSpace(string(out)))
	}
	st, err := newNodeStorage(ctx, c, rep)
	if err != nil {
		return nil, err
	}
	if err := configureLibvirt(ctx, rep, c.logf); err != nil {
		return nil, err
	}
	lv, err := openLibvirt(ctx, c.logf)
	if err != nil {
		return nil, err
	}
	go func() {
		d, err := lv.Warm("q35")
		if err != nil {
			c.vmLogf("vms: %v (the first VM start probes QEMU instead)", err)
			return
		}
		c.vmLogf("vms: libvirt has probed QEMU (%v)", d.Round(time.Millisecond))
	}()
	s := &vmService{c: c, st: st, sg: newGroupDisks(st.run, c.vmLogf), consoleDir: filepath.Join(c.stateDir, "vm"),
		br: &bridges{links: c.bridges, node: nodeName(c.id.NodeID), logf: c.vmLogf}, rep: rep}
	s.ft = s.newFTRunnerFor(newQEMUEngine(c.logf))
	if err := os.MkdirAll(s.consoleDir, 0o755); err != nil {
		return nil, err
	}
	s.mgr, err = ha.New(ha.Options{
		TablePath: filepath.Join(c.stateDir, "vms.json"),
		Storage:   st, Membership: c.runner,
		Hypervisor: vmHypervisors{lv: hypervisor{lv: lv, peer: rep.Peer}, ft: s.ft, mode: s.modeOf},
		Domain:     s.domain, Logf: c.vmLogf, Stopped: s.stopped, Starting: s.rotateConsole,
		Networks: s.br.apply,
	})
	if err != nil {
		return nil, err
	}
	// Before the membership runs: libvirt starts no VM whose bridge is
	// missing, and a take-over may come with the first heartbeats.
	s.mgr.ApplyNetworks(ctx)
	go s.bridgeLoop(ctx)
	go s.volumeLoop(ctx)
	go func() {
		if err := s.mgr.Prepare(ctx); err != nil {
			c.vmLogf("vms: preparing volumes: %v", err)
		}
		go s.superviseLoop(ctx)
		s.reconcileLoop(ctx)
	}()
	return s, nil
}

// vmLogf logs a VM or storage event in the journal and on the serial
// console ("LOCKSTEP VMS …"), where the operator at the node (and the lab)
// sees what happened to the guests without a shell.
func (c *clusterd) vmLogf(format string, args ...any) {
	c.logf(format, args...)
	c.println("LOCKSTEP VMS " + fmt.Sprintf(format, args...))
}
