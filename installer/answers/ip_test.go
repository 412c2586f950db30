package answers

import (
	"net/netip"
	"strings"
	"testing"
)

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseIPv4(t *testing.T) {
	for _, ok := range []string{"0.0.0.0", "192.0.2.10", "255.255.255.255", "10.0.0.1"} {
		if _, err := parseIPv4(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for in, phrase := range map[string]string{
		"192.0.2":       "it has 3 part(s)",
		"1.2.3.4.5":     "it has 5 part(s)",
		"300.1.1.1":     "300 is out of range 0-255",
		"192.0.2.1x":    `"1x" is not a number`,
		"192.0.2.-1":    `"-1" is not a number`,
		"192.0.2.01":    "leading zero",
		"192.0.2.":      "part 4 is empty",
		"::1":           "IPv6",
		"192.0.2.1:80":  "no port numbers",
		"192.0.2.1/24":  "prefix length",
		"99999999999.1": "it has 2 part(s)",
	} {
		_, err := parseIPv4(in)
		if err == nil || !strings.Contains(err.Error(), phrase) || !strings.HasPrefix(err.Error(), `"`+in+`"`) {
			t.Errorf("%q: got %v, want …%s… starting with the value", in, err, phrase)
		}
	}
}

func TestParseNetmask(t *testing.T) {
	for in, want := range map[string]int{
		"255.255.255.0": 24, "/24": 24, "24": 24, "255.255.240.0": 20, "0.0.0.0": 0,
		"255.255.255.255": 32, "/0": 0, "128.0.0.0": 1,
	} {
		got, err := parseNetmask(in)
		if err != nil || got != want {
			t.Errorf("%q: got %d, %v; want %d", in, got, err, want)
		}
	}
	for in, phrase := range map[string]string{
		"255.255.0.255": "not contiguous",
		"255.0.255.0":   "not contiguous",
		"0.255.255.255": "not contiguous",
		"/33":           "not a netmask",
		"abc":           "not a netmask",
		"255.255.255":   "not a netmask",
		"/024":          "not a netmask",
	} {
		if _, err := parseNetmask(in); err == nil || !strings.Contains(err.Error(), phrase) {
			t.Errorf("%q: got %v, want …%s…", in, err, phrase)
		}
	}
	for n, want := range map[int]string{0: "0.0.0.0", 8: "255.0.0.0", 24: "255.255.255.0", 29: "255.255.255.248", 32: "255.255.255.255"} {
		if got := maskString(n); got != want {
			t.Errorf("maskString(%d) = %s", n, got)
		}
	}
}

func TestSubnet(t *testing.T) {
	a, _ := parseIPv4("10.1.1.77")
	s := newSubnet(a, 26)
	if s.String() != "10.1.1.64/26" || s.network().String() != "10.1.1.64" || s.broadcast().String() != "10.1.1.127" {
		t.Fatalf("subnet %s network %s broadcast %s", s, s.network(), s.broadcast())
	}
	for ip, phrase := range map[string]string{
		"10.1.1.64":  "network address of 10.1.1.64/26",
		"10.1.1.127": "broadcast address of 10.1.1.64/26",
		"10.1.1.128": "outside the node's subnet 10.1.1.64/26",
		"10.1.1.65":  "",
	} {
		x, _ := parseIPv4(ip)
		if got := s.hostProblem(ip, x, "the node's"); !strings.Contains(got, phrase) || (phrase == "") != (got == "") {
			t.Errorf("%s: %q, want …%s…", ip, got, phrase)
		}
	}
	for n := 0; n <= 32; n++ {
		bad := nodePrefixProblem(n) != ""
		if bad != (n == 0 || n >= 30) {
			t.Errorf("/%d: problem %q", n, nodePrefixProblem(n))
		}
	}
}

func TestParseHostIPv4(t *testing.T) {
	for in, phrase := range map[string]string{
		"0.0.0.0":     "unspecified",
		"127.0.0.1":   "loopback",
		"169.254.1.1": "link-local",
		"224.0.0.1":   "multicast",
		"250.1.1.1":   "reserved",
	} {
		if _, err := parseHostIPv4(in); err == nil || !strings.Contains(err.Error(), phrase) {
			t.Errorf("%s: %v, want …%s…", in, err, phrase)
		}
	}
}
