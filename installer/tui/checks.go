package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/checks"
)

// Button labels.
const (
	btnBack     = "Back"
	btnContinue = "Continue"
	btnAnyway   = "Continue anyway"
	btnReboot   = "Reboot"
	btnPowerOff = "Power off"
	btnRescue   = "Rescue shell"
	btnCancel   = "Cancel"
	btnNext     = "Next"
	btnInstall  = "Install"
)

// checksScreen shows the BIOS, RAID and network checks (SPEC I2, I3). A
// failure blocks (Back or Reboot only); warnings need "Continue anyway".
// With stopped set it is the end of an unattended install that may not go
// on: it says why and offers only Reboot, Power off and Rescue shell.
type checksScreen struct {
	stopped []string
	btn     buttons
	top     int
}

func newChecksScreen(a *app) *checksScreen {
	s := &checksScreen{}
	switch {
	case checks.Blocking(a.cfg.Checks):
		s.btn = newButtons(0, btnBack, btnReboot)
	case len(checks.Warnings(a.cfg.Checks)) > 0:
		s.btn = newButtons(0, btnBack, btnAnyway)
	default:
		s.btn = newButtons(0, btnContinue, btnBack)
	}
	return s
}

func newStoppedScreen(_ *app, reasons []string) *checksScreen {
	return &checksScreen{stopped: reasons, btn: newButtons(0, btnReboot, btnPowerOff, btnRescue)}
}

// unattendedBlockers lists why an unattended install must not start.
func unattendedBlockers(a *app) []string {
	var out []string
	if checks.Blocking(a.cfg.Checks) {
		out = append(out, "A check FAILED (below). An unattended install stops on any failure; fix it and reboot.")
	} else if w := checks.Warnings(a.cfg.Checks); len(w) > 0 && !a.ans.AcceptWarnings {
		out = append(out, "Checks WARN (below) and the answer file does not set \"accept_warnings: true\". Fix them, or accept them in the answer file.")
	}
	if errs := answers.Validate(&a.ans, a.hw); len(errs) > 0 {
		out = append(out, "The answer file is not valid:")
		for _, e := range errs {
			out = append(out, "- "+e.Error())
		}
	}
	return out
}

func (s *checksScreen) title() string {
	if s.stopped != nil {
		return "Unattended install stopped"
	}
	return "BIOS and RAID checks"
}

func (s *checksScreen) help(*app) string {
	if s.stopped != nil {
		return "Left/Right: choose  Enter: do it  Up/Down: scroll  Ctrl-C: leave"
	}
	return "Left/Right: choose  Enter: do it  Up/Down: scroll  Esc: back"
}

func (s *checksScreen) update(a *app, k tea.KeyMsg) tea.Cmd {
	if s.btn.key(k) {
		return nil
	}
	switch k.Type {
	case tea.KeyUp:
		s.top--
	case tea.KeyDown:
		s.top++
	case tea.KeyPgUp:
		s.top -= a.h / 2
	case tea.KeyPgDown:
		s.top += a.h / 2
	case tea.KeyEsc:
		if s.stopped == nil {
			a.back()
		}
	case tea.KeyEnter:
		switch s.btn.selected() {
		case btnBack:
			a.back()
		case btnContinue:
			a.ans.AcceptWarnings = false
			a.push(newNetworkScreen(a))
		case btnAnyway:
			a.ans.AcceptWarnings = true
			a.push(newNetworkScreen(a))
		case btnReboot:
			a.finish(Reboot)
		case btnPowerOff:
			a.finish(PowerOff)
		case btnRescue:
			a.finish(Rescue)
		}
	}
	s.top = max(s.top, 0)
	return nil
}

// statusWord is the check status in text, coloured where colour exists.
func statusWord(st checks.Status) string {
	switch st {
	case checks.Pass:
		return stylePass.Render("PASS")
	case checks.Warn:
		return styleWarn.Render("WARN")
	case checks.Fail:
		return styleError.Render("FAIL")
	}
	return strings.ToUpper(st.String())
}

// checkLines renders the results: one line each, plus the detail and fix of
// every result that did not pass.
func checkLines(rs []checks.Result, w int) []string {
	var lines []string
	for _, r := range rs {
		head := r.Title
		if r.Status == checks.Pass {
			if r.Detail != "" {
				head += ": " + r.Detail
			}
			lines = append(lines, statusWord(r.Status)+"  "+clip(head, w-6))
			continue
		}
		first := wrapIndent("      ", head, w)
		first[0] = statusWord(r.Status) + "  " + strings.TrimPrefix(first[0], "      ")
		lines = append(lines, first...)
		if r.Detail != "" {
			lines = append(lines, wrapIndent("      ", r.Detail, w)...)
		}
		if r.Fix != "" {
			lines = append(lines, wrapIndent("      Fix: ", r.Fix, w)...)
		}
	}
	return lines
}

func (s *checksScreen) view(a *app, w, h int) []string {
	rs := a.cfg.Checks
	var bottom []string
	switch {
	case s.stopped != nil:
		// the reasons go above the list, in the scrolled part
	case checks.Blocking(rs):
		bottom = append(bottom, errorLinesPlain("A FAILED check blocks the installation. Fix it in the BIOS or RAID setup, then reboot.", w)...)
	case len(checks.Warnings(rs)) > 0:
		bottom = append(bottom, wrap("Warnings do not block, but this machine may not be supported for production. To go on anyway choose \"Continue anyway\".", w)...)
	case len(rs) == 0:
		bottom = append(bottom, "No checks were reported.")
	default:
		bottom = append(bottom, "All checks passed.")
	}
	if len(bottom) > 0 {
		bottom = append(bottom, "")
	}
	bottom = append(bottom, s.btn.view())

	var lines []string
	for _, r := range s.stopped {
		if item, ok := strings.CutPrefix(r, "- "); ok {
			for _, l := range wrapIndent("- ", item, w) {
				lines = append(lines, styleError.Render(l))
			}
			continue
		}
		lines = append(lines, errorLinesPlain(r, w)...)
	}
	if s.stopped != nil {
		lines = append(lines, "")
	}
	lines = append(lines, checkLines(rs, w)...)
	shown, top := scroll(lines, h-len(bottom)-1, s.top)
	s.top = top
	return append(append(shown, ""), bottom...)
}

// errorLinesPlain wraps msg in red without the "!" marker, for messages
// that already say what they are.
func errorLinesPlain(msg string, w int) []string {
	lines := wrap(msg, w)
	for i := range lines {
		lines[i] = styleError.Render(lines[i])
	}
	return lines
}
