package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sessions are the bearer tokens handed out by login. They live in this
// process's memory only: a restart or a failover to the other node ends
// them and the client logs in again, which is cheaper and safer than
// replicating secrets between nodes.
type sessions struct {
	mu   sync.Mutex
	idle time.Duration
	max  int
	now  func() time.Time
	list []session
}

type session struct {
	// digest is SHA-256 of the token: the token itself is never kept, so
	// a dump of this process's heap does not hand out live sessions.
	digest [sha256.Size]byte
	user   string
	last   time.Time // last use; the session expires idle after that
}

// create returns a new token for user: 256 random bits, base64url.
func (s *sessions) create(user string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	if len(s.list) >= s.max {
		// A bound on memory: the oldest-used session goes first. Only
		// someone who knows the password can get here.
		oldest := 0
		for i, x := range s.list {
			if x.last.Before(s.list[oldest].last) {
				oldest = i
			}
		}
		s.list = append(s.list[:oldest], s.list[oldest+1:]...)
	}
	s.list = append(s.list, session{digest: sha256.Sum256([]byte(tok)), user: user, last: s.now()})
	return tok, nil
}

// check returns the user of a live token and renews its idle time. Every
// stored digest is compared in constant time, so the time taken says
// nothing about how close a guess came.
func (s *sessions) check(tok string) (string, bool) {
	d := sha256.Sum256([]byte(tok))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	found := -1
	for i := range s.list {
		if subtle.ConstantTimeCompare(s.list[i].digest[:], d[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	s.list[found].last = s.now()
	return s.list[found].user, true
}

// revoke ends the token's session (logout).
func (s *sessions) revoke(tok string) {
	d := sha256.Sum256([]byte(tok))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = deleteWhere(s.list, func(x session) bool { return subtle.ConstantTimeCompare(x.digest[:], d[:]) == 1 })
}

// expire drops idle sessions; the caller holds mu.
func (s *sessions) expire() {
	now := s.now()
	s.list = deleteWhere(s.list, func(x session) bool { return now.Sub(x.last) >= s.idle })
}

func deleteWhere[T any](l []T, del func(T) bool) []T {
	out := l[:0]
	for _, x := range l {
		if !del(x) {
			out = append(out, x)
		}
	}
	return out
}

// limiter counts failed password checks per client IP in a sliding
// window, so the admin password cannot be guessed at network speed.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	fails  map[string][]time.Time
}

// blocked reports whether ip has used up its failures, and when it may
// try again.
func (l *limiter) blocked(ip string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.recent(ip)
	if len(f) < l.max {
		return 0, false
	}
	return f[0].Add(l.window).Sub(l.now()), true
}

func (l *limiter) fail(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fails[ip] = append(l.recent(ip), l.now())
	if len(l.fails) > 4096 { // forget addresses whose window has passed
		for k := range l.fails {
			if len(l.recent(k)) == 0 {
				delete(l.fails, k)
			}
		}
	}
}

// succeed forgets ip's failures: whoever knows the password may mistype
// it again later.
func (l *limiter) succeed(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, ip)
}

// recent returns ip's failures inside the window; the caller holds mu.
func (l *limiter) recent(ip string) []time.Time {
	cut := l.now().Add(-l.window)
	f := deleteWhere(l.fails[ip], func(t time.Time) bool { return !t.After(cut) })
	if len(f) == 0 {
		delete(l.fails, ip)
		return nil
	}
	l.fails[ip] = f
	return f
}

// clientIP is the peer's address. X-Forwarded-For is not believed: the
// API is served directly, never behind a proxy.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// challenge lists both accepted schemes, as a 401 must (RFC 9110 11.6.1).
func challenge(w http.ResponseWriter, invalidToken bool) {
	b := `Bearer realm="lockstep"`
	if invalidToken {
		b += `, error="invalid_token"`
	}
	w.Header().Add("WWW-Authenticate", b)
	w.Header().Add("WWW-Authenticate", `Basic realm="lockstep", charset="UTF-8"`)
}

// checkPassword runs the injected password check under the rate limit; it
// writes the 401 or 429 itself and reports whether the caller may go on.
func (s *Server) checkPassword(w http.ResponseWriter, r *http.Request, user, password string) bool {
	ip := clientIP(r)
	if wait, ok := s.limiter.blocked(ip); ok {
		secs := max(1, int((wait+time.Second-1)/time.Second))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.writeError(w, http.StatusTooManyRequests, CodeRateLimited,
			"too many failed logins from "+ip+"; try again in "+strconv.Itoa(secs)+"s")
		return false
	}
	setRequestUser(r, user)
	if !s.verify(user, password) {
		s.limiter.fail(ip)
		s.log.Printf("api: failed login for %q from %s", user, ip)
		challenge(w, false)
		s.writeError(w, http.StatusUnauthorized, CodeBadCredentials, "wrong user or password")
		return false
	}
	s.limiter.succeed(ip)
	return true
}

// authed wraps a handler with authentication: a bearer token from login,
// or HTTP basic auth with the password (for scripts that keep no state).
func (s *Server) authed(need string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var user string
		scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			u, ok := s.sessions.check(strings.TrimSpace(cred))
			if !ok {
				challenge(w, true)
				s.writeError(w, http.StatusUnauthorized, CodeInvalidToken, "the session has expired or is not valid; log in again")
				return
			}
			user = u
		case strings.EqualFold(scheme, "Basic"):
			u, pw, ok := r.BasicAuth()
			if !ok {
				challenge(w, false)
				s.writeError(w, http.StatusUnauthorized, CodeBadCredentials, "malformed basic authorization header")
				return
			}
			if !s.checkPassword(w, r, u, pw) {
				return
			}
			user = u
		default:
			challenge(w, false)
			s.writeError(w, http.StatusUnauthorized, CodeAuthRequired, "authentication required: log in, or use basic auth")
			return
		}
		setRequestUser(r, user)
		role := s.roleOf(user)
		if role == "" {
			// Deleted while its session lived.
			challenge(w, true)
			s.writeError(w, http.StatusUnauthorized, CodeInvalidToken, "user "+user+" no longer exists")
			return
		}
		if RoleRank(role) < RoleRank(need) {
			s.writeError(w, http.StatusForbidden, CodeForbidden,
				"user "+user+" ("+role+") may not "+r.Method+" "+r.URL.Path+": that needs the role "+need+" or higher")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	}
}
