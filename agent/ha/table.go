// Package ha keeps the system's VMs running: the VM table that both nodes
// hold (the primary writes it and hands every version to the peer), and
// each node's manager that starts and stops VMs on this node, with their
// mirrored volumes, when the administrator or the membership says so
// (SPEC A7, A9).
//
// Where a VM runs is not stored anywhere: a node runs a VM when it has
// told the membership so (SetResources), and the heartbeats carry that to
// the peer. The membership's rules then decide what happens after a node
// loss (the survivor takes over what the lost node ran) and after a split
// brain (one copy is stopped), so the table only says what should run.
package ha

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// Desired states of a VM.
const (
	WantRunning = "running"
	WantStopped = "stopped"
)

// ResourcePrefix marks a VM among the membership's resources.
const ResourcePrefix = "vm:"

// Resource is the membership's name for a VM.
func Resource(vm string) string { return ResourcePrefix + vm }

// Record is one VM as the system keeps it.
type Record struct {
	Spec    api.VMSpec `json:"spec"`
	UUID    string     `json:"uuid"`
	Volumes []Volume   `json:"volumes"`
	Want    string     `json:"want"` // WantRunning, WantStopped
	// MACs are the NICs' addresses, fixed at creation so that the VM keeps
	// them on either node.
	MACs []string `json:"macs"`
}

// Volume is one mirrored volume: a logical volume of the same name in the
// storage group of each node and the DRBD resource over both, or, for an
// FT VM, the two logical volumes alone (ReplicationCOLO).
type Volume struct {
	Name    string `json:"name"` // the VM's name for it
	SizeMiB int64  `json:"size_mib"`
	Group   string `json:"group"`
	// Minor is the DRBD minor (/dev/drbd<Minor>); the resource, the
	// logical volumes and the port are derived from it. FT volumes keep
	// one too: it names their logical volumes, keeps them free for a
	// later change to HA, and spaces the VM's COLO ports.
	Minor int `json:"minor"`
	// Replication is ReplicationDRBD ("", every volume of a table written
	// before FT VMs existed) or ReplicationCOLO.
	Replication string `json:"replication,omitempty"`
	// Current names the node ("node0", "node1") whose copy is the only
	// current one; "" when the system knows of no difference. An FT VM's
	// copies part as soon as one side runs unprotected, so a cold start
	// must use this copy; after a change to HA, DRBD's first sync must
	// come from it.
	Current string `json:"current,omitempty"`
	// GuestBytes is the size the guest sees when it is not SizeMiB: a
	// volume changed from HA to FT keeps the size DRBD gave the guest
	// (SizeMiB rounded up to the logical volume's extents, less DRBD's
	// metadata), so that a partition table or PV written to its end stays
	// valid.
	GuestBytes int64 `json:"guest_bytes,omitempty"`
}

// Replication engines of a volume.
const (
	ReplicationDRBD = ""
	// ReplicationCOLO: QEMU's COLO replicates the disk (the primary's
	// writes go to its logical volume and, over NBD, to the secondary's):
	// each node holds a plain logical volume, no DRBD resource.
	ReplicationCOLO = "colo"
)

// COLO reports whether QEMU's COLO, not DRBD, replicates v.
func (v Volume) COLO() bool { return v.Replication == ReplicationCOLO }

// Bytes is the size the guest sees.
func (v Volume) Bytes() int64 {
	if v.GuestBytes > 0 {
		return v.GuestBytes
	}
	return v.SizeMiB << 20
}

// Resource is the DRBD resource and logical volume name.
func (v Volume) Resource() string { return fmt.Sprintf("lsv%d", v.Minor) }

// Device is the block device the VM uses.
func (v Volume) Device() string { return fmt.Sprintf("/dev/drbd%d", v.Minor) }

// Port is the DRBD port on the replication link.
func (v Volume) Port() int { return 7800 + v.Minor }

// Table is the system's VM table. Only the primary changes it, and it
// stamps each version with its membership term and a generation that
// grows with every change; a node takes a table from the peer only if it
// is newer than its own. The term comes first: a node that became primary
// while the other was away (so that it could not get the other's last
// changes) writes under a higher term, and its table wins when the other
// comes back, whatever the generations.
type Table struct {
	Term       uint64             `json:"term"`
	Generation uint64             `json:"generation"`
	VMs        map[string]*Record `json:"vms"`
	// Networks are the business networks, by name: they are the
	// system's like the VMs, and change the same way.
	Networks map[string]*Network `json:"networks"`
	// Alerts is where alerts are sent (nil: nowhere yet). It holds the
	// SMTP password in clear: the table lives on STATE, readable by root
	// only, and goes to the peer over the authenticated peer link; the
	// API never shows it.
	Alerts *api.AlertSettings `json:"alerts,omitempty"`
	// Users are the API's users besides the built-in admin, and the
	// admin once its password was changed (SPEC A16): SHA-512 crypt
	// hashes, like the installer's.
	Users map[string]*User `json:"users,omitempty"`
}

// Newer reports whether t is a later version than u.
func (t *Table) Newer(u *Table) bool {
	if t.Term != u.Term {
		return t.Term > u.Term
	}
	return t.Generation > u.Generation
}

// Clone is a deep copy.
func (t *Table) Clone() *Table {
	b, _ := json.Marshal(t)
	var c Table
	_ = json.Unmarshal(b, &c)
	c.init()
	return &c
}

// init gives a table read from an older node or file its empty maps.
func (t *Table) init() {
	if t.VMs == nil {
		t.VMs = map[string]*Record{}
	}
	if t.Networks == nil {
		t.Networks = map[string]*Network{}
	}
}

// Names lists the VMs in name order.
func (t *Table) Names() []string {
	var n []string
	for k := range t.VMs {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// FreeMinor is the lowest DRBD minor no volume uses; taken lists minors
// handed out but not yet in the table.
func (t *Table) FreeMinor(taken ...int) int {
	used := map[int]bool{}
	for _, m := range taken {
		used[m] = true
	}
	for _, r := range t.VMs {
		for _, v := range r.Volumes {
			used[v.Minor] = true
		}
	}
	for m := 0; ; m++ {
		if !used[m] {
			return m
		}
	}
}

// LoadTable reads path; a missing file is an empty table.
func LoadTable(path string) (*Table, error) {
	t := &Table{}
	t.init()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.init()
	return t, nil
}

// Save writes t to path atomically: a node losing power mid-write keeps
// the previous table, never half of one.
func (t *Table) Save(path string) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidName says what is wrong with a VM or volume name, or "" if nothing:
// names appear in libvirt, DRBD and LVM names and in URLs, so they are
// kept to lower-case letters, digits and '-'.
func ValidName(kind, name string) string {
	if !nameRE.MatchString(name) {
		return fmt.Sprintf("%s name %q: use 1 to 63 lower-case letters, digits and '-', starting with a letter or digit", kind, name)
	}
	return ""
}
