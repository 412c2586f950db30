package qmptest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lockstep-ft/lockstep/agent/qmp"
)

// conn is one client connection: a reader that parses requests, a
// dispatcher that runs in-band commands in order, and goroutines for
// out-of-band ones.
type conn struct {
	s      *Server
	nc     net.Conn
	ctx    context.Context
	cancel context.CancelFunc
	inband chan Command

	wmu        sync.Mutex
	negotiated atomic.Bool
	oob        atomic.Bool
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	return &conn{s: s, nc: nc, ctx: ctx, cancel: cancel, inband: make(chan Command, 64)}
}

func (c *conn) close() {
	c.cancel()
	c.nc.Close()
}

func (c *conn) write(line []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.Write(line) // a dead client is the test's business, not an error here
}

func (c *conn) send(msg map[string]any) {
	line, err := json.Marshal(msg)
	if err != nil {
		c.s.t.Errorf("qmptest: encoding reply: %v", err)
		return
	}
	c.write(append(line, '\n'))
}

func (c *conn) reply(cmd Command, ret any, err error) {
	msg := map[string]any{}
	if err != nil {
		msg["error"] = replyError(err)
	} else {
		if ret == nil {
			ret = map[string]any{}
		}
		msg["return"] = ret
	}
	if cmd.ID != nil {
		msg["id"] = cmd.ID
	}
	c.send(msg)
}

func (c *conn) serve() {
	defer c.s.wg.Done()
	defer func() {
		c.close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	}()
	caps := []string{}
	if c.s.oob {
		caps = append(caps, "oob")
	}
	c.send(map[string]any{"QMP": map[string]any{"version": c.s.versionInfo(), "capabilities": caps}})

	dec := json.NewDecoder(c.nc)
	for {
		var m map[string]json.RawMessage
		if err := dec.Decode(&m); err != nil {
			return
		}
		cmd, err := parseRequest(m)
		if err != nil {
			c.reply(cmd, nil, err)
			continue
		}
		c.s.record(cmd)
		if !c.negotiated.Load() {
			c.negotiate(cmd)
			continue
		}
		switch {
		case cmd.Name == "qmp_capabilities":
			c.reply(cmd, nil, &qmp.Error{Class: qmp.ErrorClassCommandNotFound,
				Desc: "Capabilities negotiation is already complete, command ignored"})
		case cmd.OOB && !c.oob.Load():
			c.reply(cmd, nil, fmt.Errorf("QMP input member 'exec-oob' is unexpected"))
		case cmd.OOB:
			c.s.wg.Add(1)
			go func() {
				defer c.s.wg.Done()
				c.run(cmd)
			}()
		default:
			select {
			case c.inband <- cmd:
			case <-c.ctx.Done():
				return
			}
		}
	}
}

func parseRequest(m map[string]json.RawMessage) (Command, error) {
	var cmd Command
	cmd.ID = m["id"]
	name, ok := m["execute"]
	if raw, oob := m["exec-oob"]; oob {
		if ok {
			return cmd, fmt.Errorf("QMP input member 'exec-oob' is unexpected")
		}
		if cmd.ID == nil {
			return cmd, fmt.Errorf("Out-of-band commands must have an id")
		}
		name, ok, cmd.OOB = raw, true, true
	}
	if !ok || json.Unmarshal(name, &cmd.Name) != nil {
		return cmd, fmt.Errorf("QMP input lacks member 'execute'")
	}
	if raw, ok := m["arguments"]; ok {
		cmd.RawArgs = raw
		if err := json.Unmarshal(raw, &cmd.Args); err != nil || cmd.Args == nil {
			return cmd, fmt.Errorf("QMP input member 'arguments' must be an object")
		}
	}
	return cmd, nil
}

func (c *conn) negotiate(cmd Command) {
	if cmd.Name != "qmp_capabilities" {
		c.reply(cmd, nil, &qmp.Error{Class: qmp.ErrorClassCommandNotFound,
			Desc: "Expecting capabilities negotiation with 'qmp_capabilities'"})
		return
	}
	var args struct {
		Enable []string `json:"enable"`
	}
	if cmd.RawArgs != nil {
		json.Unmarshal(cmd.RawArgs, &args)
	}
	for _, capName := range args.Enable {
		if capName != "oob" || !c.s.oob {
			c.reply(cmd, nil, fmt.Errorf("Capability '%s' not available", capName))
			return
		}
	}
	// Negotiated before the reply: a test may Emit as soon as its client
	// has the reply.
	c.oob.Store(slices.Contains(args.Enable, "oob"))
	c.negotiated.Store(true)
	c.reply(cmd, nil, nil)
}

func (c *conn) dispatchInband() {
	defer c.s.wg.Done()
	for {
		select {
		case cmd := <-c.inband:
			c.run(cmd)
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *conn) run(cmd Command) {
	h := c.s.handler(cmd.Name)
	if h == nil {
		c.reply(cmd, nil, nil)
		return
	}
	ret, err := h(c.ctx, cmd)
	if c.ctx.Err() != nil {
		return // the connection is gone; QEMU would not answer either
	}
	c.reply(cmd, ret, err)
}
