package apitest

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/api"
)

var (
	networkName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,9}$`)
	rolePort    = regexp.MustCompile(`^(priv0|ibiz0|alink[0-9]+)$`)
)

// seedNetworks gives the fake system the networks its VMs use: biz0,
// whole, and biz1, whose port on node1 is missing.
func (b *Backend) seedNetworks() {
	b.NetworkList = []api.Network{
		{NetworkSpec: api.NetworkSpec{Name: "biz0", Ports: map[string]string{"node0": "enp9s0", "node1": "enp9s0"}},
			Bridge: "lsbr-biz0", State: map[string]string{"node0": api.NetworkOK, "node1": api.NetworkOK}},
		{NetworkSpec: api.NetworkSpec{Name: "biz1", Ports: map[string]string{"node0": "52:54:00:be:ef:01", "node1": "enp10s0"}},
			Bridge: "lsbr-biz1", State: map[string]string{"node0": api.NetworkOK, "node1": "port enp10s0 not found"}},
	}
}

// withVMs is n with the VMs that have a NIC on it.
func (b *Backend) withVMs(n api.Network) api.Network {
	n.Ports = maps.Clone(n.Ports)
	n.State = maps.Clone(n.State)
	n.VMs = nil
	for _, vm := range b.VMList {
		if slices.ContainsFunc(vm.NICs, func(c api.NICSpec) bool { return c.Network == n.Name }) {
			n.VMs = append(n.VMs, vm.Name)
		}
	}
	return n
}

func (b *Backend) findNetwork(name string) (int, error) {
	i := slices.IndexFunc(b.NetworkList, func(n api.Network) bool { return n.Name == name })
	if i < 0 {
		return -1, fmt.Errorf("network %q: %w", name, api.ErrNotFound)
	}
	return i, nil
}

// setPorts checks ports as the agent does, and merges them into n.
func (b *Backend) setPorts(n *api.Network, ports map[string]string) error {
	var p []string
	bad := map[string]bool{}
	for _, node := range slices.Sorted(maps.Keys(ports)) {
		port := strings.ToLower(ports[node])
		bad[node] = true
		switch {
		case node != "node0" && node != "node1":
			p = append(p, fmt.Sprintf("port on %q: the nodes are node0 and node1", node))
		case port == "" || strings.ContainsAny(port, "/ "):
			p = append(p, fmt.Sprintf("%s: port %q: give the NIC's interface name (enp9s0) or its MAC address", node, port))
		case rolePort.MatchString(port):
			p = append(p, fmt.Sprintf("%s: port %s: management, heartbeat and replication ports cannot carry guests", node, port))
		default:
			for _, o := range b.NetworkList {
				if o.Name != n.Name && o.Ports[node] == port {
					p = append(p, fmt.Sprintf("%s: port %s serves network %s already; a NIC serves one network", node, port, o.Name))
				}
			}
			n.Ports[node] = port
			n.State[node] = api.NetworkOK
			bad[node] = false
		}
	}
	for _, node := range []string{"node0", "node1"} {
		if n.Ports[node] == "" && !bad[node] {
			p = append(p, fmt.Sprintf("%s: no port: a network needs a NIC on each node", node))
		}
	}
	if len(p) > 0 {
		return &api.BadSpecError{Problems: p}
	}
	return nil
}

func (b *Backend) Networks(context.Context) ([]api.Network, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []api.Network
	for _, n := range b.NetworkList {
		out = append(out, b.withVMs(n))
	}
	return out, b.Err
}

func (b *Backend) Network(_ context.Context, name string) (api.Network, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return api.Network{}, b.Err
	}
	i, err := b.findNetwork(name)
	if err != nil {
		return api.Network{}, err
	}
	return b.withVMs(b.NetworkList[i]), nil
}

func (b *Backend) CreateNetwork(_ context.Context, spec api.NetworkSpec) (api.Network, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("network create " + spec.Name); err != nil {
		return api.Network{}, err
	}
	if !networkName.MatchString(spec.Name) {
		return api.Network{}, &api.BadSpecError{Problems: []string{fmt.Sprintf(
			"network name %q: use 1 to 10 lower-case letters, digits and '-', starting with a letter", spec.Name)}}
	}
	if _, err := b.findNetwork(spec.Name); err == nil {
		return api.Network{}, api.Conflict(fmt.Sprintf("network %q exists", spec.Name))
	}
	n := api.Network{NetworkSpec: api.NetworkSpec{Name: spec.Name, Ports: map[string]string{}}, Bridge: "lsbr-" + spec.Name, State: map[string]string{}}
	if err := b.setPorts(&n, spec.Ports); err != nil {
		return api.Network{}, err
	}
	i, _ := slices.BinarySearchFunc(b.NetworkList, n.Name, func(o api.Network, name string) int { return strings.Compare(o.Name, name) })
	b.NetworkList = slices.Insert(b.NetworkList, i, n)
	return b.withVMs(n), nil
}

func (b *Backend) ModifyNetwork(_ context.Context, name string, change api.NetworkSpec) (api.Network, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("network modify " + name); err != nil {
		return api.Network{}, err
	}
	i, err := b.findNetwork(name)
	if err != nil {
		return api.Network{}, err
	}
	if change.Name != "" && change.Name != name {
		return api.Network{}, &api.BadSpecError{Problems: []string{"a network cannot be renamed"}}
	}
	if len(change.Ports) == 0 {
		return api.Network{}, &api.BadSpecError{Problems: []string{fmt.Sprintf("network %s: give the port to change", name)}}
	}
	n := b.withVMs(b.NetworkList[i])
	if err := b.setPorts(&n, change.Ports); err != nil {
		return api.Network{}, err
	}
	n.VMs = nil
	b.NetworkList[i] = n
	return b.withVMs(n), nil
}

func (b *Backend) DeleteNetwork(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.record("network delete " + name); err != nil {
		return err
	}
	i, err := b.findNetwork(name)
	if err != nil {
		return err
	}
	if vms := b.withVMs(b.NetworkList[i]).VMs; len(vms) > 0 {
		return api.Conflict(fmt.Sprintf("network %s is in use by VM %s: move their NICs to another network or delete the VMs first", name, strings.Join(vms, ", ")))
	}
	b.NetworkList = slices.Delete(b.NetworkList, i, i+1)
	return nil
}
