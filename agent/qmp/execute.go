package qmp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

type call struct {
	ch     chan response // capacity 1: the reader never blocks on it
	inband bool
}

type response struct {
	ret json.RawMessage
	err *Error
}

type request struct {
	Execute   string          `json:"execute,omitempty"`
	ExecOOB   string          `json:"exec-oob,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	ID        uint64          `json:"id"`
}

// Execute runs an in-band command. args (nil for none) must encode to a
// JSON object; result, if non-nil, receives the decoded "return" value. An
// error reply is returned as *Error.
//
// When ctx ends first Execute returns ctx.Err() at once and the late reply
// is dropped; the command may still have been sent and executed, so the
// outcome is unknown to the caller.
func (c *Client) Execute(ctx context.Context, command string, args, result any) error {
	return c.execute(ctx, false, command, args, result)
}

// ExecuteOOB runs a command out-of-band ("exec-oob"): QEMU runs it in the
// monitor I/O thread, even while the main loop is stuck. Only commands the
// schema marks allow-oob are accepted. Without the negotiated capability it
// fails with ErrOOBNotNegotiated and sends nothing.
func (c *Client) ExecuteOOB(ctx context.Context, command string, args, result any) error {
	if !c.oob {
		return fmt.Errorf("qmp %s: %s: %w", c.name, command, ErrOOBNotNegotiated)
	}
	return c.execute(ctx, true, command, args, result)
}

func (c *Client) execute(ctx context.Context, oob bool, command string, args, result any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := request{ID: c.nextID.Add(1)}
	if oob {
		req.ExecOOB = command
	} else {
		req.Execute = command
	}
	if args != nil {
		raw, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("qmp %s: %s: encoding arguments: %w", c.name, command, err)
		}
		// A typed nil (nil map, nil pointer) means "no arguments", not null.
		if !bytes.Equal(raw, []byte("null")) {
			req.Arguments = raw
		}
	}
	line, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("qmp %s: %s: encoding request: %w", c.name, command, err)
	}
	line = append(line, '\n')

	if !oob {
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return c.callErr(command)
		}
	}
	cl := &call{ch: make(chan response, 1), inband: !oob}
	if !c.register(req.ID, cl) {
		return c.callErr(command)
	}
	select {
	case c.writeq <- line:
	case <-ctx.Done():
		c.unregister(req.ID)
		return ctx.Err()
	case <-c.done:
		return c.callErr(command)
	}
	select {
	case r := <-cl.ch:
		return c.finish(command, r, result)
	case <-ctx.Done():
		// The entry stays registered so that the reply, when it comes,
		// frees the in-band slot and is recognised as stale.
		return ctx.Err()
	case <-c.done:
		select {
		case r := <-cl.ch:
			return c.finish(command, r, result)
		default:
			return c.callErr(command)
		}
	}
}

func (c *Client) finish(command string, r response, result any) error {
	if r.err != nil {
		e := *r.err
		e.Command = command
		return &e
	}
	if result != nil {
		if err := json.Unmarshal(r.ret, result); err != nil {
			return fmt.Errorf("qmp %s: %s: decoding the reply: %w", c.name, command, err)
		}
	}
	return nil
}

func (c *Client) register(id uint64, cl *call) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return false
	}
	c.pending[id] = cl
	return true
}

// unregister drops a call that was never sent.
func (c *Client) unregister(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.pending[id]; ok {
		delete(c.pending, id)
		if cl.inband {
			<-c.slots
		}
	}
}

// complete hands a reply to its call. Replies with unknown ids belong to
// calls that were abandoned before being sent, or to no call of ours.
func (c *Client) complete(id uint64, r response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.pending[id]
	if !ok {
		return
	}
	delete(c.pending, id)
	if cl.inband {
		<-c.slots
	}
	cl.ch <- r
}

// writeLoop owns writes so that a caller blocked on a full socket can still
// give up on ctx; one writer also keeps request lines from interleaving.
func (c *Client) writeLoop() {
	defer c.routines.Done()
	for {
		select {
		case line := <-c.writeq:
			if _, err := c.conn.Write(line); err != nil {
				c.fail(err)
				return
			}
		case <-c.done:
			return
		}
	}
}
