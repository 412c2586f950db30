package main

import (
	"testing"

	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

// TestNetworkOutput pins the network output, in order: the commands
// change the fake's networks. Run with -update to rewrite testdata/.
func TestNetworkOutput(t *testing.T) {
	h := newScriptHarness(t)
	h.wantGolden(t, []goldenCase{
		{"network_list", []string{"network", "list"}},
		{"network_list_json", []string{"network", "list", "--json"}},
		{"network_create", []string{"network", "create", "dmz", "--port", "node0=enp11s0", "--port", "node1=52:54:00:AA:BB:CC"}},
		{"network_modify", []string{"network", "modify", "biz1", "--port", "node1=enp12s0"}},
		{"network_modify_json", []string{"network", "modify", "--json", "dmz", "--port", "node0=enp13s0"}},
		// A VM's NIC on the new network, with its MAC as today's --nic takes it.
		{"vm_create_on_dmz", []string{"vm", "create", "app", "--mode", "ha", "--vcpus", "1", "--memory", "1G", "--nic", "dmz:52:54:00:12:34:56"}},
		{"network_list_after", []string{"network", "list"}},
	})
	// biz1's only VM goes first.
	h.ok(t, "vm", "poweroff", "web")
	h.ok(t, "vm", "delete", "web", "--yes")
	h.wantGolden(t, []goldenCase{{"network_delete", []string{"network", "delete", "biz1", "--yes"}}})
	h.ok(t, "network", "create", "lan", "--port", "node0=eth5", "--port", "node1=eth5")
	h.wantGolden(t, []goldenCase{
		{"network_delete_json", []string{"network", "delete", "--json", "--yes", "lan"}},
		{"network_create_help", []string{"help", "network", "create"}},
	})
	h.wantCalls(t, "[network create dmz network modify biz1 network modify dmz vm create app vm poweroff web vm delete web network delete biz1 network create lan network delete lan]")
	h.wantEmptyList(t, func(b *apitest.Backend) { b.NetworkList = nil }, "No business networks.\n", "network", "list")
}

func TestNetworkErrors(t *testing.T) {
	h := newScriptHarness(t)
	h.wantErrors(t, []errCase{
		{"network create lan --port node0=priv0 --port node1=enp9s0", 1, "lockstep: invalid network:\n" +
			"  node0: port priv0: management, heartbeat and replication ports cannot carry guests\n" +
			"  node1: port enp9s0 serves network biz0 already; a NIC serves one network\n"},
		{"network create lan --port node0=eth1", 1, "lockstep: invalid network:\n  node1: no port: a network needs a NIC on each node\n"},
		{"network create LAN --port node0=eth1 --port node1=eth1", 1, "network name \"LAN\": use 1 to 10 lower-case letters"},
		{"network create biz0 --port node0=eth1 --port node1=eth1", 1, "lockstep: network \"biz0\" exists\n"},
		{"network create lan", 2, "network create: give each node's port: --port node0=<nic> --port node1=<nic>"},
		{"network create lan --port node0", 2, `invalid value "node0" for flag -port: want node=nic, e.g. node0=enp9s0`},
		{"network create lan --port =eth1", 2, "want node=nic"},
		{"network create lan --port node0=eth1 --port node0=eth2", 2, "node0's port is given twice"},
		{"network modify biz0", 2, "network modify: nothing to change; give --port node=<nic>"},
		{"network modify nope --port node0=eth1", 1, "lockstep: network \"nope\": not found\n"},
		{"network delete biz0", 2, "network delete: this deletes biz0 and its bridge on both nodes; add --yes to do it"},
		{"network delete biz0 --yes", 1, "lockstep: network biz0 is in use by VM db, web: move their NICs to another network or delete the VMs first\n"},
		{"network delete nope --yes", 1, `network "nope": not found`},
		{"vm create x --mode ha --vcpus 1 --memory 1G --nic nope", 1, "lockstep: invalid VM spec:\n  no business network \"nope\"\n"},
		{"network explode", 2, `network: unknown command "explode"; the commands are list, create, modify, delete`},
		{"network list biz0", 2, "usage: lockstep network list [flags]"},
	})
	// Only the refusals the server gave reached it; usage errors did not.
	h.wantCalls(t, "[network create lan network create lan network create LAN network create biz0 network modify nope network delete biz0 network delete nope vm create x]")
}
