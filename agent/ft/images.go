package ft

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

// CreateReplicationImages makes the secondary's active and hidden qcow2
// images, empty, in its work directory (replacing old ones: a new
// secondary starts from its disk image alone). QEMU requires both to have
// exactly the disk's virtual size: spec.DiskSize, else the size of the
// secondary's raw image, else qcow2's virtual size from qemu-img info.
// img runs qemu-img with args (qemuroot.Root.Img).
func CreateReplicationImages(ctx context.Context, img CommandFunc, spec Spec) error {
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("ft: %w", err)
	}
	spec = spec.withDefaults()
	sd := spec.Secondary
	size := spec.DiskSize
	if size == 0 {
		var err error
		if size, err = diskSize(ctx, img, sd.Disk, spec.DiskFormat); err != nil {
			return fmt.Errorf("ft: secondary disk size: %w", err)
		}
	}
	if err := os.MkdirAll(sd.WorkDir, 0o750); err != nil {
		return fmt.Errorf("ft: %w", err)
	}
	for _, path := range []string{sd.ActiveImage(), sd.HiddenImage()} {
		cmd := img(ctx, "create", "-q", "-f", "qcow2", path, strconv.FormatInt(size, 10))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ft: qemu-img create %s: %v: %s", path, err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// diskSize is the virtual size of a disk image.
func diskSize(ctx context.Context, img CommandFunc, path, format string) (int64, error) {
	if format == "raw" {
		st, err := os.Stat(path)
		if err != nil {
			return 0, err
		}
		return st.Size(), nil
	}
	cmd := img(ctx, "info", "--output=json", "-f", format, path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("qemu-img info %s: %v: %s", path, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil || info.VirtualSize <= 0 {
		return 0, fmt.Errorf("qemu-img info %s: no virtual size in %q", path, out)
	}
	return info.VirtualSize, nil
}
