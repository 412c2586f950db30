package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// DefaultPort is the API's port on the system IP and the node addresses.
const DefaultPort = "8443"

// cli is one invocation: the flags and, once connected, the server.
type cli struct {
	env
	g     *globals
	since string // alert list
	limit int
	vm    vmFlags
	net   networkFlags
	vcd   vcdFlags
	sg    storageFlags
	alert alertSetFlags
	user  userFlags

	server string // host:port, also the session cache key
	trust  *trust
	http   *http.Client
	tokens *tokenFile // nil if there is no place for the cache
	sess   session    // the cached session for server and user, if any
	pw     string
}

// serverAddr normalizes --server to host:port.
func serverAddr(s string) (string, error) {
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "https://"), "/")
	if s == "" {
		return "", usagef("no server: give --server host[:port] or set LOCKSTEP_SERVER")
	}
	if host, port, err := net.SplitHostPort(s); err == nil {
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || host == "" {
			return "", usagef("--server %q: want host[:port]", s)
		}
		return s, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return "", usagef("--server %q: want host[:port]; an IPv6 address with a port is [addr]:port", s)
	}
	return net.JoinHostPort(host, DefaultPort), nil
}

// connect prepares the HTTPS client for the server.
func (c *cli) connect() error {
	var err error
	if c.server, err = serverAddr(c.g.server); err != nil {
		return err
	}
	// Without a place for the cache (no $HOME, as under some service
	// managers) commands still work with a password; login will not.
	if path, err := tokenPath(c.getenv); err == nil {
		if c.tokens, err = loadTokens(path); err != nil {
			return err
		}
		if s, ok := c.tokens.Sessions[c.server]; ok && s.User == c.g.user {
			c.sess = s
		}
	}
	if c.trust, err = newTrust(c.g, c.sess.CA); err != nil {
		return err
	}
	if c.g.insecure {
		fmt.Fprintln(c.stderr, "lockstep: warning: --insecure: the server's identity is not checked")
	}
	c.http = &http.Client{
		Timeout: 2 * time.Minute,
		// No proxy: the API is on the management network, and a proxy
		// from the environment would see the password.
		// An upload waits for the server's 100 Continue, so that a
		// refusal (a session expired, an ISO too big) comes before it.
		Transport: &http.Transport{TLSClientConfig: c.trust.tlsConfig(), ForceAttemptHTTP2: true, ExpectContinueTimeout: 5 * time.Second},
	}
	return nil
}

type authMode int

const (
	authNone authMode = iota
	authToken
	authBasic
)

// apiError is an error answer of the server; its message is shown as is,
// or a refused VM's reasons one a line under a headline.
type apiError struct {
	status  int
	code    string
	msg     string
	reasons []string
	spec    string // what a refused request described: "VM spec", "network"; "" neither
}

func (e *apiError) Error() string {
	if len(e.reasons) == 0 || e.spec == "" {
		return e.msg
	}
	head := "refused"
	switch e.code {
	case api.CodeNoCapacity:
		head = "not enough capacity"
	case api.CodeBadParameter:
		head = "invalid " + e.spec
	}
	return head + ":\n  " + strings.Join(e.reasons, "\n  ")
}

// call sends a request, with body as JSON if not nil (an *upload as it
// is), and returns the body of a 2xx answer. It uses the cached session if
// there is one, else basic auth with the password; a session that has
// expired is renewed once with the password.
func (c *cli) call(ctx context.Context, method, path string, q url.Values, body any) ([]byte, error) {
	mode := authBasic
	if c.sess.Token != "" {
		mode = authToken
	}
	resp, b, err := c.send(ctx, method, path, q, body, mode)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && mode == authToken {
		c.forget()
		if _, perr := c.password(); perr != nil {
			return nil, fmt.Errorf("the session has expired; run 'lockstep login' (%v)", perr)
		}
		if err := c.login(ctx); err != nil {
			return nil, err
		}
		resp, b, err = c.send(ctx, method, path, q, body, authToken)
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, answerError(resp, b)
	}
	return b, nil
}

func (c *cli) send(ctx context.Context, method, path string, q url.Values, body any, mode authMode) (*http.Response, []byte, error) {
	u := "https://" + c.server + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	up, _ := body.(*upload)
	var rd io.Reader
	if body != nil && up == nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("User-Agent", "lockstep-cli/"+version)
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch mode {
	case authToken:
		req.Header.Set("Authorization", "Bearer "+c.sess.Token)
	case authBasic:
		pw, err := c.password()
		if err != nil {
			return nil, nil, err
		}
		req.SetBasicAuth(c.g.user, pw)
	}
	if up != nil { // opened last: the transport closes it
		if req.Body, err = up.open(); err != nil {
			return nil, nil, err
		}
		req.ContentLength = up.size
		req.Header.Set("Content-Type", up.contentType)
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, fmt.Errorf("%s: %w", c.server, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading the answer: %w", c.server, err)
	}
	return resp, b, nil
}

// upload is a request body sent as it is, streamed from open (a file
// opened anew for each attempt), not held in memory.
type upload struct {
	contentType string
	size        int64 // -1 if unknown
	open        func() (io.ReadCloser, error)
}

// answerError turns a non-2xx answer into the server's message.
func answerError(resp *http.Response, b []byte) error {
	var e api.Error
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		return &apiError{status: resp.StatusCode, msg: "the server answered " + resp.Status}
	}
	ae := &apiError{status: resp.StatusCode, code: e.Code, msg: e.Error, reasons: e.Reasons}
	switch p := resp.Request.URL.Path; {
	case strings.HasPrefix(p, "/api/v1/vms"):
		ae.spec = "VM spec"
	case strings.HasPrefix(p, "/api/v1/networks"):
		ae.spec = "network"
	case strings.HasPrefix(p, "/api/v1/storage"):
		ae.spec = "storage request"
	case p == "/api/v1/alerts/settings":
		ae.spec = "alert settings"
	case strings.HasPrefix(p, "/api/v1/users"):
		ae.spec = "user"
	}
	return ae
}

// login gets a token with the password and caches it with the CA that
// verified the server.
func (c *cli) login(ctx context.Context) error {
	if c.tokens == nil {
		return errors.New("cannot cache a session: $HOME is not set")
	}
	pw, err := c.password()
	if err != nil {
		return err
	}
	resp, b, err := c.send(ctx, "POST", "/api/v1/login", nil, api.LoginRequest{User: c.g.user, Password: pw}, authNone)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return answerError(resp, b)
	}
	var lr api.LoginResponse
	if err := json.Unmarshal(b, &lr); err != nil || lr.Token == "" {
		return fmt.Errorf("%s: the login answer has no token", c.server)
	}
	c.sess = session{User: c.g.user, Token: lr.Token}
	if ca := c.trust.verifiedCA(); ca != nil {
		c.sess.CA = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
	}
	c.tokens.Sessions[c.server] = c.sess
	if err := c.tokens.save(); err != nil {
		return fmt.Errorf("logged in, but caching the session failed: %w", err)
	}
	return nil
}

// forget drops the cached token for the server. The CA stays: it is
// public, and it lets the next login verify the server without flags.
func (c *cli) forget() {
	c.sess.Token = ""
	if c.tokens == nil {
		return
	}
	if s, ok := c.tokens.Sessions[c.server]; ok && s.Token != "" {
		s.Token = ""
		c.tokens.Sessions[c.server] = s
		if err := c.tokens.save(); err != nil {
			fmt.Fprintf(c.stderr, "lockstep: warning: %v\n", err)
		}
	}
}
