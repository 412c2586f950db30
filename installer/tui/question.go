package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/lockstep-ft/lockstep/installer/engine"
)

// questionDialog is an engine's yes/no question, shown over the progress
// screen until it is answered. The focus starts on No: a stray Enter (a key
// pressed to wake a console, a pasted line on a serial console) must not make
// this node trust a stranger's CA.
type questionDialog struct {
	q   *engine.Question
	btn buttons
	top int // first text line shown, when the text does not fit
}

func newQuestionDialog(q *engine.Question) *questionDialog {
	return &questionDialog{q: q, btn: newButtons(1, firstOf(q.Yes, "Yes"), firstOf(q.No, "No"))}
}

// label is the button text of an answer.
func (d *questionDialog) label(yes bool) string {
	if yes {
		return d.btn.labels[0]
	}
	return d.btn.labels[1]
}

func (d *questionDialog) help() string {
	return "Left/Right: choose  Enter: answer  y: " + d.label(true) + "  n: " + d.label(false)
}

// key handles a key; answered says whether it was the answer, yes which.
func (d *questionDialog) key(k tea.KeyMsg) (answered, yes bool) {
	if d.btn.key(k) {
		return false, false
	}
	switch {
	case isRune(k, 'y'):
		return true, true
	case isRune(k, 'n'):
		return true, false
	case k.Type == tea.KeyEnter:
		// By position: the engine may give both buttons the same label.
		return true, d.btn.sel == 0
	case k.Type == tea.KeyUp:
		d.top = max(d.top-1, 0)
	case k.Type == tea.KeyDown:
		d.top++
	}
	return false, false
}

// answer gives the engine its answer. The engine buffers Answer, so the
// send never blocks the TUI; if the buffer is somehow full the engine
// already has an answer, and a second one must not replace it.
func (d *questionDialog) answer(yes bool) {
	select {
	case d.q.Answer <- yes:
	default:
	}
}

func (d *questionDialog) view(w, h int, unattended bool) []string {
	var head []string
	for _, l := range wrap(d.q.Title, w) {
		head = append(head, styleBold.Render(l))
	}
	head = append(head, "")
	var text []string
	for _, l := range d.q.Lines {
		text = append(text, fitLine(l, w)...)
	}
	var foot []string
	if unattended {
		// The answer file drives everything else, so whoever watches the
		// console may not expect to be needed.
		foot = append(foot, "")
		foot = append(foot, wrap("This unattended installation waits for this answer.", w)...)
	}
	foot = append(foot, "", d.btn.view())

	room := h - len(head) - len(foot)
	if len(text) > room {
		var shown []string
		shown, d.top = scroll(text, room, d.top)
		text = shown
	} else {
		d.top = 0
	}
	return append(append(head, text...), foot...)
}

// fitLine wraps one of the engine's lines to w cells, keeping its indent and
// making the pieces of even length: a fingerprint (16 groups, 79 cells) too
// wide for the screen becomes two rows of eight groups, which an operator
// compares more easily than fifteen groups and one.
func fitLine(l string, w int) []string {
	if ansi.StringWidth(l) <= w {
		return []string{l}
	}
	body := strings.TrimLeft(l, " ")
	ind := l[:len(l)-len(body)]
	if len(ind) > w/2 {
		ind = ""
	}
	bw := w - len(ind)
	lines := wrap(body, bw)
	n := len(lines)
	for t := (ansi.StringWidth(body) + n - 1) / n; t < bw; t++ {
		if even := wrap(body, t); len(even) == n {
			lines = even
			break
		}
	}
	for i := range lines {
		lines[i] = ind + lines[i]
	}
	return lines
}
