package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/probe"
)

// diskScreen chooses the system disk and the storage-group disks by stable
// id (SPEC I6). The install medium is listed but cannot be chosen.
type diskScreen struct {
	cur    int
	sys    int // index into app.disks, -1 none
	sg     map[int]bool
	errors []string
	top    int
}

func findDisk(disks []diskRow, id string) int {
	if id == "" {
		return -1
	}
	for i, d := range disks {
		if d.ID == id {
			return i
		}
		for _, al := range d.Aliases {
			if al == id {
				return i
			}
		}
	}
	return -1
}

func newDiskScreen(a *app) *diskScreen {
	s := &diskScreen{sys: findDisk(a.disks, a.ans.Disk.System), sg: map[int]bool{}, cur: -1}
	for _, id := range a.ans.Disk.StorageGroup {
		if i := findDisk(a.disks, id); i >= 0 {
			s.sg[i] = true
		}
	}
	if s.sys >= 0 && !a.disks[s.sys].BootMedium {
		s.cur = s.sys
	} else {
		s.move(a, 1)
	}
	return s
}

func (s *diskScreen) title() string { return "Disks" }

func (s *diskScreen) help(*app) string {
	return "Up/Down: disk  Enter: install on this disk  Space: storage group  Esc: back"
}

// move steps the cursor to the next selectable disk in direction d.
func (s *diskScreen) move(a *app, d int) {
	n := len(a.disks)
	for i, c := 0, s.cur; i < n; i++ {
		c = (c + d + n) % n
		if !a.disks[c].BootMedium {
			s.cur = c
			return
		}
	}
}

func (s *diskScreen) apply(a *app) {
	a.ans.Disk.System = ""
	if s.sys >= 0 {
		a.ans.Disk.System = a.disks[s.sys].ID
	}
	a.ans.Disk.StorageGroup = nil
	for i, d := range a.disks {
		if s.sg[i] && i != s.sys {
			a.ans.Disk.StorageGroup = append(a.ans.Disk.StorageGroup, d.ID)
		}
	}
}

func (s *diskScreen) update(a *app, k tea.KeyMsg) tea.Cmd {
	switch {
	case k.Type == tea.KeyUp || k.Type == tea.KeyShiftTab:
		s.move(a, -1)
	case k.Type == tea.KeyDown || k.Type == tea.KeyTab:
		s.move(a, 1)
	case k.Type == tea.KeyEsc:
		s.apply(a)
		a.back()
		return nil
	case s.cur < 0:
		return nil
	case isSpace(k):
		if s.cur == s.sys {
			s.errors = []string{"This is the system disk; to use it for the storage group instead, choose another system disk first."}
			return nil
		}
		s.sg[s.cur] = !s.sg[s.cur]
	case k.Type == tea.KeyEnter:
		s.sys = s.cur
		delete(s.sg, s.cur)
		s.apply(a)
		s.errors = nil
		for _, f := range []string{"disk.system", "disk.storage_group"} {
			for _, e := range answers.ValidateField(&a.ans, a.hw, f) {
				s.errors = append(s.errors, e.Message)
			}
		}
		if len(s.errors) == 0 {
			a.push(newConfirmScreen(a))
		}
		return nil
	default:
		return nil
	}
	s.errors = nil
	return nil
}

// diskFacts is the second line of a disk row: model, size, controller, RAID.
func diskFacts(d diskRow) string {
	parts := []string{firstOf(d.Model, "unknown model"), probe.HumanSize(d.SizeBytes)}
	if d.Controller != "" {
		parts = append(parts, d.Controller)
	}
	if d.RAID != "" {
		parts = append(parts, "RAID "+d.RAID)
	} else if d.Logical {
		parts = append(parts, "RAID volume")
	}
	if d.Degraded {
		parts = append(parts, "DEGRADED")
	}
	if d.Name != "" {
		parts = append(parts, "("+d.Name+")")
	}
	return strings.Join(parts, "  ")
}

func (s *diskScreen) view(a *app, w, h int) []string {
	var lines []string
	from, to := 0, 0
	for i, d := range a.disks {
		if i == s.cur {
			from = len(lines)
		}
		var first string
		switch {
		case d.BootMedium:
			first = "   -   -   " + d.ID
		default:
			box := "[ ]"
			if s.sg[i] {
				box = "[x]"
			}
			first = "  " + radio(i == s.sys) + " " + box + "  " + d.ID
		}
		second := "           " + diskFacts(d)
		if d.BootMedium {
			second = "           INSTALL MEDIUM  " + diskFacts(d)
		}
		if i == s.cur {
			first = styleFocus.Render(">" + clip(first, w)[1:])
		} else if d.BootMedium {
			first, second = styleHelp.Render(clip(first, w)), styleHelp.Render(clip(second, w))
		}
		lines = append(lines, first, second)
		if i == s.cur {
			to = len(lines)
		}
	}
	if len(a.disks) == 0 {
		lines = append(lines, styleError.Render("No disks were found."))
	}

	bottom := []string{""}
	bottom = append(bottom, wrap("(*) system disk: the system is installed here.  [x] storage group: more disks for VM volumes. The install medium cannot be chosen.", w)...)
	if len(s.errors) > 0 {
		bottom = append(bottom, "")
	}
	for _, e := range s.errors {
		bottom = append(bottom, errorLines(0, e, w)...)
	}

	avail := h - len(bottom)
	s.top = follow(len(lines), avail, s.top, from, to)
	shown, top := scroll(lines, avail, s.top)
	s.top = top
	return append(shown, bottom...)
}
