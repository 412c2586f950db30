package system

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/join"
	"github.com/lockstep-ft/lockstep/installer/answers"
)

// A node founded with witnesses, joined by a second one over the real
// join protocol: what the installer writes to the joiner's STATE loads as
// node1 of the same system with the same secrets.
func TestFoundJoinLoad(t *testing.T) {
	cfg := founder()
	cfg.System.Witnesses = []string{"192.0.2.1:7500"}
	cfg.System.WitnessSecret = "lab-witness-secret-0123"
	cfg.AdminPasswordHash = "$6$salt$hash"
	state0 := t.TempDir()
	id0, err := Ensure(state0, cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(id0.HeartbeatKey) != HeartbeatKeySize || string(id0.WitnessSecret) != cfg.System.WitnessSecret {
		t.Fatalf("founder secrets: key %d bytes, witness %q", len(id0.HeartbeatKey), id0.WitnessSecret)
	}
	again, err := Load(state0)
	if err != nil {
		t.Fatalf("Load of the founder's STATE: %v", err)
	}
	if !bytes.Equal(again.HeartbeatKey, id0.HeartbeatKey) || again.NodeID != 0 {
		t.Fatal("Load does not give back what Ensure made")
	}

	srv := &join.Server{System: id0.System, Self: 0, SystemIP: id0.Config.IP, Priv0: "fe80::1",
		Registry: id0.Registry, ShareCAKey: true, Witnesses: id0.Config.Witnesses, Secrets: id0.Secrets()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, ln, id0.Node)

	res, err := join.Join(ctx, join.Options{Addr: ln.Addr().String(), Fingerprint: id0.System.Fingerprint(),
		Action: join.Replace, Hostname: "node1", NodeIP: "192.0.2.12"})
	if err != nil {
		t.Fatal(err)
	}
	files, err := JoinFiles(res)
	if err != nil {
		t.Fatal(err)
	}
	state1 := t.TempDir()
	for name, data := range files {
		p := filepath.Join(state1, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	id1, err := Load(state1)
	if err != nil {
		t.Fatalf("Load of the joined STATE: %v", err)
	}
	switch {
	case id1.NodeID != 1 || id1.System.ID != id0.System.ID:
		t.Errorf("joined as node%d of %s", id1.NodeID, id1.System.ID)
	case !bytes.Equal(id1.HeartbeatKey, id0.HeartbeatKey):
		t.Error("the heartbeat keys differ")
	case string(id1.WitnessSecret) != cfg.System.WitnessSecret || len(id1.Config.Witnesses) != 1:
		t.Errorf("witnesses %v secret %q", id1.Config.Witnesses, id1.WitnessSecret)
	case id1.Config.AdminPasswordHash != cfg.AdminPasswordHash || id1.Config.IP != "192.0.2.10":
		t.Errorf("config %+v", id1.Config)
	case id1.System.CAKey == nil:
		t.Error("the CA key was not shared: node1 could not admit a replacement of node0")
	}
	recs, _ := id0.Registry.Nodes()
	if len(recs) != 2 || recs[1].Hostname != "node1" || recs[1].IP != "192.0.2.12" {
		t.Errorf("node0's registry after the join: %+v", recs)
	}
	if r, ok := id1.Registry.Node(0); !ok || r.Hostname != "node0" {
		t.Errorf("node1's registry lacks node0: %+v", r)
	}
	_ = answers.Create
}
