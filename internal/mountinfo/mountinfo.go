// Package mountinfo reads the kernel's mount tables (/proc/self/mountinfo
// and /proc/mounts), whose fields escape blanks, tabs, newlines and
// backslashes as three octal digits (\040 for a space).
package mountinfo

import (
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo: "id parent major:minor root
// mountpoint options ...".
type Mount struct {
	Device     string // major:minor
	Root       string // the mounted directory within its filesystem
	MountPoint string
}

// Parse reads the lines of a mountinfo file; malformed lines are skipped.
func Parse(b []byte) []Mount {
	var out []Mount
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		out = append(out, Mount{Device: f[2], Root: Unescape(f[3]), MountPoint: Unescape(f[4])})
	}
	return out
}

// Under lists the mount points at dir or below it, in table order (the
// order in which they were mounted: unmount them in reverse).
func Under(ms []Mount, dir string) []string {
	var out []string
	for _, m := range ms {
		if m.MountPoint == dir || strings.HasPrefix(m.MountPoint, strings.TrimSuffix(dir, "/")+"/") {
			out = append(out, m.MountPoint)
		}
	}
	return out
}

// Unescape undoes the octal escapes of a mount table's field.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
