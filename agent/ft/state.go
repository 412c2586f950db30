package ft

import (
	"fmt"
	"time"
)

// Mode is an FT VM's protection.
type Mode string

const (
	// Protected: COLO runs, a checkpoint of the VM is on the peer; losing
	// either node loses nothing.
	Protected Mode = "protected"
	// Syncing: the pair is being set up (the first full copy of memory and
	// the disk replication); not yet protected.
	Syncing Mode = "syncing"
	// Simplex: the VM runs on one side only (never protected, the peer was
	// lost, or setting up failed).
	Simplex Mode = "simplex"
)

// State is an FT VM's protection and why it is so.
type State struct {
	Mode   Mode
	Reason string
	Since  time.Time
}

func (s State) String() string {
	if s.Reason == "" {
		return string(s.Mode)
	}
	return fmt.Sprintf("%s (%s)", s.Mode, s.Reason)
}
