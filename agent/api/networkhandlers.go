package api

import (
	"net/http"
	"net/url"
)

// Network names, like VM names, go to the backend as they are.

func (s *Server) networks(w http.ResponseWriter, r *http.Request) {
	nets, err := s.backend.Networks(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	out := NetworkList{Networks: make([]Network, 0, len(nets))}
	for _, n := range nets {
		out.Networks = append(out.Networks, normNetwork(n))
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) network(w http.ResponseWriter, r *http.Request) {
	n, err := s.backend.Network(r.Context(), r.PathValue("name"))
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, normNetwork(n))
}

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) {
	var spec NetworkSpec
	if !s.decode(w, r, &spec) {
		return
	}
	n, err := s.backend.CreateNetwork(r.Context(), spec)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: network %s created from %s", n.Name, clientIP(r))
	w.Header().Set("Location", "/api/v1/networks/"+url.PathEscape(n.Name))
	s.writeJSON(w, http.StatusCreated, normNetwork(n))
}

func (s *Server) modifyNetwork(w http.ResponseWriter, r *http.Request) {
	var change NetworkSpec
	if !s.decode(w, r, &change) {
		return
	}
	name := r.PathValue("name")
	n, err := s.backend.ModifyNetwork(r.Context(), name, change)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: network %s modified from %s", name, clientIP(r))
	s.writeJSON(w, http.StatusOK, normNetwork(n))
}

func (s *Server) deleteNetwork(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.backend.DeleteNetwork(r.Context(), name); err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: network %s deleted from %s", name, clientIP(r))
	w.WriteHeader(http.StatusNoContent)
}

// normNetwork turns nil maps and lists into empty ones, for scripts that
// iterate over them (jq '.vms[]').
func normNetwork(n Network) Network {
	if n.Ports == nil {
		n.Ports = map[string]string{}
	}
	if n.State == nil {
		n.State = map[string]string{}
	}
	if n.VMs == nil {
		n.VMs = []string{}
	}
	return n
}
