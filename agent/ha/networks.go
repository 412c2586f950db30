package ha

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
)

// Network is a business network: the bridge netcfg.BridgeName(Name) on
// each node, with one NIC of that node as its port. The VMs' NICs on it
// keep their MACs on either node, so a guest keeps its addresses when it
// moves.
type Network struct {
	Name string `json:"name"`
	// Ports is each node's NIC by node name ("node0"): a kernel
	// interface name or a MAC address (netcfg.ParsePort's forms).
	Ports map[string]string `json:"ports"`
}

// Nodes are the system's nodes: a network has a port on each.
var Nodes = []string{"node0", "node1"}

// The bridge's name is "lsbr-" and this, and Linux interface names have
// at most 15 bytes.
var networkNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,9}$`)

// ValidNetworkName says what is wrong with a network name, or "".
func ValidNetworkName(name string) string {
	if !networkNameRE.MatchString(name) {
		return fmt.Sprintf("network name %q: use 1 to 10 lower-case letters, digits and '-', starting with a letter", name)
	}
	return ""
}

// NetworkNames lists the networks in name order.
func (t *Table) NetworkNames() []string { return slices.Sorted(maps.Keys(t.Networks)) }

// NetworkUsers lists the VMs with a NIC on network name, in name order.
func (t *Table) NetworkUsers(name string) []string {
	var out []string
	for _, vm := range t.Names() {
		if slices.ContainsFunc(t.VMs[vm].Spec.NICs, func(n api.NICSpec) bool { return n.Network == name }) {
			out = append(out, vm)
		}
	}
	return out
}

// NICProblems says what is wrong with a VM's NICs: each must be on a
// network of the table.
func (t *Table) NICProblems(nics []api.NICSpec) []string {
	var p []string
	for i, n := range nics {
		switch {
		case n.Network == "":
			p = append(p, fmt.Sprintf("nic %d: name its network", i))
		case t.Networks[n.Network] == nil:
			known := "there is none yet: create one first"
			if names := t.NetworkNames(); len(names) > 0 {
				known = "the networks are " + strings.Join(names, ", ")
			}
			p = append(p, fmt.Sprintf("nic %d: no business network %q; %s", i, n.Network, known))
		}
	}
	return p
}

// CreateNetwork adds a network with a port on each node.
func (t *Table) CreateNetwork(name string, ports map[string]string) error {
	if p := ValidNetworkName(name); p != "" {
		return &api.BadSpecError{Problems: []string{p}}
	}
	if _, dup := t.Networks[name]; dup {
		return api.Conflict(fmt.Sprintf("network %q exists", name))
	}
	n := &Network{Name: name, Ports: map[string]string{}}
	if err := t.setPorts(n, ports); err != nil {
		return err
	}
	t.Networks[name] = n
	return nil
}

// ModifyNetwork gives the nodes named in ports a new port; the others keep
// theirs. VMs may be on the network: after a board swap the node's NIC is
// another one, and the guests must not have to stop for that.
func (t *Table) ModifyNetwork(name string, ports map[string]string) error {
	old, ok := t.Networks[name]
	if !ok {
		return fmt.Errorf("network %q: %w", name, api.ErrNotFound)
	}
	if len(ports) == 0 {
		return &api.BadSpecError{Problems: []string{fmt.Sprintf("network %s: give the port to change", name)}}
	}
	n := &Network{Name: name, Ports: maps.Clone(old.Ports)}
	if err := t.setPorts(n, ports); err != nil {
		return err
	}
	t.Networks[name] = n
	return nil
}

// DeleteNetwork removes a network that no VM uses.
func (t *Table) DeleteNetwork(name string) error {
	if _, ok := t.Networks[name]; !ok {
		return fmt.Errorf("network %q: %w", name, api.ErrNotFound)
	}
	if users := t.NetworkUsers(name); len(users) > 0 {
		return api.Conflict(fmt.Sprintf("network %s is in use by VM %s: move their NICs to another network or delete the VMs first",
			name, strings.Join(users, ", ")))
	}
	delete(t.Networks, name)
	return nil
}

// setPorts puts ports into n, checked: one NIC of each node, in a form
// the node can find, neither a port that serves the node itself nor one
// that serves another network. Whether a MAC address is a role NIC's, or
// the same NIC as another network's port given by name, only the node can
// tell: its bridge reconcile refuses those and reports why.
func (t *Table) setPorts(n *Network, ports map[string]string) error {
	var p []string
	for _, node := range slices.Sorted(maps.Keys(ports)) {
		port := ports[node]
		if !slices.Contains(Nodes, node) {
			p = append(p, fmt.Sprintf("port on %q: the nodes are %s", node, strings.Join(Nodes, " and ")))
			continue
		}
		norm, err := netcfg.ParsePort(port)
		if err != nil {
			p = append(p, fmt.Sprintf("%s: %v", node, err))
			continue
		}
		if role := netcfg.PortRole(norm); role != "" {
			p = append(p, fmt.Sprintf("%s: port %s: %s; management, heartbeat and replication ports cannot carry guests", node, norm, role))
			continue
		}
		for _, other := range t.NetworkNames() {
			if other != n.Name && t.Networks[other].Ports[node] == norm {
				p = append(p, fmt.Sprintf("%s: port %s serves network %s already; a NIC serves one network", node, norm, other))
			}
		}
		n.Ports[node] = norm
	}
	for _, node := range Nodes {
		if n.Ports[node] == "" && !slices.ContainsFunc(p, func(s string) bool { return strings.HasPrefix(s, node+":") }) {
			p = append(p, fmt.Sprintf("%s: no port: a network needs a NIC on each node", node))
		}
	}
	if len(p) > 0 {
		return &api.BadSpecError{Problems: p}
	}
	return nil
}
