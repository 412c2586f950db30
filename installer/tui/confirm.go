package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/checks"
)

// Words the user types to start the install.
const (
	wordErase = "erase"
	wordKeep  = "keep"
)

// confirmScreen sums up every answer and names the disks that will be
// erased (SPEC I6); the install starts only after the user types the word
// ("erase", or "keep" for Recover, which keeps the data partitions).
type confirmScreen struct {
	input  textinput.Model
	errors []string
	top    int
}

func newConfirmScreen(a *app) *confirmScreen {
	in := newInput("", false)
	in.Width = 8
	in.CharLimit = 16
	in.Focus()
	return &confirmScreen{input: in}
}

func confirmWord(act answers.Action) string {
	if act == answers.Recover {
		return wordKeep
	}
	return wordErase
}

func (s *confirmScreen) title() string { return "Confirm" }

func (s *confirmScreen) help(a *app) string {
	return fmt.Sprintf("Type %q and Enter: install  Up/Down: scroll  Esc: back", confirmWord(a.ans.Action))
}

func (s *confirmScreen) update(a *app, k tea.KeyMsg) tea.Cmd {
	switch k.Type {
	case tea.KeyEsc:
		a.back()
		return nil
	case tea.KeyUp:
		s.top = max(s.top-1, 0)
		return nil
	case tea.KeyDown:
		s.top++
		return nil
	case tea.KeyPgUp:
		s.top = max(s.top-a.h/2, 0)
		return nil
	case tea.KeyPgDown:
		s.top += a.h / 2
		return nil
	case tea.KeyEnter:
		word := confirmWord(a.ans.Action)
		if strings.ToLower(strings.TrimSpace(s.input.Value())) != word {
			s.errors = []string{fmt.Sprintf("Type %q to start the installation, or press Esc to go back.", word)}
			return nil
		}
		a.ans.Disk.ConfirmErase = true
		s.errors = nil
		for _, e := range answers.Validate(&a.ans, a.hw) {
			s.errors = append(s.errors, e.Error())
		}
		if len(s.errors) > 0 {
			a.ans.Disk.ConfirmErase = false
			return nil
		}
		a.prog = newProgressScreen(a, false)
		a.stack = []screen{a.prog} // no way back once the disks are touched
		return a.prog.start(a)
	}
	s.errors = nil
	var cmd tea.Cmd
	s.input, cmd = s.input.Update(k)
	return cmd
}

// nicText names a NIC answer: "eth0  52:54:00:12:34:56".
func (a *app) nicText(ref string) string {
	for _, n := range a.nics {
		if n.matches(ref) {
			return strings.TrimSpace(fmt.Sprintf("%-10s %s  %s", n.Name, n.MAC, speedText(n.Speed)))
		}
	}
	return ref
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// summary lists every answer, one "label  value" line each.
func (a *app) summary(w int) []string {
	ans := a.ans
	var lines []string
	add := func(label, value string) {
		lines = append(lines, wrapIndent(fmt.Sprintf("%-16s", label), value, w)...)
	}
	add("Action", actionLabel(ans.Action))
	add("Host name", ans.Hostname)
	if ans.Action == answers.Create {
		add("System", fmt.Sprintf("%s, system IP %s", ans.System.Name, ans.System.IP))
		if len(ans.System.Witnesses) > 0 {
			add("Witnesses", strings.Join(ans.System.Witnesses, ", ")+" (secret set)")
		}
	} else {
		add("System", "from the system being joined (found over priv0)")
	}
	n := ans.Network.Node
	if n.DHCP {
		add("Node address", "DHCP on ibiz0")
	} else {
		addr := n.IP + " / " + n.Netmask
		if n.Gateway != "" {
			addr += ", gateway " + n.Gateway
		}
		add("Node address", addr)
	}
	add("DNS", orNone(ans.Network.DNS))
	add("NTP", orNone(ans.Network.NTP))
	add("priv0", a.nicText(ans.Network.Priv0))
	add("ibiz0", a.nicText(ans.Network.Ibiz0))
	for i, ref := range ans.Network.ALinks {
		add(fmt.Sprintf("alink%d", i), a.nicText(ref))
	}
	if ans.Action == answers.Create {
		add("Administrator", "password set")
	}
	switch {
	case ans.AcceptWarnings:
		add("Checks", fmt.Sprintf("%d warning(s) accepted", len(checks.Warnings(a.cfg.Checks))))
	case len(a.cfg.Checks) > 0:
		add("Checks", "all passed")
	}
	if a.lab() {
		add("Lab mode", "yes: not for production")
	}
	return lines
}

// diskLines names the disks the install writes, with model, size and id.
func (a *app) diskLines(w int) []string {
	var lines []string
	add := func(role, id string) {
		i := findDisk(a.disks, id)
		lines = append(lines, clip(fmt.Sprintf("  %-14s %s", role, id), w))
		if i >= 0 {
			lines = append(lines, clip("  "+strings.Repeat(" ", 15)+diskFacts(a.disks[i]), w))
		}
	}
	add("System disk", a.ans.Disk.System)
	for _, id := range a.ans.Disk.StorageGroup {
		add("Storage group", id)
	}
	return lines
}

func (s *confirmScreen) view(a *app, w, h int) []string {
	word := confirmWord(a.ans.Action)
	var bottom []string
	if a.ans.Action == answers.Recover {
		bottom = append(bottom, styleBold.Render(clip("Recover KEEPS this node's data:", w)))
		bottom = append(bottom, wrap("only the system partitions of the system disk are rewritten; its data partitions and the storage-group disks are kept.", w)...)
	} else {
		bottom = append(bottom, styleError.Render(clip("These disks will be ERASED; everything on them is lost:", w)))
	}
	bottom = append(bottom, a.diskLines(w)...)
	bottom = append(bottom, "", fmt.Sprintf("Type %s and press Enter to install: [%s]", word, s.input.View()))
	for _, e := range s.errors {
		bottom = append(bottom, errorLines(0, e, w)...)
	}

	sum := a.summary(w)
	shown, top := scroll(sum, h-len(bottom)-1, s.top)
	s.top = top
	return append(append(shown, ""), bottom...)
}
