//go:build !linux

package coldplug

import "errors"

// FinitLoader loads modules with finit_module(2); it works only on Linux.
type FinitLoader struct{}

// Load implements Loader; it always fails outside Linux.
func (FinitLoader) Load(path, params string) error {
	return errors.New("coldplug: loading kernel modules is only supported on Linux")
}
