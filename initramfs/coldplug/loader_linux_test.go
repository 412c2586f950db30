//go:build linux

package coldplug

import (
	"path/filepath"
	"testing"
)

func TestFinitLoaderMissingFile(t *testing.T) {
	var l Loader = FinitLoader{}
	if err := l.Load(filepath.Join(t.TempDir(), "nope.ko"), ""); err == nil {
		t.Error("no error for a missing module file")
	}
}
