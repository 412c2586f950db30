// Package apitest has test doubles for the API: a throwaway PKI and a
// fake Backend with a fixed two-node system. It is imported by tests only
// (of the API, the CLI and later the console).
package apitest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
)

// PKI is a CA made for one test and a server certificate it signed for
// 127.0.0.1 (node certificates name the nodes, not the system IP, so the
// CLI does not check the host name).
type PKI struct {
	CA     *x509.Certificate
	CAPEM  []byte
	Server tls.Certificate // leaf only, as pki.LoadNode gives it
}

// NewPKI makes a CA and a server certificate, or fails t.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	now := time.Now()
	caKey := newKey(t)
	ca := mustCert(t, &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Lockstep test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, &caKey.PublicKey, caKey)
	key := newKey(t)
	leaf := mustCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "node0"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"alpha", "node0.test.lockstep"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}, ca, &key.PublicKey, caKey)
	return &PKI{
		CA:     ca,
		CAPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		Server: tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf},
	}
}

// ServerTLS is the config lockstepd would use: leaf and CA in the chain.
func (p *PKI) ServerTLS() *tls.Config { return api.ServerTLS(p.Server, p.CA) }

// Fingerprint is the CA's SHA-256, lower-case hex.
func (p *PKI) Fingerprint() string {
	sum := sha256.Sum256(p.CA.Raw)
	return hex.EncodeToString(sum[:])
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCert(t testing.TB, tmpl, parent *x509.Certificate, pub, key any) *x509.Certificate {
	t.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// T0 is the fake system's "now": every time in it is relative to T0.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Backend is a fake api.Backend. Set Err to fail every call, or
// ActionErr[action] to fail one action ("vm start" for a VM's);
// Calls records the actions and the VM, network and VCD changes.
type Backend struct {
	mu        sync.Mutex
	Info      api.SystemInfo
	NodeList  []api.Node
	AlertList []api.Alert // oldest first
	Err       error
	ActionErr map[string]error
	Calls     []string // "workon node1", "vm create web", "vm start web"

	VMList   []api.VM // by name; see vms.go
	Groups   []api.StorageGroup
	Cap      api.Capacity // static: creating or starting a VM does not use it up
	Consoles map[string]string
	macs     int // MACs handed out

	VCDList []api.VCD // by name; see vcds.go

	NetworkList []api.Network // by name, without their VMs; see networks.go

	// Alerting holds the alert settings and the users, with the same
	// rules as the agent's (ha.Table); see alerts.go and users.go.
	Alerting ha.Table
	AuditLog []api.AuditRecord // oldest first; see users.go

	// Disks are each node's logical disks in no storage group, by stable
	// id; see storage.go.
	Disks map[string]map[string]Disk
}

// NewBackend is a formed system: node0 primary, node1 secondary in
// maintenance, one A-Link flapping, and a few alerts.
func NewBackend() *Backend {
	seen := T0.Add(-300 * time.Millisecond)
	links := func(alinkUp bool) []api.Link {
		st := api.LinkUp
		if !alinkUp {
			st = api.LinkDown
		}
		return []api.Link{
			{Name: "priv0", State: api.LinkUp, LastSeen: seen},
			{Name: "alink0", State: st, LastSeen: T0.Add(-42 * time.Second), Flapping: !alinkUp},
		}
	}
	b := &Backend{
		Info: api.SystemInfo{ID: "5f0c2a9e8d7b4c13a6e1f0b2c3d4e5f6", Name: "lab", IP: "192.0.2.100",
			Version: "0.3.0", Primary: "node0", State: "degraded"},
		NodeList: []api.Node{
			{ID: "node0", Hostname: "alpha", Role: api.RolePrimary, State: api.StateHealthy,
				Addresses: []api.Address{{Interface: "ibiz0", Address: "192.0.2.11/24"}, {Interface: "ibiz0", Address: "192.0.2.100/24"}},
				Links:     links(true), Boot: api.Boot{Slot: "a", Version: "0.3.0"}},
			{ID: "node1", Hostname: "beta", Role: api.RoleSecondary, State: api.StateMaintenance,
				Addresses: []api.Address{{Interface: "ibiz0", Address: "192.0.2.12/24"}},
				Links:     links(false), Boot: api.Boot{Slot: "b", Version: "0.3.0"}},
		},
		AlertList: []api.Alert{
			{ID: 1, Time: T0.Add(-2 * time.Hour), Severity: "info", Code: "system.formed", Message: "node1 (beta) joined the system", Cleared: true},
			{ID: 2, Time: T0.Add(-30 * time.Minute), Severity: "warning", Node: "node1", Code: "link.down", Message: "alink0 to node0 is down"},
			{ID: 3, Time: T0.Add(-5 * time.Minute), Severity: "info", Node: "node1", Code: "node.workon", Message: "node1 is in maintenance"},
		},
		ActionErr: map[string]error{},
	}
	b.seedNetworks()
	b.seedVMs()
	b.seedDisks()
	b.seedVCDs()
	return b
}

func (b *Backend) SystemInfo(context.Context) (api.SystemInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Info, b.Err
}

func (b *Backend) Nodes(context.Context) ([]api.Node, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.NodeList), b.Err
}

func (b *Backend) Node(_ context.Context, id string) (api.Node, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range b.NodeList {
		if n.ID == id {
			return n, b.Err
		}
	}
	return api.Node{}, api.ErrNotFound
}

func (b *Backend) Alerts(_ context.Context, since time.Time, limit int) ([]api.Alert, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []api.Alert
	for i := len(b.AlertList) - 1; i >= 0 && len(out) < limit; i-- {
		if a := b.AlertList[i]; !a.Time.Before(since) {
			out = append(out, a)
		}
	}
	return out, b.Err
}

func (b *Backend) act(name, node string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Calls = append(b.Calls, name+" "+node)
	if err := b.ActionErr[name]; err != nil {
		return err
	}
	return b.Err
}

func (b *Backend) Workon(_ context.Context, n string) error   { return b.act("workon", n) }
func (b *Backend) Workoff(_ context.Context, n string) error  { return b.act("workoff", n) }
func (b *Backend) Shutdown(_ context.Context, n string) error { return b.act("shutdown", n) }
func (b *Backend) Reboot(_ context.Context, n string) error   { return b.act("reboot", n) }

// LinkTest is a fixed measurement from node to the other node.
func (b *Backend) LinkTest(_ context.Context, n string) (api.LinkTest, error) {
	if err := b.act("linktest", n); err != nil {
		return api.LinkTest{}, err
	}
	peer := map[string]string{"node0": "node1", "node1": "node0"}[n]
	return api.LinkTest{Node: n, Peer: peer, Link: "alink0", Bytes: 64 << 20, Seconds: 0.5, MiBPerS: 128}, nil
}

// CallLog returns the actions called so far.
func (b *Backend) CallLog() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.Calls)
}

// SetErr sets Err under the lock, for tests running a server.
func (b *Backend) SetErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Err = err
}

// SetActionErr sets one action's error under the lock.
func (b *Backend) SetActionErr(action string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ActionErr[action] = err
}

// Edit runs f with the backend locked, to change its data while a server
// uses it.
func (b *Backend) Edit(f func(*Backend)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

// Password is the fake admin password that Verify accepts.
const Password = "correct horse"

// Verify accepts admin with Password.
func Verify(user, password string) bool { return user == "admin" && password == Password }

// ServeTLS serves h over TLS on 127.0.0.1 (httptest never listens
// elsewhere) with a new test PKI until the test ends, and returns its URL
// and a client that trusts the PKI's CA.
func ServeTLS(t testing.TB, h http.Handler) (string, *http.Client) {
	t.Helper()
	p := NewPKI(t)
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = p.ServerTLS()
	ts.StartTLS()
	t.Cleanup(ts.Close)
	roots := x509.NewCertPool()
	roots.AddCert(p.CA)
	return ts.URL, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
}
