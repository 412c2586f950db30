package tui

import (
	"fmt"
	"strings"

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

// addressesScreen asks for the node's name and addresses (SPEC I5); on
// Create also the system's name and IP and the administrator's password.
type addressesScreen struct{ *form }

func newAddressesScreen(a *app) *addressesScreen {
	n := a.ans.Network.Node
	dhcpOff := func(f *formField) *formField { f.off = "(from DHCP)"; return f }
	fields := []*formField{
		textField(fHostname, "Host name", "hostname", "This node's name: letters, digits and \"-\", e.g. node0.", a.ans.Hostname, false),
		{key: fDHCP, label: "Use DHCP", path: "network.node.dhcp", check: true, on: n.DHCP,
			hint: "Space: take this node's address, netmask and gateway from DHCP."},
		dhcpOff(textField(fIP, "Node IP", "network.node.ip", "This node's address on ibiz0, e.g. 192.0.2.10 or 192.0.2.10/24.", n.IP, false)),
		dhcpOff(textField(fNetmask, "Netmask", "network.node.netmask", "e.g. 255.255.255.0 or /24; empty when the IP has a /prefix.", n.Netmask, false)),
		dhcpOff(textField(fGateway, "Gateway", "network.node.gateway", "The default router, on the node's subnet. Optional.", n.Gateway, false)),
		textField(fDNS, "DNS servers", "network.dns", "IPv4 addresses, separated by commas or spaces. Optional.", strings.Join(a.ans.Network.DNS, ", "), false),
		textField(fNTP, "NTP servers", "network.ntp", "Time servers: IPv4 addresses or host names, separated by commas. Optional.", strings.Join(a.ans.Network.NTP, ", "), false),
	}
	if a.ans.Action == answers.Create {
		repeat := textField(fRepeat, "Repeat password", "", "Type the password again.", a.ans.Admin.Password, true)
		repeat.repeats, repeat.differ = fPassword, "the two passwords differ; type the same password twice"
		fields = append(fields,
			textField(fSysName, "System name", "system.name", "The new system's name: letters, digits and \"-\", e.g. lockstep1.", a.ans.System.Name, false),
			textField(fSysIP, "System IP", "system.ip", "A free address on ibiz0's subnet; it moves to whichever node is primary.", a.ans.System.IP, false),
			textField(fPassword, "Admin password", "admin", "The administrator's password for the console: at least 12 characters.", a.ans.Admin.Password, true),
			repeat,
		)
	}
	return &addressesScreen{newForm(fields...)}
}

func (s *addressesScreen) title() string { return "Addresses" }

func (s *addressesScreen) help(*app) string {
	return "Tab/Up/Down: move  Space: toggle DHCP  Enter: next field  Esc: back"
}

func (s *addressesScreen) dhcp() bool { return s.field(fDHCP).on }

// skipped: the static address fields are skipped while DHCP is on.
func (s *addressesScreen) skipped(key string) bool {
	switch key {
	case fIP, fNetmask, fGateway:
		return s.dhcp()
	}
	return false
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
	a.ans.Hostname = s.value(fHostname)
	n := &a.ans.Network.Node
	n.DHCP = s.dhcp()
	if n.DHCP {
		n.IP, n.Netmask, n.Gateway = "", "", ""
	} else {
		n.IP, n.Netmask, n.Gateway = s.value(fIP), s.value(fNetmask), s.value(fGateway)
	}
	a.ans.Network.DNS = splitList(s.value(fDNS))
	a.ans.Network.NTP = splitList(s.value(fNTP))
	if a.ans.Action == answers.Create {
		// Only name and IP: the witnesses are the next screen's, and
		// this runs again whenever the user comes back here.
		a.ans.System.Name, a.ans.System.IP = s.value(fSysName), s.value(fSysIP)
		a.ans.Admin = answers.Admin{Password: s.field(fPassword).input.Value()}
	} else {
		a.ans.System, a.ans.Admin = answers.System{}, answers.Admin{}
	}
}

// scope: the witnesses are not here, so their errors must not block Next.
func (s *addressesScreen) scope() []string {
	return []string{"hostname", "system.name", "system.ip", "network.node", "network.dns", "network.ntp", "admin"}
}

func (s *addressesScreen) next(a *app) screen {
	if a.ans.Action == answers.Create {
		return newWitnessesScreen(a)
	}
	return newDiskScreen(a)
}

func (s *addressesScreen) update(a *app, k tea.KeyMsg) tea.Cmd { return s.form.update(a, s, k) }

func (s *addressesScreen) view(a *app, w, h int) []string {
	var head []string
	if a.ans.Action.Joins() {
		head = append(head, wrap(fmt.Sprintf("%s: the system name, system IP and administrator come from the system being joined. This node finds node0 over priv0.", actionLabel(a.ans.Action)), w)...)
		head = append(head, "")
	}
	next := "Next checks every field and goes on to the disks."
	if a.ans.Action == answers.Create {
		next = "Next checks every field and goes on to the witnesses."
	}
	return s.form.view(s, w, h, head, next)
}
