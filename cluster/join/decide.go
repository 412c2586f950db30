package join

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/pki"
)

// View is what a join decision looks at: the system's nodes and their
// health at the time of the request.
type View struct {
	SystemName string
	Nodes      []NodeRecord
	// Healthy reports a node's health; the server's own node is always
	// healthy (it is answering).
	Healthy func(NodeRecord) bool
	Now     time.Time
	// Grace: a node that joined less than Grace ago and is not healthy yet
	// is still coming up; another joiner may not take its id meanwhile
	// (the same joiner, same key, may retry).
	Grace time.Duration
}

// Decision is an accepted join.
type Decision struct {
	NodeID int
	// Previous is the record the joiner takes over (a replace of a known
	// node, or a recover); nil when the node id is new to the system.
	Previous *NodeRecord
}

// Decide applies the join rules to a request for node want with key keyID.
// It is pure so that the rules are table-tested apart from HTTP and TLS.
func Decide(v View, action Action, want NodeChoice, keyID string) (Decision, *Refusal) {
	if action != Replace && action != Recover {
		return Decision{}, refuse(http.StatusBadRequest, CodeBadRequest,
			"action %q: a join is replace or recover (create makes a new system)", action)
	}
	known := map[int]NodeRecord{}
	healthy := map[int]bool{}
	for _, r := range v.Nodes {
		known[r.ID] = r
		healthy[r.ID] = v.Healthy(r)
	}
	if healthy[0] && healthy[1] {
		return Decision{}, conflict(CodeSystemFull, "system %s already has two healthy nodes: node0 and node1", v.SystemName)
	}

	// check says whether the joiner may take node id, and why not.
	check := func(id int) *Refusal {
		r, ok := known[id]
		switch {
		case !ok && action == Recover:
			return conflict(CodeUnknownNode,
				"recover node%d: system %s has no node%d (it knows %s); recover keeps the data of a node the system knows, use replace to join a new node",
				id, v.SystemName, id, v.list(known, healthy))
		case !ok:
			return nil
		case healthy[id]:
			return conflict(CodeNodeHealthy,
				"node%d (%s) of system %s is healthy: a %s takes over a failed node; shut node%d down first",
				id, r.Hostname, v.SystemName, action, id)
		case r.KeyID != keyID && v.Now.Sub(r.Joined) < v.Grace:
			return conflict(CodeNodeBusy,
				"node%d of system %s was given to another joining node (%s) %s ago and has not come up yet; try again in %s",
				id, v.SystemName, r.Hostname, v.Now.Sub(r.Joined).Round(time.Second), (v.Grace - v.Now.Sub(r.Joined)).Round(time.Second))
		}
		return nil
	}
	decide := func(id int) Decision {
		d := Decision{NodeID: id}
		if r, ok := known[id]; ok {
			d.Previous = &r
		}
		return d
	}

	if id, ok := want.ID(); ok {
		if id < 0 || id > pki.MaxNodeID {
			return Decision{}, refuse(http.StatusBadRequest, CodeBadRequest, "node id %d: a system has node0 and node1 only", id)
		}
		if ref := check(id); ref != nil {
			return Decision{}, ref
		}
		return decide(id), nil
	}

	// Any node: a failed known node first (a replaced board comes back as
	// the node it replaces), then, for replace, a free id.
	var first *Refusal
	for _, wantKnown := range []bool{true, false} {
		for id := 0; id <= pki.MaxNodeID; id++ {
			if _, ok := known[id]; ok != wantKnown || healthy[id] {
				continue
			}
			if !wantKnown && action == Recover {
				continue
			}
			ref := check(id)
			if ref == nil {
				return decide(id), nil
			}
			if first == nil {
				first = ref
			}
		}
	}
	if first != nil {
		return Decision{}, first
	}
	// Only a recover with no failed known node gets here.
	return Decision{}, conflict(CodeUnknownNode,
		"recover: system %s has no failed node to recover (%s); use replace to join a new node",
		v.SystemName, v.list(known, healthy))
}

// list describes the known nodes: "node0 healthy, node1 failed".
func (v View) list(known map[int]NodeRecord, healthy map[int]bool) string {
	var parts []string
	for id := 0; id <= pki.MaxNodeID; id++ {
		if _, ok := known[id]; !ok {
			continue
		}
		state := "failed"
		if healthy[id] {
			state = "healthy"
		}
		parts = append(parts, fmt.Sprintf("node%d %s", id, state))
	}
	if len(parts) == 0 {
		return "no nodes"
	}
	return strings.Join(parts, ", ")
}
