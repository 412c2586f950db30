package vm

import (
	"net"
	"testing"
)

func TestMAC(t *testing.T) {
	a := MAC("sys-1", "web1", 0)
	if a != MAC("sys-1", "web1", 0) {
		t.Fatal("MAC is not stable")
	}
	seen := map[string]bool{}
	for _, m := range []string{a, MAC("sys-2", "web1", 0), MAC("sys-1", "web2", 0), MAC("sys-1", "web1", 1),
		// The separators keep ("ab","c") and ("a","bc") apart.
		MAC("sys-1a", "b", 0), MAC("sys-1", "ab", 0)} {
		if seen[m] {
			t.Errorf("%s given twice", m)
		}
		seen[m] = true
		hw, _ := net.ParseMAC(m)
		if hw[0]&0x02 == 0 || hw[0]&0x01 != 0 {
			t.Errorf("%s is not locally administered unicast", m)
		}
		if p, err := ParseMAC(m); err != nil || p != m {
			t.Errorf("ParseMAC(%s) = %s, %v", m, p, err)
		}
	}
}

func TestParseMAC(t *testing.T) {
	for in, want := range map[string]string{
		"02:00:5E:10:00:01": "02:00:5e:10:00:01",
		"52-54-00-ab-cd-ef": "52:54:00:ab:cd:ef",
		"0002.5e10.0001":    "00:02:5e:10:00:01",
		"00:00:00:00:00:00": "",
		"ff:ff:ff:ff:ff:ff": "",
		"03:00:00:00:00:01": "",
		"02:00:5e:10:00":    "",
		"00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01": "",
		"": "",
	} {
		got, err := ParseMAC(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("ParseMAC(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
