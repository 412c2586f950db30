package mountinfo

import (
	"slices"
	"testing"
)

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/run/my\040medium\134x`: `/run/my medium\x`,
		`/plain`:                 `/plain`,
		`/a\011b\012c`:           "/a\tb\nc",
		`/bad\09x`:               `/bad\09x`, // not octal: kept
		`/short\04`:              `/short\04`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseUnder(t *testing.T) {
	table := []byte(`22 1 0:21 / /proc rw,nosuid - proc proc rw
30 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
41 30 0:40 / /tmp/a\040b rw - tmpfs tmpfs rw
42 41 0:41 /sub /tmp/a\040b/dev rw - devtmpfs udev rw
43 30 0:42 / /tmp/a\040bc rw - tmpfs tmpfs rw
short line
`)
	ms := Parse(table)
	if len(ms) != 5 {
		t.Fatalf("%d mounts, want 5: %+v", len(ms), ms)
	}
	if ms[1].Device != "8:1" || ms[1].MountPoint != "/" || ms[3].Root != "/sub" {
		t.Errorf("fields: %+v", ms)
	}
	if got, want := Under(ms, "/tmp/a b"), []string{"/tmp/a b", "/tmp/a b/dev"}; !slices.Equal(got, want) {
		t.Errorf("Under = %q, want %q (a sibling with the same prefix is not below)", got, want)
	}
	if got := Under(ms, "/nowhere"); len(got) != 0 {
		t.Errorf("Under(/nowhere) = %q", got)
	}
}
