package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/u-root/u-root/pkg/mount/loop"
	"golang.org/x/sys/unix"
)

// ImageTools runs e2fsprogs from the system image being installed, mounted
// read-only: STATE is then made by the mke2fs that matches the kernel that
// mounts it (the installer's own initramfs carries no e2fsprogs, and a build
// host's may be older or newer). It needs root, loop devices and squashfs.
type ImageTools struct {
	root   string
	loop   *loop.Loop
	mounts []string // to unmount, innermost last
}

// MountImageTools mounts the image at a new directory under dir.
func MountImageTools(image, dir string) (*ImageTools, error) {
	root, err := os.MkdirTemp(dir, "lockstep-image-")
	if err != nil {
		return nil, err
	}
	t := &ImageTools{root: root}
	if t.loop, err = loop.New(image, "squashfs", ""); err != nil {
		os.Remove(root)
		return nil, fmt.Errorf("system image %s: loop device: %w", image, err)
	}
	if _, err := t.loop.Mount(root, unix.MS_RDONLY); err != nil {
		t.Close()
		return nil, fmt.Errorf("system image %s: mount: %w", image, err)
	}
	t.mounts = append(t.mounts, root)
	for _, m := range []struct {
		src, dst, fstype string
		flags            uintptr
	}{
		{"tmpfs", "tmp", "tmpfs", 0},
		{"/dev", "dev", "", unix.MS_BIND | unix.MS_REC},
		{"proc", "proc", "proc", 0},
	} {
		dst := filepath.Join(root, m.dst)
		if err := unix.Mount(m.src, dst, m.fstype, m.flags, ""); err != nil {
			t.Close()
			return nil, fmt.Errorf("system image: mount %s: %w", dst, err)
		}
		t.mounts = append(t.mounts, dst)
	}
	return t, nil
}

// Close unmounts the image and frees its loop device.
func (t *ImageTools) Close() error {
	var errs []error
	for i := len(t.mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(t.mounts[i], unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", t.mounts[i], err))
		}
	}
	t.mounts = nil
	if t.loop != nil {
		if err := t.loop.Free(); err != nil {
			errs = append(errs, err)
		}
		t.loop = nil
	}
	if err := os.Remove(t.root); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// MakeExt4 implements Formatter with the image's mke2fs, writing into the
// disk through the caller's descriptor (fd 3 in the chroot), so a block
// device and an image file work alike.
func (t *ImageTools) MakeExt4(ctx context.Context, disk *os.File, offset, size int64, label string, files map[string][]byte) error {
	content, err := os.MkdirTemp(filepath.Join(t.root, "tmp"), "state-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(content)
	for name, data := range files {
		if !filepath.IsLocal(name) {
			return fmt.Errorf("STATE file %q: not a path inside the file system", name)
		}
		path := filepath.Join(content, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
	}
	if err := os.Chmod(content, 0o755); err != nil {
		return err
	}
	inChroot := "/" + strings.TrimPrefix(content, t.root+"/")
	cmd := exec.CommandContext(ctx, "/sbin/mke2fs", MakeExt4Args(offset, size, label, inChroot, "/proc/self/fd/3")...)
	cmd.ExtraFiles = []*os.File{disk}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: t.root}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mke2fs: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// MakeExt4Args are mke2fs's arguments for a file system of size bytes at
// offset inside dev, populated from dir.
func MakeExt4Args(offset, size int64, label, dir, dev string) []string {
	return []string{
		// -F: dev is the whole disk (with a partition table), not a
		// partition. mke2fs opens it with O_EXCL itself, so the caller
		// must not hold an exclusive open (see cmd/lockstep-installer).
		"-q", "-F", "-t", "ext4", "-L", label,
		// nodiscard: a discard must never reach outside the partition
		// (the slots and the storage group share the disk).
		"-E", "offset=" + strconv.FormatInt(offset, 10) + ",nodiscard",
		"-d", dir,
		dev, strconv.FormatInt(size/1024, 10) + "k",
	}
}
