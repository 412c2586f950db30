package join

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/pki"
)

// DefaultJoinGrace is how long a freshly joined node's id is held for it
// before another joiner may take it over.
const DefaultJoinGrace = 2 * time.Minute

// maxRequestBytes bounds a request body: a CSR and a few strings.
const maxRequestBytes = 64 << 10

// Server is the join service on an existing node. It runs on priv0's
// link-local address; only Registry and Healthy tie it to the agent.
type Server struct {
	System   *pki.System // must hold the CA key
	Self     int         // this node's id
	SystemIP string
	Priv0    string // this node's priv0 link-local address, without zone
	Registry Registry
	// Healthy reports a node's health from the membership view; nil means
	// only Self is healthy.
	Healthy func(NodeRecord) bool
	// Token, if set, must be presented by the joiner: the proof that the
	// joiner is wanted, beyond being on the cable (SPEC A1).
	Token string
	// ShareCAKey sends the CA key to the joined node so that either node
	// can admit a replacement of the other.
	ShareCAKey bool
	// Witnesses and Secrets are handed to the joined node (SystemConfig).
	Witnesses []string
	Secrets   Secrets
	JoinGrace time.Duration    // 0 means DefaultJoinGrace
	Now       func() time.Time // nil means time.Now
	Logf      func(format string, args ...any)

	mu sync.Mutex // one decision at a time: two joiners never get one id
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

func (s *Server) healthy(r NodeRecord) bool {
	if r.ID == s.Self {
		return true
	}
	return s.Healthy != nil && s.Healthy(r)
}

// Handler serves the two join endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+HelloPath, s.hello)
	mux.HandleFunc("POST "+RequestPath, s.request)
	return mux
}

// TLSConfig presents the node's certificate. There is no client
// certificate to ask for: the joiner has none yet.
func (s *Server) TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
}

// Serve serves HTTPS on ln with the node's certificate until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	if err := s.Check(); err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          log.New(logWriter(s.logf), "join: ", 0),
	}
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	err := hs.Serve(tls.NewListener(ln, s.TLSConfig(cert)))
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type logWriter func(string, ...any)

func (f logWriter) Write(b []byte) (int, error) {
	f("%s", b)
	return len(b), nil
}

func (s *Server) hello(w http.ResponseWriter, _ *http.Request) {
	nodes, err := s.Registry.Nodes()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, refuse(0, CodeServerFailed, "node registry: %v", err))
		return
	}
	h := Hello{
		SystemName: s.System.Name,
		SystemID:   s.System.ID,
		CACert:     string(pki.EncodeCert(s.System.CACert)),
		Nodes:      []NodeStatus{},
	}
	for _, r := range nodes {
		ok := s.healthy(r)
		if ok {
			h.HealthyNodes++
		}
		h.Nodes = append(h.Nodes, NodeStatus{ID: r.ID, Hostname: r.Hostname, Healthy: ok})
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *Server) request(w http.ResponseWriter, r *http.Request) {
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err := dec.Decode(&req); err != nil {
		s.fail(w, r, req, refuse(http.StatusBadRequest, CodeBadRequest, "join request: %v", err))
		return
	}
	resp, ref := s.join(req)
	if ref != nil {
		s.fail(w, r, req, ref)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, req Request, ref *Refusal) {
	s.logf("join: refused %q (%s, wants %s) from %s: %s [%s]", req.Hostname, req.Action, req.NodeID, r.RemoteAddr, ref.Message, ref.Code)
	writeJSON(w, ref.Status, ref)
}

// join checks and decides one request and issues the certificate.
func (s *Server) join(req Request) (*Response, *Refusal) {
	bad := func(format string, args ...any) (*Response, *Refusal) {
		return nil, refuse(http.StatusBadRequest, CodeBadRequest, format, args...)
	}
	if s.Token != "" {
		a, b := sha256.Sum256([]byte(req.Token)), sha256.Sum256([]byte(s.Token))
		if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			what := "is wrong"
			if req.Token == "" {
				what = "is missing"
			}
			return nil, refuse(http.StatusForbidden, CodeBadToken,
				"system %s requires a join token and this request's token %s", s.System.Name, what)
		}
	}
	if err := pki.CheckHostname(req.Hostname); err != nil {
		return bad("%v", err)
	}
	blk, _ := pem.Decode([]byte(req.CSR))
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return bad("csr: no PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return bad("csr: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return bad("csr: signature: %v", err)
	}
	var ips []net.IP
	for _, a := range append([]string{req.NodeIP}, req.IPs...) {
		if a == "" {
			continue
		}
		ip := net.ParseIP(a)
		if ip == nil {
			return bad("address %q is not an IP address", a)
		}
		ips = append(ips, ip)
	}
	keySum := sha256.Sum256(csr.RawSubjectPublicKeyInfo)
	keyID := hex.EncodeToString(keySum[:])

	s.mu.Lock()
	defer s.mu.Unlock()
	nodes, err := s.Registry.Nodes()
	if err != nil {
		return nil, refuse(http.StatusInternalServerError, CodeServerFailed, "node registry: %v", err)
	}
	grace := s.JoinGrace
	if grace == 0 {
		grace = DefaultJoinGrace
	}
	now := s.now()
	d, ref := Decide(View{SystemName: s.System.Name, Nodes: nodes, Healthy: s.healthy, Now: now, Grace: grace},
		req.Action, req.NodeID, keyID)
	if ref != nil {
		return nil, ref
	}

	nodeIP := req.NodeIP
	if d.Previous != nil && d.Previous.IP != "" {
		// A replaced board comes back under the old address: the
		// administrator, DNS and monitoring know the node by it.
		nodeIP = d.Previous.IP
		if ip := net.ParseIP(nodeIP); ip != nil && !containsIP(ips, ip) {
			ips = append([]net.IP{ip}, ips...)
		}
		if req.NodeIP != "" && req.NodeIP != nodeIP {
			ips = removeIP(ips, net.ParseIP(req.NodeIP))
		}
	}
	cert, certPEM, err := s.System.IssueNode(d.NodeID, req.Hostname, ips, csr.PublicKey, now)
	if err != nil {
		if s.System.CAKey == nil {
			return nil, refuse(http.StatusInternalServerError, CodeServerFailed, "%v", err)
		}
		return bad("%v", err)
	}
	rec := NodeRecord{
		ID: d.NodeID, Hostname: req.Hostname, IP: nodeIP,
		Serial: cert.SerialNumber.Text(16), KeyID: keyID, Joined: now,
	}
	if err := s.Registry.Put(rec); err != nil {
		return nil, refuse(http.StatusInternalServerError, CodeServerFailed, "node registry: %v", err)
	}
	resp := &Response{
		NodeID: d.NodeID,
		Cert:   string(certPEM),
		CACert: string(pki.EncodeCert(s.System.CACert)),
		Config: SystemConfig{
			SystemName: s.System.Name, SystemID: s.System.ID, SystemIP: s.SystemIP,
			NodeID: d.NodeID, NodeIP: nodeIP,
			PeerNodeID: s.Self, PeerPriv0: s.Priv0,
			Witnesses: s.Witnesses, Secrets: s.Secrets,
		},
	}
	if s.ShareCAKey {
		k, err := pki.EncodeKey(s.System.CAKey)
		if err != nil {
			return nil, refuse(http.StatusInternalServerError, CodeServerFailed, "CA key: %v", err)
		}
		resp.CAKey = string(k)
	}
	if nodes, err = s.Registry.Nodes(); err != nil {
		return nil, refuse(http.StatusInternalServerError, CodeServerFailed, "node registry: %v", err)
	}
	for _, n := range nodes {
		resp.Config.Nodes = append(resp.Config.Nodes, NodeInfo{ID: n.ID, Hostname: n.Hostname, IP: n.IP})
	}
	how := "as a new node"
	if d.Previous != nil {
		how = fmt.Sprintf("taking over node%d (was %s, %s)", d.NodeID, d.Previous.Hostname, orDHCP(d.Previous.IP))
	}
	s.logf("join: %s joined system %s as node%d by %s, %s; certificate serial %s",
		req.Hostname, s.System.Name, d.NodeID, req.Action, how, rec.Serial)
	return resp, nil
}

func orDHCP(ip string) string {
	if ip == "" {
		return "DHCP"
	}
	return ip
}

func containsIP(l []net.IP, ip net.IP) bool {
	for _, x := range l {
		if x.Equal(ip) {
			return true
		}
	}
	return false
}

func removeIP(l []net.IP, ip net.IP) []net.IP {
	out := l[:0:0]
	for _, x := range l {
		if !x.Equal(ip) {
			out = append(out, x)
		}
	}
	return out
}

// Check reports whether s can serve joins, before it listens.
func (s *Server) Check() error {
	switch {
	case s.System == nil || s.System.CACert == nil:
		return errors.New("join server: no system")
	case s.System.CAKey == nil:
		return fmt.Errorf("join server for system %s: this node does not hold the CA key", s.System.Name)
	case s.Registry == nil:
		return errors.New("join server: no node registry")
	case s.Self < 0 || s.Self > pki.MaxNodeID:
		return fmt.Errorf("join server: self node id %d", s.Self)
	}
	return nil
}
