package join

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	long := now.Add(-time.Hour)
	n0 := NodeRecord{ID: 0, Hostname: "pm-a", IP: "192.0.2.10", KeyID: "k0", Joined: long}
	n1 := NodeRecord{ID: 1, Hostname: "pm-b", IP: "192.0.2.11", KeyID: "k1", Joined: long}
	n1fresh := n1
	n1fresh.Joined = now.Add(-20 * time.Second)

	for _, tc := range []struct {
		name    string
		nodes   []NodeRecord
		healthy []int
		action  Action
		want    NodeChoice
		key     string
		id      int
		reuse   bool   // Previous set
		code    string // refusal code; "" = accepted
		msg     string // substring of the refusal
	}{
		// Accepted.
		{name: "first node1 joins", nodes: []NodeRecord{n0}, healthy: []int{0}, action: Replace, want: AnyNode, id: 1},
		{name: "first node1 asks for node1", nodes: []NodeRecord{n0}, healthy: []int{0}, action: Replace, want: Node(1), id: 1},
		{name: "replace failed node1 reuses its id", nodes: []NodeRecord{n0, n1}, healthy: []int{0}, action: Replace, want: AnyNode, id: 1, reuse: true},
		{name: "replace failed node0 from node1", nodes: []NodeRecord{n0, n1}, healthy: []int{1}, action: Replace, want: AnyNode, id: 0, reuse: true},
		{name: "replace names the failed node", nodes: []NodeRecord{n0, n1}, healthy: []int{1}, action: Replace, want: Node(0), id: 0, reuse: true},
		{name: "recover failed node1", nodes: []NodeRecord{n0, n1}, healthy: []int{0}, action: Recover, want: AnyNode, id: 1, reuse: true},
		{name: "recover names node1", nodes: []NodeRecord{n0, n1}, healthy: []int{0}, action: Recover, want: Node(1), id: 1, reuse: true},
		{name: "same joiner retries within grace", nodes: []NodeRecord{n0, n1fresh}, healthy: []int{0}, action: Replace, want: AnyNode, key: "k1", id: 1, reuse: true},

		// Refused.
		{name: "third node: two healthy nodes", nodes: []NodeRecord{n0, n1}, healthy: []int{0, 1}, action: Replace, want: AnyNode,
			code: CodeSystemFull, msg: "system alpha already has two healthy nodes: node0 and node1"},
		{name: "third node asking for node1", nodes: []NodeRecord{n0, n1}, healthy: []int{0, 1}, action: Replace, want: Node(1),
			code: CodeSystemFull, msg: "already has two healthy nodes"},
		{name: "recover with two healthy nodes", nodes: []NodeRecord{n0, n1}, healthy: []int{0, 1}, action: Recover, want: AnyNode,
			code: CodeSystemFull},
		{name: "recover of an unknown node id", nodes: []NodeRecord{n0}, healthy: []int{0}, action: Recover, want: Node(1),
			code: CodeUnknownNode, msg: "recover node1: system alpha has no node1 (it knows node0 healthy)"},
		{name: "recover with no failed node", nodes: []NodeRecord{n0}, healthy: []int{0}, action: Recover, want: AnyNode,
			code: CodeUnknownNode, msg: "no failed node to recover (node0 healthy); use replace"},
		{name: "replace of the healthy node0", nodes: []NodeRecord{n0}, healthy: []int{0}, action: Replace, want: Node(0),
			code: CodeNodeHealthy, msg: "node0 (pm-a) of system alpha is healthy: a replace takes over a failed node"},
		{name: "recover of the healthy node0", nodes: []NodeRecord{n0, n1}, healthy: []int{0}, action: Recover, want: Node(0),
			code: CodeNodeHealthy, msg: "node0 (pm-a) of system alpha is healthy: a recover"},
		{name: "replace of healthy node1 from node1's side", nodes: []NodeRecord{n0, n1}, healthy: []int{1}, action: Replace, want: Node(1),
			code: CodeNodeHealthy},
		{name: "another joiner within grace", nodes: []NodeRecord{n0, n1fresh}, healthy: []int{0}, action: Replace, want: AnyNode, key: "other",
			code: CodeNodeBusy, msg: "was given to another joining node (pm-b) 20s ago and has not come up yet; try again in 1m40s"},
		{name: "node id 2", nodes: []NodeRecord{n0}, healthy: []int{0}, action: Replace, want: Node(2),
			code: CodeBadRequest, msg: "node id 2: a system has node0 and node1 only"},
		{name: "create is no join", nodes: []NodeRecord{n0}, healthy: []int{0}, action: "create", want: AnyNode,
			code: CodeBadRequest, msg: `action "create"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := View{SystemName: "alpha", Nodes: tc.nodes, Now: now, Grace: 2 * time.Minute,
				Healthy: func(r NodeRecord) bool {
					for _, id := range tc.healthy {
						if r.ID == id {
							return true
						}
					}
					return false
				}}
			key := tc.key
			if key == "" {
				key = "new-key"
			}
			d, ref := Decide(v, tc.action, tc.want, key)
			if tc.code != "" {
				if ref == nil {
					t.Fatalf("accepted as node%d, want refusal %s", d.NodeID, tc.code)
				}
				if ref.Code != tc.code || !strings.Contains(ref.Message, tc.msg) {
					t.Fatalf("refusal %s %q, want %s containing %q", ref.Code, ref.Message, tc.code, tc.msg)
				}
				wantStatus := 409
				if tc.code == CodeBadRequest {
					wantStatus = 400
				}
				if ref.Status != wantStatus {
					t.Errorf("status %d, want %d", ref.Status, wantStatus)
				}
				t.Logf("%d %s", ref.Status, ref.Message)
				return
			}
			if ref != nil {
				t.Fatalf("refused: %v", ref)
			}
			if d.NodeID != tc.id || (d.Previous != nil) != tc.reuse {
				t.Fatalf("decision node%d previous %v, want node%d reuse %v", d.NodeID, d.Previous, tc.id, tc.reuse)
			}
			if tc.reuse && d.Previous.ID != tc.id {
				t.Errorf("previous record is node%d", d.Previous.ID)
			}
		})
	}
}

func TestNodeChoiceJSON(t *testing.T) {
	for _, tc := range []struct {
		c    NodeChoice
		json string
	}{{AnyNode, `"any"`}, {Node(0), `0`}, {Node(1), `1`}} {
		b, err := json.Marshal(tc.c)
		if err != nil || string(b) != tc.json {
			t.Errorf("Marshal(%v) = %s, %v", tc.c, b, err)
		}
		var back NodeChoice
		if err := json.Unmarshal(b, &back); err != nil || back != tc.c {
			t.Errorf("Unmarshal(%s) = %v, %v", b, back, err)
		}
	}
	var r Request
	if err := json.Unmarshal([]byte(`{"action":"replace"}`), &r); err != nil || r.NodeID != AnyNode {
		t.Errorf("absent node_id = %v, %v; want any", r.NodeID, err)
	}
	if err := json.Unmarshal([]byte(`{"node_id":"node1"}`), &r); err == nil {
		t.Error(`"node1" accepted`)
	}
}
