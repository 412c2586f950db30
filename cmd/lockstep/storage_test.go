package main

import (
	"testing"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// TestStorageOutput pins the storage-group verbs' output, in order: the
// commands change the fake's groups. Run with -update to rewrite
// testdata/.
func TestStorageOutput(t *testing.T) {
	h := newScriptHarness(t)
	h.wantGolden(t, []goldenCase{
		{"storage_create", []string{"storage", "create", "big", "--disk", "node0=serial:S5GXNF0R100001", "--disk", "node1=serial:S5GXNF0R200001"}},
		{"storage_extend_json", []string{"storage", "extend", "fast", "--json", "--disk", "node0=wwn:naa.5002538e4a1b2c3d",
			"--disk", "node1=wwn:naa.5002538e4a1b9f00", "--erase", "--yes"}},
		{"storage_list_after", []string{"storage", "list"}},
		// A VM's volume in the new group, as --volume name:size:group gives it.
		{"vm_create_in_big", []string{"vm", "create", "app", "--mode", "ha", "--vcpus", "1", "--memory", "1G",
			"--volume", "app-sys:10G", "--volume", "app-data:100G:big"}},
		{"storage_create_help", []string{"help", "storage", "create"}},
		{"storage_extend_help", []string{"help", "storage", "extend"}},
	})
	h.wantCalls(t, "[storage create big storage extend fast vm create app]")
}

func TestStorageErrors(t *testing.T) {
	h := newScriptHarness(t)
	both := " --disk node0=serial:S5GXNF0R100001 --disk node1=serial:S5GXNF0R200001"
	h.wantErrors(t, []errCase{
		{"storage create big", 2, "storage create: give each node's disks: --disk node0=<id> --disk node1=<id>"},
		{"storage extend fast", 2, "storage extend: give each node's disks"},
		{"storage create big --disk node0", 2, `invalid value "node0" for flag -disk: want node=id, e.g. node0=serial:S5GXNF0R100001`},
		{"storage create big --disk =x", 2, "want node=id"},
		{"storage create big --erase" + both, 2, "storage create: --erase wipes what is on the disks given, on both nodes, and their data is lost; add --yes to do it"},
		{"storage create", 2, "usage: lockstep storage create [flags] <group>"},
		{"storage create big --disk node0=serial:S5GXNF0R100001", 1, "lockstep: invalid storage request:\n" +
			"  node1: no disks: a storage group needs disks on both nodes (--disk node1=<id>)\n"},
		{"storage create Big_1" + both, 1, "lockstep: invalid storage request:\n" +
			"  storage group name \"Big_1\": use 1 to 32 lower-case letters, digits and '-', starting with a letter\n"},
		{"storage create sg0" + both, 1, "lockstep: invalid storage request:\n  storage group \"sg0\" exists; add disks to it with extend\n"},
		{"storage create big --disk node0=wwn:naa.5002538e4a1b2c3d --disk node1=serial:nope --disk node2=x", 1, "lockstep: invalid storage request:\n" +
			"  disks of \"node2\": the nodes are node0 and node1\n" +
			"  node0: disk \"wwn:naa.5002538e4a1b2c3d\" (/dev/sde) is not blank: gpt partition table, PMBR partition table; to use it, erase it (--erase)\n" +
			"  node1: storage disk \"serial:nope\": no such disk under /dev/disk/by-id or /dev/disk/by-path\n"},
		{"storage extend nope" + both, 1, "lockstep: invalid storage request:\n  no storage group \"nope\"; the storage groups are sg0, fast\n"},
	})
	// From here on the server refuses every storage create.
	h.backend.SetActionErr("storage create", api.Conflict("node1 is not connected: a storage group is on both nodes, so both must be up to make or extend one; nothing was changed"))
	h.wantErrors(t, []errCase{
		{"storage create big2" + both, 1, "lockstep: node1 is not connected: a storage group is on both nodes, so both must be up to make or extend one; nothing was changed\n"},
		{"vm create x --mode ha --vcpus 1 --memory 1G --volume x:1G:nope", 1, "lockstep: invalid VM spec:\n  volume x: no storage group \"nope\"\n"},
		{"storage explode", 2, `storage: unknown command "explode"; the commands are list, create, extend`},
	})
	// Only the requests the server refused reached it; usage errors did not.
	h.wantCalls(t, "[storage create big storage create Big_1 storage create sg0 storage create big storage extend nope storage create big2 vm create x]")
}
