package probe

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/lockstep-ft/lockstep/internal/mountinfo"
)

// MediumMount is where the installer mounts its boot medium.
const MediumMount = "/run/lockstep/medium"

// BootMedium names the disk the installer medium is mounted from ("sr0",
// "sdb"), or "" when nothing is mounted at MediumMount. A partition maps to
// its disk: the whole stick is off limits for the disk chooser.
func BootMedium(procRoot string) string {
	for _, p := range []string{filepath.Join(procRoot, "self", "mounts"), filepath.Join(procRoot, "mounts")} {
		if src, ok := mountSource(p, MediumMount); ok {
			if !strings.HasPrefix(src, "/dev/") {
				return ""
			}
			return DiskOf(filepath.Base(src))
		}
	}
	return ""
}

// mountSource finds the device mounted at target in a mounts file; the last
// matching line wins, as the newest mount hides the ones below it.
func mountSource(mounts, target string) (string, bool) {
	f, err := os.Open(mounts)
	if err != nil {
		return "", false
	}
	defer f.Close()
	src, found := "", false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && mountinfo.Unescape(fs[1]) == target {
			src, found = mountinfo.Unescape(fs[0]), true
		}
	}
	return src, found
}

// Partition names: "p<N>" after a name ending in a digit (nvme0n1p2,
// mmcblk0p1, md0p1, loop0p1), a bare number after the SCSI, virtio, Xen and
// IDE disk letters (sda1, vdb2, xvda1, hdc3).
var (
	rePartP      = regexp.MustCompile(`^((?:nvme|mmcblk|md|loop|nbd|rbd)\S*\d)p\d+$`)
	rePartLetter = regexp.MustCompile(`^((?:sd|vd|xvd|hd)[a-z]+)\d+$`)
)

// DiskOf maps a partition's kernel name to its disk's (sdb1 -> sdb,
// nvme0n1p2 -> nvme0n1); whole disks and CD drives (sr0) map to themselves.
func DiskOf(name string) string {
	if m := rePartP.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	if m := rePartLetter.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return name
}
