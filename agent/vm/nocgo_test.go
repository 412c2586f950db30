//go:build !cgo

package vm

import (
	"os"
	"testing"
)

// Without cgo the libvirt tests are not even compiled: CI must not pass
// without them.
func TestLibvirtNeedsCgo(t *testing.T) {
	if os.Getenv("CI") == "true" {
		t.Fatal("built without cgo: the libvirt tests did not run")
	}
	t.Skip("built without cgo: the libvirt tests do not run")
}
