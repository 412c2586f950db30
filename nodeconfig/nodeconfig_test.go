package nodeconfig

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

const (
	macPriv0 = "52:54:00:00:00:01"
	macIbiz0 = "52:54:00:00:00:02"
)

func testAnswers() answers.Answers {
	return answers.Answers{
		Action:   answers.Create,
		Hostname: "node0",
		System:   answers.System{Name: "lockstep-lab", IP: "192.0.2.10"},
		Network: answers.Network{
			Priv0:  macPriv0,
			Ibiz0:  macIbiz0,
			ALinks: []string{"52:54:00:00:00:03"},
			Node:   answers.Address{IP: "192.0.2.11", Netmask: "255.255.255.0", Gateway: "192.0.2.1"},
			DNS:    []string{"192.0.2.1"},
		},
		Admin: answers.Admin{PasswordHash: "$6$salt$" + strings.Repeat("x", 86)},
	}
}

func testConfig(t *testing.T) Config {
	t.Helper()
	c, err := FromAnswers(testAnswers(), macPriv0, macIbiz0, Install{Time: time.Unix(0, 0).UTC(), Version: "1.0", Disk: "serial:lockstep-sys"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFromAnswersLeavesALinksToWithALinks(t *testing.T) {
	// The answers name A-Links by MAC or kernel name; only the caller that
	// resolved them knows their MACs.
	if c := testConfig(t); c.Network.ALinks != nil {
		t.Fatalf("FromAnswers set A-Links: %+v", c.Network.ALinks)
	}
}

func TestWithALinks(t *testing.T) {
	c := testConfig(t)
	got, err := WithALinks(c, []string{"52-54-00-AA-BB-04", "52:54:00:00:00:03"})
	if err != nil {
		t.Fatal(err)
	}
	want := []NIC{{MAC: "52:54:00:aa:bb:04"}, {MAC: "52:54:00:00:00:03"}}
	if !reflect.DeepEqual(got.Network.ALinks, want) {
		t.Fatalf("ALinks = %+v, want %+v (canonical, in the given order)", got.Network.ALinks, want)
	}
	if c.Network.ALinks != nil {
		t.Error("WithALinks changed its argument")
	}

	// Written and read back as node.json.
	b, err := got.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"alinks": [`) {
		t.Errorf("node.json lacks alinks:\n%s", b)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Network, got.Network) {
		t.Fatalf("read back %+v, want %+v", back.Network, got.Network)
	}

	// No A-Links: none in the file either, as before A-Links existed.
	none, err := WithALinks(got, nil)
	if err != nil || none.Network.ALinks != nil {
		t.Fatalf("WithALinks(nil) = %+v, %v", none.Network.ALinks, err)
	}
	if b, _ := none.Marshal(); strings.Contains(string(b), "alinks") {
		t.Errorf("node.json without A-Links names them:\n%s", b)
	}
}

func TestWithALinksErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		macs []string
		want string
	}{
		"not a MAC":    {[]string{"52:54:00:00:00:03", "eth2"}, `network.alinks[1].mac "eth2"`},
		"empty":        {[]string{""}, `network.alinks[0].mac ""`},
		"is priv0":     {[]string{"52:54:00:00:00:01"}, "network.alinks[0].mac 52:54:00:00:00:01 is also priv0's"},
		"is ibiz0":     {[]string{"52:54:00:00:00:03", "52-54-00-00-00-02"}, "network.alinks[1].mac 52:54:00:00:00:02 is also ibiz0's"},
		"listed twice": {[]string{"52:54:00:00:00:03", "52:54:00:00:00:03"}, "network.alinks[1].mac 52:54:00:00:00:03 is also alinks[0]'s"},
		"too many": {[]string{"52:54:00:00:00:03", "52:54:00:00:00:04", "52:54:00:00:00:05", "52:54:00:00:00:06", "52:54:00:00:00:07"},
			"network.alinks: 5 A-Links, at most 4"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := WithALinks(testConfig(t), tc.macs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestValidateALinks(t *testing.T) {
	// A hand-edited node.json is checked as strictly as WithALinks' result,
	// whatever case its MACs are in.
	c := testConfig(t)
	c.Network.ALinks = []NIC{{MAC: "52:54:00:00:00:03"}, {MAC: "52:54:00:00:00:0A"}}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid A-Links rejected: %v", err)
	}
	c.Network.ALinks = []NIC{{MAC: "52:54:00:00:00:0a"}, {MAC: "52:54:00:00:00:0A"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "is also alinks[0]'s") {
		t.Fatalf("the same NIC twice: %v", err)
	}
	c.Network.ALinks = []NIC{{MAC: "52:54:00:00:00:01"}}
	c.Network.Priv0.MAC = "52:54:00:00:00:0A"
	c.Network.Ibiz0.MAC = "52:54:00:00:00:01"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "is also ibiz0's") {
		t.Fatalf("an A-Link on ibiz0's NIC: %v", err)
	}
	if _, err := Parse([]byte(`{"format": 1, "action": "create", "hostname": "node0",
		"network": {"priv0": {"mac": "52:54:00:00:00:01"}, "ibiz0": {"mac": "52:54:00:00:00:02"},
		"alinks": [{"mac": "nope"}], "node": {"dhcp": true}}}`)); err == nil || !strings.Contains(err.Error(), `network.alinks[0].mac "nope"`) {
		t.Fatalf("a node.json with a bad A-Link MAC: %v", err)
	}
}

func TestStorageDisksRoundTrip(t *testing.T) {
	a := testAnswers()
	a.Disk = answers.Disk{System: "serial:lockstep-sys", StorageGroup: []string{"serial:lockstep-data", "wwn:naa.5000c500a1b2c3d4"}, ConfirmErase: true}
	c, err := FromAnswers(a, macPriv0, macIbiz0, Install{Time: time.Unix(0, 0).UTC(), Version: "1.0", Disk: a.Disk.System})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"serial:lockstep-data", "wwn:naa.5000c500a1b2c3d4"}
	a.Disk.StorageGroup[0] = "changed" // the config has its own copy
	if !reflect.DeepEqual(c.StorageDisks, want) {
		t.Fatalf("StorageDisks = %q, want %q", c.StorageDisks, want)
	}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"storage_disks": [`) || !strings.Contains(string(b), `"serial:lockstep-data"`) {
		t.Errorf("node.json lacks storage_disks:\n%s", b)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("read back %+v, want %+v", back, c)
	}

	// None: not in the file, as before storage disks were recorded.
	a.Disk.StorageGroup = []string{}
	c, err = FromAnswers(a, macPriv0, macIbiz0, Install{Disk: a.Disk.System})
	if err != nil || c.StorageDisks != nil {
		t.Fatalf("no storage disks: %q, %v", c.StorageDisks, err)
	}
	if b, _ := c.Marshal(); strings.Contains(string(b), "storage_disks") {
		t.Errorf("node.json without storage disks names them:\n%s", b)
	}

	for _, tc := range []struct {
		disks []string
		want  string
	}{
		{[]string{""}, "storage_disks[0] is empty"},
		{[]string{"serial:a", "serial:a"}, `storage_disks[1] "serial:a" is listed twice`},
		{[]string{"serial:lockstep-sys"}, `storage_disks[0] "serial:lockstep-sys" is the system disk`},
	} {
		c.StorageDisks = tc.disks
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.disks, err, tc.want)
		}
	}
}
