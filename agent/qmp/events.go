package qmp

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Event is an asynchronous server message.
type Event struct {
	Name string
	// Data is the event's "data" object; nil for events without one.
	Data json.RawMessage
	// Time is when QEMU emitted the event (its "timestamp").
	Time time.Time
}

// Decode unmarshals the event's data into v.
func (e Event) Decode(v any) error {
	if e.Data == nil {
		return fmt.Errorf("qmp: event %s has no data", e.Name)
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("qmp: event %s: %w", e.Name, err)
	}
	return nil
}

// SubscriberBuffer is the capacity of a Subscribe channel.
const SubscriberBuffer = 64

type subscriber struct {
	names map[string]bool // nil: every event
	ch    chan Event
}

// Subscribe delivers the named events (all events when names is empty), in
// the order QEMU sent them, on a channel of SubscriberBuffer capacity. The
// reader goroutine never waits for a subscriber, because a slow consumer
// must not stall command replies: when the channel is full the event is
// dropped for that subscriber and counted in DroppedEvents. Code that must
// not miss one particular event uses Expect or WaitEvent instead.
//
// The channel is closed by cancel and when the connection ends.
func (c *Client) Subscribe(names ...string) (<-chan Event, func()) {
	s := &subscriber{ch: make(chan Event, SubscriberBuffer)}
	if len(names) > 0 {
		s.names = make(map[string]bool, len(names))
		for _, n := range names {
			s.names[n] = true
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subs == nil {
		close(s.ch)
		return s.ch, func() {}
	}
	c.subs[s] = struct{}{}
	return s.ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.subs[s]; ok {
			delete(c.subs, s)
			close(s.ch)
		}
	}
}

// DroppedEvents counts events not delivered because a subscriber's channel
// was full.
func (c *Client) DroppedEvents() uint64 { return c.dropped.Load() }

// Waiter catches the first matching event after it was registered.
type Waiter struct {
	c     *Client
	name  string
	match func(Event) bool
	ch    chan Event // capacity 1, written once
}

// Expect registers interest in the first event called name for which match
// (nil: any) returns true, before the command that causes it is issued:
// QEMU often emits the event before the command's reply, and events are
// not replayed.
//
//	w := c.Expect(qmp.EventResume, nil)
//	defer w.Cancel()
//	if err := c.Cont(ctx); err != nil { … }
//	ev, err := w.Wait(ctx)
//
// match runs on the client's reader goroutine, so a matching event can
// never be dropped; it must be quick and must not call the Client.
func (c *Client) Expect(name string, match func(Event) bool) *Waiter {
	w := &Waiter{c: c, name: name, match: match, ch: make(chan Event, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause == nil {
		c.waiters[w] = struct{}{}
	}
	return w
}

// Wait returns the matched event, or an error when ctx ends or the
// connection is lost first. A Waiter yields at most one event.
func (w *Waiter) Wait(ctx context.Context) (Event, error) {
	select {
	case ev := <-w.ch:
		return ev, nil
	case <-ctx.Done():
		w.Cancel()
		select {
		case ev := <-w.ch:
			return ev, nil
		default:
		}
		return Event{}, fmt.Errorf("qmp %s: waiting for event %s: %w", w.c.name, w.name, ctx.Err())
	case <-w.c.done:
		select {
		case ev := <-w.ch:
			return ev, nil
		default:
		}
		return Event{}, fmt.Errorf("qmp %s: waiting for event %s: %w", w.c.name, w.name, w.c.Err())
	}
}

// Cancel unregisters the waiter; use it when the command that was to cause
// the event failed.
func (w *Waiter) Cancel() {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	delete(w.c.waiters, w)
}

// WaitEvent waits for the first event called name accepted by match (nil:
// any) that arrives after the call. If the event is caused by a command,
// use Expect before issuing it instead.
func (c *Client) WaitEvent(ctx context.Context, name string, match func(Event) bool) (Event, error) {
	return c.Expect(name, match).Wait(ctx)
}

func (c *Client) dispatchEvent(ev Event) {
	c.mu.Lock()
	for s := range c.subs {
		if s.names != nil && !s.names[ev.Name] {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			c.dropped.Add(1)
		}
	}
	var candidates []*Waiter
	for w := range c.waiters {
		if w.name == ev.Name {
			candidates = append(candidates, w)
		}
	}
	c.mu.Unlock()

	// match is caller code: run it without the lock.
	for _, w := range candidates {
		if w.match != nil && !w.match(ev) {
			continue
		}
		c.mu.Lock()
		if _, ok := c.waiters[w]; ok {
			delete(c.waiters, w)
			w.ch <- ev
		}
		c.mu.Unlock()
	}
}
