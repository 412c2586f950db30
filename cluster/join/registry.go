package join

import (
	"slices"
	"sync"
	"time"
)

// NodeRecord is what the system remembers of one node.
type NodeRecord struct {
	ID       int    `json:"id"`
	Hostname string `json:"hostname"`
	IP       string `json:"ip,omitempty"` // management address on ibiz0; "" = DHCP or unknown
	// Serial is the node's current certificate serial (hex): the agent
	// accepts only this one, so a replaced board's old certificate stops
	// working when the replacement joins.
	Serial string `json:"serial"`
	// KeyID is the SHA-256 of the node's public key (hex). A request with
	// the same key is the same joiner retrying, not a second claimant.
	KeyID  string    `json:"key_id"`
	Joined time.Time `json:"joined"`
}

// Registry is the server's view of the system's nodes. The agent backs it
// with its persistent state; MemRegistry serves tests and the lab. The
// registry holds every node, including the one running the server.
type Registry interface {
	Nodes() ([]NodeRecord, error)
	// Put adds or replaces the record with r.ID.
	Put(r NodeRecord) error
}

// MemRegistry is an in-memory Registry.
type MemRegistry struct {
	mu    sync.Mutex
	nodes map[int]NodeRecord
}

// NewMemRegistry returns a registry holding recs.
func NewMemRegistry(recs ...NodeRecord) *MemRegistry {
	m := &MemRegistry{nodes: map[int]NodeRecord{}}
	for _, r := range recs {
		m.nodes[r.ID] = r
	}
	return m
}

// Nodes returns the records ordered by id.
func (m *MemRegistry) Nodes() ([]NodeRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]NodeRecord, 0, len(m.nodes))
	for _, r := range m.nodes {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b NodeRecord) int { return a.ID - b.ID })
	return out, nil
}

// Put stores r.
func (m *MemRegistry) Put(r NodeRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodes[r.ID] = r
	return nil
}
