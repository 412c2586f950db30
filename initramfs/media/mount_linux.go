package media

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Mount mounts the ISO9660 filesystem on dev read-only at dir.
func Mount(dev, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dev, dir, "iso9660", unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("media: mount %s on %s: %w", dev, dir, err)
	}
	return nil
}
