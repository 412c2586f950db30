package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Trust says which peers a node accepts: node certificates of one system,
// signed by its CA. The standard verifier is switched off in the configs
// below and Verify runs instead, for two reasons: the nodes dial each
// other by link-local address, which no host-name check fits; and a
// certificate of another system must be refused with a message naming both
// systems rather than "signed by unknown authority".
type Trust struct {
	CA       *x509.Certificate
	SystemID string
	// Accept, if set, gets the verified peer and may still refuse it, e.g.
	// when its certificate serial is not the one the registry holds for
	// that node (a replaced node's old certificate).
	Accept func(Peer) error
	// Now is the verification time; nil means time.Now.
	Now func() time.Time
}

// TrustSystem is the Trust for s's own nodes.
func TrustSystem(s *System) Trust { return Trust{CA: s.CACert, SystemID: s.ID} }

// Peer is a verified node certificate.
type Peer struct {
	SystemID string
	NodeID   int
	Cert     *x509.Certificate
}

// OtherSystemError is a well-formed node certificate of a different system.
type OtherSystemError struct {
	Got, GotName   string // the certificate's system id; the name from its issuer's CN, if any
	Want, WantName string
}

func (e *OtherSystemError) Error() string {
	s := "certificate of system " + e.Got
	if e.GotName != "" {
		s += fmt.Sprintf(" (%q)", e.GotName)
	}
	s += ", this is system " + e.Want
	if e.WantName != "" {
		s += fmt.Sprintf(" (%q)", e.WantName)
	}
	return s
}

// Verify checks a peer's chain (leaf first) for the given use (server or
// client auth): same system id, signed by the CA, valid now. The system id
// is compared first only to give the clear OtherSystemError; the signature
// check that follows is what makes the id trustworthy.
func (t Trust) Verify(chain []*x509.Certificate, usage x509.ExtKeyUsage) (Peer, error) {
	if t.CA == nil {
		return Peer{}, errors.New("pki: no CA to verify against")
	}
	if len(chain) == 0 {
		return Peer{}, errors.New("the peer sent no certificate")
	}
	leaf := chain[0]
	sysID, nodeID, err := NodeIdentity(leaf)
	if sysID != "" && sysID != t.SystemID {
		e := &OtherSystemError{Got: sysID, Want: t.SystemID}
		// Names for the message only; the issuer's is unverified.
		e.GotName, _ = systemNameOf(leaf.Issuer.CommonName)
		e.WantName, _ = systemNameOf(t.CA.Subject.CommonName)
		return Peer{}, e
	}
	if err != nil {
		return Peer{}, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(t.CA)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now(), KeyUsages: []x509.ExtKeyUsage{usage},
	}); err != nil {
		return Peer{}, fmt.Errorf("node%d certificate is not valid for system %s: %w", nodeID, t.SystemID, err)
	}
	p := Peer{SystemID: sysID, NodeID: nodeID, Cert: leaf}
	if t.Accept != nil {
		if err := t.Accept(p); err != nil {
			return Peer{}, err
		}
	}
	return p, nil
}

// ServerTLSConfig serves mutual TLS between nodes: it presents cert and
// requires a client certificate that Verify accepts for client auth.
func ServerTLSConfig(t Trust, cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert, // verified below, with a clear message
		Time:         t.Now,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := t.Verify(cs.PeerCertificates, x509.ExtKeyUsageClientAuth)
			return err
		},
	}
}

// ClientTLSConfig dials another node: it verifies the server with Verify
// for server auth and presents cert if given. A nil cert dials without a
// client certificate: a joining node, which has none yet, uses that to
// pin the system CA after it has confirmed the fingerprint.
func ClientTLSConfig(t Trust, cert *tls.Certificate) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The chain is verified in VerifyConnection against t.CA; the
		// standard verifier would also demand a host name match.
		InsecureSkipVerify: true,
		Time:               t.Now,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := t.Verify(cs.PeerCertificates, x509.ExtKeyUsageServerAuth)
			return err
		},
	}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// PeerOf returns the verified peer of a connection made with one of these
// configs (e.g. http.Request.TLS in a handler).
func (t Trust) PeerOf(cs *tls.ConnectionState, usage x509.ExtKeyUsage) (Peer, error) {
	if cs == nil {
		return Peer{}, errors.New("not a TLS connection")
	}
	return t.Verify(cs.PeerCertificates, usage)
}
