package drbd

import (
	"bufio"
	"context"
	"io"
	"slices"
	"strconv"
)

// Role is a node's role in a resource.
type Role string

const (
	RolePrimary   Role = "Primary"
	RoleSecondary Role = "Secondary"
	RoleUnknown   Role = "Unknown" // the peer's, while not connected
)

// DiskState is the state of a node's copy of the data.
type DiskState string

const (
	DiskUpToDate     DiskState = "UpToDate"
	DiskConsistent   DiskState = "Consistent"
	DiskOutdated     DiskState = "Outdated"
	DiskInconsistent DiskState = "Inconsistent"
	DiskDiskless     DiskState = "Diskless" // detached, e.g. after a disk I/O error
	DiskUnknown      DiskState = "DUnknown" // the peer's, while not connected
)

// ConnState is the state of the connection to the peer. drbdsetup-84 shows
// 8.4's WFConnection as Connecting and WFReportParams as Connected: the
// connection as a whole stays in WFReportParams while connected, the
// volumes move on (ReplState).
type ConnState string

const (
	ConnStandAlone ConnState = "StandAlone" // not trying to connect: disconnected, or a split brain
	ConnConnecting ConnState = "Connecting"
	ConnConnected  ConnState = "Connected"
)

// ReplState is the replication state of the volume with the peer: Off
// while not connected, Established when in sync, the Sync states while
// resyncing.
type ReplState string

const (
	ReplOff         ReplState = "Off"
	ReplEstablished ReplState = "Established"
	ReplSyncSource  ReplState = "SyncSource"
	ReplSyncTarget  ReplState = "SyncTarget"
	ReplPausedSyncS ReplState = "PausedSyncS"
	ReplPausedSyncT ReplState = "PausedSyncT"
)

// Syncing tells a resync in progress (paused or not).
func (r ReplState) Syncing() bool {
	switch r {
	case ReplSyncSource, ReplSyncTarget, ReplPausedSyncS, ReplPausedSyncT:
		return true
	}
	return false
}

// State is one resource's state on this node, built from events. Empty
// fields are not known: a resource that is not up has only its Name.
// Resources have one volume (0).
type State struct {
	Name        string
	Role        Role
	Disk        DiskState
	PeerRole    Role
	PeerDisk    DiskState
	Connection  ConnState
	Replication ReplState
	SizeKiB     int64 // the device's size
	// OutOfSyncKiB is how much differs from the peer: what a resync
	// will copy, or is copying.
	OutOfSyncKiB int64
	// ReceivedKiB and SentKiB count what went over the network for this
	// volume, replication and resync, since it was attached.
	ReceivedKiB, SentKiB int64
	// Done is the percentage of the device in sync with the peer,
	// 100·(1 − OutOfSyncKiB/SizeKiB): a resync's progress, as drbdsetup
	// status shows it. 8.4 sends no event while a resync runs, so it only
	// moves with Adm.Status.
	Done float64
	// SplitBrain is set when DRBD found, on connecting, that both sides
	// wrote while apart, and dropped the connection. It clears once the
	// two replicate again, i.e. after an operator chose the side whose
	// writes are discarded.
	SplitBrain bool
}

// Apply updates s with an event about resource s.Name.
func (s *State) Apply(e Event) {
	if e.Resource != s.Name || e.Volume > 0 {
		return
	}
	p := e.Props
	gone := e.Action == Destroy
	switch e.Object {
	case ObjResource:
		if gone {
			*s = State{Name: s.Name, SplitBrain: s.SplitBrain}
			return
		}
		setStr(&s.Role, p, "role")
	case ObjDevice:
		if gone {
			s.Disk, s.SizeKiB = "", 0
			break
		}
		setStr(&s.Disk, p, "disk")
		setInt(&s.SizeKiB, p, "size")
	case ObjConnection:
		if gone {
			s.Connection, s.PeerRole = "", ""
			break
		}
		setStr(&s.Connection, p, "connection")
		setStr(&s.PeerRole, p, "role")
	case ObjPeerDevice:
		if gone {
			s.Replication, s.PeerDisk, s.OutOfSyncKiB, s.ReceivedKiB, s.SentKiB = "", "", 0, 0, 0
			break
		}
		setStr(&s.Replication, p, "replication")
		setStr(&s.PeerDisk, p, "peer-disk")
		setInt(&s.OutOfSyncKiB, p, "out-of-sync")
		setInt(&s.ReceivedKiB, p, "received")
		setInt(&s.SentKiB, p, "sent")
	case ObjHelper:
		// 8.4 calls initial-split-brain on every split brain it detects,
		// resolved or not; split-brain only when it leaves it unresolved.
		if e.Action == Call && p["helper"] == "split-brain" {
			s.SplitBrain = true
		}
	}
	if s.Replication == ReplEstablished || s.Replication.Syncing() {
		s.SplitBrain = false
	}
	s.Done = 0
	if s.SizeKiB > 0 {
		s.Done = max(0, 100*(1-float64(s.OutOfSyncKiB)/float64(s.SizeKiB)))
	}
}

func setStr[T ~string](dst *T, p map[string]string, key string) {
	if v, ok := p[key]; ok {
		*dst = T(v)
	}
}

// setInt reads a counter ParseEvent has checked.
func setInt(dst *int64, p map[string]string, key string) {
	if v, ok := p[key]; ok {
		*dst, _ = strconv.ParseInt(v, 10, 64)
	}
}

// Watch reads events2 lines (EventsCommand's output) from r and calls fn
// with every resource's state once the initial state is complete, then
// with a resource's state after each event about it. Several lines can
// make one kernel state change (the connection, then its peer device), so
// fn can see a state between two of them. Watch returns at the end of r,
// on a malformed line, on ErrEventsLost (restart events2 then) or when ctx
// ends; r is closed then if it is an io.Closer, to unblock the read.
func Watch(ctx context.Context, r io.Reader, fn func(State)) error {
	if c, ok := r.(io.Closer); ok {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
	}
	states := map[string]*State{}
	initial := true
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if sc.Text() == "" {
			continue
		}
		e, err := ParseEvent(sc.Text())
		if err != nil {
			return err
		}
		if e.InitialStateDone() {
			initial = false
			names := make([]string, 0, len(states))
			for n := range states {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				fn(*states[n])
			}
			continue
		}
		s := states[e.Resource]
		if s == nil {
			s = &State{Name: e.Resource}
			states[e.Resource] = s
		}
		s.Apply(e)
		if !initial {
			fn(*s)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return sc.Err()
}
