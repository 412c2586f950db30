package tui

import (
	"fmt"
	"slices"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// networkScreen chooses priv0 and ibiz0 (SPEC I4) and the A-Links: a NIC
// table with two radio columns and a checkbox column. Left/Right picks the
// column, Space puts the role on the NIC under the cursor (or, in the A-Link
// column, marks or unmarks it); p, i and a do the same for one column each.
type networkScreen struct {
	cur   int
	col   int // colPriv0, colIbiz0, colALink
	priv0 int // index into app.nics, -1 none
	ibiz0 int
	// alinks are indexes into app.nics in the order they were marked: the
	// node names them alink0, alink1, … in that order, and the order must
	// match the other node's cabling.
	alinks []int
	errors []answers.FieldError
	top    int
}

// Columns of the network screen.
const (
	colPriv0 = iota
	colIbiz0
	colALink
	nCols
)

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
	for _, ref := range a.ans.Network.ALinks {
		for i, n := range a.nics {
			if n.matches(ref) && s.alink(i) < 0 {
				s.alinks = append(s.alinks, i)
				break
			}
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
	if col == colIbiz0 {
		mine, other = other, mine
	}
	if *other == i {
		*other = *mine
	}
	*mine = i
}

// alink is NIC i's place among the A-Links, -1 when it is none.
func (s *networkScreen) alink(i int) int {
	for j, k := range s.alinks {
		if k == i {
			return j
		}
	}
	return -1
}

// toggleALink marks NIC i as the next A-Link or unmarks it; the later ones
// move up. A NIC that is also priv0 or ibiz0 stays marked: the validator's
// message on Enter says why that is wrong, rather than a role vanishing.
func (s *networkScreen) toggleALink(i int) {
	if j := s.alink(i); j >= 0 {
		s.alinks = slices.Delete(s.alinks, j, j+1)
		return
	}
	s.alinks = append(s.alinks, i)
}

func (s *networkScreen) apply(a *app) {
	a.ans.Network.Priv0, a.ans.Network.Ibiz0 = "", ""
	a.ans.Network.ALinks = nil
	for _, i := range s.alinks {
		a.ans.Network.ALinks = append(a.ans.Network.ALinks, a.nics[i].ref())
	}
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
	case k.Type == tea.KeyLeft || k.Type == tea.KeyShiftTab:
		s.col = (s.col + nCols - 1) % nCols
	case k.Type == tea.KeyRight || k.Type == tea.KeyTab:
		s.col = (s.col + 1) % nCols
	case isSpace(k) && n > 0 && s.col == colALink:
		s.toggleALink(s.cur)
	case isSpace(k) && n > 0:
		s.set(s.col, s.cur)
	case isRune(k, 'p') && n > 0:
		s.col = colPriv0
		s.set(colPriv0, s.cur)
	case isRune(k, 'i') && n > 0:
		s.col = colIbiz0
		s.set(colIbiz0, s.cur)
	case isRune(k, 'a') && n > 0:
		s.col = colALink
		s.toggleALink(s.cur)
	case k.Type == tea.KeyEsc:
		s.apply(a)
		a.back()
		return nil
	case k.Type == tea.KeyEnter:
		s.apply(a)
		s.errors = nil
		for _, f := range []string{"network.priv0", "network.ibiz0", "network.alinks"} {
			s.errors = append(s.errors, answers.ValidateField(&a.ans, a.hw, f)...)
		}
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

	hdr := []string{" priv0 ", " ibiz0 ", " A-Link "}
	hdr[s.col] = styleFocus.Render("[" + strings.TrimSpace(hdr[s.col]) + "]")
	// NIC and Driver are narrower than they could be so that the A-Link
	// column fits 80 columns; names of 14-15 characters are rare.
	lines := []string{
		hdr[0] + hdr[1] + hdr[2] + fmt.Sprintf(" %-13s %-17s %-10s %5s  %s", "NIC", "MAC", "Driver", "Speed", "Link"),
	}
	for i, n := range a.nics {
		link := "-"
		if n.Probed {
			link = "down"
			if n.Link {
				link = "up"
			}
		}
		// A marked A-Link shows the name it gets, which says its order too.
		al := " [ ]  "
		if j := s.alink(i); j >= 0 {
			al = fmt.Sprintf("alink%d", j)
		}
		row := fmt.Sprintf("  %s    %s   %-6s  %-13s %-17s %-10s %5s  %s", radio(i == s.priv0), radio(i == s.ibiz0), al,
			clip(n.Name, 13), n.MAC, clip(firstOf(n.Driver, "-"), 10), speedText(n.Speed), link)
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
	lines = append(lines, wrapIndent("A-Link: ", fmt.Sprintf("optional, up to %d more NICs cabled directly to the other node, named alink0, alink1, ... in the order marked (same order on both nodes).", answers.MaxALinks), w)...)
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
