// Package answers holds everything an install needs to know, in one struct,
// and the one validator that the TUI, the unattended answer file and the
// tests all use. The TUI fills Answers field by field and calls ValidateField
// as the user leaves each one; an unattended install parses an answer file
// (Parse, Load, Locate) and calls Validate once, before anything is touched.
//
// Field paths used in errors and by ValidateField follow the YAML keys:
// "action", "hostname", "system.name", "system.ip", "join.fingerprint",
// "network.priv0", "network.ibiz0", "network.alinks[i]", "network.node.dhcp",
// "network.node.ip", "network.node.netmask", "network.node.gateway",
// "network.dns[i]", "network.ntp[i]", "disk.system", "disk.storage_group[i]",
// "disk.confirm_erase", "admin", "admin.password", "admin.password_hash".
package answers

import (
	"encoding/json"
	"net"
	"strings"
)

// Action is what the install does with this node (SPEC I1).
type Action string

const (
	// Create is "Create new system": this node becomes node0 of a new system.
	Create Action = "create"
	// Replace is "Replace PM, join system: initialize data": the node joins an
	// existing system (first install of node1, or a replaced board) and its
	// disks are initialized and resynced from the peer.
	Replace Action = "replace"
	// Recover is "Recover PM, join system: preserve data": the node rejoins
	// and keeps its data partitions; only the system partitions are rewritten.
	Recover Action = "recover"
)

// Actions lists the valid actions in menu order.
var Actions = []Action{Create, Replace, Recover}

// Joins reports whether the action joins an existing system (Replace, Recover).
func (a Action) Joins() bool { return a == Replace || a == Recover }

// Answers is everything the install needs. The zero value is an empty,
// invalid answer set; see Validate for the rules.
type Answers struct {
	// Action: create, replace or recover.
	Action Action `yaml:"action" json:"action"`
	// Lab is the lab override (QEMU without VT-x): the BIOS checks' VT-x
	// failure becomes a warning and the node is marked "lab mode". It also
	// lowers the default minimum system disk size (see Hardware.MinDiskBytes).
	Lab bool `yaml:"lab" json:"lab"`
	// AcceptWarnings lets an unattended install proceed past check warnings
	// (failures still stop it).
	AcceptWarnings bool `yaml:"accept_warnings" json:"accept_warnings"`
	// Hostname is this node's host name: one RFC 1123 label (letters, digits,
	// "-", 1-63 characters, no leading or trailing "-").
	Hostname string `yaml:"hostname" json:"hostname"`
	// System describes the new system. Create only: a joining node receives
	// the system's identity from the system, so these must be empty there.
	System System `yaml:"system" json:"system"`
	// Join holds options for joining an existing system. Replace/Recover only.
	Join Join `yaml:"join" json:"join"`
	// Network chooses priv0, ibiz0 and the A-Links and this node's addresses.
	Network Network `yaml:"network" json:"network"`
	// Disk chooses the system disk and the storage-group disks.
	Disk Disk `yaml:"disk" json:"disk"`
	// Admin sets the system administrator's password. Create only.
	Admin Admin `yaml:"admin" json:"admin"`
}

// System is the identity of a new system (Create only).
type System struct {
	// Name is the system's name: 1-63 letters, digits and "-".
	Name string `yaml:"name" json:"name"`
	// IP is the system IP: a plain IPv4 address on ibiz0's subnet that lives
	// on the primary node and moves between the nodes' ibiz0 on failover.
	IP string `yaml:"ip" json:"ip"`
	// Witnesses are 0 to 2 quorum witnesses ("host:port" of a
	// lockstep-witness) that decide which node may serve when the nodes
	// cannot see each other (SPEC A2). Without one, node0 is preferred and
	// node1 never takes over.
	Witnesses []string `yaml:"witnesses" json:"witnesses"`
	// WitnessSecret is the witnesses' shared secret: the text of their
	// -secret-file, at least 16 characters without spaces.
	WitnessSecret string `yaml:"witness_secret" json:"witness_secret"`
}

// Join holds options for joining an existing system (Replace/Recover only).
type Join struct {
	// Fingerprint optionally pins the system CA's SHA-256 fingerprint: 64
	// hex digits, colons optional. When set, the join refuses a system whose
	// CA does not match; when empty, the TUI shows the fingerprint for
	// confirmation. Normalize makes it lower-case hex without colons.
	Fingerprint string `yaml:"fingerprint" json:"fingerprint"`
}

// Network chooses the node's NICs and addresses.
type Network struct {
	// Priv0 is the private link to the peer node: a NIC given by MAC address
	// (stable, preferred) or by kernel name (eth0, enp1s0).
	Priv0 string `yaml:"priv0" json:"priv0"`
	// Ibiz0 is the management network NIC, by MAC address or kernel name.
	Ibiz0 string `yaml:"ibiz0" json:"ibiz0"`
	// ALinks are the A-Links: up to MaxALinks more NICs cabled directly to
	// the peer (disk sync, FT checkpoints, and heartbeats besides priv0's),
	// each by MAC address or kernel name like priv0. The installed node
	// names them alink0, alink1, … in this order, so the order must match
	// the peer's cabling. Empty is valid: the TUI does not ask for them.
	ALinks []string `yaml:"alinks" json:"alinks"`
	// Node is this node's own management address on ibiz0.
	Node Address `yaml:"node" json:"node"`
	// DNS lists DNS servers as IPv4 addresses.
	DNS []string `yaml:"dns" json:"dns"`
	// NTP lists time servers as IPv4 addresses or host names.
	NTP []string `yaml:"ntp" json:"ntp"`
}

// MaxALinks is the most A-Links a node may have (alink0 to alink3).
const MaxALinks = 4

// Address is an IPv4 interface configuration, static or DHCP.
type Address struct {
	// DHCP takes the address, netmask and gateway from DHCP; IP, Netmask and
	// Gateway must then be empty.
	DHCP bool `yaml:"dhcp" json:"dhcp"`
	// IP is the static address: "192.0.2.10", or CIDR "192.0.2.10/24" (then
	// Netmask stays empty; Normalize splits it).
	IP string `yaml:"ip" json:"ip"`
	// Netmask in dotted form "255.255.255.0" or as a prefix length "/24" or
	// "24"; empty when IP is given in CIDR form. Normalize makes it dotted.
	Netmask string `yaml:"netmask" json:"netmask"`
	// Gateway is the default gateway, optional; inside the node's subnet.
	Gateway string `yaml:"gateway" json:"gateway"`
}

// Disk chooses the disks the install writes.
type Disk struct {
	// System is the system disk's stable identity as shown in the installer's
	// disk list (WWN, serial or by-path id: the names under /dev/disk/by-id or
	// /dev/disk/by-path), never a kernel name such as sda.
	System string `yaml:"system" json:"system"`
	// StorageGroup lists more logical disks (stable ids) for VM volumes.
	StorageGroup []string `yaml:"storage_group" json:"storage_group"`
	// ConfirmErase must be true: it says explicitly that the chosen disks are
	// erased. The TUI sets it after its confirmation screen; an answer file
	// must set it itself.
	ConfirmErase bool `yaml:"confirm_erase" json:"confirm_erase"`
}

// Admin sets the administrator's password (Create only): exactly one of
// Password and PasswordHash.
type Admin struct {
	// Password in clear text, at least 12 characters.
	Password string `yaml:"password" json:"password"`
	// PasswordHash is a crypt(3) SHA-512 hash: "$6$salt$hash" or
	// "$6$rounds=N$salt$hash" (e.g. from `openssl passwd -6` or `mkpasswd -m sha-512`).
	PasswordHash string `yaml:"password_hash" json:"password_hash"`
}

// Normalize fills derived values in place so that later stages see one
// canonical form: surrounding spaces trimmed everywhere; action and hostname
// lower-cased; a CIDR node IP "ip/len" split into IP and a dotted Netmask
// (only when Netmask is empty and the CIDR is valid); a prefix-length
// netmask ("/24", "24") made dotted; MAC addresses lower-case with colons;
// the fingerprint lower-case hex without colons; disk ids stripped of a
// "/dev/disk/by-id/" or "/dev/disk/by-path/" prefix. Values it cannot
// understand are left as written so that Validate reports them. It is
// idempotent; Parse calls it.
func Normalize(a *Answers) {
	trimAll(a)
	a.Action = Action(strings.ToLower(string(a.Action)))
	a.Hostname = strings.ToLower(a.Hostname)

	n := &a.Network.Node
	if n.Netmask == "" {
		if addr, l, ok := strings.Cut(n.IP, "/"); ok {
			ip, err1 := parseIPv4(addr)
			bits, err2 := parsePrefixLen(l)
			if err1 == nil && err2 == nil {
				n.IP, n.Netmask = ip.String(), maskString(bits)
			}
		}
	}
	if n.Netmask != "" {
		if bits, err := parseNetmask(n.Netmask); err == nil {
			n.Netmask = maskString(bits)
		}
	}

	a.Network.Priv0 = normalizeNIC(a.Network.Priv0)
	a.Network.Ibiz0 = normalizeNIC(a.Network.Ibiz0)
	if len(a.System.Witnesses) == 0 {
		a.System.Witnesses = nil // "witnesses: []" and none are the same answer
	}
	for i := range a.Network.ALinks {
		a.Network.ALinks[i] = normalizeNIC(a.Network.ALinks[i])
	}

	if fp, ok := canonicalFingerprint(a.Join.Fingerprint); ok {
		a.Join.Fingerprint = fp
	}

	a.Disk.System = stripDiskPrefix(a.Disk.System)
	for i := range a.Disk.StorageGroup {
		a.Disk.StorageGroup[i] = stripDiskPrefix(a.Disk.StorageGroup[i])
	}
}

// trimAll trims surrounding white space from every string; Validate works on
// a trimmed copy, so " 192.0.2.1" is accepted like "192.0.2.1".
func trimAll(a *Answers) {
	t := strings.TrimSpace
	a.Action = Action(t(string(a.Action)))
	a.Hostname = t(a.Hostname)
	a.System.Name, a.System.IP = t(a.System.Name), t(a.System.IP)
	a.Join.Fingerprint = t(a.Join.Fingerprint)
	a.Network.Priv0, a.Network.Ibiz0 = t(a.Network.Priv0), t(a.Network.Ibiz0)
	n := &a.Network.Node
	n.IP, n.Netmask, n.Gateway = t(n.IP), t(n.Netmask), t(n.Gateway)
	for _, l := range [][]string{a.Network.ALinks, a.Network.DNS, a.Network.NTP, a.Disk.StorageGroup} {
		for i := range l {
			l[i] = t(l[i])
		}
	}
	a.Disk.System = t(a.Disk.System)
	// Passwords are taken as written: spaces may be part of them.
	a.Admin.PasswordHash = t(a.Admin.PasswordHash)
}

// clone returns a deep copy (the slices are not shared).
func (a *Answers) clone() Answers {
	c := *a
	c.Network.ALinks = append([]string(nil), a.Network.ALinks...)
	c.System.Witnesses = append([]string(nil), a.System.Witnesses...)
	c.Network.DNS = append([]string(nil), a.Network.DNS...)
	c.Network.NTP = append([]string(nil), a.Network.NTP...)
	c.Disk.StorageGroup = append([]string(nil), a.Disk.StorageGroup...)
	return c
}

// normalizeNIC turns a MAC address into lower-case colon form; a name is
// returned unchanged.
func normalizeNIC(s string) string {
	if hw, err := net.ParseMAC(s); err == nil {
		return hw.String()
	}
	return s
}

// stripDiskPrefix turns "/dev/disk/by-id/wwn-0x5..." into "wwn-0x5...".
func stripDiskPrefix(s string) string {
	for _, p := range []string{"/dev/disk/by-id/", "/dev/disk/by-path/"} {
		if strings.HasPrefix(s, p) {
			return strings.TrimPrefix(s, p)
		}
	}
	return s
}

// Redacted placeholders.
const (
	redactedPassword = "********"
	redactedHash     = "$6$…"
)

// Redacted returns a deep copy safe to print or log: a password becomes
// "********" and a password hash keeps only its "$6$" prefix ("$6$…").
func (a *Answers) Redacted() Answers {
	c := a.clone()
	if c.Admin.Password != "" {
		c.Admin.Password = redactedPassword
	}
	if c.System.WitnessSecret != "" {
		c.System.WitnessSecret = redactedPassword
	}
	if c.Admin.PasswordHash != "" {
		if strings.HasPrefix(c.Admin.PasswordHash, "$6$") {
			c.Admin.PasswordHash = redactedHash
		} else {
			c.Admin.PasswordHash = "…"
		}
	}
	return c
}

// JSON returns the redacted answers as indented JSON with a final newline;
// the dry-run mode prints it to the console.
func (a *Answers) JSON() []byte {
	r := a.Redacted()
	for _, l := range []*[]string{&r.System.Witnesses, &r.Network.ALinks, &r.Network.DNS, &r.Network.NTP, &r.Disk.StorageGroup} {
		if *l == nil {
			*l = []string{} // print [] rather than null
		}
	}
	b, err := json.MarshalIndent(&r, "", "  ")
	if err != nil { // cannot happen: only strings, bools and string slices
		return []byte("{}\n")
	}
	return append(b, '\n')
}
