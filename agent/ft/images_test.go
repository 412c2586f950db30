package ft

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// recordImg is a qemu-img that records its arguments and prints out.
func recordImg(calls *[][]string, out string) CommandFunc {
	return func(ctx context.Context, args ...string) *exec.Cmd {
		*calls = append(*calls, args)
		return exec.CommandContext(ctx, "printf", "%s", out)
	}
}

func TestCreateReplicationImagesRaw(t *testing.T) {
	s := testSpec()
	dir := t.TempDir()
	s.Secondary.Disk = filepath.Join(dir, "disk.raw")
	s.Secondary.WorkDir = filepath.Join(dir, "work")
	if err := os.WriteFile(s.Secondary.Disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(s.Secondary.Disk, 64<<20); err != nil {
		t.Fatal(err)
	}
	var calls [][]string
	if err := CreateReplicationImages(context.Background(), recordImg(&calls, ""), s); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"create", "-q", "-f", "qcow2", s.Secondary.ActiveImage(), "67108864"},
		{"create", "-q", "-f", "qcow2", s.Secondary.HiddenImage(), "67108864"},
	}
	if !slices.EqualFunc(calls, want, slices.Equal) {
		t.Errorf("qemu-img calls %q, want %q", calls, want)
	}
	if st, err := os.Stat(s.Secondary.WorkDir); err != nil || !st.IsDir() {
		t.Errorf("work dir not made: %v", err)
	}

	// With DiskSize the guest sees that much of the larger image (raw
	// size=), and the layers must match it, not the image.
	s.DiskSize = 32 << 20
	calls = nil
	if err := CreateReplicationImages(context.Background(), recordImg(&calls, ""), s); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0][5] != "33554432" || calls[1][5] != "33554432" {
		t.Errorf("qemu-img calls %q, want images of DiskSize", calls)
	}
}

func TestCreateReplicationImagesQcow2(t *testing.T) {
	s := testSpec()
	s.DiskFormat = "qcow2"
	s.Secondary.WorkDir = t.TempDir()
	var calls [][]string
	if err := CreateReplicationImages(context.Background(), recordImg(&calls, `{"virtual-size": 1073741824, "format": "qcow2"}`), s); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 3 || !slices.Equal(calls[0], []string{"info", "--output=json", "-f", "qcow2", "/s/disk.raw"}) || calls[1][5] != "1073741824" {
		t.Errorf("qemu-img calls %q", calls)
	}

	// An explicit size needs no look at the image.
	s.DiskSize = 1 << 20
	calls = nil
	if err := CreateReplicationImages(context.Background(), recordImg(&calls, ""), s); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0][5] != "1048576" {
		t.Errorf("qemu-img calls %q", calls)
	}
}

func TestCreateReplicationImagesFails(t *testing.T) {
	s := testSpec()
	s.DiskSize = 1 << 20
	s.Secondary.WorkDir = t.TempDir()
	failing := func(ctx context.Context, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, "sh", "-c", "echo 'qemu-img: Could not create: Permission denied' >&2; exit 1")
	}
	err := CreateReplicationImages(context.Background(), failing, s)
	if err == nil || !strings.Contains(err.Error(), "Permission denied") || !strings.Contains(err.Error(), "active.qcow2") {
		t.Errorf("CreateReplicationImages: %v", err)
	}
	s.DiskSize = 0
	s.Secondary.Disk = filepath.Join(t.TempDir(), "missing.raw")
	if err := CreateReplicationImages(context.Background(), failing, s); err == nil || !strings.Contains(err.Error(), "disk size") {
		t.Errorf("CreateReplicationImages without the disk: %v", err)
	}
}
