package system

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"sync"

	"github.com/lockstep-ft/lockstep/cluster/join"
	"github.com/lockstep-ft/lockstep/cluster/pki"
)

// Registry is the join.Registry on STATE (nodes.json): the system's nodes
// as this node knows them. A write replaces the file atomically, so a
// power cut leaves the old list or the new one.
type Registry struct {
	Path string
	mu   sync.Mutex
}

// Nodes returns the records ordered by id; none when the file is missing.
func (r *Registry) Nodes() ([]join.NodeRecord, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.read()
}

func (r *Registry) read() ([]join.NodeRecord, error) {
	b, err := os.ReadFile(r.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []join.NodeRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, err
	}
	slices.SortFunc(recs, func(a, b join.NodeRecord) int { return a.ID - b.ID })
	return recs, nil
}

// Put adds or replaces the record with rec.ID.
func (r *Registry) Put(rec join.NodeRecord) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs, err := r.read()
	if err != nil {
		return err
	}
	recs = slices.DeleteFunc(recs, func(x join.NodeRecord) bool { return x.ID == rec.ID })
	recs = append(recs, rec)
	slices.SortFunc(recs, func(a, b join.NodeRecord) int { return a.ID - b.ID })
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(r.Path, append(b, '\n'), 0o600)
}

// Node returns the record of id, ok false if there is none.
func (r *Registry) Node(id int) (join.NodeRecord, bool) {
	recs, err := r.Nodes()
	if err != nil {
		return join.NodeRecord{}, false
	}
	for _, x := range recs {
		if x.ID == id {
			return x, true
		}
	}
	return join.NodeRecord{}, false
}
