package join

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/pki"
)

// maxResponseBytes bounds what the joiner reads from a server it may not
// trust yet.
const maxResponseBytes = 1 << 20

// ErrNotConfirmed is the operator declining the system shown on screen.
var ErrNotConfirmed = errors.New("the operator did not confirm the system's fingerprint; not joining")

// FingerprintMismatchError is a system whose CA is not the pinned one:
// another system on the cable, or someone in between.
type FingerprintMismatchError struct {
	Addr, SystemName string
	Got, Want        string
}

func (e *FingerprintMismatchError) Error() string {
	return fmt.Sprintf("the system at %s (%q) presents CA fingerprint %s, but the answer file pins %s: not joining (another system, or someone in between)",
		e.Addr, e.SystemName, e.Got, e.Want)
}

// HelloResult is a hello with its CA parsed and fingerprinted. It is not
// trusted until CheckFingerprint accepts it.
type HelloResult struct {
	Hello
	Addr        string
	CA          *x509.Certificate
	Fingerprint string // pki.Fingerprint(CA)
}

// FetchHello is step 1: GET the hello from addr ("host:port", e.g.
// "[fe80::1%priv0]:7410") over TLS without verifying the server, since the
// joiner has nothing to verify it against yet. It does check that the
// hello is self-consistent and that the server's certificate is a node of
// the CA it presents, so a server that merely relays another system's
// hello is caught here already; the fingerprint check decides the rest.
func FetchHello(ctx context.Context, addr string) (*HelloResult, error) {
	tlsc := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // trust on first use: see CheckFingerprint
	}
	var h Hello
	cs, err := call(ctx, tlsc, http.MethodGet, addr, HelloPath, nil, &h)
	if err != nil {
		return nil, err
	}
	ca, err := pki.ParseCertPEM([]byte(h.CACert))
	if err != nil {
		return nil, fmt.Errorf("hello from %s: CA certificate: %w", addr, err)
	}
	sys, err := pki.FromCA(ca)
	if err != nil {
		return nil, fmt.Errorf("hello from %s: %w", addr, err)
	}
	if sys.Name != h.SystemName || sys.ID != h.SystemID {
		return nil, fmt.Errorf("hello from %s names system %q (%s) but its CA is of system %q (%s)",
			addr, h.SystemName, h.SystemID, sys.Name, sys.ID)
	}
	if _, err := pki.TrustSystem(sys).Verify(cs.PeerCertificates, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, fmt.Errorf("the server at %s is not a node of the system it describes: %w", addr, err)
	}
	return &HelloResult{Hello: h, Addr: addr, CA: ca, Fingerprint: pki.Fingerprint(ca)}, nil
}

// CheckFingerprint is the trust decision. With a pinned fingerprint (the
// answer file's join.fingerprint, any accepted form) the CA must match it;
// without one, confirm is shown the system name and fingerprint and must
// say yes. With neither there is no one to decide, which is an error.
func CheckFingerprint(h *HelloResult, pinned string, confirm func(systemName, fingerprint string) bool) error {
	if pinned != "" {
		want, err := pki.NormalizeFingerprint(pinned)
		if err != nil {
			return fmt.Errorf("pinned %w", err)
		}
		if h.Fingerprint != want {
			return &FingerprintMismatchError{Addr: h.Addr, SystemName: h.SystemName, Got: h.Fingerprint, Want: want}
		}
		return nil
	}
	if confirm == nil {
		return fmt.Errorf("system %q at %s: no fingerprint is pinned and nobody can confirm %s",
			h.SystemName, h.Addr, pki.FormatFingerprint(h.Fingerprint))
	}
	if !confirm(h.SystemName, h.Fingerprint) {
		return ErrNotConfirmed
	}
	return nil
}

// Submit is step 2: POST req to addr over TLS that verifies the server as
// a node of the accepted CA (pinned), then check the answer: a node
// certificate of that CA for the requested key. A *Refusal is the
// server's "no".
func Submit(ctx context.Context, h *HelloResult, req Request, pub crypto.PublicKey) (*Response, error) {
	trust := pki.Trust{CA: h.CA, SystemID: h.SystemID}
	var resp Response
	if _, err := call(ctx, pki.ClientTLSConfig(trust, nil), http.MethodPost, h.Addr, RequestPath, req, &resp); err != nil {
		return nil, err
	}
	if ca, err := pki.ParseCertPEM([]byte(resp.CACert)); err != nil || !ca.Equal(h.CA) {
		return nil, fmt.Errorf("join response from %s carries another CA than the one confirmed", h.Addr)
	}
	cert, err := pki.ParseCertPEM([]byte(resp.Cert))
	if err != nil {
		return nil, fmt.Errorf("join response from %s: node certificate: %w", h.Addr, err)
	}
	p, err := trust.Verify([]*x509.Certificate{cert}, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, fmt.Errorf("join response from %s: %w", h.Addr, err)
	}
	type pubEqual interface{ Equal(crypto.PublicKey) bool }
	if k, ok := pub.(pubEqual); !ok || !k.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("join response from %s: the certificate is not for this node's key", h.Addr)
	}
	if p.NodeID != resp.NodeID || resp.Config.NodeID != resp.NodeID || resp.Config.SystemID != h.SystemID {
		return nil, fmt.Errorf("join response from %s is inconsistent: certificate node%d, response node%d, config node%d of %s",
			h.Addr, p.NodeID, resp.NodeID, resp.Config.NodeID, resp.Config.SystemID)
	}
	return &resp, nil
}

// Options are a join's inputs, mostly from the installer's answers.
type Options struct {
	Addr string // the join server, "host:port"; see Peer.JoinAddr
	// Fingerprint pins the CA (answers.Join.Fingerprint); "" asks Confirm.
	Fingerprint string
	Confirm     func(systemName, fingerprint string) bool
	Action      Action
	Hostname    string
	Node        NodeChoice // zero value: any
	NodeIP      string     // management address as installed; "" with DHCP
	IPs         []net.IP   // more certificate addresses
	Token       string
	Key         crypto.Signer // this node's key; nil makes a new one
}

// Result is a completed join: everything the node stores.
type Result struct {
	System      *pki.System // name, id, CA; the CA key if the server shared it
	Fingerprint string
	NodeID      int
	Cert        *x509.Certificate
	CertPEM     []byte
	Key         crypto.Signer
	Config      SystemConfig
}

// Join runs both steps with the trust decision in between.
func Join(ctx context.Context, o Options) (*Result, error) {
	if o.Addr == "" {
		return nil, errors.New("join: no server address (see Discover)")
	}
	if o.Action != Replace && o.Action != Recover {
		return nil, fmt.Errorf("join: action %q: want replace or recover", o.Action)
	}
	if err := pki.CheckHostname(o.Hostname); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	h, err := FetchHello(ctx, o.Addr)
	if err != nil {
		return nil, err
	}
	if err := CheckFingerprint(h, o.Fingerprint, o.Confirm); err != nil {
		return nil, err
	}
	key := o.Key
	if key == nil {
		if key, err = pki.NewKey(); err != nil {
			return nil, err
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: o.Hostname}}, key)
	if err != nil {
		return nil, fmt.Errorf("join: CSR: %w", err)
	}
	req := Request{
		Action: o.Action, Hostname: o.Hostname, NodeID: o.Node, NodeIP: o.NodeIP, Token: o.Token,
		CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
	}
	for _, ip := range o.IPs {
		req.IPs = append(req.IPs, ip.String())
	}
	resp, err := Submit(ctx, h, req, key.Public())
	if err != nil {
		return nil, err
	}
	sys, err := pki.FromCA(h.CA)
	if err != nil {
		return nil, err
	}
	if resp.CAKey != "" {
		k, err := pki.ParseKeyPEM([]byte(resp.CAKey))
		ek, ok := k.(*ecdsa.PrivateKey)
		if err != nil || !ok {
			return nil, fmt.Errorf("join response from %s: CA key: not an ECDSA PKCS#8 key (%v)", o.Addr, err)
		}
		if err := sys.SetCAKey(ek); err != nil {
			return nil, fmt.Errorf("join response from %s: %w", o.Addr, err)
		}
	}
	cert, _ := pki.ParseCertPEM([]byte(resp.Cert)) // checked by Submit
	return &Result{
		System: sys, Fingerprint: h.Fingerprint, NodeID: resp.NodeID,
		Cert: cert, CertPEM: []byte(resp.Cert), Key: key, Config: resp.Config,
	}, nil
}

// Save writes the system's CA (and key, if shared) and this node's
// certificate and key into dir (see pki.Save, pki.SaveNode).
func (r *Result) Save(dir string) error {
	if err := r.System.Save(dir); err != nil {
		return err
	}
	return pki.SaveNode(dir, r.CertPEM, r.Key)
}

// call does one HTTPS exchange on a fresh connection that is closed
// afterwards: the two steps never share a connection, so step 2 always
// runs its own, pinned handshake. No proxy from the environment is used.
// It returns the connection's TLS state.
func call(ctx context.Context, tlsc *tls.Config, method, addr, path string, in, out any) (*tls.ConnectionState, error) {
	tr := &http.Transport{
		TLSClientConfig:     tlsc,
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}
	defer tr.CloseIdleConnections()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	// The URL is built from parts: a link-local host carries a zone
	// ("%priv0") that would have to be escaped in a URL string.
	req, err := http.NewRequestWithContext(ctx, method, "https://join.invalid"+path, body)
	if err != nil {
		return nil, err
	}
	req.URL = &url.URL{Scheme: "https", Host: addr, Path: path}
	req.Host = addr
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", addr, unwrapURL(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		ref := &Refusal{Status: resp.StatusCode}
		if json.Unmarshal(b, ref) != nil || ref.Message == "" {
			return nil, fmt.Errorf("join %s %s: HTTP %s", addr, path, resp.Status)
		}
		return nil, ref
	}
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("join %s %s: %w", addr, path, err)
	}
	if resp.TLS == nil {
		return nil, fmt.Errorf("join %s: not a TLS connection", addr)
	}
	return resp.TLS, nil
}

// unwrapURL drops the *url.Error wrapper ("Get \"https://…\": ") so that
// a TLS refusal reads as what it is.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
