package api

import (
	"net/http"
	"net/url"
)

func (s *Server) users(w http.ResponseWriter, r *http.Request) {
	us, err := s.backend.Users(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	if us == nil {
		us = []User{}
	}
	s.writeJSON(w, http.StatusOK, UserList{Users: us})
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var spec UserSpec
	if !s.decode(w, r, &spec) {
		return
	}
	u, err := s.backend.CreateUser(r.Context(), spec)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: user %s (%s) created by %s from %s", u.Name, u.Role, RequestUser(r.Context()), clientIP(r))
	w.Header().Set("Location", "/api/v1/users/"+url.PathEscape(u.Name))
	s.writeJSON(w, http.StatusCreated, u)
}

// modifyUser changes a user's role or password. Anyone may change their
// own password (the route lets every role in); everything else is an
// administrator's.
func (s *Server) modifyUser(w http.ResponseWriter, r *http.Request) {
	var change UserSpec
	if !s.decode(w, r, &change) {
		return
	}
	name, who := r.PathValue("name"), RequestUser(r.Context())
	if RoleRank(s.roleOf(who)) < RoleRank(RoleAdministrator) && (who != name || change.Role != "" || change.Name != "" && change.Name != name) {
		s.writeError(w, http.StatusForbidden, CodeForbidden, "user "+who+" ("+s.roleOf(who)+") may change their own password only")
		return
	}
	u, err := s.backend.ModifyUser(r.Context(), name, change)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: user %s modified by %s from %s", name, who, clientIP(r))
	s.writeJSON(w, http.StatusOK, u)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == RequestUser(r.Context()) {
		s.writeError(w, http.StatusConflict, CodeConflict, "a user cannot delete themselves")
		return
	}
	if err := s.backend.DeleteUser(r.Context(), name); err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: user %s deleted by %s from %s", name, RequestUser(r.Context()), clientIP(r))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) {
	since, limit, err := alertQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, http.StatusBadRequest, CodeBadParameter, err.Error())
		return
	}
	recs, err := s.backend.Audit(r.Context(), since, limit)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	if recs == nil {
		recs = []AuditRecord{}
	}
	s.writeJSON(w, http.StatusOK, AuditList{Records: recs})
}
