package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// formField is one line of a form: a text input or a checkbox.
type formField struct {
	key, label, hint string
	// path is the answers field ValidateField checks as the user leaves
	// the line; "" checks nothing there (a repeat line, an empty optional
	// line).
	path  string
	check bool // checkbox instead of text
	on    bool // checkbox state
	input textinput.Model
	// repeats is the key of the line this one must equal (a masked value
	// typed twice), and differ the message when it does not: the validator
	// never sees the second copy.
	repeats, differ string
	// off is shown instead of the input while the page skips the line.
	off  string
	errs []string
}

// form is a column of fields over Next/Back buttons. Each field is
// validated as the user leaves it; Next validates them all and goes on only
// when nothing the page asks for is wrong.
type form struct {
	fields  []*formField
	focus   int // index into fields; len(fields) is the button row
	btn     buttons
	touched map[string]bool
	other   []string // errors of the page's answers that no shown field owns
	top     int
}

// formPage is a screen built on a form: it says where the fields go.
type formPage interface {
	// apply writes the fields into the answers (and may re-aim the fields'
	// paths, when which entry a line is depends on what is filled).
	apply(a *app)
	// scope lists the answer paths the page asks for; Next reports only
	// their errors, the others belong to other screens.
	scope() []string
	// skipped reports whether the line with this key is skipped.
	skipped(key string) bool
	// next is the screen after a successful Next.
	next(a *app) screen
}

const (
	inputWidth = 40
	labelWidth = 17
)

func newInput(value string, password bool) textinput.Model {
	ti := textinput.New()
	ti.Prompt = ""
	ti.CharLimit = 253
	ti.Width = inputWidth
	ti.SetCursorMode(textinput.CursorStatic) // no blink: nothing to redraw on an idle serial line
	ti.KeyMap.Paste.SetEnabled(false)        // no clipboard in the installer
	if password {
		ti.EchoMode = textinput.EchoPassword
		ti.EchoCharacter = '*'
	}
	ti.SetValue(value)
	return ti
}

// textField is a text line; masked lines echo "*".
func textField(key, label, path, hint, value string, masked bool) *formField {
	return &formField{key: key, label: label, path: path, hint: hint, input: newInput(value, masked)}
}

func newForm(fields ...*formField) *form {
	f := &form{fields: fields, touched: map[string]bool{}, btn: newButtons(0, btnNext, btnBack)}
	f.setFocus(0)
	return f
}

func (f *form) field(key string) *formField {
	for _, l := range f.fields {
		if l.key == key {
			return l
		}
	}
	return nil
}

// value is the trimmed text of a line, "" when the form has no such line.
func (f *form) value(key string) string {
	if l := f.field(key); l != nil {
		return strings.TrimSpace(l.input.Value())
	}
	return ""
}

func (f *form) enabled(p formPage, i int) bool {
	return i >= len(f.fields) || !p.skipped(f.fields[i].key)
}

func (f *form) setFocus(i int) {
	for j, l := range f.fields {
		if l.check {
			continue
		}
		if j == i {
			l.input.Focus()
		} else {
			l.input.Blur()
		}
	}
	f.focus = i
}

// move goes to the next (d=1) or previous (d=-1) enabled line, wrapping.
func (f *form) move(p formPage, d int) {
	n := len(f.fields) + 1
	i := f.focus
	for range n {
		i = (i + d + n) % n
		if f.enabled(p, i) {
			break
		}
	}
	f.setFocus(i)
}

// owns reports whether the answers field path belongs to form field f.
func owns(f *formField, path string) bool {
	return f.path != "" && (path == f.path || strings.HasPrefix(path, f.path+".") || strings.HasPrefix(path, f.path+"["))
}

// repeatError is the one check the validator cannot do: l equals the line
// it repeats.
func (f *form) repeatError(l *formField) string {
	orig := f.field(l.repeats)
	if orig == nil || orig.input.Value() == l.input.Value() {
		return ""
	}
	return l.differ
}

// revalidate refreshes the messages of every field the user has left.
func (f *form) revalidate(a *app, p formPage) {
	p.apply(a)
	for _, l := range f.fields {
		l.errs = nil
		if !f.touched[l.key] {
			continue
		}
		if l.repeats != "" {
			if m := f.repeatError(l); m != "" {
				l.errs = []string{m}
			}
			continue
		}
		if l.path == "" {
			continue
		}
		for _, e := range answers.ValidateField(&a.ans, a.hw, l.path) {
			l.errs = append(l.errs, e.Message)
		}
	}
}

func inScope(p formPage, field string) bool {
	for _, s := range p.scope() {
		if field == s || strings.HasPrefix(field, s+".") || strings.HasPrefix(field, s+"[") {
			return true
		}
	}
	return false
}

// submit validates everything on the page; it reports success.
func (f *form) submit(a *app, p formPage) bool {
	p.apply(a)
	for _, l := range f.fields {
		f.touched[l.key] = true
		l.errs = nil
	}
	f.other = nil
	first := -1
	for _, e := range answers.Validate(&a.ans, a.hw) {
		if !inScope(p, e.Field) {
			continue
		}
		placed := false
		for i, l := range f.fields {
			if owns(l, e.Field) && f.enabled(p, i) {
				l.errs = append(l.errs, e.Message)
				placed = true
				if first < 0 || i < first {
					first = i
				}
				break
			}
		}
		if !placed {
			f.other = append(f.other, e.Error())
		}
	}
	for i, l := range f.fields {
		if l.repeats == "" {
			continue
		}
		if m := f.repeatError(l); m != "" {
			l.errs = []string{m}
			if first < 0 {
				first = i
			}
		}
	}
	if first >= 0 {
		f.setFocus(first)
		return false
	}
	if len(f.other) > 0 {
		return false
	}
	answers.Normalize(&a.ans)
	return true
}

func (f *form) update(a *app, p formPage, k tea.KeyMsg) tea.Cmd {
	onButtons := f.focus == len(f.fields)
	leave := func(d int) {
		if !onButtons {
			f.touched[f.fields[f.focus].key] = true
		}
		f.move(p, d)
		f.revalidate(a, p)
	}
	switch k.Type {
	case tea.KeyEsc:
		p.apply(a)
		a.back()
		return nil
	case tea.KeyTab, tea.KeyDown:
		leave(1)
		return nil
	case tea.KeyShiftTab, tea.KeyUp:
		leave(-1)
		return nil
	case tea.KeyEnter:
		if !onButtons {
			leave(1)
			return nil
		}
		if f.btn.selected() == btnBack {
			p.apply(a)
			a.back()
			return nil
		}
		if f.submit(a, p) {
			a.push(p.next(a))
		}
		return nil
	}
	if onButtons {
		f.btn.key(k)
		return nil
	}
	l := f.fields[f.focus]
	if l.check {
		if isSpace(k) || isRune(k, 'x') {
			l.on = !l.on
			f.touched[l.key] = true
			f.revalidate(a, p)
		}
		return nil
	}
	var cmd tea.Cmd
	l.input, cmd = l.input.Update(k)
	return cmd
}

// view draws head, the fields (scrolled to keep the focus in sight), the
// focused line's hint (nextHint on the buttons) and the buttons.
func (f *form) view(p formPage, w, h int, head []string, nextHint string) []string {
	var lines []string
	from, to := 0, 0
	for i, l := range f.fields {
		if i == f.focus {
			from = len(lines)
		}
		mark := "  "
		if i == f.focus {
			mark = "> "
		}
		label := fmt.Sprintf("%-*s", labelWidth, l.label)
		var value string
		switch {
		case l.check:
			box := "[ ]"
			if l.on {
				box = "[x]"
			}
			value = box
			if i == f.focus {
				value = styleFocus.Render(box)
			}
		case !f.enabled(p, i):
			value = styleHelp.Render(l.off)
		default:
			value = "[" + l.input.View() + "]"
		}
		lines = append(lines, mark+label+value)
		for _, e := range l.errs {
			lines = append(lines, errorLines(2+labelWidth, e, w)...)
		}
		if i == f.focus {
			to = len(lines)
		}
	}

	var bottom []string
	for _, e := range f.other {
		bottom = append(bottom, errorLines(0, e, w)...)
	}
	bottom = append(bottom, "")
	if f.focus < len(f.fields) {
		bottom = append(bottom, styleHelp.Render(clip(f.fields[f.focus].hint, w)))
	} else {
		bottom = append(bottom, styleHelp.Render(nextHint))
	}
	bottom = append(bottom, "", f.btn.render(f.focus == len(f.fields)))

	avail := h - len(head) - len(bottom)
	if f.focus == len(f.fields) {
		from, to = len(lines)-1, len(lines)
	}
	f.top = follow(len(lines), avail, f.top, from, to)
	shown, top := scroll(lines, avail, f.top)
	f.top = top
	out := append(head, shown...)
	return append(out, bottom...)
}
