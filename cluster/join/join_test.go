package join

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/pki"
)

// health is the injected membership view.
type health struct {
	mu sync.Mutex
	ok map[int]bool
}

func (h *health) set(id int, ok bool) { h.mu.Lock(); h.ok[id] = ok; h.mu.Unlock() }
func (h *health) get(r NodeRecord) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ok[r.ID]
}

// fixture is node0 of system "alpha" serving joins on loopback.
type fixture struct {
	sys    *pki.System
	node0  tls.Certificate
	reg    *MemRegistry
	health *health
	srv    *Server
	addr   string
}

var (
	rec0 = NodeRecord{ID: 0, Hostname: "pm-a", IP: "192.0.2.10", KeyID: "k0", Serial: "1"}
	rec1 = NodeRecord{ID: 1, Hostname: "pm-b", IP: "192.0.2.11", KeyID: "k1", Serial: "2"}
)

func newSystem(t *testing.T, name string) (*pki.System, tls.Certificate) {
	t.Helper()
	sys, err := pki.NewSystem(name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return sys, nodeCert(t, sys, 0)
}

func nodeCert(t *testing.T, sys *pki.System, id int) tls.Certificate {
	t.Helper()
	key, _ := pki.NewKey()
	cert, _, err := sys.IssueNode(id, "pm-a", []net.IP{net.IPv4(127, 0, 0, 1)}, key.Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := pki.KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// start serves joins for a fresh system whose registry holds recs (with
// the given ones healthy; node0 is always healthy as the server).
func start(t *testing.T, recs []NodeRecord, healthy []int, tweak func(*Server)) *fixture {
	t.Helper()
	sys, kp := newSystem(t, "alpha")
	f := &fixture{sys: sys, node0: kp, health: &health{ok: map[int]bool{}}}
	for _, id := range healthy {
		f.health.set(id, true)
	}
	old := time.Now().Add(-time.Hour)
	for i := range recs {
		recs[i].Joined = old
	}
	f.reg = NewMemRegistry(recs...)
	f.srv = &Server{
		System: sys, Self: 0, SystemIP: "192.0.2.5", Priv0: "fe80::a",
		Registry: f.reg, Healthy: f.health.get, ShareCAKey: true,
	}
	if tweak != nil {
		tweak(f.srv)
	}
	var logMu sync.Mutex
	done := false
	f.srv.Logf = func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		if !done {
			t.Logf(format, args...)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, ln, kp) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		logMu.Lock()
		done = true
		logMu.Unlock()
	})
	return f
}

func (f *fixture) nodes(t *testing.T) []NodeRecord {
	t.Helper()
	n, err := f.reg.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestJoinCreatesNode1(t *testing.T) {
	f := start(t, []NodeRecord{rec0}, nil, nil)

	h, err := FetchHello(ctx(t), f.addr)
	if err != nil {
		t.Fatal(err)
	}
	if h.SystemName != "alpha" || h.SystemID != f.sys.ID || h.HealthyNodes != 1 || h.Fingerprint != f.sys.Fingerprint() {
		t.Fatalf("hello %+v", h.Hello)
	}

	res, err := Join(ctx(t), Options{
		Addr: f.addr, Fingerprint: f.sys.Fingerprint(), Action: Replace, Hostname: "pm-b",
		NodeIP: "192.0.2.11", IPs: []net.IP{net.ParseIP("fe80::b")},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Config
	if res.NodeID != 1 || c.NodeID != 1 || c.SystemName != "alpha" || c.SystemID != f.sys.ID || c.SystemIP != "192.0.2.5" ||
		c.PeerNodeID != 0 || c.PeerPriv0 != "fe80::a" || c.NodeIP != "192.0.2.11" {
		t.Errorf("config %+v", c)
	}
	if ids := []int{c.Nodes[0].ID, c.Nodes[1].ID}; len(c.Nodes) != 2 || !slices.Equal(ids, []int{0, 1}) {
		t.Errorf("config nodes %+v", c.Nodes)
	}
	if res.System.ID != f.sys.ID || res.System.CAKey == nil || !res.System.CAKey.Equal(f.sys.CAKey) {
		t.Error("the joined node did not get the system's CA (and key)")
	}
	cert := res.Cert
	if cert.Subject.CommonName != "node1" || !slices.Contains(cert.DNSNames, "pm-b") ||
		!slices.Contains(cert.DNSNames, pki.NodeDNSName(1, f.sys.ID)) ||
		!slices.ContainsFunc(cert.IPAddresses, net.ParseIP("192.0.2.11").Equal) ||
		!slices.ContainsFunc(cert.IPAddresses, net.ParseIP("fe80::b").Equal) {
		t.Errorf("node certificate %v DNS %v IP %v", cert.Subject, cert.DNSNames, cert.IPAddresses)
	}

	recs := f.nodes(t)
	if len(recs) != 2 || recs[1].ID != 1 || recs[1].Hostname != "pm-b" || recs[1].IP != "192.0.2.11" ||
		recs[1].Serial != cert.SerialNumber.Text(16) {
		t.Errorf("registry %+v", recs)
	}

	// The new node and node0 now talk mutual TLS as one system.
	kp1, err := pki.KeyPair(res.Cert, res.Key)
	if err != nil {
		t.Fatal(err)
	}
	trust := pki.TrustSystem(res.System)
	a, b := net.Pipe()
	errc := make(chan error, 1)
	go func() { errc <- tls.Server(a, pki.ServerTLSConfig(pki.TrustSystem(f.sys), f.node0)).Handshake() }()
	if err := tls.Client(b, pki.ClientTLSConfig(trust, &kp1)).Handshake(); err != nil {
		t.Errorf("node1 → node0: %v", err)
	}
	if err := <-errc; err != nil {
		t.Errorf("node0 accepting node1: %v", err)
	}
	a.Close()
	b.Close()

	// What the installer stores on STATE loads back.
	dir := t.TempDir()
	if err := res.Save(dir); err != nil {
		t.Fatal(err)
	}
	if s, err := pki.Load(dir); err != nil || s.ID != f.sys.ID || s.CAKey == nil {
		t.Errorf("Load after join: %v", err)
	}
	if kp, err := pki.LoadNode(dir); err != nil || kp.Leaf.SerialNumber.Cmp(cert.SerialNumber) != 0 {
		t.Errorf("LoadNode after join: %v", err)
	}

	// The hello now lists node1, not yet healthy.
	h, err = FetchHello(ctx(t), f.addr)
	if err != nil || len(h.Nodes) != 2 || h.HealthyNodes != 1 || h.Nodes[1].Healthy {
		t.Errorf("hello after join %+v, %v", h, err)
	}
	// Once membership reports it healthy, a third node is refused.
	f.health.set(1, true)
	_, err = Join(ctx(t), Options{Addr: f.addr, Fingerprint: f.sys.Fingerprint(), Action: Replace, Hostname: "rogue"})
	var ref *Refusal
	if !errors.As(err, &ref) || ref.Status != 409 || ref.Message != "system alpha already has two healthy nodes: node0 and node1" {
		t.Errorf("third node: %v", err)
	}
}

func TestReplaceReusesNodeIDAndIP(t *testing.T) {
	f := start(t, []NodeRecord{rec0, rec1}, nil, nil) // node1 failed
	res, err := Join(ctx(t), Options{
		Addr: f.addr, Fingerprint: f.sys.Fingerprint(), Action: Replace, Hostname: "pm-b2", NodeIP: "192.0.2.99",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.NodeID != 1 || res.Config.NodeIP != "192.0.2.11" {
		t.Fatalf("replace of node1: got node%d with IP %q, want node1 with its old IP 192.0.2.11", res.NodeID, res.Config.NodeIP)
	}
	ips := res.Cert.IPAddresses
	if !slices.ContainsFunc(ips, net.ParseIP("192.0.2.11").Equal) || slices.ContainsFunc(ips, net.ParseIP("192.0.2.99").Equal) {
		t.Errorf("certificate IPs %v: want the old IP only", ips)
	}
	r := f.nodes(t)[1]
	if r.Hostname != "pm-b2" || r.IP != "192.0.2.11" || r.Serial != res.Cert.SerialNumber.Text(16) || r.Serial == rec1.Serial {
		t.Errorf("registry after replace %+v", r)
	}
}

func TestRecoverKnownNode(t *testing.T) {
	f := start(t, []NodeRecord{rec0, rec1}, nil, nil)
	res, err := Join(ctx(t), Options{Addr: f.addr, Fingerprint: f.sys.Fingerprint(), Action: Recover, Hostname: "pm-b", Node: Node(1)})
	if err != nil || res.NodeID != 1 || res.Config.NodeIP != "192.0.2.11" {
		t.Fatalf("recover node1: %+v, %v", res, err)
	}
}

func TestJoinRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		recs    []NodeRecord
		healthy []int
		token   string
		o       Options
		status  int
		code    string
		msg     string
	}{
		{name: "system already has two healthy nodes", recs: []NodeRecord{rec0, rec1}, healthy: []int{1},
			o: Options{Action: Replace, Hostname: "pm-c"}, status: 409, code: CodeSystemFull,
			msg: "system alpha already has two healthy nodes: node0 and node1"},
		{name: "recover of a node id that does not exist", recs: []NodeRecord{rec0},
			o: Options{Action: Recover, Hostname: "pm-b", Node: Node(1)}, status: 409, code: CodeUnknownNode,
			msg: "recover node1: system alpha has no node1"},
		{name: "recover with no failed node", recs: []NodeRecord{rec0},
			o: Options{Action: Recover, Hostname: "pm-b"}, status: 409, code: CodeUnknownNode, msg: "no failed node to recover"},
		{name: "replace of a healthy node", recs: []NodeRecord{rec0},
			o: Options{Action: Replace, Hostname: "pm-b", Node: Node(0)}, status: 409, code: CodeNodeHealthy,
			msg: "node0 (pm-a) of system alpha is healthy"},
		{name: "node id 2", recs: []NodeRecord{rec0},
			o: Options{Action: Replace, Hostname: "pm-b", Node: Node(2)}, status: 400, code: CodeBadRequest, msg: "node id 2"},
		{name: "token missing", recs: []NodeRecord{rec0}, token: "s3cret",
			o: Options{Action: Replace, Hostname: "pm-b"}, status: 403, code: CodeBadToken, msg: "requires a join token and this request's token is missing"},
		{name: "token wrong", recs: []NodeRecord{rec0}, token: "s3cret",
			o: Options{Action: Replace, Hostname: "pm-b", Token: "guess"}, status: 403, code: CodeBadToken, msg: "is wrong"},
		{name: "token right", recs: []NodeRecord{rec0}, token: "s3cret",
			o: Options{Action: Replace, Hostname: "pm-b", Token: "s3cret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, slices.Clone(tc.recs), tc.healthy, func(s *Server) { s.Token = tc.token })
			before := f.nodes(t)
			o := tc.o
			o.Addr, o.Fingerprint = f.addr, f.sys.Fingerprint()
			res, err := Join(ctx(t), o)
			if tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ref *Refusal
			if !errors.As(err, &ref) {
				t.Fatalf("got %+v, %v; want refusal %d %s", res, err, tc.status, tc.code)
			}
			if ref.Status != tc.status || ref.Code != tc.code || !strings.Contains(ref.Message, tc.msg) {
				t.Fatalf("refusal %d %s %q; want %d %s containing %q", ref.Status, ref.Code, ref.Message, tc.status, tc.code, tc.msg)
			}
			if after := f.nodes(t); !slices.Equal(after, before) {
				t.Errorf("registry changed by a refused join: %+v", after)
			}
			t.Logf("%d %s: %s", ref.Status, ref.Code, ref.Message)
		})
	}
}

// TestBadRequests sends requests the Join client would not build.
func TestBadRequests(t *testing.T) {
	f := start(t, []NodeRecord{rec0}, nil, nil)
	h, err := FetchHello(ctx(t), f.addr)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := pki.NewKey()
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	tampered := []byte(csr)
	tampered[len(tampered)/2] ^= 1 // break the base64 body or the signature
	for name, req := range map[string]Request{
		"bad host name": {Action: Replace, Hostname: "Bad_Name", CSR: csr},
		"no CSR":        {Action: Replace, Hostname: "pm-b"},
		"tampered CSR":  {Action: Replace, Hostname: "pm-b", CSR: string(tampered)},
		"bad IP":        {Action: Replace, Hostname: "pm-b", CSR: csr, NodeIP: "192.0.2.300"},
		"bad action":    {Action: "create", Hostname: "pm-b", CSR: csr},
	} {
		_, err := Submit(ctx(t), h, req, key.Public())
		var ref *Refusal
		if !errors.As(err, &ref) || ref.Status != 400 {
			t.Errorf("%s: %v; want a 400 refusal", name, err)
		} else {
			t.Logf("%s: %s", name, ref.Message)
		}
	}
	if n := f.nodes(t); len(n) != 1 {
		t.Errorf("registry changed: %+v", n)
	}
}

func TestJoinGrace(t *testing.T) {
	f := start(t, []NodeRecord{rec0}, nil, nil)
	key, _ := pki.NewKey()
	o := Options{Addr: f.addr, Fingerprint: f.sys.Fingerprint(), Action: Replace, Hostname: "pm-b", Key: key}
	first, err := Join(ctx(t), o)
	if err != nil || first.NodeID != 1 {
		t.Fatalf("first join: %v", err)
	}
	// Another node right after, before node1 is up: refused.
	rogue := o
	rogue.Key, rogue.Hostname = nil, "rogue"
	_, err = Join(ctx(t), rogue)
	var ref *Refusal
	if !errors.As(err, &ref) || ref.Code != CodeNodeBusy {
		t.Fatalf("second joiner: %v; want %s", err, CodeNodeBusy)
	}
	t.Log(ref.Message)
	// The first joiner retrying (same key) gets node1 again.
	again, err := Join(ctx(t), o)
	if err != nil || again.NodeID != 1 {
		t.Fatalf("retry: %v", err)
	}
}

func TestFingerprintPinning(t *testing.T) {
	f := start(t, []NodeRecord{rec0}, nil, nil)
	fp := f.sys.Fingerprint()
	other, _ := newSystem(t, "alpha")
	colons := strings.ToUpper(fp[:2])
	for i := 2; i < len(fp); i += 2 {
		colons += ":" + strings.ToUpper(fp[i:i+2])
	}
	type call struct{ name, fp string }
	// One joiner throughout: its repeated joins are retries (JoinGrace).
	key, _ := pki.NewKey()
	for _, tc := range []struct {
		name    string
		pinned  string
		confirm *bool
		ok      bool
		err     string
		asked   bool
	}{
		{name: "pinned, matches", pinned: fp, ok: true},
		{name: "pinned with colons, upper case", pinned: colons, ok: true},
		{name: "pinned as shown on screen", pinned: pki.FormatFingerprint(fp), ok: true},
		{name: "pinned, mismatch", pinned: other.Fingerprint(),
			err: "presents CA fingerprint " + fp + ", but the answer file pins " + other.Fingerprint()},
		{name: "pinned, not a fingerprint", pinned: "abc", err: "pinned fingerprint"},
		{name: "pinned wins over confirm", pinned: other.Fingerprint(), confirm: ptr(true), err: "answer file pins"},
		{name: "confirmed", confirm: ptr(true), ok: true, asked: true},
		{name: "declined", confirm: ptr(false), err: ErrNotConfirmed.Error(), asked: true},
		{name: "nobody to confirm", err: "no fingerprint is pinned and nobody can confirm " + pki.FormatFingerprint(fp)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []call
			o := Options{Addr: f.addr, Fingerprint: tc.pinned, Action: Replace, Hostname: "pm-b", Node: Node(1), Key: key}
			if tc.confirm != nil {
				o.Confirm = func(name, fp string) bool {
					calls = append(calls, call{name, fp})
					return *tc.confirm
				}
			}
			before := f.nodes(t)
			res, err := Join(ctx(t), o)
			if tc.ok {
				if err != nil || res.NodeID != 1 || res.Fingerprint != fp {
					t.Fatalf("%+v, %v", res, err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if after := f.nodes(t); !slices.Equal(after, before) {
					t.Error("a join that was not trusted reached step 2")
				}
				t.Log(err)
			}
			if tc.asked && (len(calls) != 1 || calls[0] != call{"alpha", fp}) {
				t.Errorf("confirm called with %v, want once with (alpha, %s)", calls, fp)
			}
			if !tc.asked && len(calls) != 0 {
				t.Errorf("confirm called with %v, want no call", calls)
			}
		})
	}
	var mm *FingerprintMismatchError
	_, err := Join(ctx(t), Options{Addr: f.addr, Fingerprint: other.Fingerprint(), Action: Replace, Hostname: "pm-b"})
	if !errors.As(err, &mm) || mm.Got != fp || mm.Want != other.Fingerprint() {
		t.Errorf("mismatch error %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestOtherSystem: a joiner pinned to one system refuses another, and a
// server whose certificate belongs to another system than its hello says
// is refused before anything is trusted.
func TestOtherSystem(t *testing.T) {
	alpha := start(t, []NodeRecord{rec0}, nil, nil)
	beta, betaNode := newSystem(t, "beta")

	// A node of system beta on the cable, joiner pinned to alpha.
	betaSrv := &Server{System: beta, Registry: NewMemRegistry(rec0)}
	addr := serve(t, betaSrv.Handler(), func(int) tls.Certificate { return betaNode })
	_, err := Join(ctx(t), Options{Addr: addr, Fingerprint: alpha.sys.Fingerprint(), Action: Replace, Hostname: "pm-b"})
	var mm *FingerprintMismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), `("beta")`) {
		t.Errorf("beta's system with alpha pinned: %v", err)
	}

	// A server that says "alpha" but holds beta's node certificate.
	addr = serve(t, alpha.srv.Handler(), func(int) tls.Certificate { return betaNode })
	_, err = FetchHello(ctx(t), addr)
	want := "certificate of system " + beta.ID + ` ("beta"), this is system ` + alpha.sys.ID + ` ("alpha")`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("hello with another system's certificate: %v; want %q", err, want)
	} else {
		t.Log(err)
	}
}

// TestManInTheMiddle: the joiner confirms the real system in step 1; from
// then on, whoever answers must hold a node key of that CA.
func TestManInTheMiddle(t *testing.T) {
	f := start(t, []NodeRecord{rec0}, nil, nil)
	// The attacker even copies the system's name and id into its own CA.
	mallory, _ := pki.NewSystem("alpha", time.Now())
	mallory.ID = f.sys.ID
	evil := nodeCert(t, mallory, 0)

	for _, tc := range []struct {
		name  string
		cert  func(conn int) tls.Certificate
		err   string
		asked bool
	}{
		// The real system answers the hello; after the operator has
		// confirmed, the server key changes (an attacker takes over).
		{name: "server key changes after hello", cert: func(n int) tls.Certificate {
			if n == 1 {
				return f.node0
			}
			return evil
		}, err: "certificate signed by unknown authority", asked: true},
		// The attacker relays the real hello but terminates TLS itself.
		{name: "relayed hello, attacker's TLS", cert: func(int) tls.Certificate { return evil },
			err: "is not a node of the system it describes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, f.srv.Handler(), tc.cert)
			asked := 0
			_, err := Join(ctx(t), Options{Addr: addr, Action: Replace, Hostname: "pm-b",
				Confirm: func(name, fp string) bool { asked++; return fp == f.sys.Fingerprint() }})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			t.Log(err)
			if (asked == 1) != tc.asked {
				t.Errorf("confirm asked %d times", asked)
			}
			if n := f.nodes(t); len(n) != 1 {
				t.Errorf("the request reached the server: %+v", n)
			}
		})
	}
}

// serve runs h over TLS on loopback, choosing the certificate for the
// n-th connection (from 1) with cert.
func serve(t *testing.T, h http.Handler, cert func(n int) tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		c := cert(int(n.Add(1)))
		return &c, nil
	}}
	hs := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	go hs.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}
