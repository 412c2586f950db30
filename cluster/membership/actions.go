package membership

import (
	"fmt"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/witness"
)

// Action is an output of Machine.Step, for the driver to carry out. Slices
// in actions are shared: drivers must not modify them.
type Action interface{ isAction() }

// SendHeartbeat: send hb on link.
type SendHeartbeat struct {
	Link      string
	Heartbeat Heartbeat
}

// AskWitness: send Request to the witness and answer with a WitnessReply
// carrying ID.
type AskWitness struct {
	Witness string
	ID      uint64
	Request witness.Request
}

// BecomePrimary: take the system IP (announce it with gratuitous ARP).
type BecomePrimary struct {
	Term   uint64
	Reason string
}

// StepDown: give up the system IP.
type StepDown struct {
	Term   uint64
	Reason string
}

// TakeOver: start these resources on this node.
type TakeOver struct {
	Resources []string
	// FromPeer: they were the peer's; otherwise they were stopped by a fence
	// (this node's or the peer's) or by a restart, and nobody runs them.
	FromPeer bool
	Reason   string
}

// Release: stop these resources on this node.
type Release struct {
	Resources []string
	Reason    string
}

// PeerLost: the peer is heard on no link.
type PeerLost struct {
	LastHeard time.Time // zero: never heard since start
}

// PeerJoined: the peer is heard again (or for the first time).
type PeerJoined struct {
	Incarnation uint64
	// Restarted: the peer came back with a new incarnation.
	Restarted bool
}

// SaveTerm: persist the term; pass it back in Start after a restart.
type SaveTerm struct{ Term uint64 }

// LinkReport: the link table changed.
type LinkReport struct{ Links []LinkStatus }

// AlertKind classifies alerts (SPEC A12 turns them into mail and traps).
type AlertKind string

const (
	AlertLinkDown           AlertKind = "link-down"
	AlertLinkUp             AlertKind = "link-up"
	AlertLinkFlapping       AlertKind = "link-flapping"
	AlertPeerLost           AlertKind = "peer-lost"
	AlertPeerJoined         AlertKind = "peer-joined"
	AlertOneWayLoss         AlertKind = "one-way-loss"
	AlertSplitBrainAverted  AlertKind = "split-brain-averted"
	AlertQuorumLost         AlertKind = "quorum-lost"
	AlertWitnessUnreachable AlertKind = "witness-unreachable"
	AlertWitnessReachable   AlertKind = "witness-reachable"
	AlertResourceConflict   AlertKind = "resource-conflict"
)

// Alert is something an administrator should hear about.
type Alert struct {
	Kind    AlertKind
	Link    string // for link alerts
	Witness string // for witness alerts
	Detail  string
}

func (SendHeartbeat) isAction() {}
func (AskWitness) isAction()    {}
func (BecomePrimary) isAction() {}
func (StepDown) isAction()      {}
func (TakeOver) isAction()      {}
func (Release) isAction()       {}
func (PeerLost) isAction()      {}
func (PeerJoined) isAction()    {}
func (SaveTerm) isAction()      {}
func (LinkReport) isAction()    {}
func (Alert) isAction()         {}

func (a Alert) String() string {
	var b strings.Builder
	b.WriteString(string(a.Kind))
	if a.Link != "" {
		b.WriteString(" link=" + a.Link)
	}
	if a.Witness != "" {
		b.WriteString(" witness=" + a.Witness)
	}
	if a.Detail != "" {
		b.WriteString(": " + a.Detail)
	}
	return b.String()
}

// Describe renders an action in one line, for logs and test traces.
func Describe(a Action) string {
	switch a := a.(type) {
	case SendHeartbeat:
		h := a.Heartbeat
		return fmt.Sprintf("send %s seq=%d term=%d %s lost=%v disc=%v owned=%v fenced=%v", a.Link, h.Seq, h.Term, h.State, h.PeerLost, h.Disconnected, h.Owned, h.Fenced)
	case AskWitness:
		r := a.Request
		return fmt.Sprintf("ask %s #%d %s term=%d", a.Witness, a.ID, r.Kind, r.Term)
	case BecomePrimary:
		return fmt.Sprintf("become primary term=%d: %s", a.Term, a.Reason)
	case StepDown:
		return fmt.Sprintf("step down term=%d: %s", a.Term, a.Reason)
	case TakeOver:
		return fmt.Sprintf("take over %v (from peer: %v): %s", a.Resources, a.FromPeer, a.Reason)
	case Release:
		return fmt.Sprintf("release %v: %s", a.Resources, a.Reason)
	case PeerLost:
		return "peer lost"
	case PeerJoined:
		return fmt.Sprintf("peer joined incarnation=%d restarted=%v", a.Incarnation, a.Restarted)
	case SaveTerm:
		return fmt.Sprintf("save term %d", a.Term)
	case LinkReport:
		parts := make([]string, len(a.Links))
		for i, l := range a.Links {
			s := "down"
			if l.Up {
				s = "up"
			}
			if l.Flapping {
				s += ",flapping"
			}
			parts[i] = l.Name + "=" + s
		}
		return "links " + strings.Join(parts, " ")
	case Alert:
		return "alert " + a.String()
	}
	return fmt.Sprintf("%#v", a)
}
