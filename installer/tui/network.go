package tui

import (
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// networkScreen chooses priv0 and ibiz0 (SPEC I4): a NIC table with two
// radio columns. Left/Right picks the column, Space puts the role on the NIC
// under the cursor.
type networkScreen struct {
	cur    int
	col    int // 0 priv0, 1 ibiz0
	priv0  int // index into app.nics, -1 none
	ibiz0  int
	errors []answers.FieldError
	top    int
}

func newNetworkScreen(a *app) *networkScreen {
	s := &networkScreen{priv0: -1, ibiz0: -1}
	for i, n := range a.nics {
		if n.matches(a.ans.Network.Priv0) {
			s.priv0 = i
		}
		if n.matches(a.ans.Network.Ibiz0) {
			s.ibiz0 = i
		}
	}
	if s.priv0 < 0 && s.ibiz0 < 0 {
		s.priv0, s.ibiz0 = recommend(a.cfg, a.nics)
	}
	if s.priv0 >= 0 {
		s.cur = s.priv0
	}
	return s
}

func (s *networkScreen) title() string { return "Network interfaces" }

func (s *networkScreen) help(*app) string {
	return "Up/Down: NIC  Left/Right: role  Space: set role  Enter: next  Esc: back"
}

// set gives role col to NIC i; if i had the other role the two swap.
func (s *networkScreen) set(col, i int) {
	mine, other := &s.priv0, &s.ibiz0
	if col == 1 {
		mine, other = other, mine
	}
	if *other == i {
		*other = *mine
	}
	*mine = i
}

func (s *networkScreen) apply(a *app) {
	a.ans.Network.Priv0, a.ans.Network.Ibiz0 = "", ""
	if s.priv0 >= 0 {
		a.ans.Network.Priv0 = a.nics[s.priv0].ref()
	}
	if s.ibiz0 >= 0 {
		a.ans.Network.Ibiz0 = a.nics[s.ibiz0].ref()
	}
}

func (s *networkScreen) update(a *app, k tea.KeyMsg) tea.Cmd {
	n := len(a.nics)
	switch {
	case k.Type == tea.KeyUp && n > 0:
		s.cur = (s.cur + n - 1) % n
	case k.Type == tea.KeyDown && n > 0:
		s.cur = (s.cur + 1) % n
	case k.Type == tea.KeyLeft || k.Type == tea.KeyRight || k.Type == tea.KeyTab || k.Type == tea.KeyShiftTab:
		s.col = 1 - s.col
	case isSpace(k) && n > 0:
		s.set(s.col, s.cur)
	case isRune(k, 'p') && n > 0:
		s.col = 0
		s.set(0, s.cur)
	case isRune(k, 'i') && n > 0:
		s.col = 1
		s.set(1, s.cur)
	case k.Type == tea.KeyEsc:
		s.apply(a)
		a.back()
		return nil
	case k.Type == tea.KeyEnter:
		s.apply(a)
		s.errors = append(answers.ValidateField(&a.ans, a.hw, "network.priv0"), answers.ValidateField(&a.ans, a.hw, "network.ibiz0")...)
		if len(s.errors) == 0 {
			a.push(newAddressesScreen(a))
		}
		return nil
	default:
		return nil
	}
	s.errors = nil
	return nil
}

func radio(on bool) string {
	if on {
		return "(*)"
	}
	return "( )"
}

func (s *networkScreen) view(a *app, w, h int) []string {
	var bottom []string
	for _, e := range s.errors {
		bottom = append(bottom, errorLines(0, e.Field+": "+e.Message, w)...)
	}
	if len(bottom) > 0 {
		bottom = append([]string{""}, bottom...)
	}
	if a.ans.Action.Joins() {
		bottom = append(bottom, "")
		bottom = append(bottom, wrap("Joining: this node finds node0 over priv0 by itself; no address of the other node is needed.", w)...)
	}

	hdr := []string{" priv0 ", " ibiz0 "}
	hdr[s.col] = styleFocus.Render("[" + hdr[s.col][1:6] + "]")
	lines := []string{
		hdr[0] + hdr[1] + fmt.Sprintf(" %-15s %-17s %-12s %5s  %s", "NIC", "MAC", "Driver", "Speed", "Link"),
	}
	for i, n := range a.nics {
		link := "-"
		if n.Probed {
			link = "down"
			if n.Link {
				link = "up"
			}
		}
		row := fmt.Sprintf("  %s    %s   %-15s %-17s %-12s %5s  %s", radio(i == s.priv0), radio(i == s.ibiz0),
			clip(n.Name, 15), n.MAC, clip(firstOf(n.Driver, "-"), 12), speedText(n.Speed), link)
		if i == s.cur {
			row = styleFocus.Render(">" + row[1:])
		}
		lines = append(lines, row)
	}
	if len(a.nics) == 0 {
		lines = append(lines, styleError.Render("No network interfaces were found: priv0 and ibiz0 need two."))
	}
	lines = append(lines, "")
	lines = append(lines, wrapIndent("priv0: ", "the private link, cabled directly to the other node (a 10G port is recommended).", w)...)
	lines = append(lines, wrapIndent("ibiz0: ", "the management network; the system IP lives here.", w)...)
	lines = append(lines, wrap("Recommended layouts: 2x1G+2x10G or 4x1G+2x10G. A-Link and business roles can be changed later.", w)...)

	avail := h - len(bottom)
	body := lines
	if len(lines) > avail {
		// Keep the header; scroll the rows under it.
		s.top = follow(len(lines)-1, avail-1, s.top, s.cur, s.cur+1)
		rows, top := scroll(lines[1:], avail-1, s.top)
		s.top = top
		body = append([]string{lines[0]}, rows...)
	}
	return append(body, bottom...)
}
