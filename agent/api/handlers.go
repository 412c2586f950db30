package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Alert query limits.
const (
	DefaultAlertLimit = 100
	MaxAlertLimit     = 1000
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.health != nil {
		if err := s.health(r.Context()); err != nil {
			// No details: this endpoint is open to anyone on ibiz0.
			s.log.Printf("api: health: %v", err)
			s.writeJSON(w, http.StatusServiceUnavailable, Health{Status: "unavailable"})
			return
		}
	}
	s.writeJSON(w, http.StatusOK, Health{Status: "ok"})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.writeError(w, http.StatusBadRequest, CodeBadRequest, "login body: want {\"user\": ..., \"password\": ...}: "+err.Error())
		return
	}
	if req.User == "" || req.Password == "" {
		s.writeError(w, http.StatusBadRequest, CodeBadRequest, "login body: user and password are required")
		return
	}
	if !s.checkPassword(w, r, req.User, req.Password) {
		return
	}
	if s.roleOf(req.User) == "" {
		challenge(w, false)
		s.writeError(w, http.StatusUnauthorized, CodeBadCredentials, "wrong user or password")
		return
	}
	tok, err := s.sessions.create(req.User)
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, CodeInternal, "creating a session failed")
		return
	}
	s.log.Printf("api: %q logged in from %s", req.User, clientIP(r))
	s.writeJSON(w, http.StatusOK, LoginResponse{Token: tok, User: req.User, IdleSeconds: int(s.idle / time.Second)})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
		s.sessions.revoke(strings.TrimSpace(tok))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) system(w http.ResponseWriter, r *http.Request) {
	info, err := s.backend.SystemInfo(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, info)
}

func (s *Server) nodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := s.backend.Nodes(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	out := NodeList{Nodes: make([]Node, 0, len(nodes))}
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, normNode(n))
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) node(w http.ResponseWriter, r *http.Request) {
	id, ok := s.resolve(w, r)
	if !ok {
		return
	}
	n, err := s.backend.Node(r.Context(), id)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, normNode(n))
}

// actions are the node verbs, by the last path segment.
var actions = map[string]func(Backend, context.Context, string) error{
	"workon":   Backend.Workon,
	"workoff":  Backend.Workoff,
	"shutdown": Backend.Shutdown,
	"reboot":   Backend.Reboot,
}

func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("action")
	if name == "linktest" {
		// A measurement, answered with its result rather than accepted.
		s.linkTest(w, r)
		return
	}
	do, ok := actions[name]
	if !ok {
		s.writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no node action %q; the actions are workon, workoff, shutdown, reboot, linktest", name))
		return
	}
	id, ok := s.resolve(w, r)
	if !ok {
		return
	}
	if err := do(s.backend, r.Context(), id); err != nil {
		s.backendError(w, r, err)
		return
	}
	s.log.Printf("api: %s %s requested from %s", name, id, clientIP(r))
	s.writeJSON(w, http.StatusAccepted, ActionResult{Node: id, Action: name, Status: "accepted"})
}

func (s *Server) linkTest(w http.ResponseWriter, r *http.Request) {
	id, ok := s.resolve(w, r)
	if !ok {
		return
	}
	res, err := s.backend.LinkTest(r.Context(), id)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, res)
}

func (s *Server) alerts(w http.ResponseWriter, r *http.Request) {
	since, limit, err := alertQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, http.StatusBadRequest, CodeBadParameter, err.Error())
		return
	}
	alerts, err := s.backend.Alerts(r.Context(), since, limit)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	if alerts == nil {
		alerts = []Alert{}
	}
	s.writeJSON(w, http.StatusOK, AlertList{Alerts: alerts})
}

// alertQuery parses ?since=<RFC 3339>&limit=<1..1000>. Unknown parameters
// are refused rather than ignored, so that a typo does not silently
// return the wrong alerts to a script.
func alertQuery(q url.Values) (since time.Time, limit int, err error) {
	limit = DefaultAlertLimit
	for k, v := range q {
		if len(v) != 1 {
			return since, 0, fmt.Errorf("parameter %q given %d times", k, len(v))
		}
		switch k {
		case "since":
			if since, err = time.Parse(time.RFC3339Nano, v[0]); err != nil {
				return since, 0, fmt.Errorf("parameter \"since\": %q is not an RFC 3339 time such as 2006-01-02T15:04:05Z", v[0])
			}
		case "limit":
			if limit, err = strconv.Atoi(v[0]); err != nil || limit < 1 || limit > MaxAlertLimit {
				return since, 0, fmt.Errorf("parameter \"limit\": %q is not a number from 1 to %d", v[0], MaxAlertLimit)
			}
		default:
			return since, 0, fmt.Errorf("unknown parameter %q; use since and limit", k)
		}
	}
	return since, limit, nil
}

// resolve turns the {id} path segment into a node id. It accepts the id
// ("node1"), its number ("1") or the host name (any case), so that
// scripts and people may name a node the way they know it; the id wins if
// a host name happens to look like another node's id.
func (s *Server) resolve(w http.ResponseWriter, r *http.Request) (string, bool) {
	ref := r.PathValue("id")
	nodes, err := s.backend.Nodes(r.Context())
	if err != nil {
		s.backendError(w, r, err)
		return "", false
	}
	if _, err := strconv.Atoi(ref); err == nil {
		ref = "node" + ref
	}
	var ids []string
	for _, n := range nodes {
		if n.ID == ref {
			return n.ID, true
		}
		ids = append(ids, n.ID)
	}
	for _, n := range nodes {
		if n.Hostname != "" && strings.EqualFold(n.Hostname, r.PathValue("id")) {
			return n.ID, true
		}
	}
	msg := fmt.Sprintf("no node %q; the nodes are ", r.PathValue("id"))
	for i, n := range nodes {
		if i > 0 {
			msg += ", "
		}
		msg += n.ID
		if n.Hostname != "" {
			msg += " (" + n.Hostname + ")"
		}
	}
	if len(nodes) == 0 {
		msg = fmt.Sprintf("no node %q; the system has no nodes yet", r.PathValue("id"))
	}
	s.writeJSON(w, http.StatusNotFound, Error{Error: msg, Code: CodeNodeNotFound, Nodes: ids})
	return "", false
}

// backendError maps the backend's typed errors to statuses; anything else
// is a 500 carrying the message, which the administrator needs to see.
func (s *Server) backendError(w http.ResponseWriter, r *http.Request, err error) {
	var ns *NotSupportedError
	var cf *ConflictError
	var bs *BadSpecError
	var cp *CapacityError
	switch {
	case errors.As(err, &bs):
		s.writeJSON(w, http.StatusBadRequest, Error{Error: bs.Error(), Code: CodeBadParameter, Reasons: bs.Problems})
	case errors.As(err, &cp):
		s.writeJSON(w, http.StatusConflict, Error{Error: cp.Error(), Code: CodeNoCapacity, Reasons: cp.Reasons})
	case errors.As(err, &ns):
		s.writeError(w, http.StatusNotImplemented, CodeNotSupported, ns.Error())
	case errors.As(err, &cf):
		s.writeError(w, http.StatusConflict, CodeConflict, cf.Error())
	case errors.Is(err, ErrNotFound):
		s.writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
	case r.Context().Err() != nil:
		// The client has gone; nobody reads this.
		s.writeError(w, http.StatusServiceUnavailable, CodeInternal, "request cancelled")
	default:
		s.log.Printf("api: %s %s: %v", r.Method, r.URL.Path, err)
		s.writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
	}
}

// normNode turns nil lists into empty ones: scripts iterate over them
// (jq '.links[]') and null would break that.
func normNode(n Node) Node {
	if n.Addresses == nil {
		n.Addresses = []Address{}
	}
	if n.Links == nil {
		n.Links = []Link{}
	}
	return n
}
