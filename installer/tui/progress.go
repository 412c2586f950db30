package tui

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/engine"
)

// logLines is how many engine messages the progress screen keeps.
const logLines = 8

// eventMsg carries one engine event into the TUI.
type eventMsg struct{ ev engine.Event }

// finishedMsg says the engine's Run returned.
type finishedMsg struct{ err error }

// engineRun is the engine running in its goroutine; its events arrive as
// messages through ch, one waitCmd at a time.
type engineRun struct {
	ch     chan tea.Msg
	cancel context.CancelFunc
}

func startEngine(ctx context.Context, eng engine.Engine, a answers.Answers) *engineRun {
	ctx, cancel := context.WithCancel(ctx)
	r := &engineRun{ch: make(chan tea.Msg, 64), cancel: cancel}
	go func() {
		var err error
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("the install engine crashed: %v", p)
			}
			r.ch <- finishedMsg{err: err}
		}()
		if eng == nil {
			err = errors.New("no install engine is configured")
			return
		}
		err = eng.Run(ctx, a, func(ev engine.Event) {
			select {
			case r.ch <- eventMsg{ev: ev}:
			case <-ctx.Done(): // the TUI stopped listening
			}
		})
	}()
	return r
}

// waitCmd delivers the next engine message.
func (r *engineRun) waitCmd() tea.Cmd {
	return func() tea.Msg { return <-r.ch }
}

// progressScreen draws the install (SPEC I7): a bar, the current step and
// the last log lines; on failure the error and the log path; on success the
// instruction to remove the medium and reboot.
type progressScreen struct {
	unattended bool
	run        *engineRun
	bar        progress.Model
	percent    int
	step       string
	log        []string
	done       bool // Run returned
	failed     bool // an error event arrived or Run failed
	errText    string
	err        error // for Result.Err
	btn        buttons
	// asks are the engine's questions not answered yet, the first one
	// shown; an engine asks one at a time, but nothing must be lost if
	// one asks from two goroutines.
	asks []*questionDialog
}

func newProgressScreen(_ *app, unattended bool) *progressScreen {
	bar := progress.New(progress.WithSolidFill("12"), progress.WithColorProfile(lipgloss.ColorProfile()))
	bar.Full, bar.Empty = '#', '.'
	bar.PercentFormat = " %3.0f%%"
	return &progressScreen{unattended: unattended, bar: bar, step: "Starting the installation",
		btn: newButtons(0, btnReboot, btnPowerOff, btnRescue)}
}

// start runs the engine with the answers as they are now.
func (s *progressScreen) start(a *app) tea.Cmd {
	s.run = startEngine(a.ctx, a.cfg.Engine, a.ans)
	return s.run.waitCmd()
}

func (s *progressScreen) addLog(l string) {
	s.log = append(s.log, l)
	if len(s.log) > logLines {
		s.log = s.log[len(s.log)-logLines:]
	}
}

func (s *progressScreen) event(_ *app, m eventMsg) tea.Cmd {
	ev := m.ev
	if ev.Percent > s.percent {
		s.percent = min(ev.Percent, 100)
	}
	if ev.Title != "" {
		s.step = ev.Title
	}
	text := ev.Message
	if text == "" {
		text = ev.Title
	}
	switch ev.Level {
	case engine.Warn:
		text = "WARN  " + text
	case engine.Error:
		text = "ERROR " + text
		s.failed = true
		if s.errText == "" {
			s.errText = firstOf(ev.Message, ev.Title)
		}
	}
	if text != "" {
		s.addLog(text)
	}
	if ev.Ask != nil {
		s.asks = append(s.asks, newQuestionDialog(ev.Ask))
	}
	return s.run.waitCmd()
}

// question is the question shown, nil when none waits.
func (s *progressScreen) question() *questionDialog {
	if len(s.asks) == 0 {
		return nil
	}
	return s.asks[0]
}

// dropQuestions answers no to every waiting question: when the engine is
// stopped or has returned nobody may answer them any more, and an engine
// that waits only on Answer must not stay blocked.
func (s *progressScreen) dropQuestions() {
	for _, q := range s.asks {
		q.answer(false)
	}
	s.asks = nil
}

func (s *progressScreen) finished(m finishedMsg) {
	s.done = true
	s.dropQuestions()
	if m.err != nil {
		s.failed = true
		s.err = m.err
		if s.errText == "" {
			s.errText = m.err.Error()
		}
	}
	if s.failed && s.err == nil {
		s.err = errors.New(s.errText)
	}
}

func (s *progressScreen) title() string {
	switch {
	case s.question() != nil:
		return "Installing - answer needed"
	case s.done && s.failed:
		return "Installation failed"
	case s.done:
		return "Installation complete"
	}
	return "Installing"
}

func (s *progressScreen) help(*app) string {
	switch {
	case s.question() != nil:
		return s.question().help()
	case s.done && s.failed:
		return "Left/Right: choose  Enter: do it"
	case s.done:
		return "Enter: reboot"
	}
	return "Please wait. Ctrl-C: leave"
}

func (s *progressScreen) update(a *app, k tea.KeyMsg) tea.Cmd {
	if q := s.question(); q != nil {
		if answered, yes := q.key(k); answered {
			q.answer(yes)
			s.asks = s.asks[1:]
			s.addLog("Answered: " + q.label(yes))
		}
		return nil
	}
	switch {
	case !s.done:
	case s.failed:
		if s.btn.key(k) {
			return nil
		}
		if k.Type == tea.KeyEnter {
			switch s.btn.selected() {
			case btnReboot:
				a.finish(Reboot)
			case btnPowerOff:
				a.finish(PowerOff)
			case btnRescue:
				a.finish(Rescue)
			}
		}
	case k.Type == tea.KeyEnter:
		a.finish(Install)
	}
	return nil
}

func (s *progressScreen) view(a *app, w, h int) []string {
	if q := s.question(); q != nil {
		return q.view(w, h, s.unattended)
	}
	what := actionLabel(a.ans.Action)
	if s.unattended {
		what += ", unattended"
	}
	lines := wrap(fmt.Sprintf("Installing %s (%s)", firstOf(a.ans.Hostname, "this node"), what), w)
	lines = append(lines, "")
	lines = append(lines, clip(s.step, w))
	s.bar.Width = w
	lines = append(lines, s.bar.ViewAs(float64(s.percent)/100))
	lines = append(lines, "")

	var bottom []string
	switch {
	case s.done && s.failed:
		bottom = append(bottom, errorLinesPlain("Installation FAILED: "+s.errText, w)...)
		bottom = append(bottom, "Log: "+LogPath, "", s.btn.view())
	case s.failed:
		bottom = append(bottom, errorLinesPlain("Installation FAILED: "+s.errText, w)...)
		bottom = append(bottom, "Log: "+LogPath, "Stopping...")
	case s.done:
		bottom = append(bottom, styleBold.Render(clip("Installation complete.", w)))
		if s.unattended {
			bottom = append(bottom, wrap(fmt.Sprintf("Rebooting into the installed system in %d seconds (Enter: now).", int(UnattendedRebootDelay/time.Second)), w)...)
		} else {
			bottom = append(bottom, wrap("Remove the install medium and press Enter to reboot.", w)...)
		}
	}
	if len(bottom) > 0 {
		bottom = append([]string{""}, bottom...)
	}

	avail := h - len(lines) - len(bottom) - 1
	if avail > 0 {
		lines = append(lines, "Log:")
		log := s.log
		if len(log) > avail {
			log = log[len(log)-avail:]
		}
		for _, l := range log {
			lines = append(lines, "  "+clip(l, w-2))
		}
	}
	lines = pad(lines, h-len(bottom))
	return append(lines, bottom...)
}
