package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
)

// ftProblems are the rules an FT VM's spec adds to an HA VM's: QEMU's COLO
// replicates one disk (its quorum has one replication child), so an FT VM
// has exactly one volume; and the FT engine's net filters (colo-compare,
// the mirror and the redirectors) follow one NIC, so it has exactly one
// NIC. They are checked when the VM is created or changed, so that the
// operator hears them then, not when the VM fails to start.
func ftProblems(spec api.VMSpec) []string {
	if spec.Mode != api.ModeFT {
		return nil
	}
	var out []string
	if len(spec.Volumes) != 1 {
		out = append(out, fmt.Sprintf("an FT VM has exactly one volume (COLO replicates one disk), %q has %d: "+
			"give it one volume, or make it an HA VM", spec.Name, len(spec.Volumes)))
	}
	if len(spec.NICs) != 1 {
		out = append(out, fmt.Sprintf("an FT VM has exactly one NIC (COLO compares the output of one), %q has %d: "+
			"give it one NIC, or make it an HA VM", spec.Name, len(spec.NICs)))
	}
	return out
}

// volumesFor gives vols the replication of mode. Volumes new to the VM
// (not in old) simply get it; a volume of old that changes engine is
// converted in place, keeping its data (see toCOLO and toDRBD).
func (s *vmService) volumesFor(old []ha.Volume, mode string, vols []ha.Volume) ([]ha.Volume, error) {
	want := ha.ReplicationDRBD
	if mode == api.ModeFT {
		want = ha.ReplicationCOLO
	}
	out := slices.Clone(vols)
	var problems []string
	for i := range out {
		v := &out[i]
		existing := slices.ContainsFunc(old, func(o ha.Volume) bool { return o.Minor == v.Minor })
		switch {
		case v.Replication == want:
		case !existing:
			v.Replication = want
		case want == ha.ReplicationCOLO:
			if p := s.toCOLO(v); p != "" {
				problems = append(problems, fmt.Sprintf("volume %q: %s", v.Name, p))
			}
		default:
			toDRBD(v)
		}
	}
	if len(problems) > 0 {
		return nil, &api.BadSpecError{Problems: problems}
	}
	return out, nil
}

// toCOLO turns an HA volume into an FT one, or says why it cannot. Both
// nodes' logical volumes hold the guest's data at the same place (DRBD's
// metadata is at their end), so FT can use them as they are once it knows
// which copies are current: DRBD must be connected to tell, and at least
// one copy UpToDate. The guest keeps the size DRBD gave it. The storage of
// each node takes the resource down and zeroes the metadata when it gets
// the new table (drbdStorage.ensureCOLO).
func (s *vmService) toCOLO(v *ha.Volume) string {
	st := s.st.Status(*v)
	self, peer := nodeName(s.c.id.NodeID), nodeName(1-s.c.id.NodeID)
	switch {
	case st.SplitBrain:
		return "DRBD is in split brain: resolve it in HA mode first"
	case !st.Connected:
		return fmt.Sprintf("DRBD is not connected (this node's copy %s), so which copy is current is unknown: "+
			"change the mode while both nodes are up and the volume is connected", orUnknown(st.Disk))
	case st.Disk == "UpToDate" && st.PeerDisk == "UpToDate":
		v.Current = ""
	case st.Disk == "UpToDate":
		v.Current = self
	case st.PeerDisk == "UpToDate":
		v.Current = peer
	default:
		return fmt.Sprintf("no copy is UpToDate (%s %s, %s %s): let DRBD's sync finish in HA mode first",
			self, orUnknown(st.Disk), peer, orUnknown(st.PeerDisk))
	}
	b, err := s.st.DeviceBytes(*v)
	if err != nil {
		return fmt.Sprintf("the size its guest sees is unknown: %v", err)
	}
	v.GuestBytes, v.Replication = b, ha.ReplicationCOLO
	return ""
}

// toDRBD turns an FT volume into an HA one. The logical volumes have room
// for DRBD's metadata, and none on them (ensureCOLO zeroed it), so each
// node's Ensure makes new metadata; DRBD then knows neither copy, and the
// first promotion makes a full sync from the node that starts the VM.
// Current (kept) names the node that holds FT's last data, where
// placement starts the VM and drbdStorage.Promote refuses any other, so
// that the sync never copies stale data over it.
func toDRBD(v *ha.Volume) { v.Replication = ha.ReplicationDRBD }

// currentCopy is the node whose copy of r's disk is the only current
// one, "" if none is.
func currentCopy(r *ha.Record) string {
	for _, v := range r.Volumes {
		if v.Current != "" {
			return v.Current
		}
	}
	return ""
}

// claimDisk makes node the holder of an FT VM's current data before the
// VM starts there (its copy parts from the other's as soon as the guest
// writes unprotected), or refuses if the other node holds it.
func claimDisk(r *ha.Record, node string) (bool, error) {
	if r.Spec.Mode != api.ModeFT || len(r.Volumes) != 1 {
		return false, nil
	}
	v := &r.Volumes[0]
	switch v.Current {
	case node:
		return false, nil
	case "":
		v.Current = node
		return true, nil
	}
	return false, api.Conflict(fmt.Sprintf("vm %q: only %s has the current data of its volume %s (the VM last ran there unprotected), "+
		"and %s cannot start it now: it starts when %s is back", r.Spec.Name, v.Current, v.Name, v.Current, v.Current))
}

// startPlaced starts r (Want running) on node, whose copy of an FT VM's
// disk becomes the current one; the table (t, with r in it) is committed
// first if dirty or if the claim changed it. A started HA VM whose volumes
// named a current copy (changed from FT) no longer needs it: DRBD knows
// its copies from then on.
func (s *vmService) startPlaced(ctx context.Context, t *ha.Table, r *ha.Record, node string, dirty bool) error {
	claimed, err := claimDisk(r, node)
	if err != nil {
		return err
	}
	if dirty || claimed {
		if err := s.commit(ctx, t); err != nil {
			return err
		}
	}
	name := r.Spec.Name
	if err := s.onNode(ctx, node, name, "start"); err != nil {
		return err
	}
	t = s.mgr.Table()
	if r := t.VMs[name]; r != nil && r.Spec.Mode == api.ModeHA && currentCopy(r) != "" {
		for i := range r.Volumes {
			r.Volumes[i].Current = ""
		}
		return s.commit(ctx, t)
	}
	return nil
}

// setCurrent records (on the primary) that node holds the only current
// copy of FT VM name's disk: it took the VM over without its peer.
func (s *vmService) setCurrent(ctx context.Context, name, node string) error {
	s.edit.Lock()
	defer s.edit.Unlock()
	t := s.mgr.Table()
	r, ok := t.VMs[name]
	if !ok {
		return fmt.Errorf("vm %q: %w", name, api.ErrNotFound)
	}
	if r.Spec.Mode != api.ModeFT || len(r.Volumes) != 1 || r.Volumes[0].Current == node {
		return nil
	}
	r.Volumes[0].Current = node
	s.c.vmLogf("vms: %s: %s has the current data of its disk now", name, node)
	return s.commit(ctx, t)
}
