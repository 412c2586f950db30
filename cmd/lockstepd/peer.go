package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/cluster/pki"
)

// servePeer serves the node-to-node service: what one node's API needs of
// the other (its own view of itself, its alerts, actions on it). Mutual
// TLS admits only the other node of this system with its current
// certificate; it listens on every address, as the heartbeats' learned
// link-local addresses are where it is called.
func (c *clusterd) servePeer(ctx context.Context) error {
	ln, err := net.Listen("tcp6", fmt.Sprintf("[::]:%d", PeerPort))
	if err != nil {
		return fmt.Errorf("peer service: %w", err)
	}
	trust := c.peerTrust()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /peer/v1/node", func(w http.ResponseWriter, r *http.Request) {
		writePeer(w, http.StatusOK, c.selfNode())
	})
	mux.HandleFunc("GET /peer/v1/alerts", func(w http.ResponseWriter, r *http.Request) {
		writePeer(w, http.StatusOK, api.AlertList{Alerts: c.alerts.list(time.Time{}, 1000)})
	})
	mux.HandleFunc("GET /peer/v1/audit", func(w http.ResponseWriter, r *http.Request) {
		writePeer(w, http.StatusOK, api.AuditList{Records: c.audit.list(time.Time{}, api.MaxAlertLimit)})
	})
	for _, verb := range []string{"shutdown", "reboot", "workon", "workoff"} {
		mux.HandleFunc("POST /peer/v1/"+verb, func(w http.ResponseWriter, r *http.Request) {
			if err := c.selfAction(verb); err != nil {
				writePeer(w, http.StatusConflict, api.Error{Error: err.Error(), Code: api.CodeConflict})
				return
			}
			writePeer(w, http.StatusOK, api.ActionResult{Node: fmt.Sprintf("node%d", c.id.NodeID), Action: verb, Status: "accepted"})
		})
	}
	c.vcdPeerRoutes(mux)
	c.linkTestRoutes(mux)
	if c.vms != nil {
		c.vms.vmPeerRoutes(mux)
		c.vms.networkPeerRoutes(mux)
		c.vms.storagePeerRoutes(mux)
		c.vms.ftPeerRoutes(mux)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: nil, TLSConfig: pki.ServerTLSConfig(trust, c.id.Node)}
	context.AfterFunc(ctx, func() { hs.Close() })
	go func() {
		if err := hs.ServeTLS(ln, "", ""); err != nil && ctx.Err() == nil && err != http.ErrServerClosed {
			c.logf("peer service: %v", err)
		}
	}()
	return nil
}

func writePeer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func decodePeer(resp *http.Response, out any) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return api.Conflict("peer: " + e.Error)
		}
		return fmt.Errorf("peer: HTTP %d", resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}
