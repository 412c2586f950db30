package answers

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Hardware is what the validator needs to know about this machine. Callers
// fill it: the TUI from installer/probe, tests by hand.
type Hardware struct {
	NICs  []NIC
	Disks []DiskInfo
	// MinDiskBytes is the minimum system disk size; 0 means the default:
	// DefaultMinDiskBytes, or LabMinDiskBytes when Answers.Lab is set (QEMU
	// lab VMs have small disks).
	MinDiskBytes int64
}

// Default minimum system disk sizes (see Hardware.MinDiskBytes).
const (
	DefaultMinDiskBytes int64 = 64 << 30
	// The default disk layout (installer/engine/layout) needs 17.3 GiB.
	LabMinDiskBytes int64 = 20 << 30
)

// NIC is a network interface of this machine.
type NIC struct {
	Name string // kernel name: eth0, enp1s0
	MAC  string // "52:54:00:12:34:56"
}

// DiskInfo is a whole disk (logical disk) of this machine.
type DiskInfo struct {
	ID        string   // stable identity shown in the disk list (by-id/by-path name)
	Aliases   []string // other stable ids of the same disk, also accepted
	Name      string   // kernel name (sda, nvme0n1): shown, never accepted as a choice
	SizeBytes int64
	// BootMedium marks the install medium itself (the USB stick or virtual
	// CD this installer runs from); it can never be a target.
	BootMedium bool
}

// FieldError is one problem with one answer.
type FieldError struct {
	// Field is the answer's path, e.g. "network.node.gateway" or
	// "disk.storage_group[1]"; see the package documentation.
	Field string
	// Message explains the problem and names the offending value (except
	// passwords, which are never repeated).
	Message string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Errors is every problem Validate found, in field order.
type Errors []FieldError

// Error lists all problems, one per line, as "field: message".
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns e as an error, or nil when there is no problem. (A nil Errors
// stored in an error interface is not a nil error; use Err for that.)
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// Validate checks the answers against every rule and this machine's hardware
// and returns all problems at once (nil when the answers are valid). It never
// stops at the first problem and never modifies a; it accepts both raw and
// normalized values (see Normalize).
//
// Rule for the node address on create: DHCP is allowed for the node's own
// address, but the system IP must still be given and must be a plain, usable
// IPv4 address. Its subnet cannot be checked until the DHCP lease is known, so
// the install engine checks it against the lease with CheckSystemIP before
// writing anything. With a static node address, every subnet rule is
// checked here.
func Validate(a *Answers, hw Hardware) Errors {
	var c Answers
	if a != nil {
		c = a.clone()
	}
	trimAll(&c)
	c.Action = Action(strings.ToLower(string(c.Action)))
	v := &validator{a: &c, hw: hw}
	v.action()
	v.hostname()
	v.node() // before system and gateway: they need the node's subnet
	v.system()
	v.gateway()
	v.join()
	v.nics()
	v.servers()
	v.disks()
	v.admin()
	if len(v.errs) == 0 {
		return nil
	}
	sort.SliceStable(v.errs, func(i, j int) bool { return fieldRank(v.errs[i].Field) < fieldRank(v.errs[j].Field) })
	return v.errs
}

// ValidateField applies the same rules as Validate and returns only the
// problems of one field (and of the fields under it: "network.node" returns
// those of network.node.ip, .netmask, ...). The TUI calls it as the user
// leaves a field.
func ValidateField(a *Answers, hw Hardware, field string) []FieldError {
	var out []FieldError
	for _, e := range Validate(a, hw) {
		if e.Field == field || strings.HasPrefix(e.Field, field+".") || strings.HasPrefix(e.Field, field+"[") {
			out = append(out, e)
		}
	}
	return out
}

// fieldOrder is the order in which errors are reported.
var fieldOrder = []string{
	"action", "lab", "accept_warnings", "hostname", "system.name", "system.ip",
	"join.fingerprint", "network.priv0", "network.ibiz0", "network.alinks",
	"network.node.dhcp", "network.node.ip", "network.node.netmask",
	"network.node.gateway", "network.dns", "network.ntp", "disk.system", "disk.storage_group",
	"disk.confirm_erase", "admin", "admin.password", "admin.password_hash",
}

func fieldRank(f string) int {
	best, bestLen := len(fieldOrder), -1
	for i, p := range fieldOrder {
		if (f == p || strings.HasPrefix(f, p+".") || strings.HasPrefix(f, p+"[")) && len(p) > bestLen {
			best, bestLen = i, len(p)
		}
	}
	return best
}

type validator struct {
	a    *Answers
	hw   Hardware
	errs Errors

	subnet   *subnet    // the node's static subnet, when ip and netmask are valid
	nodeIP   netip.Addr // the node's static address, when valid
	systemIP netip.Addr // the system IP, when valid
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) action() {
	switch v.a.Action {
	case Create, Replace, Recover:
	case "":
		v.add("action", "required: one of create, replace, recover")
	default:
		v.add("action", "%q is not an action: use create, replace or recover", string(v.a.Action))
	}
}

// labelProblem explains why s is not an RFC 1123 label, or returns "".
func labelProblem(s string) string {
	if len(s) > 63 {
		return fmt.Sprintf("%q is %d characters long; at most 63 are allowed", s, len(s))
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Sprintf("%q contains %q; use only letters, digits and \"-\"", s, r)
		}
	}
	if strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") {
		return fmt.Sprintf("%q begins or ends with \"-\"; a name must begin and end with a letter or digit", s)
	}
	return ""
}

func (v *validator) hostname() {
	if v.a.Hostname == "" {
		v.add("hostname", "required: this node's host name, e.g. node0")
	} else if p := labelProblem(v.a.Hostname); p != "" {
		v.add("hostname", "%s", p)
	}
}

// node checks network.node.* and records the node's subnet.
func (v *validator) node() {
	n := v.a.Network.Node
	if n.DHCP {
		for _, f := range []struct{ name, val string }{{"ip", n.IP}, {"netmask", n.Netmask}, {"gateway", n.Gateway}} {
			if f.val != "" {
				v.add("network.node."+f.name, "%q is given together with dhcp: true; choose one: remove it, or set dhcp: false for a static address", f.val)
			}
		}
		return
	}
	ipStr, lenStr, cidr := strings.Cut(n.IP, "/")
	var ipOK, bitsOK bool
	var bits int
	maskField, maskRaw := "network.node.netmask", n.Netmask
	if n.IP == "" {
		v.add("network.node.ip", "required for a static address, e.g. 192.0.2.10/24 (or set dhcp: true)")
	} else if addr, err := parseHostIPv4(ipStr); err != nil {
		v.add("network.node.ip", "%v", err)
		if strings.Contains(ipStr, ":") {
			return // IPv6: its netmask is beside the point
		}
	} else {
		v.nodeIP, ipOK = addr, true
	}
	switch {
	case cidr:
		maskField, maskRaw = "network.node.ip", n.IP
		if n.Netmask != "" {
			v.add("network.node.netmask", "%q is given but network.node.ip %q already has a prefix length; give only one of them", n.Netmask, n.IP)
		}
		if b, err := parsePrefixLen(lenStr); err != nil {
			v.add("network.node.ip", "%q has a bad prefix length: %v", n.IP, err)
		} else {
			bits, bitsOK = b, true
		}
	case n.Netmask == "":
		if n.IP != "" {
			v.add("network.node.netmask", "required for a static address: e.g. 255.255.255.0 or /24 (or write network.node.ip as %s/24)", ipStr)
		}
	default:
		if b, err := parseNetmask(n.Netmask); err != nil {
			v.add("network.node.netmask", "%v", err)
		} else {
			bits, bitsOK = b, true
		}
	}
	if bitsOK {
		if p := nodePrefixProblem(bits); p != "" {
			v.add(maskField, "%q (/%d): %s", maskRaw, bits, p)
			bitsOK = false
		}
	}
	if ipOK && bitsOK {
		sn := newSubnet(v.nodeIP, bits)
		v.subnet = &sn
		if p := sn.hostProblem(ipStr, v.nodeIP, "the node's"); p != "" {
			v.add("network.node.ip", "%s", p)
		}
	}
}

func (v *validator) system() {
	s := v.a.System
	switch {
	case v.a.Action.Joins():
		if len(s.Witnesses) > 0 {
			v.add("system.witnesses", "must be empty for %s: the witnesses come from the system being joined", v.a.Action)
		}
		if s.WitnessSecret != "" {
			v.add("system.witness_secret", "must be empty for %s: the witnesses come from the system being joined", v.a.Action)
		}
		if s.Name != "" {
			v.add("system.name", "%q is given but must be empty for %s: a joining node takes the system's name from the system it joins", s.Name, v.a.Action)
		}
		if s.IP != "" {
			v.add("system.ip", "%q is given but must be empty for %s: the system IP comes from the system being joined", s.IP, v.a.Action)
		}
		return
	case v.a.Action != Create:
		return // unknown action: already reported
	}
	v.witnesses()
	if s.Name == "" {
		v.add("system.name", "required for create: the new system's name, e.g. lockstep1")
	} else if p := labelProblem(s.Name); p != "" {
		v.add("system.name", "%s", p)
	}
	if s.IP == "" {
		v.add("system.ip", "required for create: a free IPv4 address on ibiz0's subnet, held by the primary node")
		return
	}
	sys, err := parseHostIPv4(s.IP)
	if err != nil {
		v.add("system.ip", "%v", err)
		return
	}
	v.systemIP = sys
	if v.subnet == nil {
		return // DHCP node, or the node's address is itself invalid
	}
	if p := v.subnet.hostProblem(s.IP, sys, "the node's"); p != "" {
		if !v.subnet.contains(sys) {
			p += "; the system IP moves between the nodes' ibiz0, so it must be on their subnet"
		}
		v.add("system.ip", "%s", p)
	} else if sys == v.nodeIP {
		v.add("system.ip", "%q is the same as network.node.ip; the system IP must be a different, free address", s.IP)
	}
}

func (v *validator) gateway() {
	g := v.a.Network.Node.Gateway
	if g == "" || v.a.Network.Node.DHCP {
		return
	}
	gw, err := parseHostIPv4(g)
	if err != nil {
		v.add("network.node.gateway", "%v", err)
		return
	}
	if v.subnet != nil {
		if p := v.subnet.hostProblem(g, gw, "the node's"); p != "" {
			v.add("network.node.gateway", "%s; the gateway must be reachable directly on ibiz0", p)
			return
		}
	}
	switch {
	case v.nodeIP.IsValid() && gw == v.nodeIP:
		v.add("network.node.gateway", "%q is the node's own address (network.node.ip); the gateway is another machine, usually the router", g)
	case v.systemIP.IsValid() && gw == v.systemIP:
		v.add("network.node.gateway", "%q is the system IP (system.ip); the gateway is another machine, usually the router", g)
	}
}

// canonicalFingerprint returns the fingerprint as 64 lower-case hex digits.
func canonicalFingerprint(s string) (string, bool) {
	h := strings.ToLower(strings.ReplaceAll(s, ":", ""))
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return "", false
	}
	return h, true
}

func (v *validator) join() {
	fp := v.a.Join.Fingerprint
	if fp == "" {
		return
	}
	if v.a.Action == Create {
		v.add("join.fingerprint", "%q is given but only used when joining a system (replace, recover); remove it for create", fp)
		return
	}
	if _, ok := canonicalFingerprint(fp); ok {
		return
	}
	h := strings.ReplaceAll(fp, ":", "")
	if bad := strings.Trim(strings.ToLower(h), "0123456789abcdef"); bad != "" {
		v.add("join.fingerprint", "%q is not a SHA-256 fingerprint: %q is not a hex digit; use 64 hex digits, colons optional", fp, bad[:1])
	} else {
		v.add("join.fingerprint", "%q is not a SHA-256 fingerprint: it has %d hex digits, not 64 (colons optional)", fp, len(h))
	}
}

// findNIC resolves a NIC given by MAC or name to its index in hw.NICs.
func (v *validator) findNIC(s string) (int, string) {
	mac, macErr := net.ParseMAC(s)
	var found []int
	for i, n := range v.hw.NICs {
		if macErr == nil {
			if m, err := net.ParseMAC(n.MAC); err == nil && m.String() == mac.String() {
				found = append(found, i)
			}
		} else if n.Name == s {
			return i, ""
		}
	}
	switch len(found) {
	case 1:
		return found[0], ""
	case 0:
	default:
		var names []string
		for _, i := range found {
			names = append(names, v.hw.NICs[i].Name)
		}
		return -1, fmt.Sprintf("MAC address %q belongs to several NICs (%s); give the NIC by name", s, strings.Join(names, ", "))
	}
	if len(v.hw.NICs) == 0 {
		return -1, fmt.Sprintf("%q not found: this machine reports no network interfaces", s)
	}
	var have []string
	for _, n := range v.hw.NICs {
		have = append(have, fmt.Sprintf("%s (%s)", n.Name, n.MAC))
	}
	what := "is named"
	if macErr == nil {
		what = "has MAC address"
	}
	return -1, fmt.Sprintf("no NIC %s %q; this machine has %s", what, s, strings.Join(have, ", "))
}

func (v *validator) nics() {
	nw := v.a.Network
	idx := map[string]int{}
	for _, f := range []struct{ name, val, role string }{
		{"priv0", nw.Priv0, "the NIC cabled directly to the other node"},
		{"ibiz0", nw.Ibiz0, "the NIC on the management network"},
	} {
		if f.val == "" {
			v.add("network."+f.name, "required: %s, by MAC address (preferred) or name", f.role)
			continue
		}
		i, msg := v.findNIC(f.val)
		if msg != "" {
			v.add("network."+f.name, "%s", msg)
			continue
		}
		idx[f.name] = i
	}
	p, okP := idx["priv0"]
	b, okB := idx["ibiz0"]
	if okP && okB && p == b {
		n := v.hw.NICs[b]
		v.add("network.ibiz0", "%q is the same NIC as network.priv0 %q (%s, %s); priv0 and ibiz0 need two different NICs", nw.Ibiz0, nw.Priv0, n.Name, n.MAC)
	}
	v.alinks(idx)
}

// alinks checks network.alinks; idx holds the NICs priv0 and ibiz0
// resolved to.
func (v *validator) alinks(idx map[string]int) {
	nw := v.a.Network
	seen := map[int]int{}
	for j, s := range nw.ALinks {
		f := fmt.Sprintf("network.alinks[%d]", j)
		if j >= MaxALinks {
			v.add(f, "%q is A-Link number %d; at most %d are supported (alink0 to alink%d): remove it", s, j+1, MaxALinks, MaxALinks-1)
			continue
		}
		if s == "" {
			v.add(f, "empty entry: give a NIC cabled directly to the other node, by MAC address (preferred) or name")
			continue
		}
		i, msg := v.findNIC(s)
		if msg != "" {
			v.add(f, "%s", msg)
			continue
		}
		n := v.hw.NICs[i]
		p, okP := idx["priv0"]
		b, okB := idx["ibiz0"]
		switch {
		case okP && p == i:
			v.add(f, "%q is the same NIC as network.priv0 %q (%s, %s); an A-Link needs a NIC of its own", s, nw.Priv0, n.Name, n.MAC)
			continue
		case okB && b == i:
			v.add(f, "%q is the same NIC as network.ibiz0 %q (%s, %s); an A-Link is a direct cable to the other node, not the management network", s, nw.Ibiz0, n.Name, n.MAC)
			continue
		}
		if k, dup := seen[i]; dup {
			v.add(f, "%q is the same NIC as network.alinks[%d] %q (%s, %s); list each A-Link once", s, k, nw.ALinks[k], n.Name, n.MAC)
			continue
		}
		seen[i] = j
	}
}

// hostnameProblem explains why s is not a DNS host name, or returns "".
func hostnameProblem(s string) string {
	t := strings.TrimSuffix(s, ".")
	if len(t) > 253 {
		return fmt.Sprintf("%q is longer than 253 characters", s)
	}
	for _, l := range strings.Split(t, ".") {
		if l == "" {
			return fmt.Sprintf("%q has an empty label (\"..\" or a leading dot)", s)
		}
		if p := labelProblem(l); p != "" {
			return fmt.Sprintf("%q is not a valid host name: %s", s, p)
		}
	}
	return ""
}

// servers checks network.dns and network.ntp.
func (v *validator) servers() {
	nw := v.a.Network
	seen := map[string]int{}
	for i, s := range nw.DNS {
		f := fmt.Sprintf("network.dns[%d]", i)
		if s == "" {
			v.add(f, "empty entry: give a DNS server's IPv4 address")
			continue
		}
		a, err := parseHostIPv4(s)
		if err != nil {
			v.add(f, "%v", err)
			continue
		}
		if j, dup := seen[a.String()]; dup {
			v.add(f, "%q repeats network.dns[%d]", s, j)
			continue
		}
		seen[a.String()] = i
	}
	seen = map[string]int{}
	for i, s := range nw.NTP {
		f := fmt.Sprintf("network.ntp[%d]", i)
		key := strings.ToLower(strings.TrimSuffix(s, "."))
		switch {
		case s == "":
			v.add(f, "empty entry: give a time server's IPv4 address or host name")
			continue
		case strings.Contains(s, ":") || strings.Trim(s, "0123456789.") == "":
			// Looks like an address (IPv6, or digits and dots): judge it as one.
			a, err := parseHostIPv4(s)
			if err != nil {
				v.add(f, "%v", err)
				continue
			}
			key = a.String()
		default:
			if p := hostnameProblem(s); p != "" {
				v.add(f, "%s", p)
				continue
			}
			if len(nw.DNS) == 0 && !nw.Node.DHCP {
				v.add(f, "%q is a host name, but network.dns is empty and the node's address is static, so it cannot be resolved: add a DNS server or give the time server's IPv4 address", s)
				continue
			}
		}
		if j, dup := seen[key]; dup {
			v.add(f, "%q repeats network.ntp[%d]", s, j)
			continue
		}
		seen[key] = i
	}
}

func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// findDisk resolves a stable disk id to its index in hw.Disks.
func (v *validator) findDisk(s string) (int, string) {
	id := stripDiskPrefix(s)
	for i, d := range v.hw.Disks {
		if d.ID == id {
			return i, ""
		}
		for _, al := range d.Aliases {
			if al == id {
				return i, ""
			}
		}
	}
	for _, d := range v.hw.Disks {
		if d.Name != "" && (s == d.Name || s == "/dev/"+d.Name) {
			return -1, fmt.Sprintf("%q is a kernel name, which can change between boots; use the disk's stable id %q", s, d.ID)
		}
	}
	if len(v.hw.Disks) == 0 {
		return -1, fmt.Sprintf("no disk has id %q: this machine reports no disks", s)
	}
	var have []string
	for _, d := range v.hw.Disks {
		have = append(have, fmt.Sprintf("%s (%s, %s)", d.ID, d.Name, gib(d.SizeBytes)))
	}
	return -1, fmt.Sprintf("no disk has id %q; this machine has %s (ids come from the installer's disk list)", s, strings.Join(have, ", "))
}

func (v *validator) disks() {
	dk := v.a.Disk
	sysIdx := -1
	if dk.System == "" {
		v.add("disk.system", "required: the stable id of the disk to install on, as shown in the installer's disk list")
	} else if i, msg := v.findDisk(dk.System); msg != "" {
		v.add("disk.system", "%s", msg)
	} else {
		sysIdx = i
		d := v.hw.Disks[i]
		min := v.hw.MinDiskBytes
		if min <= 0 {
			min = DefaultMinDiskBytes
			if v.a.Lab {
				min = LabMinDiskBytes
			}
		}
		switch {
		case d.BootMedium:
			v.add("disk.system", "%q (%s) is the install medium this installer booted from; choose another disk", dk.System, d.Name)
		case d.SizeBytes < min:
			v.add("disk.system", "%q (%s) is %s; the system disk needs at least %s", dk.System, d.Name, gib(d.SizeBytes), gib(min))
		}
	}
	seen := map[int]int{}
	for j, s := range dk.StorageGroup {
		f := fmt.Sprintf("disk.storage_group[%d]", j)
		if s == "" {
			v.add(f, "empty entry: give a disk's stable id")
			continue
		}
		i, msg := v.findDisk(s)
		switch {
		case msg != "":
			v.add(f, "%s", msg)
			continue
		case i == sysIdx:
			v.add(f, "%q is the system disk (disk.system); list only other disks here", s)
			continue
		case v.hw.Disks[i].BootMedium:
			v.add(f, "%q (%s) is the install medium this installer booted from; choose another disk", s, v.hw.Disks[i].Name)
			continue
		}
		if k, dup := seen[i]; dup {
			v.add(f, "%q is the same disk as disk.storage_group[%d]", s, k)
			continue
		}
		seen[i] = j
	}
	if !dk.ConfirmErase {
		what := "erases disk.system"
		if len(dk.StorageGroup) > 0 {
			what += " and the disk.storage_group disks"
		}
		if v.a.Action == Recover {
			what = "rewrites the system partitions of disk.system (data partitions are kept)"
		}
		v.add("disk.confirm_erase", "must be true: the install %s; set confirm_erase: true to say so (the TUI sets it after its confirmation screen)", what)
	}
}

// hashProblem explains why h is not a SHA-512 crypt(3) hash, or returns "".
// Only the hash's scheme prefix is ever repeated.
func hashProblem(h string) string {
	const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for pre, name := range map[string]string{"$1$": "MD5", "$5$": "SHA-256", "$y$": "yescrypt", "$2a$": "bcrypt", "$2b$": "bcrypt", "$2y$": "bcrypt"} {
		if strings.HasPrefix(h, pre) {
			return fmt.Sprintf("is a %s crypt hash (%q…); use SHA-512, \"$6$…\" (e.g. openssl passwd -6)", name, pre)
		}
	}
	if !strings.HasPrefix(h, "$6$") {
		return "is not a crypt(3) SHA-512 hash: it must start with \"$6$\" (e.g. from openssl passwd -6)"
	}
	parts := strings.Split(h[3:], "$")
	if len(parts) == 3 && strings.HasPrefix(parts[0], "rounds=") {
		parts = parts[1:]
	}
	switch {
	case len(parts) != 2:
		return "is not a well-formed \"$6$salt$hash\" string"
	case len(parts[0]) < 1 || len(parts[0]) > 16 || strings.Trim(parts[0], alphabet) != "":
		return "\"$6$…\" has a bad salt: 1-16 characters of [./0-9A-Za-z]"
	case len(parts[1]) != 86 || strings.Trim(parts[1], alphabet) != "":
		return "\"$6$…\" has a bad hash part: a SHA-512 crypt hash has 86 characters of [./0-9A-Za-z] after the salt"
	}
	return ""
}

func (v *validator) admin() {
	ad := v.a.Admin
	if v.a.Action.Joins() {
		if ad.Password != "" {
			v.add("admin.password", "must be empty for %s: the administrator account comes from the system being joined", v.a.Action)
		}
		if ad.PasswordHash != "" {
			v.add("admin.password_hash", "must be empty for %s: the administrator account comes from the system being joined", v.a.Action)
		}
		return
	}
	if v.a.Action != Create {
		return
	}
	switch {
	case ad.Password == "" && ad.PasswordHash == "":
		v.add("admin", "required for create: set password (at least 12 characters) or password_hash (a \"$6$…\" SHA-512 crypt hash)")
	case ad.Password != "" && ad.PasswordHash != "":
		v.add("admin", "set password or password_hash, not both")
	case ad.Password != "":
		if n := len([]rune(ad.Password)); n < 12 {
			v.add("admin.password", "is %d characters long; use at least 12", n)
		}
	default:
		if p := hashProblem(ad.PasswordHash); p != "" {
			v.add("admin.password_hash", "%s", p)
		}
	}
}

// MaxWitnesses is the most witnesses a system uses (cluster/membership).
const MaxWitnesses = 2

func (v *validator) witnesses() {
	s := v.a.System
	if len(s.Witnesses) > MaxWitnesses {
		v.add("system.witnesses", "%d witnesses given; a system uses 0, 1 or 2", len(s.Witnesses))
	}
	seen := map[string]bool{}
	for i, w := range s.Witnesses {
		f := fmt.Sprintf("system.witnesses[%d]", i)
		host, port, err := net.SplitHostPort(w)
		switch {
		case err != nil || host == "":
			v.add(f, "%q: want host:port of a lockstep-witness, e.g. 192.0.2.5:7500", w)
		case !validPort(port):
			v.add(f, "%q: port %q is not a number from 1 to 65535", w, port)
		case seen[w]:
			v.add(f, "%q is listed twice", w)
		}
		seen[w] = true
	}
	switch sec := s.WitnessSecret; {
	case len(s.Witnesses) == 0 && sec != "":
		v.add("system.witness_secret", "is set but no witnesses are listed")
	case len(s.Witnesses) > 0 && sec == "":
		v.add("system.witness_secret", "required with witnesses: the text of the witnesses' -secret-file")
	case sec != "" && len(sec) < 16:
		v.add("system.witness_secret", "is %d characters long; the witness needs at least 16", len(sec))
	case strings.ContainsFunc(sec, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		v.add("system.witness_secret", "must not contain spaces or control characters (the witness trims its secret file)")
	}
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}
