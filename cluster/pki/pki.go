// Package pki is a Lockstep system's own certificate authority (SPEC A1,
// A16, I8). Each system gets a random id and a CA when node0 creates it; the
// CA signs one certificate per node, and the nodes talk to each other only
// over mutual TLS with those certificates. A private CA, not the web PKI,
// because the two nodes reach each other over link-local addresses on a
// private cable and must refuse anything that is not their own system —
// including another Lockstep system on the same bench.
//
// The CA certificate carries the system id (subject OU) and name (subject
// CN "Lockstep <name> CA"), so the files in a PKI directory are the whole
// state: Load needs nothing else. Node certificates carry "node<id>" in the
// CN and the system id in the OU, so a peer's identity is read from its
// certificate and a certificate of another system is refused by name.
//
// Only the standard library is used.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"strings"
	"time"
)

const (
	// CAValidity is the CA's lifetime: longer than any node's service life,
	// so the fingerprint written on a label or pinned in answer files stays.
	CAValidity = 10 * 365 * 24 * time.Hour
	// NodeValidity is a node certificate's lifetime; the agent renews it.
	NodeValidity = 2 * 365 * 24 * time.Hour
	// Backdate is subtracted from NotBefore so that a peer whose clock is a
	// little behind (no NTP yet during install) still accepts a fresh
	// certificate.
	Backdate = 5 * time.Minute

	// Organization is the subject O of every Lockstep certificate.
	Organization = "Lockstep"
	// DNSSuffix ends the per-node DNS name "node<id>.<systemid>.lockstep".
	DNSSuffix = "lockstep"
	// MaxNodeID is the highest node id: a system is node0 and node1.
	MaxNodeID = 1
)

// System is a Lockstep system's identity and CA. CAKey is nil on a node
// that holds only the CA certificate; such a node verifies but cannot issue.
type System struct {
	Name   string // the system name, 1-63 letters, digits and "-"
	ID     string // 32 lower-case hex digits (128 random bits)
	CACert *x509.Certificate
	CAKey  *ecdsa.PrivateKey
}

// NewSystem creates a system: a fresh random id and a self-signed ECDSA
// P-256 CA named "Lockstep <name> CA", valid for ten years from now.
func NewSystem(name string, now time.Time) (*System, error) {
	if err := CheckSystemName(name); err != nil {
		return nil, err
	}
	var idb [16]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, err
	}
	id := hex.EncodeToString(idb[:])
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         caCommonName(name),
			Organization:       []string{Organization},
			OrganizationalUnit: []string{id},
		},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs node certificates only, never another CA
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &System{Name: name, ID: id, CACert: cert, CAKey: key}, nil
}

// FromCA reads the system's name and id from its CA certificate (as
// received in a join) and checks that it is a Lockstep CA.
func FromCA(ca *x509.Certificate) (*System, error) {
	if ca == nil {
		return nil, errors.New("no CA certificate")
	}
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("certificate %q is not a CA", ca.Subject.CommonName)
	}
	cn := ca.Subject.CommonName
	name, ok := systemNameOf(cn)
	if !ok {
		return nil, fmt.Errorf("CA %q is not a Lockstep system CA (want CN \"Lockstep <system name> CA\")", cn)
	}
	id, err := subjectSystemID(ca)
	if err != nil {
		return nil, fmt.Errorf("CA %q: %w", cn, err)
	}
	return &System{Name: name, ID: id, CACert: ca}, nil
}

// SetCAKey attaches the CA private key (e.g. received in a join) after
// checking that it belongs to the CA certificate.
func (s *System) SetCAKey(key *ecdsa.PrivateKey) error {
	pub, ok := s.CACert.PublicKey.(*ecdsa.PublicKey)
	if !ok || key == nil || !pub.Equal(&key.PublicKey) {
		return fmt.Errorf("the CA key does not belong to the CA certificate of system %s", s.ID)
	}
	s.CAKey = key
	return nil
}

// Fingerprint is the CA's fingerprint (see the package function).
func (s *System) Fingerprint() string { return Fingerprint(s.CACert) }

// NodeDNSName is the per-node DNS name in every node certificate:
// "node<id>.<systemid>.lockstep". It is independent of the host name, which
// the administrator may change on a replacement board.
func NodeDNSName(nodeID int, systemID string) string {
	return fmt.Sprintf("node%d.%s.%s", nodeID, systemID, DNSSuffix)
}

// IssueNode signs a certificate for node nodeID with public key pub, valid
// for two years (never past the CA) for both TLS server and client use:
// the nodes call each other in both directions. The SANs are the host name,
// NodeDNSName and ips. It returns the certificate and its PEM encoding.
func (s *System) IssueNode(nodeID int, hostname string, ips []net.IP, pub crypto.PublicKey, now time.Time) (*x509.Certificate, []byte, error) {
	if s.CAKey == nil {
		return nil, nil, fmt.Errorf("system %s: this node does not hold the CA key, so it cannot issue node certificates", s.ID)
	}
	if nodeID < 0 || nodeID > MaxNodeID {
		return nil, nil, fmt.Errorf("node id %d: a system has node0 and node1 only", nodeID)
	}
	if err := CheckHostname(hostname); err != nil {
		return nil, nil, err
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, nil, fmt.Errorf("node key: ECDSA curve %s; use P-256 or P-384", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return nil, nil, fmt.Errorf("node key: %T; use ECDSA P-256 or Ed25519", pub)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(NodeValidity)
	if notAfter.After(s.CACert.NotAfter) {
		notAfter = s.CACert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         NodeCommonName(nodeID),
			Organization:       []string{Organization},
			OrganizationalUnit: []string{s.ID},
		},
		NotBefore:   now.Add(-Backdate),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{hostname, NodeDNSName(nodeID, s.ID)},
	}
	for _, ip := range ips {
		if ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.CACert, pub, s.CAKey)
	if err != nil {
		return nil, nil, fmt.Errorf("issue node%d certificate: %w", nodeID, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, EncodeCert(cert), nil
}

// NodeCommonName is a node certificate's subject CN: "node<id>".
func NodeCommonName(nodeID int) string { return "node" + strconv.Itoa(nodeID) }

// NodeIdentity reads the system id and node id from a node certificate's
// subject. It does not verify the certificate; see Trust.Verify.
func NodeIdentity(cert *x509.Certificate) (systemID string, nodeID int, err error) {
	systemID, err = subjectSystemID(cert)
	if err != nil {
		return "", 0, err
	}
	n, ok := strings.CutPrefix(cert.Subject.CommonName, "node")
	id, aerr := strconv.Atoi(n)
	if !ok || aerr != nil || id < 0 || id > MaxNodeID || n != strconv.Itoa(id) {
		return systemID, 0, fmt.Errorf("certificate %q is not a node certificate (want CN node0 or node1)", cert.Subject.CommonName)
	}
	return systemID, id, nil
}

// NewKey makes a node or CA key: ECDSA P-256, small and fast on both ends.
func NewKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// CheckSystemName accepts 1-63 letters, digits and "-" (the installer's
// system.name rule), so the name fits the CA's CN unambiguously.
func CheckSystemName(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("system name %q: use 1-63 letters, digits and \"-\"", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("system name %q: %q is not allowed; use letters, digits and \"-\"", name, r)
		}
	}
	return nil
}

// CheckHostname accepts one RFC 1123 label, lower-case (the installer
// lower-cases host names).
func CheckHostname(h string) error {
	if h == "" || len(h) > 63 || h[0] == '-' || h[len(h)-1] == '-' {
		return fmt.Errorf("host name %q: use 1-63 letters, digits and \"-\", not starting or ending with \"-\"", h)
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("host name %q: %q is not allowed; use lower-case letters, digits and \"-\"", h, r)
		}
	}
	return nil
}

// CheckSystemID accepts 32 lower-case hex digits.
func CheckSystemID(id string) error {
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return fmt.Errorf("system id %q: want 32 lower-case hex digits", id)
	}
	return nil
}

func caCommonName(name string) string { return "Lockstep " + name + " CA" }

// systemNameOf reads the system name from a CA's CN.
func systemNameOf(cn string) (string, bool) {
	name, ok := strings.CutPrefix(cn, "Lockstep ")
	if ok {
		name, ok = strings.CutSuffix(name, " CA")
	}
	return name, ok && CheckSystemName(name) == nil
}

func subjectSystemID(cert *x509.Certificate) (string, error) {
	ou := cert.Subject.OrganizationalUnit
	if len(ou) != 1 || CheckSystemID(ou[0]) != nil {
		return "", fmt.Errorf("certificate %q carries no Lockstep system id (subject OU %q)", cert.Subject.CommonName, ou)
	}
	return ou[0], nil
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}
