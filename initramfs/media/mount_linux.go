package media

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Mount mounts the ISO9660 filesystem on dev read-only at dir.
func Mount(dev, dir string) error { return MountFS(dev, dir, "iso9660") }

// MountFS mounts a filesystem of type fstype on dev read-only at dir.
func MountFS(dev, dir, fstype string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dev, dir, fstype, unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("media: mount %s on %s: %w", dev, dir, err)
	}
	return nil
}
