package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/member"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// vmPeerRoutes are the VM service's node-to-node calls: the primary hands
// over the VM table and runs VM actions on the other node; the other node
// reports what it has and which VMs stopped by themselves.
func (s *vmService) vmPeerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("PUT /peer/v1/vms", func(w http.ResponseWriter, r *http.Request) {
		var t ha.Table
		if err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(&t); err != nil {
			writePeer(w, http.StatusBadRequest, api.Error{Error: "VM table: " + err.Error(), Code: api.CodeBadRequest})
			return
		}
		took, err := s.mgr.SetTable(r.Context(), &t, false)
		if err != nil {
			s.c.vmLogf("vms: VM table from the peer: %v", err)
		}
		if took {
			s.c.vmLogf("vms: took the VM table of term %d generation %d from the peer", t.Term, t.Generation)
		}
		writePeer(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("GET /peer/v1/vms", func(w http.ResponseWriter, r *http.Request) {
		writePeer(w, http.StatusOK, s.mgr.Table())
	})
	mux.HandleFunc("GET /peer/v1/resources", func(w http.ResponseWriter, r *http.Request) {
		res, err := s.localResources(r.Context())
		if err != nil {
			writePeer(w, http.StatusInternalServerError, api.Error{Error: err.Error(), Code: api.CodeInternal})
			return
		}
		writePeer(w, http.StatusOK, res)
	})
	for _, action := range []string{"start", "shutdown", "poweroff", "prepare-in", "migrate-out", "finish-in", "abort-in"} {
		mux.HandleFunc("POST /peer/v1/vms/{name}/"+action, func(w http.ResponseWriter, r *http.Request) {
			if err := s.local(r.Context(), r.PathValue("name"), action); err != nil {
				writePeer(w, http.StatusConflict, api.Error{Error: err.Error(), Code: api.CodeConflict})
				return
			}
			writePeer(w, http.StatusOK, struct{}{})
		})
	}
	mux.HandleFunc("POST /peer/v1/vms/{name}/stopped", func(w http.ResponseWriter, r *http.Request) {
		if s.c.runner.Status().State != membership.StatePrimary {
			writePeer(w, http.StatusConflict, api.Error{Error: "not the primary", Code: api.CodeConflict})
			return
		}
		s.markStopped(r.Context(), r.PathValue("name"))
		writePeer(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("GET /peer/v1/vms/{name}/console", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("bytes"))
		if err != nil || n < 1 || n > 1<<20 {
			n = 64 << 10
		}
		t, err := s.consoleTail(r.PathValue("name"), n)
		if err != nil {
			writePeer(w, http.StatusInternalServerError, api.Error{Error: err.Error(), Code: api.CodeInternal})
			return
		}
		writePeer(w, http.StatusOK, t)
	})
}

// onMember carries out the membership's decisions about VMs, and gives a
// peer that (re)joins the primary's VM table. A release is done before
// the membership goes on: the peer may start the VMs as soon as it hears
// of it, and stopping a VM is quick. Starting one is not, so a take-over
// runs on its own.
func (s *vmService) onMember(ev member.Event) {
	switch ev.Kind {
	case member.Release:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.mgr.Release(ctx, ev.Resources); err != nil {
			s.c.vmLogf("vms: release %v: %v", ev.Resources, err)
		}
	case member.TakeOver:
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			err := s.mgr.TakeOver(ctx, ev.Resources)
			if err != nil {
				s.c.vmLogf("vms: take over %v: %v", ev.Resources, err)
			}
			s.takeOverAlert(ev.Resources, err)
		}()
	case member.PeerJoined, member.PeerLost, member.BecamePrimary:
		// superviseLoop hands the table over once the nodes are connected.
		s.setPushed(nil)
		if ev.Kind == member.PeerJoined {
			// A take-over dropped the volumes' connections to the lost
			// peer (drbdStorage.Promote); adjusting them reconnects.
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				if err := s.mgr.Prepare(ctx); err != nil {
					s.c.vmLogf("vms: reconnecting the volumes to the peer: %v", err)
				}
			}()
		}
	}
}

// syncTable, on the primary, takes the peer's table if it is newer (the
// peer was primary while this node was away), hands the result to the
// peer and copies the VCDs the peer lacks.
func (s *vmService) syncTable(ctx context.Context) {
	if st := s.c.runner.Status(); st.State != membership.StatePrimary || !st.Connected {
		return
	}
	var peer ha.Table
	if err := s.c.peerDo(ctx, "GET", "/peer/v1/vms", nil, &peer, 30*time.Second); err != nil {
		s.c.vmLogf("vms: reading the peer's VM table: %v", err)
		return
	}
	if took, err := s.mgr.SetTable(ctx, &peer, false); took {
		s.c.vmLogf("vms: took the peer's newer VM table (term %d generation %d); err %v", peer.Term, peer.Generation, err)
	}
	s.pushTable(ctx)
	if err := s.c.syncVCDs(ctx); err != nil {
		s.c.vmLogf("vcd: copying to the peer: %v", err)
	}
}

// reconcileLoop notices VMs that stopped by themselves (and adopts VMs
// that kept running across an agent restart), and sweeps the work
// directories of deleted FT VMs.
func (s *vmService) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if err := s.mgr.Reconcile(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.c.vmLogf("vms: %v", err)
		}
		s.sweepFTDirs()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// takeOverGrace is how long after a peer loss the supervisor leaves the
// peer's VMs to the membership's take-over (which comes 3.2 s after the
// loss: membership.Config.TakeoverDelay).
const takeOverGrace = 30 * time.Second

// superviseLoop, on the primary, starts the VMs that should run and run
// nowhere: after the whole system was down (the membership knows nothing
// of what ran before), or after a start that failed. It waits until it
// knows what the peer runs (connected, or lost), and gives each VM a minute
// between attempts.
//
// The VMs the lost peer ran are the membership's to take over, after its
// take-over delay: by then a peer that lost the witness vote has stopped
// them. Starting them sooner could run one VM on both sides of a
// partition, so the supervisor leaves them alone for takeOverGrace after
// it first sees the loss, and only then retries a take-over that failed.
func (s *vmService) superviseLoop(ctx context.Context) {
	tried := map[string]time.Time{}
	var lostSince time.Time
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := s.c.runner.Status()
		switch {
		case !st.PeerLost:
			lostSince = time.Time{}
		case lostSince.IsZero():
			lostSince = time.Now()
		}
		peerRan := func(name string) bool {
			return st.PeerLost && time.Since(lostSince) < takeOverGrace && slices.Contains(st.PeerOwned, ha.Resource(name))
		}
		if st.State == membership.StatePrimary && st.Connected && !s.peerHasTable() {
			s.syncTable(ctx)
		}
		if st.State != membership.StatePrimary || !(st.Connected || st.PeerLost) {
			continue
		}
		where := s.where()
		for name, r := range s.mgr.Table().VMs {
			if r.Want != ha.WantRunning || where[name] != "" || peerRan(name) || time.Since(tried[name]) < time.Minute {
				continue
			}
			tried[name] = time.Now()
			s.edit.Lock()
			var err error
			if s.where()[name] == "" { // a start under way may have ended
				t := s.mgr.Table()
				if r := t.VMs[name]; r != nil && r.Want == ha.WantRunning {
					node := s.placement(r)
					s.c.vmLogf("vms: %s should run and runs nowhere; starting it on %s", name, node)
					err = s.startPlaced(ctx, t, r, node, false)
				}
			}
			s.edit.Unlock()
			if err != nil {
				s.c.vmLogf("vms: starting %s failed: %v", name, err)
			}
		}
	}
}

// takeOverAlert reports VMs taken over from the lost peer: a node loss
// alert says the node is gone, this one what became of its VMs.
func (s *vmService) takeOverAlert(res []string, err error) {
	var vms []string
	for _, r := range res {
		if name, ok := strings.CutPrefix(r, ha.ResourcePrefix); ok {
			vms = append(vms, name)
		}
	}
	if len(vms) == 0 {
		return
	}
	peer := nodeName(1 - s.c.id.NodeID)
	if err != nil {
		s.c.alerts.raise(time.Now(), "critical", "vm.takeover_failed",
			fmt.Sprintf("VMs %s of %s (lost) could not all be started here: %v", strings.Join(vms, ", "), peer, err), true)
		return
	}
	s.c.alerts.raise(time.Now(), "error", "vm.takeover",
		fmt.Sprintf("VMs %s of %s (lost) run here now: HA VMs restarted, FT VMs went on from their last checkpoint", strings.Join(vms, ", "), peer), true)
}
