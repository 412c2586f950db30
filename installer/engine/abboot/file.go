package abboot

import (
	"fmt"
	"os"
)

// EnvPath is the environment block's path on the ESP (GrubParams.EnvFile is
// the same file as GRUB names it); a running node has the ESP at /boot/efi.
const (
	EnvPath        = "boot/grub/grubenv"
	RunningESP     = "/boot/efi"
	RunningEnvPath = RunningESP + "/" + EnvPath
)

// LoadFile reads the boot state from the environment block at path.
func LoadFile(path string) (State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return State{}, err
	}
	st, err := Parse(b)
	if err != nil {
		return State{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// StoreFile writes st into the existing block at path in place, keeping
// every other variable (see Update), and syncs it: GRUB writes the same
// sectors through its block list, so the file must never be replaced by a
// rename, which would move it.
func StoreFile(path string, st State) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	old := make([]byte, fi.Size())
	if _, err := f.ReadAt(old, 0); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	nb, err := Update(old, st)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(nb) != len(old) {
		return fmt.Errorf("%s: block is %d bytes, the state needs %d: not rewriting it in place", path, len(old), len(nb))
	}
	if _, err := f.WriteAt(nb, 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}
