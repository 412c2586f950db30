package system

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/pki"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

func founder() nodeconfig.Config {
	return nodeconfig.Config{Format: nodeconfig.Format, Action: answers.Create, Hostname: "node0",
		System:  answers.System{Name: "lab", IP: "192.0.2.10"},
		Network: nodeconfig.Network{Node: answers.Address{IP: "192.0.2.11", Netmask: "255.255.255.0"}}}
}

func TestEnsureCreatesOnceAndKeeps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	first, err := Ensure(dir, founder(), now)
	if err != nil {
		t.Fatal(err)
	}
	if !Exists(dir) || first.System.Name != "lab" || first.NodeID != 0 {
		t.Fatalf("first: %+v", first)
	}
	leaf := first.Node.Leaf
	if leaf == nil {
		t.Fatal("node certificate without its leaf")
	}
	if err := leaf.VerifyHostname("192.0.2.10"); err != nil {
		t.Errorf("node certificate not valid for the system IP: %v", err)
	}
	if err := leaf.VerifyHostname("192.0.2.11"); err != nil {
		t.Errorf("node certificate not valid for the node IP: %v", err)
	}
	if id, n, err := pki.NodeIdentity(leaf); err != nil || id != first.System.ID || n != 0 {
		t.Errorf("node identity %s %d %v", id, n, err)
	}
	second, err := Ensure(dir, founder(), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if second.System.ID != first.System.ID || second.System.Fingerprint() != first.System.Fingerprint() {
		t.Error("a second boot made a new system")
	}
}

func TestEnsureRefuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	join := founder()
	join.Action = answers.Replace
	if _, err := Ensure(dir, join, time.Now()); err == nil || !strings.Contains(err.Error(), "joins a system") {
		t.Errorf("replace node founded a system: %v", err)
	}
	if _, err := Ensure(dir, founder(), time.Now()); err != nil {
		t.Fatal(err)
	}
	other := founder()
	other.System.Name = "other"
	if _, err := Ensure(dir, other, time.Now()); err == nil || !strings.Contains(err.Error(), `holds system "lab"`) {
		t.Errorf("renamed system accepted: %v", err)
	}
}
