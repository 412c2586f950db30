package witness

import (
	"fmt"
	"maps"
	"time"
)

// Record is what the witness remembers about one system.
type Record struct {
	// Holder got the last grant, at Term.
	Holder uint8 `json:"holder"`
	// Term is the last granted term (0: nothing granted yet).
	Term uint64 `json:"term"`
	// Expires is the end of Holder's lease; zero or past when released.
	Expires time.Time `json:"expires"`
}

// Live reports whether the lease is still held at now.
func (r Record) Live(now time.Time) bool { return r.Term > 0 && now.Before(r.Expires) }

// State is the witness's whole memory, as written to its state file.
type State struct {
	Records map[string]Record `json:"records"`
}

// Store keeps a State across restarts. Save must be durable when it returns.
type Store interface {
	Save(State) error
}

// Ledger decides votes (the rules are in the package comment). It is pure:
// time comes in as an argument, so the membership simulator runs the same
// code with a virtual clock. It is not safe for concurrent use.
type Ledger struct {
	maxLease   time.Duration
	store      Store
	quarantine time.Time
	records    map[string]Record
}

// NewLedger returns a ledger that starts from initial and saves every change
// to store (nil: memory only). Leases are capped at maxLease.
func NewLedger(maxLease time.Duration, initial State, store Store) *Ledger {
	l := &Ledger{maxLease: maxLease, store: store, records: map[string]Record{}}
	maps.Copy(l.records, initial.Records)
	return l
}

// QuarantineUntil makes the ledger refuse every vote before t. A witness that
// lost its state calls it with start + MaxLease (rule 3).
func (l *Ledger) QuarantineUntil(t time.Time) { l.quarantine = t }

// MaxLease is the longest lease this ledger grants.
func (l *Ledger) MaxLease() time.Duration { return l.maxLease }

// Record returns the ledger's record for a system.
func (l *Ledger) Record(system string) (Record, bool) {
	r, ok := l.records[system]
	return r, ok
}

// Decide answers one request at time now.
func (l *Ledger) Decide(now time.Time, req Request) Reply {
	if err := req.Validate(); err != nil {
		return Reply{Result: Refused, Reason: ReasonInvalid}
	}
	rec := l.records[req.System]
	base := Reply{Term: rec.Term, Holder: rec.Holder, Held: rec.Live(now)}
	switch req.Kind {
	case KindProbe:
		base.Result = Pong
		return base
	case KindRelease:
		base.Result = Released
		if rec.Live(now) && rec.Holder == req.Node {
			next := rec
			next.Expires = now
			if err := l.commit(req.System, next); err != nil {
				return base // still held; it expires on its own
			}
			base.Held = false
		}
		return base
	}
	// A vote.
	refuse := func(why Reason) Reply {
		base.Result, base.Reason = Refused, why
		return base
	}
	switch {
	case now.Before(l.quarantine):
		return refuse(ReasonQuarantine)
	case req.Term < rec.Term:
		return refuse(ReasonStaleTerm)
	case rec.Term > 0 && rec.Holder == req.Node:
		// The same node renews (or raises the term of) its own lease.
	case rec.Live(now):
		return refuse(ReasonHeld)
	case req.Term == rec.Term:
		return refuse(ReasonTermUsed)
	}
	lease := min(req.Lease, l.maxLease)
	next := Record{Holder: req.Node, Term: req.Term, Expires: now.Add(lease)}
	if err := l.commit(req.System, next); err != nil {
		return refuse(ReasonStore)
	}
	return Reply{Result: Granted, Term: next.Term, Holder: next.Holder, Held: true, Lease: lease}
}

// commit records next for system, saving first: a grant that is not on disk
// is not given (rule 3).
func (l *Ledger) commit(system string, next Record) error {
	if l.store != nil {
		st := State{Records: maps.Clone(l.records)}
		st.Records[system] = next
		if err := l.store.Save(st); err != nil {
			return fmt.Errorf("witness state: %w", err)
		}
	}
	l.records[system] = next
	return nil
}
