package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStoragePartitionIsOnTheStateDisk(t *testing.T) {
	root := t.TempDir()
	proc, sys := filepath.Join(root, "proc"), filepath.Join(root, "sys")
	write := func(p, s string) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(proc, "self/mountinfo"),
		"22 1 0:21 / /proc rw - proc proc rw\n"+
			"30 1 259:5 / /var/lib/lockstep rw,relatime - ext4 /dev/nvme0n1p5 rw\n")
	// Two disks with a partition 6: only the STATE disk's counts.
	for _, d := range []struct{ disk, part, num string }{
		{"nvme0n1", "nvme0n1p5", "5"}, {"nvme0n1", "nvme0n1p6", "6"}, {"sda", "sda6", "6"},
	} {
		write(filepath.Join(sys, "devices/pci/block", d.disk, d.part, "partition"), d.num+"\n")
	}
	os.MkdirAll(filepath.Join(sys, "dev/block"), 0o755)
	if err := os.Symlink("../../devices/pci/block/nvme0n1/nvme0n1p5", filepath.Join(sys, "dev/block/259:5")); err != nil {
		t.Fatal(err)
	}
	got, err := storagePartition(proc, sys, "/var/lib/lockstep")
	if err != nil || got != "/dev/nvme0n1p6" {
		t.Fatalf("got %q, %v; want /dev/nvme0n1p6", got, err)
	}
	if _, err := storagePartition(proc, sys, "/elsewhere"); err == nil {
		t.Error("no error for a mount point that is not mounted")
	}
}
