package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newSystem(t *testing.T, name string) *System {
	t.Helper()
	s, err := NewSystem(name, t0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewSystem(t *testing.T) {
	s := newSystem(t, "alpha")
	if err := CheckSystemID(s.ID); err != nil {
		t.Fatal(err)
	}
	if other := newSystem(t, "alpha"); other.ID == s.ID {
		t.Fatal("two systems got the same id")
	}
	ca := s.CACert
	if ca.Subject.CommonName != "Lockstep alpha CA" || !ca.IsCA || !ca.MaxPathLenZero {
		t.Errorf("CA subject %q IsCA %v MaxPathLenZero %v", ca.Subject, ca.IsCA, ca.MaxPathLenZero)
	}
	if ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA key usage %v lacks cert sign", ca.KeyUsage)
	}
	if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key %T, want ECDSA P-256", ca.PublicKey)
	}
	if got := ca.NotAfter.Sub(t0); got != CAValidity {
		t.Errorf("CA valid for %v, want %v", got, CAValidity)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	back, err := FromCA(ca)
	if err != nil || back.Name != "alpha" || back.ID != s.ID {
		t.Errorf("FromCA = %+v, %v", back, err)
	}

	for _, bad := range []string{"", "has space", strings.Repeat("x", 64), "ümlaut"} {
		if _, err := NewSystem(bad, t0); err == nil {
			t.Errorf("NewSystem(%q) accepted", bad)
		}
	}
}

func TestIssueNode(t *testing.T) {
	s := newSystem(t, "alpha")
	key, _ := NewKey()
	ips := []net.IP{net.ParseIP("192.0.2.11"), net.ParseIP("fe80::1")}
	cert, pemb, err := s.IssueNode(1, "pm-b", ips, key.Public(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if parsed, err := ParseCertPEM(pemb); err != nil || !parsed.Equal(cert) {
		t.Fatalf("PEM does not hold the certificate: %v", err)
	}
	if cert.Subject.CommonName != "node1" || !slices.Equal(cert.Subject.OrganizationalUnit, []string{s.ID}) {
		t.Errorf("subject %v", cert.Subject)
	}
	wantDNS := []string{"pm-b", "node1." + s.ID + ".lockstep"}
	if !slices.Equal(cert.DNSNames, wantDNS) {
		t.Errorf("DNS SANs %q, want %q", cert.DNSNames, wantDNS)
	}
	if len(cert.IPAddresses) != 2 || !cert.IPAddresses[0].Equal(ips[0]) || !cert.IPAddresses[1].Equal(ips[1]) {
		t.Errorf("IP SANs %v", cert.IPAddresses)
	}
	if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("ext key usage %v: want server and client auth", cert.ExtKeyUsage)
	}
	if got := cert.NotAfter.Sub(t0); got != NodeValidity {
		t.Errorf("node cert valid for %v, want %v", got, NodeValidity)
	}
	if cert.NotBefore.After(t0.Add(-time.Minute)) {
		t.Errorf("NotBefore %v is not backdated", cert.NotBefore)
	}
	if err := cert.CheckSignatureFrom(s.CACert); err != nil {
		t.Error(err)
	}
	sys, id, err := NodeIdentity(cert)
	if err != nil || sys != s.ID || id != 1 {
		t.Errorf("NodeIdentity = %q, %d, %v", sys, id, err)
	}

	// Near the CA's end the node certificate ends with the CA.
	late := s.CACert.NotAfter.Add(-24 * time.Hour)
	c2, _, err := s.IssueNode(0, "pm-a", nil, key.Public(), late)
	if err != nil || !c2.NotAfter.Equal(s.CACert.NotAfter) {
		t.Errorf("late issue: NotAfter %v, CA %v, %v", c2.NotAfter, s.CACert.NotAfter, err)
	}

	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, _, err := s.IssueNode(0, "pm-a", nil, edPub, t0); err != nil {
		t.Errorf("Ed25519 key refused: %v", err)
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, f := range map[string]func() error{
		"node id 2":  func() error { _, _, err := s.IssueNode(2, "pm-b", nil, key.Public(), t0); return err },
		"node id -1": func() error { _, _, err := s.IssueNode(-1, "pm-b", nil, key.Public(), t0); return err },
		"bad host":   func() error { _, _, err := s.IssueNode(1, "PM_B", nil, key.Public(), t0); return err },
		"rsa key":    func() error { _, _, err := s.IssueNode(1, "pm-b", nil, rsaKey.Public(), t0); return err },
		"no CA key": func() error {
			v := *s
			v.CAKey = nil
			_, _, err := v.IssueNode(1, "pm-b", nil, key.Public(), t0)
			return err
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	s := newSystem(t, "alpha")
	dir := filepath.Join(t.TempDir(), "pki") // Save creates it
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	modes := map[string]os.FileMode{CACertFile: 0o644, CAKeyFile: 0o600}
	for name, want := range modes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", name, fi.Mode().Perm(), want)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %04o, want 0700", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("dir holds %d entries, want 2 (no temporary files left)", len(ents))
	}

	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != s.Name || got.ID != s.ID || !got.CACert.Equal(s.CACert) || got.CAKey == nil || !got.CAKey.Equal(s.CAKey) {
		t.Fatalf("round trip: got %s/%s", got.Name, got.ID)
	}
	// The loaded system still issues.
	key, _ := NewKey()
	if c, _, err := got.IssueNode(0, "pm-a", nil, key.Public(), t0); err != nil || c.CheckSignatureFrom(s.CACert) != nil {
		t.Errorf("issue after load: %v", err)
	}

	// Saving again replaces the files in place (atomic rename).
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}

	// A key that others can read is refused.
	os.Chmod(filepath.Join(dir, CAKeyFile), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: %v", err)
	}

	// Without the key: verify-only system.
	os.Remove(filepath.Join(dir, CAKeyFile))
	v, err := Load(dir)
	if err != nil || v.CAKey != nil || v.ID != s.ID {
		t.Errorf("cert-only load: %+v, %v", v, err)
	}

	// A key of another CA is refused.
	other := newSystem(t, "beta")
	k, _ := EncodeKey(other.CAKey)
	os.WriteFile(filepath.Join(dir, CAKeyFile), k, 0o600)
	if _, err := Load(dir); err == nil {
		t.Error("another CA's key accepted")
	}
}

func TestSaveLoadNode(t *testing.T) {
	s := newSystem(t, "alpha")
	key, _ := NewKey()
	_, pemb, err := s.IssueNode(0, "pm-a", nil, key.Public(), t0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := SaveNode(dir, pemb, key); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{NodeCertFile: 0o644, NodeKeyFile: 0o600} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %04o", name, fi.Mode(), err, want)
		}
	}
	kp, err := LoadNode(dir)
	if err != nil {
		t.Fatal(err)
	}
	if kp.Leaf == nil || kp.Leaf.Subject.CommonName != "node0" {
		t.Errorf("leaf %v", kp.Leaf)
	}
	other, _ := NewKey()
	if err := SaveNode(dir, pemb, other); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNode(dir); err == nil {
		t.Error("mismatched key accepted")
	}
}

func TestFingerprint(t *testing.T) {
	s := newSystem(t, "alpha")
	fp := Fingerprint(s.CACert)
	if len(fp) != 64 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("fingerprint %q", fp)
	}
	if s.Fingerprint() != fp {
		t.Fatal("method and function differ")
	}
	colons := strings.ToUpper(fp[:2])
	for i := 2; i < 64; i += 2 {
		colons += ":" + strings.ToUpper(fp[i:i+2])
	}
	shown := FormatFingerprint(fp)
	if len(shown) != 79 || strings.Count(shown, " ") != 15 || !strings.HasPrefix(shown, fp[:4]+" "+fp[4:8]+" ") {
		t.Errorf("FormatFingerprint = %q", shown)
	}
	for _, in := range []string{fp, strings.ToUpper(fp), colons, shown, "  " + fp + "\n"} {
		if got, err := NormalizeFingerprint(in); err != nil || got != fp {
			t.Errorf("NormalizeFingerprint(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", fp[:62], fp + "00", "zz" + fp[2:], "sha256:" + fp} {
		if _, err := NormalizeFingerprint(in); err == nil {
			t.Errorf("NormalizeFingerprint(%q) accepted", in)
		} else {
			t.Logf("%v", err)
		}
	}
	if FormatFingerprint("junk") != "junk" {
		t.Error("junk should come back unchanged")
	}
}
