package debian

import "testing"

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0-1", "1.0-2", -1},
		{"1.10", "1.9", 1},
		{"1.0~rc1", "1.0", -1},
		{"1.0", "1.0+b1", -1},
		{"1:0.9", "2.0", 1},
		{"0:1.0", "1.0", 0},
		{"1.0-1~bpo13+1", "1.0-1", -1},
		{"6.12.117-1", "6.12.107-1", 1},
		{"1.001", "1.1", 0},
		{"1.0a", "1.0", 1},
		{"1.0a", "1.0+", -1},
		{"3:6.04~git20190206.bf6db5b4+dfsg1-3.1", "3:6.04~git20190206.bf6db5b4+dfsg1-3", 1},
		{"2.36-9+deb12u1", "2.36-9+deb12u10", -1},
	} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := CompareVersions(c.b, c.a); got != -c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}
