package answers

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	a, err := Parse([]byte(`
action: Replace
hostname: node1
network:
  priv0: "52:54:00:00:00:01"
  ibiz0: eth1
  node: {ip: 192.0.2.12/24, gateway: 192.0.2.1}
disk:
  system: /dev/disk/by-id/serial:lockstep-sys
  confirm_erase: true
lab: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Action != Replace || a.Network.Node.Netmask != "255.255.255.0" || a.Disk.System != "serial:lockstep-sys" {
		t.Fatalf("not parsed and normalized: %+v", a)
	}
	mustValid(t, a, labVM())
}

func TestParseUnknownKeys(t *testing.T) {
	_, err := Parse([]byte(`action: create
hostnme: node0
network:
  priv0: eth0
  node:
    ip: 192.0.2.11/24
    gatway: 192.0.2.1
disk:
  storage-group: []
  frobnicate: 1
`))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %T %v", err, err)
	}
	want := []struct{ field, msg string }{
		{"hostnme", `line 2: unknown key "hostnme" (did you mean "hostname"?)`},
		{"network.node.gatway", `line 7: unknown key "gatway" (did you mean "gateway"?)`},
		{"disk.storage-group", `line 9: unknown key "storage-group" (did you mean "storage_group"?)`},
		{"disk.frobnicate", `line 10: unknown key "frobnicate"; known keys here: confirm_erase, storage_group, system`},
	}
	if len(errs) != len(want) {
		t.Fatalf("want %d errors, got:\n%v", len(want), errs)
	}
	for i, w := range want {
		if errs[i].Field != w.field || errs[i].Message != w.msg {
			t.Errorf("got %q, want %s: %s", errs[i].Error(), w.field, w.msg)
		}
	}
}

func TestParseALinks(t *testing.T) {
	a, err := Parse([]byte(`
network:
  alinks:
    - 52-54-00-00-00-0A
    - eth3
`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"52:54:00:00:00:0a", "eth3"}; !reflect.DeepEqual(a.Network.ALinks, want) {
		t.Fatalf("alinks %q, want %q", a.Network.ALinks, want)
	}

	_, err = Parse([]byte("network:\n  alink: [eth2]\n"))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Error() != `network.alink: line 2: unknown key "alink" (did you mean "alinks"?)` {
		t.Fatalf("misspelt key: %v", err)
	}
	// One NIC written without the list is a mistake the parser names.
	if _, err := Parse([]byte("network:\n  alinks: eth2\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("a single value for alinks: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct{ in, phrase string }{
		"empty":          {"", "empty"},
		"only comments":  {"# nothing\n", "empty"},
		"a list":         {"- action: create\n", "line 1: expected keys"},
		"two documents":  {"action: create\n---\naction: replace\n", "second YAML document"},
		"wrong type":     {"action: create\nlab: maybe\n", "line 2"},
		"list for value": {"hostname: [a, b]\n", "line 1"},
		"duplicate key":  {"hostname: a\nhostname: b\n", `"hostname" already defined`},
		"bad yaml":       {"network: {priv0: eth0\n", "answer file"},
		"too big":        {strings.Repeat("#", MaxFileBytes+1), "more than"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.phrase) {
				t.Fatalf("got %v, want …%s…", err, tc.phrase)
			}
		})
	}
}

func TestExampleRecipes(t *testing.T) {
	dir := filepath.Join("..", "..", "recipes", "answers")
	for file, action := range map[string]Action{"create-node0.yaml": Create, "replace-node1.yaml": Replace, "recover-node.yaml": Recover} {
		t.Run(file, func(t *testing.T) {
			a, err := Load(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			if a.Action != action {
				t.Fatalf("action %q", a.Action)
			}
			mustValid(t, a, labVM())
		})
	}
}

func TestExampleRecipesDocumentEveryKey(t *testing.T) {
	// Every key of Answers appears in the create example.
	data, err := os.ReadFile(filepath.Join("..", "..", "recipes", "answers", "create-node0.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"action:", "lab:", "accept_warnings:", "hostname:", "system:", "name:", "ip:", "join:", "fingerprint:",
		"network:", "priv0:", "ibiz0:", "alinks:", "node:", "dhcp:", "netmask:", "gateway:", "dns:", "ntp:",
		"disk:", "storage_group:", "confirm_erase:", "admin:", "password:", "password_hash:"} {
		if !strings.Contains(string(data), "\n"+k) && !strings.Contains(string(data), " "+k) {
			t.Errorf("create-node0.yaml lacks %s", k)
		}
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "a.yaml")
	if err := os.WriteFile(p, []byte("hostnam: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	var errs Errors
	if !errors.As(err, &errs) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), `hostnam: line 1: unknown key "hostnam"`) {
		t.Fatalf("got %v", err)
	}
}
