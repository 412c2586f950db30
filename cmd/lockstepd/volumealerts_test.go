package main

import (
	"fmt"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/api"
)

func TestVolumeAlerts(t *testing.T) {
	vol := func(sync, d0, d1 string) api.VolumeStatus {
		return api.VolumeStatus{Sync: sync, Disks: map[string]string{"node0": d0, "node1": d1}}
	}
	last := map[string]string{"web/root": "in-sync", "db/data": "in-sync"}
	steps := []struct {
		now       map[string]api.VolumeStatus
		connected bool
		want      string
	}{
		// node1's disk under web/root fails: DRBD detaches it.
		{map[string]api.VolumeStatus{"web/root": vol("degraded", "UpToDate", "Diskless"), "db/data": vol("in-sync", "UpToDate", "UpToDate")}, true,
			"[{error volume.degraded volume web/root has one good copy (node0 UpToDate, node1 Diskless); the VM goes on with it}]"},
		{map[string]api.VolumeStatus{"web/root": vol("degraded", "UpToDate", "Diskless"), "db/data": vol("in-sync", "UpToDate", "UpToDate")}, true, "[]"},
		{map[string]api.VolumeStatus{"web/root": vol("resyncing", "UpToDate", "Inconsistent"), "db/data": vol("in-sync", "UpToDate", "UpToDate")}, true, "[]"},
		{map[string]api.VolumeStatus{"web/root": vol("in-sync", "UpToDate", "UpToDate"), "db/data": vol("in-sync", "UpToDate", "UpToDate")}, true,
			"[{info volume.in_sync volume web/root is mirrored again (node0 UpToDate, node1 UpToDate)}]"},
		// The peer is lost: every volume degrades, and node.lost says so.
		{map[string]api.VolumeStatus{"web/root": vol("degraded", "UpToDate", "unknown"), "db/data": vol("degraded", "UpToDate", "unknown")}, false, "[]"},
		// Back, with a split brain on one volume.
		{map[string]api.VolumeStatus{"web/root": vol("in-sync", "UpToDate", "UpToDate"), "db/data": vol("split-brain", "UpToDate", "UpToDate")}, true,
			"[{critical volume.split_brain volume db/data: the two copies were both written apart (node0 UpToDate, node1 UpToDate); one must be discarded}]"},
		// A new VM's volume is no news.
		{map[string]api.VolumeStatus{"web/root": vol("in-sync", "UpToDate", "UpToDate"), "db/data": vol("split-brain", "UpToDate", "UpToDate"), "new/v": vol("resyncing", "UpToDate", "Inconsistent")}, true, "[]"},
	}
	for i, s := range steps {
		var got []volumeAlert
		last, got = volumeAlerts(last, s.now, s.connected)
		if g := fmt.Sprint(got); g != s.want && !(s.want == "[]" && len(got) == 0) {
			t.Errorf("step %d: %s\nwant    %s", i, g, s.want)
		}
	}
}
