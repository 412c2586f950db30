//go:build linux

package coldplug

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// FinitLoader loads modules with finit_module(2). A module that is
// already loaded (EEXIST) counts as success. Compressed files (.ko.xz,
// .ko.zst, .ko.gz) are handed to the kernel with
// MODULE_INIT_COMPRESSED_FILE, which needs in-kernel decompression support;
// moddep writes decompressed modules so that this is normally not used.
type FinitLoader struct{}

// Load implements Loader.
func (FinitLoader) Load(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if strings.HasSuffix(path, ".xz") || strings.HasSuffix(path, ".zst") || strings.HasSuffix(path, ".gz") {
		flags |= unix.MODULE_INIT_COMPRESSED_FILE
	}
	err = unix.FinitModule(int(f.Fd()), params, flags)
	if err == nil || errors.Is(err, unix.EEXIST) {
		return nil
	}
	return fmt.Errorf("finit_module %s: %w", path, err)
}
