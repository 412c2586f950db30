package qmp_test

import (
	"bufio"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/qmp"
)

// peer is a scripted QMP server on the other end of a net.Pipe, for tests
// that need exact control of what the client sees and when.
type peer struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

type peerRequest struct {
	Execute   string          `json:"execute"`
	ExecOOB   string          `json:"exec-oob"`
	Arguments json.RawMessage `json:"arguments"`
	ID        json.RawMessage `json:"id"`
}

// newPeer returns a negotiated client talking to a scripted peer.
func newPeer(t *testing.T, caps ...string) (*qmp.Client, *peer) {
	t.Helper()
	cli, srv := net.Pipe()
	p := &peer{t: t, conn: srv, r: bufio.NewReader(srv)}
	t.Cleanup(func() { srv.Close() })
	type result struct {
		c   *qmp.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := qmp.New(cli)
		done <- result{c, err}
	}()
	if caps == nil {
		caps = []string{}
	}
	p.send(map[string]any{"QMP": map[string]any{
		"version":      map[string]any{"qemu": map[string]int{"major": 11, "minor": 1, "micro": 0}, "package": ""},
		"capabilities": caps,
	}})
	req := p.read()
	if req.Execute != "qmp_capabilities" {
		t.Fatalf("first command = %+v, want qmp_capabilities", req)
	}
	p.reply(req, map[string]any{})
	r := <-done
	if r.err != nil {
		t.Fatalf("New: %v", r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c, p
}

func (p *peer) send(v any) {
	p.t.Helper()
	line, err := json.Marshal(v)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.Write(append(line, '\n')); err != nil {
		p.t.Errorf("peer write: %v", err)
	}
}

func (p *peer) reply(req peerRequest, ret any) {
	p.t.Helper()
	p.send(map[string]any{"return": ret, "id": req.ID})
}

func (p *peer) read() peerRequest {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := p.r.ReadBytes('\n')
	if err != nil {
		p.t.Fatalf("peer read: %v", err)
	}
	var req peerRequest
	if err := json.Unmarshal(line, &req); err != nil {
		p.t.Fatalf("peer: bad request %q: %v", line, err)
	}
	return req
}

// quiet reports whether the client sends nothing for d.
func (p *peer) quiet(d time.Duration) bool {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(d))
	line, err := p.r.ReadBytes('\n')
	if err == nil || len(line) > 0 {
		p.t.Errorf("unexpected request %q", line)
		return false
	}
	return true
}
