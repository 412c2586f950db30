package drbd

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Action is what an events2 line reports.
type Action string

const (
	Exists   Action = "exists" // the state when events2 started
	Create   Action = "create"
	Change   Action = "change"
	Destroy  Action = "destroy"
	Call     Action = "call"     // the kernel runs a helper (split-brain, …)
	Response Action = "response" // the helper returned
)

// Object is what an event is about.
type Object string

const (
	ObjResource   Object = "resource"
	ObjDevice     Object = "device"      // the local disk of a volume
	ObjConnection Object = "connection"  // the link to the peer
	ObjPeerDevice Object = "peer-device" // a volume as replicated to the peer
	ObjHelper     Object = "helper"
)

// Event is one line of drbdsetup-84 events2 (user/v84/drbdsetup.c,
// print_notifications and event_key):
//
//	exists resource name:r0 role:Primary suspended:no write-ordering:flush
//	exists connection name:r0 peer-node-id:0 conn-name:peer connection:Connected role:Secondary congested:no
//	exists device name:r0 volume:0 minor:0 disk:UpToDate size:10485404 read:… written:…
//	exists peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 replication:Established peer-disk:UpToDate resync-suspended:no received:0 sent:0 out-of-sync:0 pending:0 unacked:0
//	exists -
//	change connection name:r0 peer-node-id:0 conn-name:peer connection:NetworkFailure role:Unknown
//	call helper name:r0 peer-node-id:0 conn-name:peer volume:0 minor:0 helper:split-brain
//	response helper name:r0 peer-node-id:0 conn-name:peer volume:0 minor:0 helper:split-brain status:0
//
// A change line carries only what changed, and with --statistics the
// counters (KiB). peer-node-id is always 0 and conn-name always "peer"
// (8.4 has neither), and conn-name is left out once a StandAlone connection
// has dropped its addresses, so neither identifies anything here.
type Event struct {
	Action   Action
	Object   Object // "" on "exists -", which ends the initial state
	Resource string
	Volume   int // -1 when the line has none
	Minor    int // -1 when the line has none
	// Props are the other key:value pairs: role, disk, connection,
	// replication, peer-disk, helper, status, the counters, ….
	Props map[string]string
}

// InitialStateDone tells the "exists -" line: every object has been
// reported once.
func (e Event) InitialStateDone() bool { return e.Action == Exists && e.Object == "" }

// ErrEventsLost is drbdsetup's "- skipped N" line: it missed N kernel
// events (its socket overflowed), so the state it has reported since is no
// longer known to be right, and events2 must be restarted for a new dump.
var ErrEventsLost = errors.New("drbd: events2 lost events")

// counters are the numeric keys State reads, checked here so that Apply
// needs no error.
var counters = []string{"size", "received", "sent", "out-of-sync"}

// ParseEvent parses one events2 line (without --timestamps).
func ParseEvent(line string) (Event, error) {
	f := strings.Fields(line)
	if len(f) == 3 && f[0] == "-" && f[1] == "skipped" {
		return Event{}, fmt.Errorf("%w: %s skipped", ErrEventsLost, f[2])
	}
	if len(f) < 2 {
		return Event{}, fmt.Errorf("drbd: events2 line %q: too short", line)
	}
	e := Event{Action: Action(f[0]), Volume: -1, Minor: -1}
	switch e.Action {
	case Exists, Create, Change, Destroy, Call, Response:
	default:
		return Event{}, fmt.Errorf("drbd: events2 line %q: unknown action", line)
	}
	if f[1] == "-" {
		if e.Action != Exists || len(f) != 2 {
			return Event{}, fmt.Errorf("drbd: events2 line %q: malformed", line)
		}
		return e, nil
	}
	e.Object = Object(f[1])
	e.Props = map[string]string{}
	for _, kv := range f[2:] {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || k == "" {
			return Event{}, fmt.Errorf("drbd: events2 line %q: %q is not key:value", line, kv)
		}
		var err error
		switch k {
		case "name":
			e.Resource = v
		case "volume":
			e.Volume, err = strconv.Atoi(v)
		case "minor":
			e.Minor, err = strconv.Atoi(v)
		case "peer-node-id", "conn-name":
		default:
			e.Props[k] = v
		}
		if err != nil {
			return Event{}, fmt.Errorf("drbd: events2 line %q: %s: %w", line, k, err)
		}
	}
	if e.Resource == "" {
		return Event{}, fmt.Errorf("drbd: events2 line %q: no resource name", line)
	}
	for _, k := range counters {
		if v, ok := e.Props[k]; ok {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return Event{}, fmt.Errorf("drbd: events2 line %q: %s: %w", line, k, err)
			}
		}
	}
	return e, nil
}
