package membership

import "github.com/lockstep-ft/lockstep/cluster/witness"

// Event is an input to Machine.Step.
type Event interface{ isEvent() }

// Start starts the node (admin start or boot).
type Start struct {
	// Incarnation identifies this start; it must grow from one start to the
	// next (a persisted boot counter). Zero means "previous + 1".
	Incarnation uint64
	// Term is the last term the node saved (SaveTerm), 0 on first start.
	Term uint64
}

// Stop stops the node gracefully: it stops its resources and hands them to
// the peer, and leaves the primary role at once instead of after a timeout.
type Stop struct{}

// Received is a heartbeat that arrived on a link.
type Received struct {
	Link      string
	Heartbeat Heartbeat
}

// Tick only lets time pass. Drivers tick at Machine.Next (or more often).
type Tick struct{}

// WitnessReply answers an AskWitness action with the same ID.
type WitnessReply struct {
	Witness string
	ID      uint64
	Reply   witness.Reply
	// NoAnswer: the witness did not answer (the client timed out). The
	// machine also times requests out by itself after WitnessTimeout.
	NoAnswer bool
}

// SetResources reports the resources this node actively runs now (after
// the agent started or stopped a VM). It replaces the machine's set.
type SetResources struct {
	Owned []string
}

func (Start) isEvent()        {}
func (Stop) isEvent()         {}
func (Received) isEvent()     {}
func (Tick) isEvent()         {}
func (WitnessReply) isEvent() {}
func (SetResources) isEvent() {}
