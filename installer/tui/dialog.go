package tui

import (
	tea "github.com/charmbracelet/bubbletea"
)

// leaveDialog is what Ctrl-C shows on every screen: the installer never
// quits to a shell on Ctrl-C, it asks whether to reboot or power off.
type leaveDialog struct {
	btn buttons
	// pending is the choice made while the engine still runs: the engine is
	// cancelled and the TUI ends once it has stopped.
	pending Kind
}

func newLeaveDialog(*app) *leaveDialog {
	return &leaveDialog{btn: newButtons(2, btnReboot, btnPowerOff, btnCancel)}
}

func (d *leaveDialog) help() string {
	return "Left/Right: choose  Enter: do it  Esc: cancel"
}

func (d *leaveDialog) update(a *app, k tea.KeyMsg) tea.Cmd {
	if d.pending != 0 {
		return nil // waiting for the engine to stop
	}
	if d.btn.key(k) {
		return nil
	}
	var kind Kind
	switch {
	case k.Type == tea.KeyEsc:
		a.leave = nil
		return nil
	case isRune(k, 'r'):
		kind = Reboot
	case isRune(k, 'p'):
		kind = PowerOff
	case isRune(k, 'c'):
		a.leave = nil
		return nil
	case k.Type == tea.KeyEnter:
		switch d.btn.selected() {
		case btnReboot:
			kind = Reboot
		case btnPowerOff:
			kind = PowerOff
		default:
			a.leave = nil
			return nil
		}
	default:
		return nil
	}
	if p := a.prog; p != nil && p.run != nil && !p.done {
		d.pending = kind
		p.run.cancel()
		p.dropQuestions()
		return nil
	}
	a.finish(kind)
	return nil
}

func (d *leaveDialog) view(a *app, w, h int) []string {
	lines := []string{styleBold.Render("Leave the installer?"), ""}
	switch p := a.prog; {
	case d.pending != 0:
		lines = append(lines, "Stopping the installation...")
		return lines
	case p != nil && p.run != nil && !p.done:
		lines = append(lines, errorLinesPlain("The installation is running. Leaving now stops it, and this node will not boot until it is installed again.", w)...)
	case p != nil && p.done && !p.failed:
		lines = append(lines, wrap("The installation is complete.", w)...)
	default:
		lines = append(lines, wrap("Nothing has been written to the disks.", w)...)
	}
	lines = append(lines, "", wrap("Reboot (r), power off (p), or cancel (c) and go back to the installer.", w)[0], "", d.btn.view())
	return lines
}
