package witness

import (
	"errors"
	"fmt"
	"time"
)

// Kind is what a request asks for.
type Kind string

const (
	// KindVote asks for the system's lease at a term (or renews it).
	KindVote Kind = "vote"
	// KindRelease gives a held lease back early, so the other node need not
	// wait for it to expire.
	KindRelease Kind = "release"
	// KindProbe asks nothing; it tells the node that the witness is reachable.
	KindProbe Kind = "probe"
)

// Result is the witness's answer.
type Result string

const (
	Granted  Result = "granted"
	Refused  Result = "refused"
	Released Result = "released"
	Pong     Result = "pong"
)

// Reason says why a vote was refused.
type Reason string

const (
	// ReasonHeld: the other node holds a live lease.
	ReasonHeld Reason = "held"
	// ReasonStaleTerm: the witness has granted a higher term already; ask again
	// above Reply.Term.
	ReasonStaleTerm Reason = "stale-term"
	// ReasonTermUsed: this term went to the other node; ask again above it.
	ReasonTermUsed Reason = "term-used"
	// ReasonQuarantine: the witness restarted without its state and waits one
	// lease before granting anything. A lease held from before stays valid.
	ReasonQuarantine Reason = "quarantine"
	// ReasonStore: the grant could not be recorded, so it was not given.
	ReasonStore Reason = "store-failed"
	// ReasonInvalid: the request itself is malformed.
	ReasonInvalid Reason = "invalid"
)

// Request is one question to a witness.
type Request struct {
	Kind   Kind
	System string
	// Node is 0 (node0) or 1 (node1).
	Node uint8
	// Term is the term the node wants the lease for (votes only).
	Term uint64
	// Lease is the lease duration the node asks for (votes only); the
	// witness may shorten it.
	Lease time.Duration
}

// Reply is the witness's answer to one Request.
type Reply struct {
	Result Result
	// Term is the witness's last granted term for the system after this
	// request (so a refused node learns which term to go above).
	Term uint64
	// Holder is the node holding a live lease, valid when Held is true.
	Holder uint8
	Held   bool
	// Lease is the granted lease duration (Granted only).
	Lease  time.Duration
	Reason Reason
}

// MaxSystemID bounds the system id so that a request fits one datagram.
const MaxSystemID = 128

// Validate reports what is wrong with a request, if anything.
func (r Request) Validate() error {
	var errs []error
	switch r.Kind {
	case KindVote, KindRelease, KindProbe:
	default:
		errs = append(errs, fmt.Errorf("unknown request kind %q (want vote, release or probe)", r.Kind))
	}
	if r.System == "" {
		errs = append(errs, errors.New("system id is empty"))
	} else if len(r.System) > MaxSystemID {
		errs = append(errs, fmt.Errorf("system id is %d bytes, at most %d", len(r.System), MaxSystemID))
	}
	if r.Node > 1 {
		errs = append(errs, fmt.Errorf("node %d is neither node0 nor node1", r.Node))
	}
	if r.Kind == KindVote {
		if r.Term == 0 {
			errs = append(errs, errors.New("vote for term 0 (terms start at 1)"))
		}
		if r.Lease <= 0 {
			errs = append(errs, fmt.Errorf("vote asks for a lease of %v (must be positive)", r.Lease))
		}
	}
	return errors.Join(errs...)
}

// NodeName is "node0" or "node1", for logs.
func NodeName(n uint8) string { return fmt.Sprintf("node%d", n) }

func (r Reply) String() string {
	s := string(r.Result)
	if r.Reason != "" {
		s += " (" + string(r.Reason) + ")"
	}
	s += fmt.Sprintf(" term=%d", r.Term)
	if r.Held {
		s += " holder=" + NodeName(r.Holder)
	}
	if r.Lease > 0 {
		s += fmt.Sprintf(" lease=%v", r.Lease)
	}
	return s
}
