package heartbeat

import (
	"fmt"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// Default freshness bounds (rule 6). They are generous compared with the
// peer timeout (1 s) because they only have to bound what a recorded
// stream can do to a receiver that lost its replay state; the sequence
// window does the rest. Tighter bounds would turn a few seconds of clock
// difference between the nodes into a lost peer.
const (
	DefaultMaxAge    = 10 * time.Second
	DefaultMaxFuture = 10 * time.Second
)

// ReplayWindow is how far below the highest sequence number seen on a
// link an unseen one is still accepted (reordering within the sender's or
// receiver's queues; the link itself is a cable).
const ReplayWindow = 64

// Verifier applies receive rules 3 to 7 of the package doc to
// authenticated messages. It is not safe for concurrent use; the transport
// has one per link.
type Verifier struct {
	System    string
	Self      membership.NodeID
	MaxAge    time.Duration // zero: DefaultMaxAge
	MaxFuture time.Duration // zero: DefaultMaxFuture

	windows map[windowKey]*window
}

type windowKey struct {
	from membership.NodeID
	link string
}

// window is the replay state of one sender on one link: the newest boot
// and, within it, the highest sequence number and a bitmap of the
// ReplayWindow numbers below it (bit i: top-i was seen).
type window struct {
	boot, top uint64
	seen      uint64
}

// Check applies the rules to m, received on link at now, and records its
// sequence number when it passes. A message that fails leaves no trace,
// so a forged or stale one cannot push the window.
func (v *Verifier) Check(m Message, link string, now time.Time) error {
	switch {
	case m.System != v.System:
		return fmt.Errorf("%w: %q", ErrWrongSystem, m.System)
	case m.From != v.Self.Other():
		return fmt.Errorf("%w: sender is %v, this node %v", ErrNotPeer, m.From, v.Self)
	case m.Link != link:
		return fmt.Errorf("%w: sent on %q, arrived on %q", ErrWrongLink, m.Link, link)
	}
	maxAge, maxFuture := v.MaxAge, v.MaxFuture
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if maxFuture <= 0 {
		maxFuture = DefaultMaxFuture
	}
	if age := now.Sub(m.Sent); age > maxAge {
		return fmt.Errorf("%w: sent %v ago (limit %v; are the nodes' clocks in sync?)", ErrStale, age, maxAge)
	} else if -age > maxFuture {
		return fmt.Errorf("%w: sent %v ahead of this node's clock (limit %v; are the nodes' clocks in sync?)", ErrFuture, -age, maxFuture)
	}
	k := windowKey{m.From, link}
	w := v.windows[k]
	if w == nil {
		if v.windows == nil {
			v.windows = map[windowKey]*window{}
		}
		v.windows[k] = &window{boot: m.Boot, top: m.Seq, seen: 1}
		return nil
	}
	return w.accept(m.Boot, m.Seq)
}

func (w *window) accept(boot, seq uint64) error {
	switch {
	case boot < w.boot:
		return fmt.Errorf("%w: boot %d, newest seen %d", ErrOldBoot, boot, w.boot)
	case boot > w.boot:
		*w = window{boot: boot, top: seq, seen: 1}
		return nil
	case seq > w.top:
		if d := seq - w.top; d >= ReplayWindow {
			w.seen = 1
		} else {
			w.seen = w.seen<<d | 1
		}
		w.top = seq
		return nil
	}
	d := w.top - seq
	if d >= ReplayWindow || w.seen&(1<<d) != 0 {
		return fmt.Errorf("%w: seq %d, highest %d", ErrReplay, seq, w.top)
	}
	w.seen |= 1 << d
	return nil
}
