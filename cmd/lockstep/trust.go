package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// trust decides whether the server is a node of the expected system. Node
// certificates name the node (host name, node id, node IP) but the CLI
// usually dials the system IP, which moves between the nodes; so, like the
// nodes among themselves, the CLI checks the chain to the system CA and not
// the host name. Only the system's CA signs its nodes' certificates.
type trust struct {
	roots    *x509.CertPool // CA file (or the CA remembered at login)
	pin      string         // or the CA's SHA-256, hex
	insecure bool

	mu sync.Mutex
	ca *x509.Certificate // the CA that the last connection was verified with
}

// tlsConfig is the client's config: the standard verifier is off because
// it would check the host name; verify does the rest.
func (t *trust) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true,
		VerifyConnection:   t.verify,
	}
}

func (t *trust) verify(cs tls.ConnectionState) error {
	if t.insecure {
		return nil
	}
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("the server sent no certificate")
	}
	roots := t.roots
	if t.pin != "" {
		var found *x509.Certificate
		var seen []string
		for _, c := range certs {
			fp := fingerprint(c)
			if fp == t.pin {
				found = c
				break
			}
			seen = append(seen, fp)
		}
		if found == nil {
			return fmt.Errorf("the server's certificates do not match fingerprint %s (it sent %s): not the expected system, or someone in between", t.pin, strings.Join(seen, ", "))
		}
		if found == certs[0] { // the server's own certificate was pinned
			t.setCA(nil)
			return nil
		}
		if !found.IsCA {
			return fmt.Errorf("the certificate with fingerprint %s is not a CA", t.pin)
		}
		roots = x509.NewCertPool()
		roots.AddCert(found)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("the server's certificate is not from the system CA: %w", err)
	}
	t.setCA(chains[0][len(chains[0])-1])
	return nil
}

func (t *trust) setCA(c *x509.Certificate) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ca = c
}

// verifiedCA is the CA the connection was verified with, to remember with
// the session; nil with --insecure or a pinned server certificate.
func (t *trust) verifiedCA() *x509.Certificate {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ca
}

// newTrust builds the trust from the flags, else from the CA remembered
// with a cached session (cachedCA, PEM). Exactly one way must be given:
// an unverified connection would hand the password to whoever answers.
func newTrust(g *globals, cachedCA string) (*trust, error) {
	n := 0
	for _, set := range []bool{g.caFile != "", g.fingerprint != "", g.insecure} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, usagef("give only one of --ca-file, --fingerprint and --insecure")
	}
	t := &trust{insecure: g.insecure}
	switch {
	case g.insecure:
	case g.fingerprint != "":
		fp, err := normalizeFingerprint(g.fingerprint)
		if err != nil {
			return nil, &usageError{err.Error()}
		}
		t.pin = fp
	case g.caFile != "":
		b, err := os.ReadFile(g.caFile)
		if err != nil {
			return nil, err
		}
		if t.roots, err = certPool(b); err != nil {
			return nil, fmt.Errorf("%s: %w", g.caFile, err)
		}
	case cachedCA != "":
		var err error
		if t.roots, err = certPool([]byte(cachedCA)); err != nil {
			return nil, fmt.Errorf("the CA remembered at login: %w; log in again", err)
		}
	default:
		return nil, usagef("cannot verify the server: give --ca-file (the system CA, PEM), --fingerprint (its SHA-256, as the installer shows it) or, for a lab, --insecure")
	}
	return t, nil
}

func certPool(pemData []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := pemData; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM CERTIFICATE in it")
	}
	return pool, nil
}

// fingerprint is the SHA-256 of the certificate, lower-case hex: the
// form the installer and the join screen show (cluster/pki.Fingerprint).
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// normalizeFingerprint accepts the hex in either case, with or without
// colons (openssl's form) or spaces (the installer's groups of four).
func normalizeFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.NewReplacer(":", "", " ", "", "\t", "").Replace(strings.TrimSpace(s)))
	if _, err := hex.DecodeString(h); err != nil || len(h) != 2*sha256.Size {
		return "", fmt.Errorf("fingerprint %q: want the SHA-256 as 64 hex digits, colons optional", s)
	}
	return h, nil
}
