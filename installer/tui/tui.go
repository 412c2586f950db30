// Package tui is the installer's full-screen text interface (SPEC I1-I10). It
// only collects answers and draws the install engine's progress: it never
// touches disks or networks itself. Every screen fits 80x24 and reads well
// without colour, because IPMI serial-over-LAN consoles are often exactly
// that.
//
// A single console uses Model (New) like any bubbletea model; the installer
// itself calls Run, which drives one program per console over one shared
// state (see multi.go).
package tui

import (
	"context"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/checks"
	"github.com/lockstep-ft/lockstep/installer/engine"
	"github.com/lockstep-ft/lockstep/installer/probe"
)

// LogPath is where the installer writes its log; the failure screen names it.
const LogPath = "/tmp/lockstep-installer.log"

// LabBanner is shown on every screen in lab mode. It is ASCII on purpose: the
// kernel's built-in VGA font has no typographic dashes.
const LabBanner = "LAB MODE - not for production"

// Config is everything the TUI needs; the caller probes the machine and runs
// the checks before it starts the TUI.
type Config struct {
	// Hardware is what answers.Validate checks the answers against. When
	// its NICs or Disks are empty they are derived from NICs and Disks below
	// (disk ids then come from probe.Disk.Stable, and no disk is marked as
	// the install medium).
	Hardware answers.Hardware
	// NICs and Disks add what the screens show beyond Hardware (driver,
	// speed, link; model, controller, RAID level). They are matched to
	// Hardware by kernel name.
	NICs  []probe.NIC
	Disks []probe.Disk
	// Checks are the BIOS, RAID and network checks, already computed.
	Checks []checks.Result
	// Lab is the lab override: every screen shows LabBanner and the answers
	// get Lab set.
	Lab     bool
	Version string
	// Engine does the install once the answers are confirmed.
	Engine engine.Engine
	// Recommended optionally proposes priv0 and ibiz0 (NIC names or MACs);
	// without it the TUI uses the seed's layouts (priv0 on a 10G port, ibiz0
	// on the first slower one), else the first two NICs.
	Recommended func(nics []probe.NIC) (priv0, ibiz0 string)
	// Unattended, when set, skips every question: the TUI checks the
	// answers and the check results, then shows the install's progress.
	Unattended *answers.Answers
}

// Kind is what the installer should do after the TUI ends.
type Kind int

const (
	// Install: the installation completed and the user asked to reboot
	// (Result.Answers holds the answers used). The caller reboots.
	Install Kind = iota + 1
	// Rescue: the user chose "Rescue shell".
	Rescue
	// Reboot: the user chose to reboot (from the menu, Ctrl-C or a failure).
	Reboot
	// PowerOff: the user chose to power off.
	PowerOff
)

func (k Kind) String() string {
	switch k {
	case Install:
		return "install"
	case Rescue:
		return "rescue"
	case Reboot:
		return "reboot"
	case PowerOff:
		return "poweroff"
	}
	return "none"
}

// Result is how the TUI ended.
type Result struct {
	Kind Kind
	// Answers are the answers collected (or the unattended ones), also when
	// the install failed; the zero value when none were confirmed.
	Answers answers.Answers
	// Err is the install's error when it failed (the user then chose
	// Reboot, PowerOff or Rescue on the failure screen).
	Err error
}

// Model is the installer TUI for one console, a bubbletea model. Use New.
type Model struct {
	a    *app
	w, h int
}

// New builds the TUI. The engine, if the user gets that far, runs with
// context.Background(); Run passes its own context.
func New(cfg Config) *Model {
	return &Model{a: newApp(context.Background(), cfg), w: defaultWidth, h: defaultHeight}
}

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return m.a.init() }

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = screenSize(msg)
		m.a.resize(m.w, m.h)
		return m, nil
	case snapshotMsg:
		msg.reply <- m.View()
		return m, nil
	}
	cmd := m.a.update(msg)
	if m.a.finished {
		return m, tea.Sequence(cmd, tea.Quit)
	}
	return m, cmd
}

// View implements tea.Model.
func (m *Model) View() string { return m.a.view(m.w, m.h, "") }

// Result is how the TUI ended; Kind is 0 while it runs.
func (m *Model) Result() Result { return m.a.result }

// snapshotMsg asks a model for its current view, in order with the keys sent
// before it (tests use it to compare whole screens).
type snapshotMsg struct{ reply chan string }

// screenSize turns a window size into the size drawn: serial consoles report
// 0x0, and anything smaller than 80x24 is drawn at 80x24 too (truncated by
// the terminal) rather than squeezed into an unusable layout.
func screenSize(msg tea.WindowSizeMsg) (int, int) {
	w, h := msg.Width, msg.Height
	if w <= 0 || h <= 0 {
		return defaultWidth, defaultHeight
	}
	if w < defaultWidth {
		w = defaultWidth
	}
	if h < defaultHeight {
		h = defaultHeight
	}
	return w, h
}
