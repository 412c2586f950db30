package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/api/apitest"
)

// TestVMOutput pins the VM, storage and capacity output, in order: the
// commands change the fake's VMs. Run with -update to rewrite testdata/.
func TestVMOutput(t *testing.T) {
	h := newScriptHarness(t)
	h.wantGolden(t, []goldenCase{
		{"vm_list", []string{"vm", "list"}},
		{"vm_list_json", []string{"vm", "list", "--json"}},
		{"vm_info_web", []string{"vm", "info", "web"}},
		{"vm_info_db", []string{"vm", "info", "db"}},
		{"vm_info_json", []string{"vm", "info", "db", "--json"}},
		{"storage_list", []string{"storage", "list"}},
		{"storage_list_json", []string{"storage", "list", "--json"}},
		{"capacity", []string{"capacity"}},
		{"capacity_json", []string{"capacity", "--json"}},
		{"vm_console", []string{"vm", "console", "web"}},
		{"vm_console_json", []string{"vm", "console", "web", "--bytes", "7", "--json"}},
		{"vm_create", []string{"vm", "create", "app", "--mode", "ha", "--vcpus", "2", "--memory", "2G",
			"--volume", "app-sys:10G:fast", "--volume", "app-data:512M", "--nic", "biz0", "--nic", "biz1:52:54:00:12:34:56",
			"--cd", "debian-13.iso", "--node", "node1", "--autostart"}},
		{"vm_modify", []string{"vm", "modify", "app", "--vcpus", "4", "--memory", "4096", "--nic", "biz1"}},
		{"vm_start", []string{"vm", "start", "app"}},
		{"vm_migrate_json", []string{"vm", "migrate", "app", "--json"}},
		{"vm_list_after", []string{"vm", "list"}},
		{"vm_poweroff", []string{"vm", "poweroff", "app"}},
		{"vm_shutdown", []string{"vm", "shutdown", "web"}},
		{"vm_delete", []string{"vm", "delete", "app", "--yes"}},
		{"vm_delete_json", []string{"vm", "delete", "--json", "--yes", "web"}},
		{"vm_list_one", []string{"vm", "list"}},
		{"vm_create_help", []string{"help", "vm", "create"}},
	})
	h.wantCalls(t, "[vm create app vm modify app vm start app vm migrate app vm poweroff app vm shutdown web vm delete app vm delete web]")
	h.wantEmptyList(t, func(b *apitest.Backend) { b.VMList = nil }, "No VMs.\n", "vm", "list")
}

func TestVMErrors(t *testing.T) {
	h := newScriptHarness(t)
	h.backend.SetActionErr("vm migrate", api.NotSupported("VM migration"))
	h.wantErrors(t, []errCase{
		{"vm create big --mode ft --vcpus 20 --memory 200G", 1, "lockstep: not enough capacity:\n" +
			"  vCPUs: 20 + 2 for FT = 22 needed, 8 free\n" +
			"  memory: 204800 MiB + 20 % = 245760 MiB needed, 51609 MiB free\n"},
		{"vm create x.y --mode ft --vcpus 1 --memory 1G --nic biz0 --volume x:1G:nope --node node2", 1, "lockstep: invalid VM spec:\n" +
			"  volume x: no storage group \"nope\"\n" +
			"  node \"node2\": want node0 or node1\n"},
		{"vm create web --mode ft --vcpus 1 --memory 1G", 1, "lockstep: a VM named \"web\" exists\n"},
		{"vm create x --mode ft --vcpus 2 --memory 4X", 2, `vm create: invalid value "4X" for flag -memory: size "4X": want MiB (4096) or a whole number with M, G or T (512M, 4G)`},
		{"vm create x --mode ft --vcpus 2 --memory 4GB", 2, `size "4GB"`},
		{"vm create x --mode ft --vcpus 2 --memory 1.5G", 2, `size "1.5G"`},
		{"vm create x --mode ft --vcpus 2 --memory 0", 2, `size "0"`},
		{"vm create x --mode ft --vcpus 2 --memory 99999999999T", 2, `size "99999999999T"`},
		{"vm create x --mode xx", 2, `invalid value "xx" for flag -mode: want ft or ha`},
		{"vm create x --vcpus -1", 2, "want a number of vCPUs"},
		{"vm create x --memory 1G", 2, "vm create: give --mode, --vcpus\n"},
		{"vm create x --volume a", 2, "want name:size or name:size:group"},
		{"vm create x --volume a:1G:b:c", 2, "want name:size or name:size:group"},
		{"vm create x --volume a:big", 2, `size "big"`},
		{"vm create x --nic biz0:zz", 2, `MAC "zz"`},
		{"vm create x --nic :52:54:00:12:34:56", 2, "want network or network:mac"},
		{"vm create", 2, "usage: lockstep vm create [flags] <name>"},
		{"vm modify web --vcpus 2", 1, "lockstep: VM web is running: shut it down to change it\n"},
		{"vm modify db", 2, "vm modify: nothing to change"},
		{"vm modify db --autostart=false", 2, "vm modify: --autostart=false: a field cannot be cleared or turned off"},
		{"vm modify db --cd=", 2, "--cd=: a field cannot be cleared"},
		{"vm modify nope --vcpus 2", 1, "lockstep: no VM \"nope\": not found\n"},
		{"vm delete db", 2, "vm delete: this deletes db and its volumes on both nodes; add --yes to do it"},
		{"vm delete web --yes", 1, "lockstep: VM web is running: shut it down or power it off first\n"},
		{"vm delete nope --yes", 1, `no VM "nope"`},
		{"vm shutdown db", 1, "lockstep: VM db is stopped\n"},
		{"vm migrate web", 1, "lockstep: not supported yet: VM migration\n"},
		{"vm console web --bytes 0", 2, "--bytes 0: use 1 to 1048576"},
		{"vm console nope", 1, `no VM "nope"`},
		{"vm explode db", 2, `vm: unknown command "explode"; the commands are list, info, create, modify, start, shutdown, poweroff, migrate, delete, console`},
		{"vm", 2, "vm: which one?"},
		{"storage", 2, "storage: which one? list"},
		{"capacity now", 2, "usage: lockstep capacity [flags]"},
	})
	// Only the refusals the server gave reached it; usage errors did not.
	h.wantCalls(t, "[vm create big vm create x.y vm create web vm modify web vm modify nope vm delete web vm delete nope vm shutdown db vm migrate web]")
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"4096": 4096, "512M": 512, "4g": 4096, "512MiB": 512, "4G": 4096, "4GiB": 4096, "1T": 1 << 20, "2TiB": 2 << 20,
	} {
		if got, err := parseSize(in); got != want || err != nil {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1", "4X", "4GB", "4Gi", "4gib", "4 G", "1.5G", "G", "0x10", "8796093022208T"} {
		if got, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", bad, got)
		}
	}
}

func TestHuman(t *testing.T) {
	for in, want := range map[float64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 4 << 30: "4 GiB", 9831 << 20: "9.6 GiB", 1.5 * (1 << 40): "1.5 TiB"} {
		if got := human(in); got != want {
			t.Errorf("human(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestModifySendsOnlyTheFlagsGiven(t *testing.T) {
	for args, want := range map[string]string{
		"--vcpus 4":                        `{"vcpus":4}`,
		"--memory 1G --autostart --cd a":   `{"autostart":true,"cd":"a","memory_mib":1024}`,
		"--volume v:1G --nic n --mode ft":  `{"mode":"ft","nics":[{"network":"n"}],"volumes":[{"name":"v","size_mib":1024}]}`,
		"--node node1 --json --server x:1": `{"node":"node1"}`,
	} {
		c := &cli{g: newGlobals()}
		fs := newFlagSet("test")
		c.g.register(fs)
		specFlags(fs, c)
		if err := fs.Parse(strings.Fields(args)); err != nil {
			t.Fatal(err)
		}
		change, err := changed(c.vm.fs, c.vm.spec)
		b, _ := json.Marshal(change)
		if err != nil || string(b) != want {
			t.Errorf("%s: %s, %v; want %s", args, b, err, want)
		}
	}
}
