package answers

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	a := &Answers{
		Action:   " Create ",
		Hostname: "Node0",
		Join:     Join{Fingerprint: strings.ToUpper(strings.TrimSuffix(strings.Repeat("0f:", 32), ":"))},
		Network: Network{
			Priv0:  "52-54-00-AA-BB-01",
			Ibiz0:  "eth1",
			ALinks: []string{" 52-54-00-AA-BB-03 ", "eth2", ""},
			Node:   Address{IP: " 192.0.2.11/24 ", Gateway: "192.0.2.1 "},
			DNS:    []string{" 192.0.2.1"},
		},
		Disk: Disk{System: "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4", StorageGroup: []string{"/dev/disk/by-path/pci-0000:00:08.0"}},
	}
	Normalize(a)
	want := Answers{
		Action:   Create,
		Hostname: "node0",
		Join:     Join{Fingerprint: strings.Repeat("0f", 32)},
		Network: Network{
			Priv0:  "52:54:00:aa:bb:01",
			Ibiz0:  "eth1",
			ALinks: []string{"52:54:00:aa:bb:03", "eth2", ""},
			Node:   Address{IP: "192.0.2.11", Netmask: "255.255.255.0", Gateway: "192.0.2.1"},
			DNS:    []string{"192.0.2.1"},
		},
		Disk: Disk{System: "wwn-0x5000c500a1b2c3d4", StorageGroup: []string{"pci-0000:00:08.0"}},
	}
	if !reflect.DeepEqual(*a, want) {
		t.Fatalf("got  %+v\nwant %+v", *a, want)
	}
	again := a.clone()
	Normalize(&again)
	if !reflect.DeepEqual(again, want) {
		t.Fatalf("Normalize is not idempotent: %+v", again)
	}
}

func TestNormalizeNetmaskForms(t *testing.T) {
	for in, want := range map[string]string{"/24": "255.255.255.0", "20": "255.255.240.0", "255.255.255.192": "255.255.255.192", "255.0.255.0": "255.0.255.0", "junk": "junk"} {
		a := &Answers{Network: Network{Node: Address{IP: "192.0.2.11", Netmask: in}}}
		Normalize(a)
		if a.Network.Node.Netmask != want {
			t.Errorf("%q -> %q, want %q", in, a.Network.Node.Netmask, want)
		}
	}
}

func TestNormalizeLeavesBadValues(t *testing.T) {
	// Values Normalize cannot understand stay as written for Validate to report.
	a := &Answers{
		Join:    Join{Fingerprint: "abc"},
		Network: Network{Priv0: "not-a-mac", Node: Address{IP: "192.0.2.11/40"}},
	}
	Normalize(a)
	if a.Network.Node.IP != "192.0.2.11/40" || a.Network.Node.Netmask != "" || a.Join.Fingerprint != "abc" || a.Network.Priv0 != "not-a-mac" {
		t.Fatalf("%+v", a)
	}
	// CIDR plus an explicit netmask: not split, Validate reports the conflict.
	b := &Answers{Network: Network{Node: Address{IP: "192.0.2.11/24", Netmask: "255.255.0.0"}}}
	Normalize(b)
	if b.Network.Node.IP != "192.0.2.11/24" {
		t.Fatalf("%+v", b.Network.Node)
	}
}

func TestRedactedAndJSON(t *testing.T) {
	const pw = "correct horse battery staple"
	a := validCreate()
	a.Admin.Password = pw
	r := a.Redacted()
	if r.Admin.Password != "********" {
		t.Errorf("password: %q", r.Admin.Password)
	}
	if a.Admin.Password != pw {
		t.Error("Redacted modified the original")
	}
	r.Network.DNS[0] = "changed"
	if a.Network.DNS[0] == "changed" {
		t.Error("Redacted shares slices with the original")
	}
	a.Network.ALinks = []string{"52:54:00:00:00:03"}
	r = a.Redacted()
	r.Network.ALinks[0] = "changed"
	if a.Network.ALinks[0] == "changed" {
		t.Error("Redacted shares the A-Links with the original")
	}
	if out := string(a.JSON()); !strings.Contains(out, `"alinks": [
      "52:54:00:00:00:03"
    ]`) {
		t.Errorf("JSON lacks the A-Links:\n%s", out)
	}
	a.Network.ALinks = nil
	out := string(a.JSON())
	if strings.Contains(out, pw) || strings.Contains(out, "horse") {
		t.Errorf("JSON contains the password:\n%s", out)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(out), &back); err != nil {
		t.Fatalf("JSON is not valid: %v\n%s", err, out)
	}
	for _, key := range []string{`"action": "create"`, `"accept_warnings": false`, `"storage_group": []`, `"alinks": []`, `"confirm_erase": true`, `"password": "********"`, `"priv0": "52:54:00:00:00:01"`, `"netmask": "255.255.255.0"`} {
		if !strings.Contains(out, key) {
			t.Errorf("JSON lacks %s:\n%s", key, out)
		}
	}
	if !strings.HasSuffix(out, "}\n") || !strings.Contains(out, "\n  \"network\": {\n") {
		t.Errorf("JSON is not indented / newline-terminated:\n%s", out)
	}

	a.Admin = Admin{PasswordHash: labHash}
	out = string(a.JSON())
	if strings.Contains(out, labHash[4:20]) || !strings.Contains(out, `"password_hash": "$6$…"`) || !strings.Contains(out, `"password": ""`) {
		t.Errorf("hash not redacted to its prefix:\n%s", out)
	}
	a.Admin = Admin{PasswordHash: "plaintext-by-mistake"}
	if strings.Contains(string(a.JSON()), "plaintext") {
		t.Error("a malformed hash is printed")
	}
}

func TestActionJoins(t *testing.T) {
	if Create.Joins() || !Replace.Joins() || !Recover.Joins() || Action("x").Joins() {
		t.Fatal("Joins")
	}
	if len(Actions) != 3 {
		t.Fatal("Actions")
	}
}
