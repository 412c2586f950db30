package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// newFTRunnerFor is the FT runner of s's node with eng as its engine.
func (s *vmService) newFTRunnerFor(eng ftEngine) *ftRunner {
	return newFTRunner(ftConfig{
		eng: eng, peer: peerFT{s.c}, self: nodeName(s.c.id.NodeID), peerName: nodeName(1 - s.c.id.NodeID),
		status: s.c.runner.Status,
		record: func(name string) (*ha.Record, bool) {
			r, ok := s.mgr.Table().VMs[name]
			return r, ok
		},
		define:  s.ftVM,
		claim:   s.claimCurrent,
		console: s.linkConsole,
		crashed: s.moveCrashedFT,
		alert: func(severity, code, msg string) {
			s.c.alerts.raise(time.Now(), severity, code, msg, true)
		},
		logf: s.c.vmLogf,
	})
}

// moveCrashedFT moves FT VM name, whose active QEMU here crashed while
// protected, to the peer: the same steps as a move by the operator
// (migrate), so that the VM is announced by one node at a time, and the
// runner's Migrate has the secondary take over.
func (s *vmService) moveCrashedFT(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s.edit.Lock()
	defer s.edit.Unlock()
	return s.migrate(ctx, name, nodeName(s.c.id.NodeID))
}

// linkConsole shows log, the console of the VM's QEMU here, at the path
// where libvirt VMs' consoles are (consolePath), which VMConsole and the
// peer service read: after a failover the node that took over shows its
// own QEMU's console there. The manager's start rotated the previous one.
func (s *vmService) linkConsole(name, log string) {
	p := s.consolePath(name)
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		s.c.vmLogf("vms: %s: console: %v", name, err)
	}
	if err := os.Symlink(log, p); err != nil {
		s.c.vmLogf("vms: %s: console: %v", name, err)
	}
}

// claimCurrent records in the table, in the background, that this node
// now holds the only current copy of FT VM name's disk (it took the VM
// over, or started it while the table said no copy was ahead). It retries
// while the VM runs here: until the table says so, the other node could
// start the VM from its stale copy once this one stops.
func (s *vmService) claimCurrent(name string) {
	self := nodeName(s.c.id.NodeID)
	go func() {
		for i := 0; s.ft.Has(name); i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			var err error
			if s.c.runner.Status().State == membership.StatePrimary {
				err = s.setCurrent(ctx, name, self)
			} else {
				err = s.c.peerDo(ctx, "POST", "/peer/v1/vms/"+name+"/ft-current", ftCurrentClaim{Node: self}, nil, 30*time.Second)
			}
			cancel()
			if err == nil {
				return
			}
			if i%12 == 0 {
				s.c.vmLogf("vms: %s: recording that %s has its current data: %v (retrying)", name, self, err)
			}
			time.Sleep(5 * time.Second)
		}
	}()
}

// sweepFTDirs removes the work directories of FT VMs that are gone from
// the table or are HA now, once no QEMU of theirs runs here: they hold the
// logs and the secondary's replication images, which can grow as large as
// the guest's writes between checkpoints. A table never stored (generation
// 0) says nothing of what was deleted.
func (s *vmService) sweepFTDirs() {
	t := s.mgr.Table()
	if t.Generation == 0 {
		return
	}
	root := filepath.Join(s.c.stateDir, "ft")
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if r, ok := t.VMs[name]; (ok && r.Spec.Mode == api.ModeFT) || s.ft.Has(name) || s.ft.HasSecondary(name) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(root, name)); err != nil {
			s.c.vmLogf("vms: %v", err)
			continue
		}
		s.c.vmLogf("vms: removed %s's FT work directory (no FT VM of that name now)", name)
	}
}
