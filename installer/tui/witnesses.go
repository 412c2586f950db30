package tui

import (
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// Field keys of the witnesses screen.
const (
	fWitness1     = "witness1"
	fWitness2     = "witness2"
	fSecret       = "secret"
	fSecretRepeat = "secret-repeat"
)

// witnessesScreen asks "Create new system" for the quorum witnesses (SPEC
// A2) and their shared secret, all optional. It is a screen of its own
// because the addresses screen is full and the choice needs explaining.
type witnessesScreen struct{ *form }

func newWitnessesScreen(a *app) *witnessesScreen {
	sys := a.ans.System
	w := func(i int) string {
		if i < len(sys.Witnesses) {
			return sys.Witnesses[i]
		}
		return ""
	}
	repeat := textField(fSecretRepeat, "Repeat secret", "", "Type the secret again.", sys.WitnessSecret, true)
	repeat.repeats, repeat.differ = fSecret, "the two secrets differ; type the same secret twice"
	return &witnessesScreen{newForm(
		textField(fWitness1, "Witness 1", "", "A lockstep-witness as host:port, e.g. 192.0.2.5:7500. Optional.", w(0), false),
		textField(fWitness2, "Witness 2", "", "A second witness on another machine, host:port. Optional.", w(1), false),
		textField(fSecret, "Witness secret", "system.witness_secret", "The text of the witnesses' -secret-file: at least 16 characters, no spaces.", sys.WitnessSecret, true),
		repeat,
	)}
}

func (s *witnessesScreen) title() string { return "Witnesses" }

func (s *witnessesScreen) help(*app) string {
	return "Tab/Up/Down: move  Enter: next field  Esc: back"
}

func (s *witnessesScreen) skipped(string) bool { return false }

// apply keeps only the filled witness lines, so a blank first line with a
// filled second is witness 0, not an empty entry; each line's path follows
// the entry it became, so the validator's messages land under it.
func (s *witnessesScreen) apply(a *app) {
	sys := &a.ans.System
	sys.Witnesses = nil
	for _, key := range []string{fWitness1, fWitness2} {
		l, v := s.field(key), s.value(key)
		l.path = ""
		if v == "" {
			continue
		}
		l.path = fmt.Sprintf("system.witnesses[%d]", len(sys.Witnesses))
		sys.Witnesses = append(sys.Witnesses, v)
	}
	// Taken as written, like the password: the validator refuses spaces
	// rather than the installer silently dropping them.
	sys.WitnessSecret = s.field(fSecret).input.Value()
}

func (s *witnessesScreen) scope() []string {
	return []string{"system.witnesses", "system.witness_secret"}
}

func (s *witnessesScreen) next(a *app) screen { return newDiskScreen(a) }

func (s *witnessesScreen) update(a *app, k tea.KeyMsg) tea.Cmd { return s.form.update(a, s, k) }

func (s *witnessesScreen) view(a *app, w, h int) []string {
	head := wrap(fmt.Sprintf("A witness is a lockstep-witness service on a third machine; when the two nodes cannot see each other, it decides which one serves. Up to %d, optional: without one, node0 is preferred and node1 never takes over.", answers.MaxWitnesses), w)
	head = append(head, "")
	return s.form.view(s, w, h, head, "Next checks every field and goes on to the disks.")
}
