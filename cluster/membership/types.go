package membership

import (
	"fmt"
	"time"
)

// NodeID is node0 (installed first, preferred without witnesses) or node1.
type NodeID uint8

const (
	Node0 NodeID = 0
	Node1 NodeID = 1
)

func (n NodeID) String() string { return fmt.Sprintf("node%d", uint8(n)) }

// Other is the peer of n.
func (n NodeID) Other() NodeID { return n ^ 1 }

// State is a node's role, as it reports it in its heartbeats.
type State uint8

const (
	// StateStopped: not running (before Start, after Stop).
	StateStopped State = iota
	// StateJoining: started, waiting up to PeerTimeout to hear the peer.
	StateJoining
	// StateSecondary: sees the peer, which is (or is about to become) primary.
	StateSecondary
	// StateIsolated: cannot see the peer (or the peer cannot see it) and is
	// not primary.
	StateIsolated
	// StatePrimary holds the system IP.
	StatePrimary
)

var stateNames = [...]string{"stopped", "joining", "secondary", "isolated", "primary"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// rank orders claims when both nodes see each other and neither is primary:
// a running node beats a joining one, a joining one beats a stopped one.
func (s State) rank() int {
	switch s {
	case StateStopped:
		return 0
	case StateJoining:
		return 1
	}
	return 2
}

// Heartbeat is what a node sends on every link every HeartbeatInterval and
// at once whenever any field but Seq changes.
type Heartbeat struct {
	System      string
	From        NodeID
	Incarnation uint64 // grows with every start of the sender
	Seq         uint64 // grows with every heartbeat of one incarnation
	Term        uint64
	State       State
	// PeerLost: the sender has declared the receiver lost (hears it on no link).
	PeerLost bool
	// Disconnected: the sender is in a disconnected episode (cannot see the
	// receiver, or is not seen by it). A node claims the system on a
	// reconnect only once the peer reports it is connected again, so that a
	// vote still in flight on the peer's side cannot make two primaries.
	Disconnected bool
	// Owned are the resources the sender actively runs.
	Owned []string
	// Fenced are resources the sender stopped (to avoid a split brain, or
	// handed over when stopping) that nobody has restarted yet.
	Fenced []string
}

// LinkStatus is the state of one link as seen by this node.
type LinkStatus struct {
	Name     string
	Up       bool
	LastSeen time.Time // zero: never heard
	Flapping bool
	// Changes is the number of up/down changes within the flap window.
	Changes int
}

// Status is a snapshot of the machine, for the API and for tests.
type Status struct {
	Self        NodeID
	State       State
	Term        uint64
	Incarnation uint64
	PeerVisible bool // heard on at least one link
	PeerLost    bool
	Connected   bool // both nodes see each other
	PeerState   State
	Owned       []string
	Fenced      []string
	// PeerOwned is what the peer's latest heartbeat says it runs.
	PeerOwned []string
	Links     []LinkStatus
	Witnesses []WitnessStatus
}

// WitnessStatus is one witness as seen by this node.
type WitnessStatus struct {
	Name      string
	Reachable bool
	Known     bool      // false until the first answer or timeout
	Granted   time.Time // the held lease counts until then; zero if none
}
