package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// The size every screen is designed for, and the fallback for consoles
// that report 0x0 (serial).
const (
	defaultWidth  = 80
	defaultHeight = 24
)

// Styles. Every state they show is also spelled out in text (PASS/WARN/FAIL,
// "!" before errors, brackets around the focused button, ">" at the cursor),
// so a monochrome serial terminal loses nothing.
var (
	styleTitle = lipgloss.NewStyle().Bold(true)
	styleLab   = lipgloss.NewStyle().Bold(true).Reverse(true)
	styleHelp  = lipgloss.NewStyle().Faint(true)
	styleNote  = lipgloss.NewStyle().Bold(true)
	styleError = lipgloss.NewStyle().Foreground(lipgloss.Color("9")).Bold(true)
	styleWarn  = lipgloss.NewStyle().Foreground(lipgloss.Color("11")).Bold(true)
	stylePass  = lipgloss.NewStyle().Foreground(lipgloss.Color("10"))
	styleFocus = lipgloss.NewStyle().Reverse(true)
	styleBold  = lipgloss.NewStyle().Bold(true)
)

// clip cuts s (which may hold ANSI styles) to w cells, marking a cut with "~".
func clip(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "~")
}

// wrap breaks plain text into lines of at most w cells at spaces; a word
// longer than w is cut into pieces.
func wrap(s string, w int) []string {
	if w < 1 {
		w = 1
	}
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			for ansi.StringWidth(word) > w {
				if line != "" {
					out = append(out, line)
					line = ""
				}
				head := ansi.Truncate(word, w, "")
				out = append(out, head)
				word = word[len(head):]
			}
			switch {
			case line == "":
				line = word
			case ansi.StringWidth(line)+1+ansi.StringWidth(word) <= w:
				line += " " + word
			default:
				out = append(out, line)
				line = word
			}
		}
		out = append(out, line)
	}
	return out
}

// wrapIndent wraps s to w cells; the first line starts with first, the
// others with as many spaces.
func wrapIndent(first, s string, w int) []string {
	ind := ansi.StringWidth(first)
	lines := wrap(s, w-ind)
	for i := range lines {
		if i == 0 {
			lines[i] = first + lines[i]
		} else {
			lines[i] = strings.Repeat(" ", ind) + lines[i]
		}
	}
	return lines
}

// errorLines renders a validation message under a field: "! message",
// wrapped, in red.
func errorLines(indent int, msg string, w int) []string {
	lines := wrapIndent(strings.Repeat(" ", indent)+"! ", msg, w)
	for i := range lines {
		lines[i] = styleError.Render(lines[i])
	}
	return lines
}

const (
	moreAbove = "  ^ more above"
	moreBelow = "  v more below"
)

// scroll shows at most h of lines, starting near top; when they do not fit,
// the first and last rows say whether more is above or below. It returns the
// lines shown and the top actually used (clamped).
func scroll(lines []string, h, top int) ([]string, int) {
	if len(lines) <= h {
		return lines, 0
	}
	if h < 3 {
		return lines[:max(h, 0)], 0
	}
	inner := h - 2
	top = min(max(top, 0), len(lines)-inner)
	out := make([]string, 0, h)
	if top > 0 {
		out = append(out, styleHelp.Render(moreAbove))
	} else {
		out = append(out, "")
	}
	out = append(out, lines[top:top+inner]...)
	if top+inner < len(lines) {
		out = append(out, styleHelp.Render(moreBelow))
	} else {
		out = append(out, "")
	}
	return out, top
}

// follow returns the top that keeps lines [from, to) visible in a scroll
// window of height h, moving as little as possible from top.
func follow(n, h, top, from, to int) int {
	if n <= h || h < 3 {
		return 0
	}
	inner := h - 2
	if to-from > inner {
		to = from + inner
	}
	if from < top {
		top = from
	}
	if to > top+inner {
		top = to - inner
	}
	return min(max(top, 0), n-inner)
}

// buttons is a row of push buttons; the focused one is bracketed with ">"
// and "<" and shown reversed.
type buttons struct {
	labels []string
	sel    int
}

func newButtons(sel int, labels ...string) buttons { return buttons{labels: labels, sel: sel} }

// key moves the focus with Left/Right/Tab/Shift-Tab; it reports whether it
// used the key.
func (b *buttons) key(k tea.KeyMsg) bool {
	switch k.Type {
	case tea.KeyLeft, tea.KeyShiftTab:
		b.sel = (b.sel + len(b.labels) - 1) % len(b.labels)
	case tea.KeyRight, tea.KeyTab:
		b.sel = (b.sel + 1) % len(b.labels)
	default:
		return false
	}
	return true
}

func (b buttons) selected() string { return b.labels[b.sel] }

func (b buttons) view() string {
	return b.render(true)
}

// render draws the row; without focus no button is marked.
func (b buttons) render(focus bool) string {
	parts := make([]string, len(b.labels))
	for i, l := range b.labels {
		if focus && i == b.sel {
			parts[i] = styleFocus.Render(">[ " + l + " ]<")
		} else {
			parts[i] = " [ " + l + " ] "
		}
	}
	return strings.Join(parts, " ")
}

// Key helpers: the serial console and teatest deliver a space either as
// KeySpace or as the rune ' '.
func isSpace(k tea.KeyMsg) bool {
	return k.Type == tea.KeySpace || k.Type == tea.KeyRunes && len(k.Runes) == 1 && k.Runes[0] == ' '
}

func isRune(k tea.KeyMsg, r rune) bool {
	return k.Type == tea.KeyRunes && len(k.Runes) == 1 && (k.Runes[0] == r || k.Runes[0] == r-'a'+'A')
}

// pad makes lines exactly h long.
func pad(lines []string, h int) []string {
	if len(lines) > h {
		return lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return lines
}
