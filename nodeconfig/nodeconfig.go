// Package nodeconfig is a node's identity and network configuration as the
// installer writes it to the STATE partition and the agent reads it at every
// boot (SPEC I6–I8). It is the installer's checked answers with the NICs
// resolved to MAC addresses (kernel names change between kernels; MACs do
// not) and a record of the install, never a clear-text password.
package nodeconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

const (
	// StateMount is where the installed system mounts the STATE partition.
	StateMount = "/var/lib/lockstep"
	// FileName is the config's name at the root of STATE.
	FileName = "node.json"
	// Path is the config on a running node.
	Path = StateMount + "/" + FileName
	// Format is the version of this file's layout.
	Format = 1
)

// Config is node.json.
type Config struct {
	Format   int            `json:"format"`
	Action   answers.Action `json:"action"` // how the node was installed: create, replace, recover
	Hostname string         `json:"hostname"`
	// Lab marks a node installed with the lab override (no VT-x check).
	Lab bool `json:"lab,omitempty"`
	// System is the new system's identity (Create only; a joining node
	// learns it from the system).
	System answers.System `json:"system"`
	// JoinFingerprint pins the system CA a joining node accepts ("" = ask).
	JoinFingerprint string  `json:"join_fingerprint,omitempty"`
	Network         Network `json:"network"`
	// AdminPasswordHash is a crypt(3) SHA-512 hash (Create only).
	AdminPasswordHash string `json:"admin_password_hash,omitempty"`
	// StorageDisks are the logical disks (the answers' disk.storage_group)
	// that the first storage group gets besides the system disk's storage
	// partition (layout partition 6), by stable id as the installer lists
	// them: "wwn:<wwid>", "serial:<serial>", "path:<by-path>", or a bare
	// WWN, serial, or name under /dev/disk/by-id or /dev/disk/by-path.
	// Create and Replace erase their first and last MiB; Recover leaves
	// them as they are. When the node has no storage group yet, the agent
	// makes "storage0" over partition 6 and those of these disks it finds
	// under /dev/disk (one it cannot find is logged and left out).
	StorageDisks []string `json:"storage_disks,omitempty"`
	Install      Install  `json:"install"`
}

// Network is the node's NICs by role and its management address.
type Network struct {
	Priv0 NIC `json:"priv0"`
	Ibiz0 NIC `json:"ibiz0"`
	// ALinks are the A-Links in order: the agent names them alink0,
	// alink1, …, so their order is what pairs them with the peer's.
	ALinks []NIC           `json:"alinks,omitempty"`
	Node   answers.Address `json:"node"` // on ibiz0: static (normalized) or DHCP
	DNS    []string        `json:"dns,omitempty"`
	NTP    []string        `json:"ntp,omitempty"`
}

// NIC is a role's interface: the agent renames the link with this MAC to
// the role's name (priv0, ibiz0, alink0, …).
type NIC struct {
	MAC string `json:"mac"` // lower-case aa:bb:cc:dd:ee:ff
}

// Install records how and when the node was installed.
type Install struct {
	Time    time.Time `json:"time"`
	Version string    `json:"version"` // system image version written to slot A
	Media   string    `json:"media,omitempty"`
	Disk    string    `json:"disk"` // the system disk's stable id
}

// FromAnswers builds the config from validated answers and the MACs that
// priv0 and ibiz0 resolved to. The A-Links are left out: their MACs are
// resolved the same way and given to WithALinks.
func FromAnswers(a answers.Answers, priv0MAC, ibiz0MAC string, inst Install) (Config, error) {
	c := Config{
		Format:          Format,
		Action:          a.Action,
		Hostname:        a.Hostname,
		Lab:             a.Lab,
		System:          a.System,
		JoinFingerprint: a.Join.Fingerprint,
		Network: Network{
			Priv0: NIC{MAC: priv0MAC},
			Ibiz0: NIC{MAC: ibiz0MAC},
			Node:  a.Network.Node,
			DNS:   a.Network.DNS,
			NTP:   a.Network.NTP,
		},
		AdminPasswordHash: a.Admin.PasswordHash,
		StorageDisks:      slices.Clone(a.Disk.StorageGroup),
		Install:           inst,
	}
	if len(c.StorageDisks) == 0 {
		c.StorageDisks = nil // "storage_group: []" and none are the same answer
	}
	if a.Admin.Password != "" && a.Admin.PasswordHash == "" {
		h, err := HashPassword(a.Admin.Password)
		if err != nil {
			return Config{}, err
		}
		c.AdminPasswordHash = h
	}
	return c, c.Validate()
}

// WithALinks returns c with its A-Links set to the NICs with these MACs,
// in this order (nil or empty: none). The MACs are stored in canonical
// lower-case colon form, as priv0's and ibiz0's are, so that node.json
// compares equal however the answers wrote them; the result is validated.
func WithALinks(c Config, macs []string) (Config, error) {
	var nics []NIC
	var errs []error
	for i, m := range macs {
		hw, err := net.ParseMAC(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("network.alinks[%d].mac %q: %v", i, m, err))
			continue
		}
		nics = append(nics, NIC{MAC: hw.String()})
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	c.Network.ALinks = nics
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks what the agent relies on.
func (c Config) Validate() error {
	var errs []error
	if c.Format != Format {
		errs = append(errs, fmt.Errorf("format %d: this build reads format %d", c.Format, Format))
	}
	switch c.Action {
	case answers.Create, answers.Replace, answers.Recover:
	default:
		errs = append(errs, fmt.Errorf("action %q is not create, replace or recover", c.Action))
	}
	if c.Hostname == "" {
		errs = append(errs, errors.New("hostname is empty"))
	}
	for role, n := range map[string]NIC{"priv0": c.Network.Priv0, "ibiz0": c.Network.Ibiz0} {
		if _, err := net.ParseMAC(n.MAC); err != nil {
			errs = append(errs, fmt.Errorf("network.%s.mac %q: %v", role, n.MAC, err))
		}
	}
	if c.Network.Priv0.MAC != "" && c.Network.Priv0.MAC == c.Network.Ibiz0.MAC {
		errs = append(errs, errors.New("priv0 and ibiz0 are the same NIC"))
	}
	errs = append(errs, c.Network.aLinkErrors()...)
	if !c.Network.Node.DHCP && c.Network.Node.IP == "" {
		errs = append(errs, errors.New("network.node: neither DHCP nor a static address"))
	}
	for i, id := range c.StorageDisks {
		switch {
		case strings.TrimSpace(id) == "":
			errs = append(errs, fmt.Errorf("storage_disks[%d] is empty", i))
		case slices.Index(c.StorageDisks, id) < i:
			errs = append(errs, fmt.Errorf("storage_disks[%d] %q is listed twice", i, id))
		case id == c.Install.Disk:
			errs = append(errs, fmt.Errorf("storage_disks[%d] %q is the system disk", i, id))
		}
	}
	return errors.Join(errs...)
}

// aLinkErrors checks the A-Links: valid MACs, at most answers.MaxALinks,
// and each a NIC of its own, because the agent gives every MAC exactly one
// role name.
func (n Network) aLinkErrors() []error {
	var errs []error
	if len(n.ALinks) > answers.MaxALinks {
		errs = append(errs, fmt.Errorf("network.alinks: %d A-Links, at most %d are supported", len(n.ALinks), answers.MaxALinks))
	}
	// Compared as parsed MACs: a hand-edited node.json may differ in case.
	roles := map[string]string{}
	for role, nic := range map[string]NIC{"priv0": n.Priv0, "ibiz0": n.Ibiz0} {
		if hw, err := net.ParseMAC(nic.MAC); err == nil {
			roles[hw.String()] = role
		}
	}
	for i, nic := range n.ALinks {
		hw, err := net.ParseMAC(nic.MAC)
		if err != nil {
			errs = append(errs, fmt.Errorf("network.alinks[%d].mac %q: %v", i, nic.MAC, err))
			continue
		}
		role := fmt.Sprintf("alinks[%d]", i)
		if other, dup := roles[hw.String()]; dup {
			errs = append(errs, fmt.Errorf("network.%s.mac %s is also %s's: every role needs a NIC of its own", role, nic.MAC, other))
			continue
		}
		roles[hw.String()] = role
	}
	return errs
}

// Marshal is the file's content.
func (c Config) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse reads node.json.
func Parse(b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("node config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("node config: %w", err)
	}
	return c, nil
}

// Load reads node.json from path.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := Parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// WriteDir writes node.json into dir (the STATE tree being prepared).
func (c Config) WriteDir(dir string) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, FileName), b, 0o600)
}
