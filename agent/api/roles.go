package api

import (
	"context"
	"net/http"
	"strings"
)

// needRole is the least role a route needs: an administrator's for users
// and the audit log, a platform manager's to change anything else, and a
// read-only user's to look. A user's own password is changed on the
// users path too: the handler checks that case itself.
func needRole(method, path string) string {
	switch {
	case method == http.MethodPut && path == "/api/v1/users/{name}":
		return RoleReadOnly
	case strings.HasPrefix(path, "/api/v1/users"), strings.HasPrefix(path, "/api/v1/audit"):
		return RoleAdministrator
	case method == http.MethodGet, path == "/api/v1/logout":
		return RoleReadOnly
	}
	return RolePlatformManager
}

// requestInfo carries, for the audit log, who a request came from once
// authentication has said so (or who tried, for a refused one).
type requestInfo struct{ user string }

type requestKey struct{}

func setRequestUser(r *http.Request, user string) {
	if ri, ok := r.Context().Value(requestKey{}).(*requestInfo); ok {
		ri.user = user
	}
}

// userKey holds the authenticated user in a request's context.
type userKey struct{}

// RequestUser is the authenticated user of a request's context ("" if
// none): the backend may want to know who asks.
func RequestUser(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	return u
}

// roleOf is user's role now: "" if the user is gone.
func (s *Server) roleOf(user string) string {
	if s.role == nil {
		return RoleAdministrator
	}
	return s.role(user)
}

// statusWriter remembers the status answered, for the audit log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (uploads lift
// their deadlines through it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
