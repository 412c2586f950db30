package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// ftPeer is what the runner asks of the peer's runner.
type ftPeer interface {
	// StartSecondary has the peer start a fresh secondary of name and
	// returns the address of its QMP on the replication link.
	StartSecondary(ctx context.Context, name string) (qmpAddr string, err error)
	StopSecondary(ctx context.Context, name string) error
	// TakeOver has the peer's secondary of name take over (the active
	// side here was killed: a controlled failover).
	TakeOver(ctx context.Context, name string) error
}

// ftSecondaryAnswer is POST /peer/v1/ft/{name}/secondary's answer.
type ftSecondaryAnswer struct {
	QMP string `json:"qmp"` // host:port on the replication link
}

// ftCurrentClaim is POST /peer/v1/vms/{name}/ft-current: the node whose
// copy of an FT VM's disk is now the only current one.
type ftCurrentClaim struct {
	Node string `json:"node"`
}

// peerFT is ftPeer over the peer service.
type peerFT struct{ c *clusterd }

// A secondary's start includes QEMU's; its QMP then answers at once.
const ftPeerTimeout = 2 * time.Minute

func (p peerFT) StartSecondary(ctx context.Context, name string) (string, error) {
	var a ftSecondaryAnswer
	err := p.c.peerDo(ctx, "POST", "/peer/v1/ft/"+name+"/secondary", nil, &a, ftPeerTimeout)
	return a.QMP, err
}

func (p peerFT) StopSecondary(ctx context.Context, name string) error {
	return p.c.peerDo(ctx, "DELETE", "/peer/v1/ft/"+name+"/secondary", nil, nil, ftPeerTimeout)
}

func (p peerFT) TakeOver(ctx context.Context, name string) error {
	return p.c.peerDo(ctx, "POST", "/peer/v1/ft/"+name+"/takeover", nil, nil, ftPeerTimeout)
}

// ftPeerRoutes serve the peer's runner (secondaries, take-over), the
// primary's view of the FT VMs active here, and, on the primary, the other
// node's claims of a current disk.
func (s *vmService) ftPeerRoutes(mux *http.ServeMux) {
	fail := func(w http.ResponseWriter, err error) {
		writePeer(w, http.StatusConflict, api.Error{Error: err.Error(), Code: api.CodeConflict})
	}
	mux.HandleFunc("POST /peer/v1/ft/{name}/secondary", func(w http.ResponseWriter, r *http.Request) {
		addr, err := s.ft.StartSecondary(r.Context(), r.PathValue("name"))
		if err != nil {
			fail(w, err)
			return
		}
		writePeer(w, http.StatusOK, ftSecondaryAnswer{QMP: addr})
	})
	mux.HandleFunc("DELETE /peer/v1/ft/{name}/secondary", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ft.StopSecondary(r.Context(), r.PathValue("name")); err != nil {
			fail(w, err)
			return
		}
		writePeer(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("POST /peer/v1/ft/{name}/takeover", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ft.TakeOverHere(r.Context(), r.PathValue("name")); err != nil {
			fail(w, err)
			return
		}
		writePeer(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("GET /peer/v1/ft", func(w http.ResponseWriter, r *http.Request) {
		writePeer(w, http.StatusOK, s.ft.FTStatuses())
	})
	mux.HandleFunc("POST /peer/v1/vms/{name}/ft-current", func(w http.ResponseWriter, r *http.Request) {
		var c ftCurrentClaim
		if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&c); err != nil || (c.Node != "node0" && c.Node != "node1") {
			writePeer(w, http.StatusBadRequest, api.Error{Error: "want {\"node\": \"node0\"|\"node1\"}", Code: api.CodeBadRequest})
			return
		}
		if s.c.runner.Status().State != membership.StatePrimary {
			fail(w, api.Conflict("not the primary"))
			return
		}
		if err := s.setCurrent(r.Context(), r.PathValue("name"), c.Node); err != nil {
			fail(w, err)
			return
		}
		writePeer(w, http.StatusOK, struct{}{})
	})
}
