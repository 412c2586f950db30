package api

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
)

// ServerTLS is the API's TLS config: the node's certificate, followed in
// the chain by the system CA's. Sending the CA lets a client that pins the
// CA by fingerprint (lockstep --fingerprint, as the installer shows it)
// find it and check the node certificate against it; a client with the
// CA file ignores the extra certificate.
func ServerTLS(node tls.Certificate, ca *x509.Certificate) *tls.Config {
	chain := node.Certificate
	if ca != nil && (len(chain) == 0 || !bytes.Equal(chain[len(chain)-1], ca.Raw)) {
		chain = append(chain[:len(chain):len(chain)], ca.Raw)
	}
	node.Certificate = chain
	return &tls.Config{
		MinVersion:   tls.VersionTLS12, // curl and browsers of a management station may lack 1.3
		Certificates: []tls.Certificate{node},
	}
}
