package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// node issues a tls.Certificate for node id of s, valid from now.
func node(t *testing.T, s *System, id int) tls.Certificate {
	t.Helper()
	key, _ := NewKey()
	cert, _, err := s.IssueNode(id, fmt.Sprintf("pm-%d", id), []net.IP{net.IPv6loopback}, key.Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// handshake runs one TLS handshake over a loopback TCP connection and
// returns both sides' errors and the peer the server saw.
func handshake(t *testing.T, srv, cli *tls.Config) (serr, cerr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, srv)
		err = tc.Handshake()
		if err == nil {
			// TLS 1.3: the client learns of a refused client
			// certificate on its first read; answer one byte.
			_, err = tc.Write([]byte{1})
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cli)
	if err == nil {
		_, err = io.ReadFull(c, make([]byte, 1))
		c.Close()
	}
	return <-done, err
}

func TestMutualTLS(t *testing.T) {
	alpha := newSystem(t, "alpha")
	beta := newSystem(t, "beta")
	trust := TrustSystem(alpha)
	n0, n1 := node(t, alpha, 0), node(t, alpha, 1)
	b1 := node(t, beta, 1)

	// A forged node of alpha: right system id and name, another CA.
	forger := newSystem(t, "alpha")
	forger.ID = alpha.ID
	forged := node(t, forger, 1)

	noCert := ClientTLSConfig(trust, nil)

	var accepted []Peer
	acceptTrust := trust
	acceptTrust.Accept = func(p Peer) error {
		accepted = append(accepted, p)
		if p.Cert.SerialNumber.Cmp(n1.Leaf.SerialNumber) != 0 {
			return errors.New("not the registered certificate")
		}
		return nil
	}

	for _, tc := range []struct {
		name       string
		srv, cli   *tls.Config
		serr, cerr string // substrings; "" = success
	}{
		{"node1 to node0", ServerTLSConfig(trust, n0), ClientTLSConfig(trust, &n1), "", ""},
		{"node0 to node1", ServerTLSConfig(trust, n1), ClientTLSConfig(trust, &n0), "", ""},
		{"client of another system", ServerTLSConfig(trust, n0), ClientTLSConfig(trust, &b1),
			"certificate of system " + beta.ID + ` ("beta"), this is system ` + alpha.ID + ` ("alpha")`, ""},
		{"server of another system", ServerTLSConfig(TrustSystem(beta), b1), ClientTLSConfig(trust, &n0),
			"", "certificate of system " + beta.ID + ` ("beta"), this is system ` + alpha.ID},
		{"client without certificate", ServerTLSConfig(trust, n0), noCert, "client didn't provide a certificate", ""},
		{"client forged with same id", ServerTLSConfig(trust, n0), ClientTLSConfig(trust, &forged),
			"unknown authority", ""},
		{"server forged with same id", ServerTLSConfig(TrustSystem(forger), forged), ClientTLSConfig(trust, &n0),
			"", "unknown authority"},
		{"accept hook passes", ServerTLSConfig(acceptTrust, n0), ClientTLSConfig(trust, &n1), "", ""},
		{"accept hook refuses", ServerTLSConfig(acceptTrust, n0), ClientTLSConfig(trust, &n0), "not the registered certificate", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serr, cerr := handshake(t, tc.srv, tc.cli)
			check := func(side string, err error, want string) {
				switch {
				case want == "" && err != nil && tc.serr == "" && tc.cerr == "":
					t.Errorf("%s: %v", side, err)
				case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
					t.Errorf("%s: error %v, want it to contain %q", side, err, want)
				case err != nil:
					t.Logf("%s: %v", side, err)
				}
			}
			check("server", serr, tc.serr)
			check("client", cerr, tc.cerr)
			if tc.serr == "" && tc.cerr == "" && (serr != nil || cerr != nil) {
				t.Fatalf("want success: server %v, client %v", serr, cerr)
			}
			if (tc.serr != "" || tc.cerr != "") && serr == nil && cerr == nil {
				t.Fatal("handshake succeeded, want a refusal")
			}
		})
	}
	if len(accepted) != 2 || accepted[0].NodeID != 1 || accepted[1].NodeID != 0 {
		t.Errorf("accept hook saw %+v", accepted)
	}
}

func TestVerify(t *testing.T) {
	alpha, beta := newSystem(t, "alpha"), newSystem(t, "beta")
	trust := TrustSystem(alpha)
	n1 := node(t, alpha, 1)

	p, err := trust.Verify([]*x509.Certificate{n1.Leaf}, x509.ExtKeyUsageServerAuth)
	if err != nil || p.NodeID != 1 || p.SystemID != alpha.ID {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
	var other *OtherSystemError
	_, err = trust.Verify([]*x509.Certificate{node(t, beta, 0).Leaf}, x509.ExtKeyUsageClientAuth)
	if !errors.As(err, &other) || other.Got != beta.ID || other.Want != alpha.ID {
		t.Errorf("other system: %v", err)
	}
	// The CA itself is not a node.
	if _, err := trust.Verify([]*x509.Certificate{alpha.CACert}, x509.ExtKeyUsageClientAuth); err == nil {
		t.Error("CA certificate accepted as a node")
	}
	// Expired.
	late := trust
	late.Now = func() time.Time { return time.Now().Add(NodeValidity + time.Hour) }
	if _, err := late.Verify([]*x509.Certificate{n1.Leaf}, x509.ExtKeyUsageClientAuth); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired: %v", err)
	}
	if _, err := trust.Verify(nil, x509.ExtKeyUsageClientAuth); err == nil {
		t.Error("empty chain accepted")
	}
}
