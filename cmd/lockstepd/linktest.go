package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
)

// The link test measures the replication link the way DRBD uses it: plain
// TCP between the nodes' replication addresses. The sender asks the peer
// (over the peer service) to take one connection on linkTestPort; the peer
// reads what comes and answers one byte at the end, so the sender's clock
// covers the data's arrival, not only its sending.
const (
	linkTestPort  = 7412
	linkTestBytes = 256 << 20
	linkTestMax   = 5 * time.Second
)

func (b *clusterBackend) LinkTest(ctx context.Context, node string) (api.LinkTest, error) {
	c := b.c
	if node != nodeName(c.id.NodeID) {
		if _, ok := c.id.Registry.Node(1 - c.id.NodeID); !ok || node != nodeName(1-c.id.NodeID) {
			return api.LinkTest{}, api.ErrNotFound
		}
		var r api.LinkTest
		err := c.peerDo(ctx, "POST", "/peer/v1/linktest/send", nil, &r, time.Minute)
		return r, err
	}
	return c.linkTest(ctx)
}

// linkTest sends to the peer for linkTestMax or linkTestBytes.
func (c *clusterd) linkTest(ctx context.Context) (api.LinkTest, error) {
	if !c.runner.Status().Connected {
		return api.LinkTest{}, api.Conflict("the other node is not connected")
	}
	rep := netcfg.ReplicationFor(c.cfg.Network, c.id.NodeID)
	if err := c.peerDo(ctx, "POST", "/peer/v1/linktest/listen", nil, nil, 10*time.Second); err != nil {
		return api.LinkTest{}, err
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp4", net.JoinHostPort(rep.Peer.String(), strconv.Itoa(linkTestPort)))
	if err != nil {
		return api.LinkTest{}, fmt.Errorf("%s: %w", rep.Link, err)
	}
	defer conn.Close()
	buf := make([]byte, 1<<20)
	start := time.Now()
	var sent int64
	for sent < linkTestBytes && time.Since(start) < linkTestMax {
		n, err := conn.Write(buf)
		sent += int64(n)
		if err != nil {
			return api.LinkTest{}, err
		}
	}
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(conn, buf[:1]); err != nil {
		return api.LinkTest{}, fmt.Errorf("%s: no end mark from the peer: %w", rep.Link, err)
	}
	secs := time.Since(start).Seconds()
	return api.LinkTest{Node: nodeName(c.id.NodeID), Peer: nodeName(1 - c.id.NodeID), Link: rep.Link,
		Bytes: sent, Seconds: secs, MiBPerS: float64(sent) / (1 << 20) / secs}, nil
}

// linkTestRoutes: listen takes one test connection on the replication
// address (for a minute); send runs a test from this node.
func (c *clusterd) linkTestRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /peer/v1/linktest/listen", func(w http.ResponseWriter, r *http.Request) {
		rep := netcfg.ReplicationFor(c.cfg.Network, c.id.NodeID)
		ln, err := net.Listen("tcp4", net.JoinHostPort(rep.Local.Addr().String(), strconv.Itoa(linkTestPort)))
		if err != nil {
			writePeer(w, http.StatusConflict, api.Error{Error: err.Error(), Code: api.CodeConflict})
			return
		}
		go func() {
			defer ln.Close()
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(time.Minute))
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(time.Minute))
			if _, err := io.Copy(io.Discard, conn); err == nil {
				conn.Write([]byte{1})
			}
		}()
		writePeer(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("POST /peer/v1/linktest/send", func(w http.ResponseWriter, r *http.Request) {
		res, err := c.linkTest(r.Context())
		var cf *api.ConflictError
		switch {
		case errors.As(err, &cf):
			writePeer(w, http.StatusConflict, api.Error{Error: err.Error(), Code: api.CodeConflict})
		case err != nil:
			writePeer(w, http.StatusInternalServerError, api.Error{Error: err.Error(), Code: api.CodeInternal})
		default:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(res)
		}
	})
}
