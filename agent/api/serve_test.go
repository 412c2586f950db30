package api_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

func TestServe(t *testing.T) {
	p := apitest.NewPKI(t)
	s, err := api.New(api.Options{Backend: apitest.NewBackend(), Verify: apitest.Verify, TLS: p.ServerTLS()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	roots := x509.NewCertPool()
	roots.AddCert(p.CA)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := c.Get("https://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(resp.TLS.PeerCertificates) != 2 {
		t.Errorf("healthz over TLS: %s, %d certificates (want leaf and CA)", resp.Status, len(resp.TLS.PeerCertificates))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

func TestServeNeedsTLS(t *testing.T) {
	s, err := api.New(api.Options{Backend: apitest.NewBackend(), Verify: apitest.Verify})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := s.Serve(context.Background(), ln); err == nil {
		t.Error("Serve without TLS did not fail")
	}
	if _, err := api.New(api.Options{Backend: apitest.NewBackend()}); err == nil {
		t.Error("New without Verify did not fail")
	}
}

func TestServerTLSAddsCAOnce(t *testing.T) {
	p := apitest.NewPKI(t)
	cfg := api.ServerTLS(p.Server, p.CA)
	again := api.ServerTLS(cfg.Certificates[0], p.CA)
	if n := len(again.Certificates[0].Certificate); n != 2 {
		t.Errorf("chain of %d certificates, want 2", n)
	}
	if len(p.Server.Certificate) != 1 {
		t.Error("ServerTLS changed its argument's chain")
	}
}
