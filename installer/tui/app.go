package tui

import (
	"context"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// screen is one step of the installer. Screens keep their own widgets and
// write what the user chose into app.ans; the app routes keys to the top
// screen and draws the frame around its body.
type screen interface {
	// title names the screen in the header.
	title() string
	// update handles a key (never Ctrl-C: the app keeps that for itself).
	update(a *app, k tea.KeyMsg) tea.Cmd
	// view draws the body in at most w cells by h lines.
	view(a *app, w, h int) []string
	// help is the key line at the bottom.
	help(a *app) string
}

// app is the installer's whole logical state, shared by every console (see
// multi.go): the answers so far, the screen stack and the engine run.
type app struct {
	ctx   context.Context
	cfg   Config
	hw    answers.Hardware
	nics  []nicRow
	disks []diskRow
	ans   answers.Answers

	stack []screen
	leave *leaveDialog // the Ctrl-C dialog, over any screen
	prog  *progressScreen

	// w, h: the size of the console in use, for keys that scroll.
	w, h int

	result   Result
	finished bool
}

func newApp(ctx context.Context, cfg Config) *app {
	a := &app{ctx: ctx, cfg: cfg, w: defaultWidth, h: defaultHeight}
	a.hw, a.nics, a.disks = mergeHardware(cfg)
	a.ans.Lab = cfg.Lab
	if cfg.Unattended != nil {
		a.ans = *cfg.Unattended
		if reasons := unattendedBlockers(a); len(reasons) > 0 {
			a.stack = []screen{newStoppedScreen(a, reasons)}
		} else {
			a.prog = newProgressScreen(a, true)
			a.stack = []screen{a.prog}
		}
		return a
	}
	a.stack = []screen{newMenuScreen()}
	return a
}

// init starts the engine right away for an unattended install.
func (a *app) init() tea.Cmd {
	if a.prog != nil && a.prog.run == nil {
		return a.prog.start(a)
	}
	return nil
}

func (a *app) lab() bool { return a.cfg.Lab || a.ans.Lab }

func (a *app) top() screen { return a.stack[len(a.stack)-1] }

// push shows s on top of the current screen; Esc on s comes back.
func (a *app) push(s screen) { a.stack = append(a.stack, s) }

// back returns to the previous screen (not past the first).
func (a *app) back() {
	if len(a.stack) > 1 {
		a.stack = a.stack[:len(a.stack)-1]
	}
}

// finish ends the TUI with the given kind.
func (a *app) finish(k Kind) {
	a.result.Kind = k
	a.result.Answers = a.ans
	if a.prog != nil {
		a.result.Err = a.prog.err
	}
	a.finished = true
}

// resize records the size of the console in use.
func (a *app) resize(w, h int) { a.w, a.h = w, h }

// update applies one message to the state and returns the command to run.
func (a *app) update(msg tea.Msg) tea.Cmd {
	if a.finished {
		return nil
	}
	switch msg := msg.(type) {
	case tea.KeyMsg:
		if a.leave != nil {
			return a.leave.update(a, msg)
		}
		if msg.Type == tea.KeyCtrlC {
			a.leave = newLeaveDialog(a)
			return nil
		}
		return a.top().update(a, msg)
	case eventMsg:
		if a.prog != nil {
			return a.prog.event(a, msg)
		}
	case finishedMsg:
		if a.prog != nil {
			a.prog.finished(msg)
			if a.leave != nil && a.leave.pending != 0 {
				a.finish(a.leave.pending)
			} else if a.prog.unattended && !a.prog.failed {
				// Nobody is at the console of an unattended install:
				// reboot into the installed system after a pause.
				return tea.Tick(UnattendedRebootDelay, func(time.Time) tea.Msg { return rebootMsg{} })
			}
		}
	case rebootMsg:
		a.finish(Install)
	}
	return nil
}

// UnattendedRebootDelay is how long the success screen of an unattended
// install stays before the machine reboots.
var UnattendedRebootDelay = 10 * time.Second

// rebootMsg ends a successful unattended install.
type rebootMsg struct{}

// bodyHeight is the number of body lines at height h.
func (a *app) bodyHeight(h int) int {
	n := h - 3 // title, blank line, help line (or the read-only notice)
	if a.lab() {
		n--
	}
	return n
}

// bodyWidth is the usable width inside the margins.
func bodyWidth(w int) int { return w - 3 }

// view draws the whole screen, exactly h lines of at most w cells; note, if
// not empty, replaces the help line (multi-console read-only notice).
func (a *app) view(w, h int, note string) string {
	s := a.top()
	title := " Lockstep installer"
	if a.cfg.Version != "" {
		title += " " + a.cfg.Version
	}
	title += " | " + s.title()
	lines := []string{styleTitle.Render(clip(title, w))}
	if a.lab() {
		lines = append(lines, styleLab.Render(clip(" "+LabBanner+" ", w)))
	}
	lines = append(lines, "")

	bw, bh := bodyWidth(w), a.bodyHeight(h)
	var body []string
	help := s.help(a)
	if a.leave != nil {
		body = a.leave.view(a, bw, bh)
		help = a.leave.help()
	} else {
		body = s.view(a, bw, bh)
	}
	for _, l := range pad(body, bh) {
		if l == "" {
			lines = append(lines, "")
			continue
		}
		lines = append(lines, strings.TrimRight(clip("  "+l, w), " "))
	}
	if note != "" { // a read-only console: its keys do nothing
		lines = append(lines, styleNote.Render(clip(" "+note, w)))
	} else {
		lines = append(lines, styleHelp.Render(clip(" "+help, w)))
	}
	return strings.Join(lines, "\n")
}
