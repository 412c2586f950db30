package main

import (
	"context"
	"fmt"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// volumeWatchInterval is how often the primary looks at the mirrors.
const volumeWatchInterval = 5 * time.Second

// volumeAlert is an alert about one mirrored volume.
type volumeAlert struct{ severity, code, msg string }

// volumeAlerts compares the volumes' mirror states (key "vm/volume", as
// api.VolumeStatus shows them) with the last ones and says what the
// administrator must hear: a copy lost while the nodes are connected (a
// failed disk: the VM goes on with the other node's copy, SPEC A10), a
// split brain, and a mirror whole again after a resync. A node loss makes
// every volume degraded at once; node.lost says that already, so
// volumes are only watched while the peer is connected.
func volumeAlerts(last map[string]string, now map[string]api.VolumeStatus, connected bool) (map[string]string, []volumeAlert) {
	next := map[string]string{}
	var out []volumeAlert
	for key, vs := range now {
		next[key] = vs.Sync
		was, seen := last[key]
		if !seen || was == vs.Sync || !connected {
			continue
		}
		disks := fmt.Sprintf("node0 %s, node1 %s", vs.Disks["node0"], vs.Disks["node1"])
		switch vs.Sync {
		case "degraded":
			out = append(out, volumeAlert{"error", "volume.degraded",
				fmt.Sprintf("volume %s has one good copy (%s); the VM goes on with it", key, disks)})
		case "split-brain":
			out = append(out, volumeAlert{"critical", "volume.split_brain",
				fmt.Sprintf("volume %s: the two copies were both written apart (%s); one must be discarded", key, disks)})
		case "in-sync":
			if was == "resyncing" || was == "degraded" {
				out = append(out, volumeAlert{"info", "volume.in_sync",
					fmt.Sprintf("volume %s is mirrored again (%s)", key, disks)})
			}
		}
	}
	if !connected {
		// Come back connected, compare with what was before the cut.
		return last, nil
	}
	return next, out
}

// volumeLoop raises the volume alerts, on the primary only (it sees both
// copies' states, and one node should report).
func (s *vmService) volumeLoop(ctx context.Context) {
	t := time.NewTicker(volumeWatchInterval)
	defer t.Stop()
	var last map[string]string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := s.c.runner.Status()
		if st.State != membership.StatePrimary {
			last = nil
			continue
		}
		tab, where := s.mgr.Table(), s.where()
		now := map[string]api.VolumeStatus{}
		for _, name := range tab.Names() {
			r := tab.VMs[name]
			v := s.view(r, where, nil)
			for i, vs := range v.Volumes {
				if r.Volumes[i].COLO() {
					continue // an FT VM's protection has alerts of its own
				}
				now[name+"/"+vs.Name] = vs
			}
		}
		if last == nil {
			last = map[string]string{}
			for k, vs := range now {
				last[k] = vs.Sync
			}
			continue
		}
		var alerts []volumeAlert
		last, alerts = volumeAlerts(last, now, st.Connected)
		for _, a := range alerts {
			s.c.vmLogf("vms: %s", a.msg)
			s.c.alerts.raise(time.Now(), a.severity, a.code, a.msg, true)
		}
	}
}
