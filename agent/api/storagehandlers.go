package api

import (
	"fmt"
	"maps"
	"net/http"
)

func (s *Server) createStorage(w http.ResponseWriter, r *http.Request) {
	var spec StorageGroupSpec
	if !s.decode(w, r, &spec) {
		return
	}
	g, err := s.backend.CreateStorageGroup(r.Context(), spec)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: storage group %s created from %s (disks %v, erase %t)", g.Name, clientIP(r), spec.Disks, spec.Erase)
	s.writeJSON(w, http.StatusCreated, normGroup(g))
}

func (s *Server) extendStorage(w http.ResponseWriter, r *http.Request) {
	var spec StorageGroupSpec
	if !s.decode(w, r, &spec) {
		return
	}
	name := r.PathValue("group")
	if spec.Name != "" && spec.Name != name {
		s.writeError(w, http.StatusBadRequest, CodeBadParameter, fmt.Sprintf("name %q is not the path's group %q: leave it out", spec.Name, name))
		return
	}
	g, err := s.backend.ExtendStorageGroup(r.Context(), name, spec)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: storage group %s extended from %s (disks %v, erase %t)", name, clientIP(r), spec.Disks, spec.Erase)
	s.writeJSON(w, http.StatusOK, normGroup(g))
}

// normGroup turns nil maps and lists into empty ones, for scripts that
// iterate over them.
func normGroup(g StorageGroup) StorageGroup {
	g.Nodes = maps.Clone(g.Nodes)
	if g.Nodes == nil {
		g.Nodes = map[string]GroupSpace{}
	}
	for n, sp := range g.Nodes {
		if sp.Devices == nil {
			sp.Devices = []string{}
			g.Nodes[n] = sp
		}
	}
	return g
}
