package qmp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// readLoop demultiplexes the server's messages: replies go to their call
// by id, events to subscribers and waiters. It never blocks on a consumer.
func (c *Client) readLoop() {
	defer c.routines.Done()
	for {
		var m map[string]json.RawMessage
		if err := c.dec.Decode(&m); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				continue // a non-object value: the stream is still in sync
			}
			var syntaxErr *json.SyntaxError
			if errors.As(err, &syntaxErr) {
				err = fmt.Errorf("malformed QMP message: %w", err)
			}
			c.fail(err)
			return
		}
		if raw, ok := m["event"]; ok {
			c.dispatchEvent(decodeEvent(raw, m))
			continue
		}
		c.dispatchReply(m)
	}
}

func (c *Client) dispatchReply(m map[string]json.RawMessage) {
	// Replies without an id answer requests the server could not parse far
	// enough to find one; every request we send has an id, so none of ours
	// is waiting for them.
	rawID, ok := m["id"]
	if !ok {
		return
	}
	id, err := strconv.ParseUint(string(rawID), 10, 64)
	if err != nil {
		return
	}
	if rawErr, ok := m["error"]; ok {
		var e Error
		if json.Unmarshal(rawErr, &e) != nil {
			e = Error{Class: ErrorClassGeneric, Desc: string(rawErr)}
		}
		c.complete(id, response{err: &e})
		return
	}
	ret, ok := m["return"]
	if !ok {
		c.complete(id, response{err: &Error{Class: ErrorClassGeneric, Desc: "reply has neither return nor error"}})
		return
	}
	c.complete(id, response{ret: ret})
}

func decodeEvent(rawName json.RawMessage, m map[string]json.RawMessage) Event {
	var ev Event
	json.Unmarshal(rawName, &ev.Name)
	ev.Data = m["data"]
	var ts struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	}
	if raw, ok := m["timestamp"]; ok && json.Unmarshal(raw, &ts) == nil {
		ev.Time = time.Unix(ts.Seconds, ts.Microseconds*int64(time.Microsecond))
	}
	return ev
}
