package probe

import (
	"testing"

	"github.com/lockstep-ft/lockstep/installer/probe/probetest"
)

func TestBootMedium(t *testing.T) {
	for _, tc := range []struct{ source, want string }{
		{"/dev/sr0", "sr0"},
		{"/dev/sdb1", "sdb"},
		{"/dev/sdb", "sdb"},
		{"/dev/nvme1n1p2", "nvme1n1"},
		{"/dev/mmcblk0p1", "mmcblk0"},
	} {
		tr := probetest.New(t)
		tr.Mount("rootfs", "/", "rootfs")
		tr.Mount("/dev/sda2", "/mnt/answers", "vfat")
		tr.Mount(tc.source, MediumMount, "iso9660")
		if got := BootMedium(tr.Proc); got != tc.want {
			t.Errorf("medium on %s: BootMedium = %q, want %q", tc.source, got, tc.want)
		}
	}
}

func TestBootMediumNotMounted(t *testing.T) {
	tr := probetest.New(t)
	tr.Mount("/dev/sr0", "/mnt", "iso9660")
	if got := BootMedium(tr.Proc); got != "" {
		t.Errorf("BootMedium = %q, want none", got)
	}
	// Fallback to /proc/mounts when self/mounts is missing.
	tr2 := probetest.New(t)
	tr2.ProcFile("mounts", "/dev/sr1 /run/lockstep/medium iso9660 ro 0 0\n")
	if got := BootMedium(tr2.Proc); got != "sr1" {
		t.Errorf("BootMedium from /proc/mounts = %q", got)
	}
}

func TestDiskOf(t *testing.T) {
	for in, want := range map[string]string{"sda": "sda", "sda1": "sda", "sdab12": "sdab", "vda3": "vda", "xvda1": "xvda",
		"nvme0n1": "nvme0n1", "nvme0n1p1": "nvme0n1", "md0": "md0", "md127p2": "md127", "sr0": "sr0", "loop3": "loop3"} {
		if got := DiskOf(in); got != want {
			t.Errorf("DiskOf(%q) = %q, want %q", in, got, want)
		}
	}
}
