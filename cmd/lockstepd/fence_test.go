package main

import (
	"testing"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

func TestDecideFence(t *testing.T) {
	for _, c := range []struct {
		name        string
		st          membership.Status
		primaryHere bool
		want        fenceStep
	}{
		{"only the replication link is down", membership.Status{State: membership.StateSecondary, Connected: true, PeerVisible: true}, true, fenceOutdate},
		{"survivor of a lost peer", membership.Status{State: membership.StatePrimary, PeerLost: true}, false, fencePeerGone},
		{"primary, peer not yet declared lost", membership.Status{State: membership.StatePrimary}, true, fenceWaitStep},
		{"isolated while writing the volume", membership.Status{State: membership.StateIsolated, PeerLost: true}, true, fenceSelf},
		{"isolated, volume not primary here", membership.Status{State: membership.StateIsolated, PeerLost: true}, false, fenceWaitStep},
		{"secondary with the peer lost (no quorum yet)", membership.Status{State: membership.StateSecondary, PeerLost: true}, true, fenceWaitStep},
	} {
		if got := decideFence(c.st, c.primaryHere); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
