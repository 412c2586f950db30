package api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/agent/web"
)

// Defaults for Options' zero values.
const (
	DefaultIdleTimeout   = 30 * time.Minute
	DefaultMaxSessions   = 64
	DefaultLoginFailures = 5
	DefaultLoginWindow   = time.Minute
)

// The http.Server's timeouts, and how long an upload may go without
// data: PUT /api/v1/vcds/{name} lifts the first two for itself (see
// uploadBody). Variables for the tests.
var (
	readTimeout  = 30 * time.Second
	writeTimeout = 2 * time.Minute
	uploadStall  = time.Minute
)

// Options configure a Server.
type Options struct {
	Backend Backend // required
	// Verify checks a user's password; lockstepd passes a closure over
	// nodeconfig.VerifyPassword and the users' hashes. Required.
	Verify func(user, password string) bool
	// Role is a user's role (UserRoles), "" for a user that is not (or
	// no longer) there; it is asked at every request, so that a changed
	// role or a deleted user takes effect on live sessions. nil: every
	// user Verify accepts is an administrator.
	Role func(user string) string
	// Audit is handed every request that changed something or was
	// refused for its credentials or role, once answered; nil: none.
	Audit func(AuditRecord)
	// TLS is the node's certificate from the system CA (see ServerTLS).
	// Required by Serve; the API is never served in clear text.
	TLS *tls.Config
	// Health is the /healthz check; nil means always healthy.
	Health func(context.Context) error

	IdleTimeout   time.Duration // a token expires after this long unused
	MaxSessions   int           // live tokens kept; the oldest-used goes
	LoginFailures int           // failed password checks per client IP...
	LoginWindow   time.Duration // ...within this window, then 429
	Now           func() time.Time
	Log           *log.Logger // nil: discard
}

// Server is the API. It is an http.Handler; Serve runs it over TLS on a
// listener, and may be called for several listeners (the system IP and
// the node's own address) that share the sessions.
type Server struct {
	backend  Backend
	verify   func(user, password string) bool
	role     func(user string) string
	audit    func(AuditRecord)
	now      func() time.Time
	health   func(context.Context) error
	tls      *tls.Config
	log      *log.Logger
	idle     time.Duration
	sessions *sessions
	limiter  *limiter
	mux      *http.ServeMux
	allow    map[string][]string // methods by path, for the 405s
}

// New checks o and builds the Server.
func New(o Options) (*Server, error) {
	if o.Backend == nil || o.Verify == nil {
		return nil, errors.New("api: Options.Backend and Options.Verify are required")
	}
	o.IdleTimeout = or(o.IdleTimeout, DefaultIdleTimeout)
	o.MaxSessions = or(o.MaxSessions, DefaultMaxSessions)
	o.LoginFailures = or(o.LoginFailures, DefaultLoginFailures)
	o.LoginWindow = or(o.LoginWindow, DefaultLoginWindow)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = log.New(io.Discard, "", 0)
	}
	s := &Server{
		backend:  o.Backend,
		verify:   o.Verify,
		role:     o.Role,
		audit:    o.Audit,
		now:      o.Now,
		health:   o.Health,
		tls:      o.TLS,
		log:      o.Log,
		idle:     o.IdleTimeout,
		sessions: &sessions{idle: o.IdleTimeout, max: o.MaxSessions, now: o.Now},
		limiter:  &limiter{max: o.LoginFailures, window: o.LoginWindow, now: o.Now, fails: map[string][]time.Time{}},
		mux:      http.NewServeMux(),
		allow:    map[string][]string{},
	}
	s.routes()
	return s, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // tokens and live state
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if s.audit == nil {
		s.mux.ServeHTTP(w, r)
		return
	}
	ri := &requestInfo{}
	sw := &statusWriter{ResponseWriter: w}
	s.mux.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), requestKey{}, ri)))
	st := sw.status
	if st == 0 {
		st = http.StatusOK
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead ||
		st == http.StatusUnauthorized || st == http.StatusForbidden || st == http.StatusTooManyRequests {
		s.audit(AuditRecord{Time: s.now().UTC(), User: ri.user, Client: clientIP(r), Method: r.Method, Path: r.URL.Path, Status: st})
	}
}

func (s *Server) routes() {
	s.handle("GET", "/healthz", s.healthz, false)
	s.handle("POST", "/api/v1/login", s.login, false)
	s.handle("POST", "/api/v1/logout", s.logout, true)
	s.handle("GET", "/api/v1/system", s.system, true)
	s.handle("GET", "/metrics", s.metrics, true)
	s.handle("GET", "/api/v1/nodes", s.nodes, true)
	s.handle("GET", "/api/v1/nodes/{id}", s.node, true)
	s.handle("POST", "/api/v1/nodes/{id}/{action}", s.action, true)
	s.handle("GET", "/api/v1/alerts", s.alerts, true)
	s.handle("GET", "/api/v1/alerts/settings", s.alertSettings, true)
	s.handle("PUT", "/api/v1/alerts/settings", s.setAlertSettings, true)
	s.handle("POST", "/api/v1/alerts/test", s.testAlert, true)
	s.handle("GET", "/api/v1/vms", s.vms, true)
	s.handle("POST", "/api/v1/vms", s.createVM, true)
	s.handle("GET", "/api/v1/vms/{name}", s.vm, true)
	s.handle("PATCH", "/api/v1/vms/{name}", s.modifyVM, true)
	s.handle("DELETE", "/api/v1/vms/{name}", s.deleteVM, true)
	// One route per VM action rather than a {action} wildcard: a POST
	// wildcard would conflict in ServeMux with the console's path.
	for _, a := range vmActions {
		s.handle("POST", "/api/v1/vms/{name}/"+a, s.vmAction(a), true)
	}
	s.handle("GET", "/api/v1/vms/{name}/console", s.vmConsole, true)
	s.mux.HandleFunc("/api/v1/vms/{name}/{action}", s.authed(RoleReadOnly, s.noVMAction))
	s.handle("GET", "/api/v1/storage", s.storage, true)
	s.handle("POST", "/api/v1/storage", s.createStorage, true)
	s.handle("POST", "/api/v1/storage/{group}/disks", s.extendStorage, true)
	s.handle("GET", "/api/v1/capacity", s.capacity, true)
	s.handle("GET", "/api/v1/networks", s.networks, true)
	s.handle("POST", "/api/v1/networks", s.createNetwork, true)
	s.handle("GET", "/api/v1/networks/{name}", s.network, true)
	s.handle("PUT", "/api/v1/networks/{name}", s.modifyNetwork, true)
	s.handle("DELETE", "/api/v1/networks/{name}", s.deleteNetwork, true)
	s.handle("GET", "/api/v1/users", s.users, true)
	s.handle("POST", "/api/v1/users", s.createUser, true)
	s.handle("PUT", "/api/v1/users/{name}", s.modifyUser, true)
	s.handle("DELETE", "/api/v1/users/{name}", s.deleteUser, true)
	s.handle("GET", "/api/v1/audit", s.auditLog, true)
	s.handle("GET", "/api/v1/vcds", s.vcds, true)
	s.handle("PUT", "/api/v1/vcds/{name}", s.putVCD, true)
	s.handle("DELETE", "/api/v1/vcds/{name}", s.deleteVCD, true)
	// The browser console's page and assets are open: it logs in through
	// the API like any client, and holds no data of its own.
	s.mux.Handle("GET /{$}", web.Handler())
	s.mux.Handle("GET /ui/", web.Handler())
	// Anything else is a 404, but only after authentication, so that the
	// unauthenticated surface is exactly /healthz, login and the console.
	s.mux.HandleFunc("/", s.authed(RoleReadOnly, func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.URL.Path)
	}))
}

// handle registers method+path and, on the bare path, a JSON 405 for the
// other methods (ServeMux's own 405 is plain text). A path may be
// registered with several methods; the 405 names them all.
func (s *Server) handle(method, path string, h http.HandlerFunc, auth bool) {
	if auth {
		h = s.authed(needRole(method, path), h)
	}
	s.mux.HandleFunc(method+" "+path, h)
	if _, ok := s.allow[path]; !ok {
		var notAllowed http.HandlerFunc = func(w http.ResponseWriter, r *http.Request) {
			methods := s.allow[path] // complete once New has returned
			w.Header().Set("Allow", strings.Join(methods, ", "))
			use := strings.Join(methods, ", ")
			if n := len(methods); n > 1 {
				use = strings.Join(methods[:n-1], ", ") + " or " + methods[n-1]
			}
			s.writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, r.Method+" "+r.URL.Path+": use "+use)
		}
		if auth {
			notAllowed = s.authed(RoleReadOnly, notAllowed)
		}
		s.mux.HandleFunc(path, notAllowed)
	}
	s.allow[path] = append(s.allow[path], method)
}

// Serve serves the API over TLS on ln until ctx ends, then shuts down
// gracefully (in-flight requests get a few seconds).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.tls == nil || (len(s.tls.Certificates) == 0 && s.tls.GetCertificate == nil) {
		return errors.New("api: Options.TLS with a certificate is required to serve")
	}
	cfg := s.tls.Clone()
	cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	hs := &http.Server{
		Handler:           s,
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          s.log,
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = hs.Shutdown(sctx)
		case <-done:
		}
	}()
	err := hs.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// writeJSON writes v indented, so that curl output is readable too.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		s.log.Printf("api: encode %T: %v", v, err)
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (s *Server) writeError(w http.ResponseWriter, status int, code, msg string) {
	s.writeJSON(w, status, Error{Error: msg, Code: code})
}
