package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// Field keys of the addresses screen.
const (
	fHostname = "hostname"
	fDHCP     = "dhcp"
	fIP       = "ip"
	fNetmask  = "netmask"
	fGateway  = "gateway"
	fDNS      = "dns"
	fNTP      = "ntp"
	fSysName  = "sysname"
	fSysIP    = "sysip"
	fPassword = "password"
	fRepeat   = "repeat"
)

// formField is one line of the form: a text input or (dhcp) a checkbox.
type formField struct {
	key, label, hint string
	// path is the answers field ValidateField checks as the user leaves
	// the line ("" for the repeated password, checked here).
	path  string
	check bool // checkbox instead of text
	on    bool // checkbox state
	input textinput.Model
	errs  []string
}

// addressesScreen asks for the node's name and addresses (SPEC I5); on
// Create also the system's name and IP and the administrator's password.
// Each field is validated as the user leaves it; Next validates them all.
type addressesScreen struct {
	fields  []*formField
	focus   int // index into fields; len(fields) is the button row
	btn     buttons
	touched map[string]bool
	other   []string // errors of fields not on this screen
	top     int
}

const inputWidth = 40

func newInput(value string, password bool) textinput.Model {
	ti := textinput.New()
	ti.Prompt = ""
	ti.CharLimit = 253
	ti.Width = inputWidth
	ti.SetCursorMode(textinput.CursorStatic) // no blink: nothing to redraw on an idle serial line
	ti.KeyMap.Paste.SetEnabled(false)        // no clipboard in the installer
	if password {
		ti.EchoMode = textinput.EchoPassword
		ti.EchoCharacter = '*'
	}
	ti.SetValue(value)
	return ti
}

func newAddressesScreen(a *app) *addressesScreen {
	n := a.ans.Network.Node
	text := func(key, label, path, hint, value string) *formField {
		return &formField{key: key, label: label, path: path, hint: hint, input: newInput(value, key == fPassword || key == fRepeat)}
	}
	s := &addressesScreen{touched: map[string]bool{}, btn: newButtons(0, btnNext, btnBack)}
	s.fields = []*formField{
		text(fHostname, "Host name", "hostname", "This node's name: letters, digits and \"-\", e.g. node0.", a.ans.Hostname),
		{key: fDHCP, label: "Use DHCP", path: "network.node.dhcp", check: true, on: n.DHCP,
			hint: "Space: take this node's address, netmask and gateway from DHCP."},
		text(fIP, "Node IP", "network.node.ip", "This node's address on ibiz0, e.g. 192.0.2.10 or 192.0.2.10/24.", n.IP),
		text(fNetmask, "Netmask", "network.node.netmask", "e.g. 255.255.255.0 or /24; empty when the IP has a /prefix.", n.Netmask),
		text(fGateway, "Gateway", "network.node.gateway", "The default router, on the node's subnet. Optional.", n.Gateway),
		text(fDNS, "DNS servers", "network.dns", "IPv4 addresses, separated by commas or spaces. Optional.", strings.Join(a.ans.Network.DNS, ", ")),
		text(fNTP, "NTP servers", "network.ntp", "Time servers: IPv4 addresses or host names, separated by commas. Optional.", strings.Join(a.ans.Network.NTP, ", ")),
	}
	if a.ans.Action == answers.Create {
		s.fields = append(s.fields,
			text(fSysName, "System name", "system.name", "The new system's name: letters, digits and \"-\", e.g. lockstep1.", a.ans.System.Name),
			text(fSysIP, "System IP", "system.ip", "A free address on ibiz0's subnet; it moves to whichever node is primary.", a.ans.System.IP),
			text(fPassword, "Admin password", "admin", "The administrator's password for the console: at least 12 characters.", a.ans.Admin.Password),
			text(fRepeat, "Repeat password", "", "Type the password again.", a.ans.Admin.Password),
		)
	}
	s.setFocus(0)
	return s
}

func (s *addressesScreen) title() string { return "Addresses" }

func (s *addressesScreen) help(*app) string {
	return "Tab/Up/Down: move  Space: toggle DHCP  Enter: next field  Esc: back"
}

func (s *addressesScreen) field(key string) *formField {
	for _, f := range s.fields {
		if f.key == key {
			return f
		}
	}
	return nil
}

func (s *addressesScreen) dhcp() bool { return s.field(fDHCP).on }

// enabled: the static address fields are skipped while DHCP is on.
func (s *addressesScreen) enabled(i int) bool {
	if i >= len(s.fields) {
		return true
	}
	switch s.fields[i].key {
	case fIP, fNetmask, fGateway:
		return !s.dhcp()
	}
	return true
}

func (s *addressesScreen) setFocus(i int) {
	for j, f := range s.fields {
		if f.check {
			continue
		}
		if j == i {
			f.input.Focus()
		} else {
			f.input.Blur()
		}
	}
	s.focus = i
}

// move goes to the next (d=1) or previous (d=-1) enabled line, wrapping.
func (s *addressesScreen) move(d int) {
	n := len(s.fields) + 1
	i := s.focus
	for range n {
		i = (i + d + n) % n
		if s.enabled(i) {
			break
		}
	}
	s.setFocus(i)
}

// splitList splits "a, b c" into ["a" "b" "c"]; empty gives nil.
func splitList(s string) []string {
	l := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })
	if len(l) == 0 {
		return nil
	}
	return l
}

// apply writes the form into the answers.
func (s *addressesScreen) apply(a *app) {
	val := func(k string) string {
		if f := s.field(k); f != nil {
			return strings.TrimSpace(f.input.Value())
		}
		return ""
	}
	a.ans.Hostname = val(fHostname)
	n := &a.ans.Network.Node
	n.DHCP = s.dhcp()
	if n.DHCP {
		n.IP, n.Netmask, n.Gateway = "", "", ""
	} else {
		n.IP, n.Netmask, n.Gateway = val(fIP), val(fNetmask), val(fGateway)
	}
	a.ans.Network.DNS = splitList(val(fDNS))
	a.ans.Network.NTP = splitList(val(fNTP))
	if a.ans.Action == answers.Create {
		a.ans.System = answers.System{Name: val(fSysName), IP: val(fSysIP)}
		a.ans.Admin = answers.Admin{Password: s.field(fPassword).input.Value()}
	} else {
		a.ans.System, a.ans.Admin = answers.System{}, answers.Admin{}
	}
}

// owns reports whether the answers field path belongs to form field f.
func owns(f *formField, path string) bool {
	return f.path != "" && (path == f.path || strings.HasPrefix(path, f.path+".") || strings.HasPrefix(path, f.path+"["))
}

// repeatError is the one check the validator cannot do: both passwords equal.
func (s *addressesScreen) repeatError() string {
	p, r := s.field(fPassword), s.field(fRepeat)
	if p == nil || r == nil || p.input.Value() == r.input.Value() {
		return ""
	}
	return "the two passwords differ; type the same password twice"
}

// revalidate refreshes the messages of every field the user has left.
func (s *addressesScreen) revalidate(a *app) {
	s.apply(a)
	for _, f := range s.fields {
		f.errs = nil
		if !s.touched[f.key] {
			continue
		}
		if f.key == fRepeat {
			if m := s.repeatError(); m != "" {
				f.errs = []string{m}
			}
			continue
		}
		for _, e := range answers.ValidateField(&a.ans, a.hw, f.path) {
			f.errs = append(f.errs, e.Message)
		}
	}
}

// screenFields are the answers this screen asks for.
var screenFields = []string{"hostname", "system", "network.node", "network.dns", "network.ntp", "admin"}

// submit validates everything on this screen; it reports success.
func (s *addressesScreen) submit(a *app) bool {
	s.apply(a)
	for _, f := range s.fields {
		s.touched[f.key] = true
		f.errs = nil
	}
	s.other = nil
	first := -1
	for _, e := range answers.Validate(&a.ans, a.hw) {
		mine := false
		for _, p := range screenFields {
			if e.Field == p || strings.HasPrefix(e.Field, p+".") || strings.HasPrefix(e.Field, p+"[") {
				mine = true
			}
		}
		if !mine {
			continue
		}
		placed := false
		for i, f := range s.fields {
			if owns(f, e.Field) && s.enabled(i) {
				f.errs = append(f.errs, e.Message)
				placed = true
				if first < 0 || i < first {
					first = i
				}
				break
			}
		}
		if !placed {
			s.other = append(s.other, e.Error())
		}
	}
	if m := s.repeatError(); m != "" {
		s.field(fRepeat).errs = []string{m}
		if first < 0 {
			first = len(s.fields) - 1
		}
	}
	if first >= 0 {
		s.setFocus(first)
		return false
	}
	if len(s.other) > 0 {
		return false
	}
	answers.Normalize(&a.ans)
	return true
}

func (s *addressesScreen) update(a *app, k tea.KeyMsg) tea.Cmd {
	onButtons := s.focus == len(s.fields)
	leave := func(d int) {
		if !onButtons {
			s.touched[s.fields[s.focus].key] = true
		}
		s.move(d)
		s.revalidate(a)
	}
	switch k.Type {
	case tea.KeyEsc:
		s.apply(a)
		a.back()
		return nil
	case tea.KeyTab, tea.KeyDown:
		leave(1)
		return nil
	case tea.KeyShiftTab, tea.KeyUp:
		leave(-1)
		return nil
	case tea.KeyEnter:
		if !onButtons {
			leave(1)
			return nil
		}
		if s.btn.selected() == btnBack {
			s.apply(a)
			a.back()
			return nil
		}
		if s.submit(a) {
			a.push(newDiskScreen(a))
		}
		return nil
	}
	if onButtons {
		s.btn.key(k)
		return nil
	}
	f := s.fields[s.focus]
	if f.check {
		if isSpace(k) || isRune(k, 'x') {
			f.on = !f.on
			s.touched[f.key] = true
			s.revalidate(a)
		}
		return nil
	}
	var cmd tea.Cmd
	f.input, cmd = f.input.Update(k)
	return cmd
}

const labelWidth = 17

func (s *addressesScreen) view(a *app, w, h int) []string {
	var head []string
	if a.ans.Action.Joins() {
		head = append(head, wrap(fmt.Sprintf("%s: the system name, system IP and administrator come from the system being joined. This node finds node0 over priv0.", actionLabel(a.ans.Action)), w)...)
		head = append(head, "")
	}

	var lines []string
	from, to := 0, 0
	for i, f := range s.fields {
		if i == s.focus {
			from = len(lines)
		}
		mark := "  "
		if i == s.focus {
			mark = "> "
		}
		label := fmt.Sprintf("%-*s", labelWidth, f.label)
		var value string
		switch {
		case f.check:
			box := "[ ]"
			if f.on {
				box = "[x]"
			}
			value = box
			if i == s.focus {
				value = styleFocus.Render(box)
			}
		case !s.enabled(i):
			value = styleHelp.Render("(from DHCP)")
		default:
			value = "[" + f.input.View() + "]"
		}
		lines = append(lines, mark+label+value)
		for _, e := range f.errs {
			lines = append(lines, errorLines(2+labelWidth, e, w)...)
		}
		if i == s.focus {
			to = len(lines)
		}
	}

	var bottom []string
	for _, e := range s.other {
		bottom = append(bottom, errorLines(0, e, w)...)
	}
	bottom = append(bottom, "")
	if s.focus < len(s.fields) {
		bottom = append(bottom, styleHelp.Render(clip(s.fields[s.focus].hint, w)))
	} else {
		bottom = append(bottom, styleHelp.Render("Next checks every field and goes on to the disks."))
	}
	bottom = append(bottom, "", s.btn.render(s.focus == len(s.fields)))

	avail := h - len(head) - len(bottom)
	if s.focus == len(s.fields) {
		from, to = len(lines)-1, len(lines)
	}
	s.top = follow(len(lines), avail, s.top, from, to)
	shown, top := scroll(lines, avail, s.top)
	s.top = top
	out := append(head, shown...)
	return append(out, bottom...)
}
