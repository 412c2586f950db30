package main

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/agent/system"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// The one-node system answers the API with what the node founded.
func TestSoloBackend(t *testing.T) {
	cfg := nodeconfig.Config{Format: nodeconfig.Format, Action: answers.Create, Hostname: "node0",
		System:  answers.System{Name: "lab", IP: "192.0.2.10"},
		Network: nodeconfig.Network{Node: answers.Address{IP: "192.0.2.11", Netmask: "255.255.255.0"}}}
	id, err := system.Ensure(filepath.Join(t.TempDir(), "pki"), cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b := &soloBackend{id: id, cfg: cfg, res: netcfg.Result{Ibiz0: netip.MustParsePrefix("192.0.2.11/24")},
		version: "0.1.0", slot: "a", slotVersion: "0.1.0"}
	ctx := context.Background()
	si, _ := b.SystemInfo(ctx)
	if si.Name != "lab" || si.ID != id.System.ID || si.Primary != "node0" || si.IP != "192.0.2.10" {
		t.Errorf("system info %+v", si)
	}
	n, err := b.Node(ctx, "node0")
	if err != nil || n.Role != api.RolePrimary || len(n.Addresses) != 2 || n.Boot.Slot != "a" {
		t.Errorf("node0 %+v, %v", n, err)
	}
	if _, err := b.Node(ctx, "node1"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("node1: %v", err)
	}
	var ns *api.NotSupportedError
	if err := b.Workon(ctx, "node0"); !errors.As(err, &ns) {
		t.Errorf("workon on a one-node system: %v", err)
	}
}
