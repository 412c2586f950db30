package main

import (
	"context"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
)

// ftStatuses are the protections of the running FT VMs, by name: this
// node's runner knows those active here, the peer's those active there
// (asked only if one runs there).
func (s *vmService) ftStatuses(ctx context.Context, t *ha.Table, where map[string]string) map[string]api.FTStatus {
	out := s.ft.FTStatuses()
	peer := nodeName(1 - s.c.id.NodeID)
	for name, node := range where {
		if r := t.VMs[name]; node != peer || r == nil || r.Spec.Mode != api.ModeFT {
			continue
		}
		var theirs map[string]api.FTStatus
		if err := s.c.peerDo(ctx, "GET", "/peer/v1/ft", nil, &theirs, 3*time.Second); err != nil {
			s.c.logf("vms: FT states of %s: %v", peer, err)
			break
		}
		for n, st := range theirs {
			out[n] = st
		}
		break
	}
	return out
}

// ftVolumeStatus is an FT volume's state in the terms of a DRBD one, so
// that 'vm list' and 'vm info' read alike for both modes: the active
// side's copy is UpToDate; the secondary's is UpToDate once protected and
// Inconsistent while syncing; stopped, the copies are as Current says.
func ftVolumeStatus(v ha.Volume, ft *api.FTStatus, runningOn string) api.VolumeStatus {
	vs := api.VolumeStatus{Name: v.Name, Disks: map[string]string{"node0": "Outdated", "node1": "Outdated"}}
	cur := v.Current
	if runningOn != "" {
		cur = runningOn
	}
	if cur == "" {
		vs.Disks["node0"], vs.Disks["node1"] = "UpToDate", "UpToDate"
	} else {
		vs.Disks[cur] = "UpToDate"
	}
	if ft != nil && ft.SecondaryOn != "" && ft.SecondaryOn != cur {
		switch ft.State {
		case api.FTProtected:
			vs.Disks[ft.SecondaryOn] = "UpToDate"
		case api.FTSyncing:
			vs.Disks[ft.SecondaryOn] = "Inconsistent"
		}
	}
	switch {
	case vs.Disks["node0"] == "UpToDate" && vs.Disks["node1"] == "UpToDate":
		vs.Sync = "in-sync"
	case ft != nil && ft.State == api.FTSyncing:
		vs.Sync = "resyncing"
	default:
		vs.Sync = "degraded"
	}
	return vs
}
