package membership

import (
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{SystemID: "sys-1", Self: Node0, Links: []string{"priv0", "alink0"}, Witnesses: []string{"192.0.2.10:7500"}}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" for valid
	}{
		{"defaults are valid", func(*Config) {}, ""},
		{"no witness is valid", func(c *Config) { c.Witnesses = nil }, ""},
		{"two witnesses are valid", func(c *Config) { c.Witnesses = []string{"a", "b"} }, ""},
		{"empty system id", func(c *Config) { c.SystemID = "" }, "system id is empty"},
		{"system id with a space", func(c *Config) { c.SystemID = "a b" }, "without spaces"},
		{"node2", func(c *Config) { c.Self = 2 }, "only node0 and node1"},
		{"no links", func(c *Config) { c.Links = nil }, "no links"},
		{"duplicate link", func(c *Config) { c.Links = []string{"priv0", "priv0"} }, `link "priv0" is listed twice`},
		{"empty link name", func(c *Config) { c.Links = []string{"priv0", ""} }, "link 2 has an empty name"},
		{"three witnesses", func(c *Config) { c.Witnesses = []string{"a", "b", "c"} }, "3 witnesses configured; 0, 1 or 2"},
		{"duplicate witness", func(c *Config) { c.Witnesses = []string{"a", "a"} }, `witness "a" is listed twice`},
		{"negative interval", func(c *Config) { c.HeartbeatInterval = -time.Second }, "heartbeat interval is -1s; it must be positive"},
		{"timeout below two intervals", func(c *Config) { c.PeerTimeout = 300 * time.Millisecond }, "shorter than two heartbeat intervals"},
		{"lease too short", func(c *Config) { c.WitnessLease = time.Second }, "shorter than four witness timeouts"},
		{"retry below witness timeout", func(c *Config) { c.RetryInterval = 100 * time.Millisecond }, "retry interval 100ms is shorter"},
		{"flap threshold 1", func(c *Config) { c.FlapThreshold = 1 }, "flap threshold 1"},
		{"flap window below timeout", func(c *Config) { c.FlapWindow = 500 * time.Millisecond }, "flap window 500ms is shorter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.change(&c)
			err := c.WithDefaults().Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestConfigAllErrorsAtOnce(t *testing.T) {
	_, err := New(Config{Self: 3})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"membership config", "system id is empty", "node3", "no links"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestDerivedDelays(t *testing.T) {
	c := validConfig().WithDefaults()
	for _, tc := range []struct {
		name      string
		got, want time.Duration
	}{
		{"skew", c.detectionSkew(), 1200 * time.Millisecond},
		{"D0", c.ChallengeDelay(Node0), 1500 * time.Millisecond},
		{"D1", c.ChallengeDelay(Node1), 1700 * time.Millisecond},
		{"F", c.TakeoverDelay(), 3200 * time.Millisecond},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestWinsRule(t *testing.T) {
	for _, tc := range []struct {
		self               NodeID
		configured, grants int
		want               bool
	}{
		{Node0, 0, 0, false},
		{Node0, 1, 0, false},
		{Node0, 1, 1, true},
		{Node1, 1, 1, true},
		{Node0, 2, 0, false},
		{Node0, 2, 1, true}, // exactly half: node0 only
		{Node1, 2, 1, false},
		{Node0, 2, 2, true},
		{Node1, 2, 2, true},
	} {
		if got := wins(tc.self, tc.configured, tc.grants); got != tc.want {
			t.Errorf("wins(%s, %d witnesses, %d grants) = %v, want %v", tc.self, tc.configured, tc.grants, got, tc.want)
		}
	}
	// Safety: for every split of grants between the nodes, at most one wins.
	for n := 1; n <= MaxWitnesses; n++ {
		for g0 := 0; g0 <= n; g0++ {
			for g1 := 0; g0+g1 <= n; g1++ {
				if wins(Node0, n, g0) && wins(Node1, n, g1) {
					t.Errorf("%d witnesses: node0 with %d and node1 with %d grants both win", n, g0, g1)
				}
			}
		}
	}
}
