// Package engine is the install engine's contract: it takes checked answers
// and does the work (partition, write the system image, bootloader, node
// config), reporting progress as events. The TUI only draws those events; the
// same engine builds disk images (`lockstep-build disk`) and runs unattended.
package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// Level of an event.
type Level string

const (
	Info  Level = "info"
	Warn  Level = "warn"
	Error Level = "error"
)

// Event is one progress report, also written as a JSON line to the install log.
type Event struct {
	Step    string `json:"step"`    // short machine name: "partition", "image", "bootloader", "config", "done"
	Title   string `json:"title"`   // what the user sees: "Writing the system image"
	Percent int    `json:"percent"` // overall progress 0..100
	Message string `json:"message,omitempty"`
	Level   Level  `json:"level"`
	Done    bool   `json:"done,omitempty"` // the last event of a run (success or failure)
	// Ask, when set, is a question for the operator. It stays out of the
	// log line (a channel does not marshal); Title and Message say there
	// what was asked.
	Ask *Question `json:"-"`
}

// Question is a yes/no decision the engine needs from the operator in the
// middle of a run (the join's CA fingerprint). The engine blocks on Answer.
//
// The engine should also give up when its ctx ends: a TUI that is left
// (Ctrl-C, reboot) answers false, but a caller without a TUI may never answer.
type Question struct {
	Title   string      // e.g. "Join system lockstep-lab?"
	Lines   []string    // shown as they are, one per line
	Yes, No string      // button labels, e.g. "Join", "Cancel"
	Answer  chan<- bool // buffered (cap 1) by the engine; the TUI sends exactly once
}

// Engine installs a node.
type Engine interface {
	Run(ctx context.Context, a answers.Answers, emit func(Event)) error
}

// DryRun is the engine of `lockstep.dryrun=1`: it touches nothing and prints
// the collected answers (password redacted) as one JSON document, framed by
// marker lines so automation can cut it out of a console log.
type DryRun struct{ Out io.Writer }

// Markers around the dry-run JSON.
const (
	DryRunBegin = "LOCKSTEP DRYRUN ANSWERS BEGIN"
	DryRunEnd   = "LOCKSTEP DRYRUN ANSWERS END"
)

// Run implements Engine.
func (d DryRun) Run(ctx context.Context, a answers.Answers, emit func(Event)) error {
	r := a.Redacted()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.Out, "\n%s\n%s\n%s\n", DryRunBegin, b, DryRunEnd)
	emit(Event{Step: "done", Title: "Dry run: nothing was written", Percent: 100, Level: Info, Done: true})
	return nil
}
