package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
)

// Console is one terminal the installer shows itself on: the VGA console,
// a serial console (IPMI SOL)...
type Console struct {
	Name string
	In   io.Reader
	Out  io.Writer
}

// Run shows the installer on every console and returns when the user is
// done. Each console runs its own bubbletea program over one shared state:
// the first console on which a key is pressed becomes the active one; the
// others follow the same screens read-only, with a line saying where the
// installer is in use. Ctrl-C never ends it (it asks whether to reboot or
// power off); cancelling ctx does, with ctx's error.
//
// Run turns off bubbletea's SIGINT handling: a console's Ctrl-C arrives as
// a key in raw mode. The caller should ignore SIGINT itself (signal.Ignore)
// so that nothing can drop the installer to a shell.
func Run(ctx context.Context, cfg Config, consoles []Console) (Result, error) {
	if len(consoles) == 0 {
		return Result{}, errors.New("tui: no console to run on")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	return newShared(ctx, func() { cancel(errConsolesGone) }, cfg, consoles).run()
}

// errConsolesGone: every console's program ended before the installer did.
var errConsolesGone = errors.New("tui: every console closed before the installer finished")

// shared is the one logical installer state behind all consoles.
type shared struct {
	ctx      context.Context
	cancel   context.CancelFunc
	mu       sync.Mutex
	a        *app
	names    []string
	models   []*consoleModel
	programs []*tea.Program
	active   int // console in use, -1 until a key is pressed
	started  bool
	ended    int
}

func newShared(ctx context.Context, cancel context.CancelFunc, cfg Config, consoles []Console) *shared {
	sh := &shared{ctx: ctx, cancel: cancel, a: newApp(ctx, cfg), active: -1}
	if len(consoles) == 1 {
		sh.active = 0
	}
	for i, c := range consoles {
		m := &consoleModel{sh: sh, idx: i, w: defaultWidth, h: defaultHeight}
		sh.names = append(sh.names, c.Name)
		sh.models = append(sh.models, m)
		sh.programs = append(sh.programs, tea.NewProgram(m,
			tea.WithInput(c.In), tea.WithOutput(c.Out), tea.WithContext(ctx),
			tea.WithoutSignalHandler(), tea.WithAltScreen()))
	}
	return sh
}

// run runs every console's program until the installer is finished, ctx
// is cancelled or every console has failed.
func (sh *shared) run() (Result, error) {
	errs := make([]error, len(sh.programs))
	var wg sync.WaitGroup
	for i, p := range sh.programs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Run(); err != nil {
				errs[i] = fmt.Errorf("console %s: %w", sh.names[i], err)
			}
			// A console whose program died (its terminal went away) is
			// not waited for; when none is left the state cannot go on.
			sh.mu.Lock()
			sh.ended++
			all := sh.ended == len(sh.programs)
			sh.mu.Unlock()
			if all {
				sh.cancel()
			}
		}()
	}
	wg.Wait()

	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.a.finished {
		return sh.a.result, nil
	}
	if err := context.Cause(sh.ctx); err != nil && !errors.Is(err, errConsolesGone) {
		return sh.a.result, err // the caller cancelled
	}
	return sh.a.result, errors.Join(append(errs, errConsolesGone)...)
}

// activeConsole is the index of the console in use, -1 before any key.
func (sh *shared) activeConsole() int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.active
}

// refreshMsg makes a console redraw from the shared state.
type refreshMsg struct{}

// quitMsg ends a console's program.
type quitMsg struct{}

// notify redraws every console but from (the one that changed the state
// redraws by itself), or ends them all once the installer is finished.
// Sends run in goroutines: two programs may notify each other at once.
func (sh *shared) notify(from int, finished bool) {
	for i, p := range sh.programs {
		switch {
		case finished:
			go p.Send(quitMsg{})
		case i != from:
			go p.Send(refreshMsg{})
		}
	}
}

// consoleModel is one console's view of the shared state.
type consoleModel struct {
	sh   *shared
	idx  int
	w, h int
}

func (m *consoleModel) Init() tea.Cmd {
	m.sh.mu.Lock()
	defer m.sh.mu.Unlock()
	if m.sh.started { // the engine (unattended) starts once, on the first console
		return nil
	}
	m.sh.started = true
	return m.sh.a.init()
}

func (m *consoleModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	sh := m.sh
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = screenSize(msg)
		sh.mu.Lock()
		if sh.active == m.idx {
			sh.a.resize(m.w, m.h)
		}
		sh.mu.Unlock()
		return m, nil
	case refreshMsg:
		return m, nil
	case quitMsg:
		return m, tea.Quit
	case snapshotMsg:
		msg.reply <- m.View()
		return m, nil
	case tea.KeyMsg:
		sh.mu.Lock()
		if sh.active < 0 {
			sh.active = m.idx
			sh.a.resize(m.w, m.h)
		}
		if sh.active != m.idx {
			sh.mu.Unlock()
			return m, nil // read-only console
		}
	case eventMsg, finishedMsg, rebootMsg:
		// The engine's messages (and the unattended reboot's tick) come back to the console that ran the
		// command waiting for them; they change the state whichever it is.
		sh.mu.Lock()
	default:
		return m, nil
	}
	cmd := sh.a.update(msg)
	finished := sh.a.finished
	sh.mu.Unlock()
	sh.notify(m.idx, finished)
	if finished {
		return m, tea.Quit
	}
	return m, cmd
}

func (m *consoleModel) View() string {
	sh := m.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	note := ""
	if sh.active >= 0 && sh.active != m.idx {
		note = fmt.Sprintf("In use on %s - this console shows progress only", sh.names[sh.active])
		if p := sh.a.prog; p != nil && p.question() != nil && sh.a.leave == nil {
			// The question looks answerable here, but keys on this
			// console do nothing; say where to answer it.
			note = fmt.Sprintf("In use on %s - answer there; this console shows progress only", sh.names[sh.active])
		}
	}
	return sh.a.view(m.w, m.h, note)
}
