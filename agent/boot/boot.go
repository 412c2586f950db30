// Package boot is what the agent needs from the boot chain: which system
// slot and version GRUB started (the kernel command line) and the commit of
// a boot that came up healthy into the A/B state (SPEC H2), so that GRUB
// keeps booting this slot instead of falling back.
package boot

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/lockstep-ft/lockstep/installer/engine/abboot"
)

// CmdlinePath is the running kernel's command line.
const CmdlinePath = "/proc/cmdline"

// Cmdline is what GRUB's menu entry put on the kernel command line.
type Cmdline struct {
	Slot    abboot.Slot // lockstep.slot=a|b; "" when absent
	Version string      // lockstep.version=...; "" when absent
}

// ParseCmdline reads the lockstep.* parameters. The last occurrence wins,
// as for the kernel's own parameters (an operator may append at the GRUB
// prompt).
func ParseCmdline(s string) Cmdline {
	var c Cmdline
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "lockstep.slot":
			c.Slot = abboot.Slot(v)
		case "lockstep.version":
			c.Version = v
		}
	}
	return c
}

// ReadCmdline parses the command line file at path.
func ReadCmdline(path string) (Cmdline, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Cmdline{}, err
	}
	return ParseCmdline(string(b)), nil
}

// ErrNoSlot is returned by Commit when the kernel command line does not say
// which slot is running (booted outside the generated GRUB menu).
var ErrNoSlot = errors.New("the kernel command line has no lockstep.slot=a|b")

// Commit records in the GRUB environment block at envPath that the system
// running from slot is healthy (abboot MarkGood). It writes only when that
// changes the state: the block is on the ESP and every boot would otherwise
// rewrite it. changed reports whether it wrote.
func Commit(envPath string, slot abboot.Slot) (changed bool, err error) {
	if !slot.Valid() {
		return false, fmt.Errorf("boot commit: %w (got %q)", ErrNoSlot, string(slot))
	}
	st, err := abboot.LoadFile(envPath)
	if err != nil {
		return false, fmt.Errorf("boot commit: %w", err)
	}
	if st.Active == slot && st.Next == "" {
		return false, nil
	}
	nst, err := st.MarkGood(slot)
	if err != nil {
		return false, fmt.Errorf("boot commit: %s: %w", envPath, err)
	}
	if nst == st {
		return false, nil // e.g. a pending trial of the other slot stays pending
	}
	if err := abboot.StoreFile(envPath, nst); err != nil {
		return false, fmt.Errorf("boot commit: %w", err)
	}
	return true, nil
}
