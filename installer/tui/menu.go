package tui

import (
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// menuItem is one entry of the main menu (SPEC I1).
type menuItem struct {
	label, about string
	action       answers.Action // for the three install actions
	kind         Kind           // for the others
}

var menuItems = []menuItem{
	{label: "Create new system", action: answers.Create,
		about: "This machine becomes node0 of a new system. The disks you choose are erased."},
	{label: "Replace PM, join system: initialize data", action: answers.Replace,
		about: "This machine joins an existing system as a new or replaced node. The disks you choose are erased and filled from the other node."},
	{label: "Recover PM, join system: preserve data", action: answers.Recover,
		about: "This machine rejoins its system. Its data partitions are kept; only the system partitions are rewritten."},
	{label: "Rescue shell", kind: Rescue,
		about: "Leave the installer for a shell, for diagnostics. Nothing is changed."},
	{label: "Reboot", kind: Reboot, about: "Restart the machine. Nothing is changed."},
	{label: "Power off", kind: PowerOff, about: "Turn the machine off. Nothing is changed."},
}

// actionLabel is the menu label of an install action.
func actionLabel(act answers.Action) string {
	for _, it := range menuItems {
		if it.action == act && act != "" {
			return it.label
		}
	}
	return string(act)
}

// menuScreen is the main menu.
type menuScreen struct{ cur int }

func newMenuScreen() *menuScreen { return &menuScreen{} }

func (s *menuScreen) title() string { return "Main menu" }

func (s *menuScreen) help(*app) string {
	return "Up/Down: move  Enter: choose  Ctrl-C: leave"
}

func (s *menuScreen) update(a *app, k tea.KeyMsg) tea.Cmd {
	switch {
	case k.Type == tea.KeyUp || k.Type == tea.KeyShiftTab:
		s.cur = (s.cur + len(menuItems) - 1) % len(menuItems)
	case k.Type == tea.KeyDown || k.Type == tea.KeyTab:
		s.cur = (s.cur + 1) % len(menuItems)
	case k.Type == tea.KeyHome:
		s.cur = 0
	case k.Type == tea.KeyEnd:
		s.cur = len(menuItems) - 1
	case k.Type == tea.KeyRunes && len(k.Runes) == 1 && k.Runes[0] >= '1' && int(k.Runes[0]-'1') < len(menuItems):
		s.cur = int(k.Runes[0] - '1')
	case k.Type == tea.KeyEnter:
		it := menuItems[s.cur]
		if it.action == "" {
			a.finish(it.kind)
			return nil
		}
		a.startAction(it.action)
	}
	return nil
}

// startAction begins the questions for an install action, keeping what
// was already typed where it still applies.
func (a *app) startAction(act answers.Action) {
	a.ans.Action = act
	a.ans.Lab = a.cfg.Lab
	a.ans.AcceptWarnings = false
	a.ans.Disk.ConfirmErase = false
	if act.Joins() {
		a.ans.System = answers.System{}
		a.ans.Admin = answers.Admin{}
	}
	a.push(newChecksScreen(a))
}

func (s *menuScreen) view(a *app, w, h int) []string {
	lines := []string{"What should this machine do?", ""}
	for i, it := range menuItems {
		l := fmt.Sprintf("  %d  %s", i+1, it.label)
		if i == s.cur {
			l = styleFocus.Render(fmt.Sprintf("> %d  %s", i+1, it.label))
		}
		lines = append(lines, l)
		if i == 2 {
			lines = append(lines, "")
		}
	}
	lines = append(lines, "")
	lines = append(lines, wrap(menuItems[s.cur].about, w)...)
	lines = append(lines, "")
	lines = append(lines, styleHelp.Render(fmt.Sprintf("Found %s and %s.", plural(len(a.nics), "network interface"), plural(len(a.disks), "disk"))))
	return lines
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
