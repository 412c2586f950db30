package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
)

// bridges keeps this node's bridges in line with the business networks of
// the VM table (it is the VM manager's ha.Options.Networks) and remembers
// how each network fared here, which the API shows for both nodes.
type bridges struct {
	links netcfg.BridgeLinks
	node  string // this node's name, its key in a network's ports
	logf  func(string, ...any)

	mu      sync.Mutex
	states  map[string]string // network → netcfg.BridgeOK or the problem
	logged  map[string]string // network → the port and state last logged
	lastErr string
}

// apply reconciles the bridges with t's networks. It logs what changed
// only: it runs at every table change and every bridgeInterval.
func (b *bridges) apply(_ context.Context, t *ha.Table) {
	var nets []netcfg.BusinessNet
	for _, name := range t.NetworkNames() {
		nets = append(nets, netcfg.BusinessNet{Name: name, Port: t.Networks[name].Ports[b.node]})
	}
	states, err := netcfg.ReconcileBridges(b.links, nets)
	logged := map[string]string{}
	for _, n := range nets {
		logged[n.Name] = n.Port + " " + states[n.Name]
	}
	var msg string
	if err != nil {
		msg = err.Error()
	}
	b.mu.Lock()
	old, newErr := b.logged, msg != b.lastErr
	b.states, b.logged, b.lastErr = states, logged, msg
	b.mu.Unlock()
	for _, n := range nets {
		if logged[n.Name] != old[n.Name] {
			b.logf("networks: %s (bridge %s, port %s): %s", n.Name, netcfg.BridgeName(n.Name), n.Port, states[n.Name])
		}
	}
	for name := range old {
		if _, ok := logged[name]; !ok {
			b.logf("networks: %s removed; bridge %s deleted", name, netcfg.BridgeName(name))
		}
	}
	if err != nil && newErr {
		b.logf("networks: %v", err)
	}
}

// snapshot is the state of each network on this node.
func (b *bridges) snapshot() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.states)
}

// bridgeInterval is how often the bridges are reconciled without a table
// change: a port that was missing (a NIC not yet up after a board swap)
// joins its bridge by itself, and a bridge removed by hand comes back.
const bridgeInterval = 30 * time.Second

func (s *vmService) bridgeLoop(ctx context.Context) {
	t := time.NewTicker(bridgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mgr.ApplyNetworks(ctx)
		}
	}
}

// networkPeerRoutes give the primary this node's state of each network.
func (s *vmService) networkPeerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /peer/v1/networks", func(w http.ResponseWriter, r *http.Request) {
		writePeer(w, http.StatusOK, s.br.snapshot())
	})
}

// networkStates are both nodes' states of the networks, this node's and
// the peer's while it answers.
func (s *vmService) networkStates(ctx context.Context) map[string]map[string]string {
	out := map[string]map[string]string{nodeName(s.c.id.NodeID): s.br.snapshot()}
	if s.c.runner.Status().Connected {
		var peer map[string]string
		if err := s.c.peerDo(ctx, "GET", "/peer/v1/networks", nil, &peer, 3*time.Second); err == nil {
			out[nodeName(1-s.c.id.NodeID)] = peer
		}
	}
	return out
}

// networkView is a network as the API shows it; a node that did not say
// how the network fares there (it is away, or has not taken the table
// yet) shows api.NetworkUnknown.
func networkView(t *ha.Table, name string, states map[string]map[string]string) api.Network {
	n := t.Networks[name]
	v := api.Network{NetworkSpec: api.NetworkSpec{Name: name, Ports: maps.Clone(n.Ports)}, Bridge: netcfg.BridgeName(name),
		State: map[string]string{}, VMs: t.NetworkUsers(name)}
	for _, node := range ha.Nodes {
		v.State[node] = api.NetworkUnknown
		if st, ok := states[node][name]; ok {
			v.State[node] = st
		}
	}
	return v
}

func (b *clusterBackend) Networks(ctx context.Context) ([]api.Network, error) {
	s, err := b.svc()
	if err != nil {
		return nil, err
	}
	t, states := s.mgr.Table(), s.networkStates(ctx)
	out := []api.Network{}
	for _, name := range t.NetworkNames() {
		out = append(out, networkView(t, name, states))
	}
	return out, nil
}

func (b *clusterBackend) Network(ctx context.Context, name string) (api.Network, error) {
	s, err := b.svc()
	if err != nil {
		return api.Network{}, err
	}
	t := s.mgr.Table()
	if _, ok := t.Networks[name]; !ok {
		return api.Network{}, fmt.Errorf("network %q: %w", name, api.ErrNotFound)
	}
	return networkView(t, name, s.networkStates(ctx)), nil
}

func (b *clusterBackend) CreateNetwork(ctx context.Context, spec api.NetworkSpec) (api.Network, error) {
	if err := b.editTable(ctx, func(t *ha.Table) error { return t.CreateNetwork(spec.Name, spec.Ports) }); err != nil {
		return api.Network{}, err
	}
	b.c.vmLogf("networks: created %s (ports %v)", spec.Name, spec.Ports)
	return b.Network(ctx, spec.Name)
}

func (b *clusterBackend) ModifyNetwork(ctx context.Context, name string, change api.NetworkSpec) (api.Network, error) {
	if change.Name != "" && change.Name != name {
		return api.Network{}, &api.BadSpecError{Problems: []string{"a network cannot be renamed"}}
	}
	if err := b.editTable(ctx, func(t *ha.Table) error { return t.ModifyNetwork(name, change.Ports) }); err != nil {
		return api.Network{}, err
	}
	b.c.vmLogf("networks: %s has new ports %v", name, change.Ports)
	return b.Network(ctx, name)
}

func (b *clusterBackend) DeleteNetwork(ctx context.Context, name string) error {
	if err := b.editTable(ctx, func(t *ha.Table) error { return t.DeleteNetwork(name) }); err != nil {
		return err
	}
	b.c.vmLogf("networks: deleted %s", name)
	return nil
}

// editTable changes the system's settings kept in the VM table (its
// networks, where alerts go) on the primary, as VM changes are made: the
// commit hands the table to this node's bridges and to the peer, whose
// bridges follow when it takes it.
func (b *clusterBackend) editTable(ctx context.Context, fn func(*ha.Table) error) error {
	s, err := b.svc()
	if err != nil {
		return err
	}
	if err := s.primaryOnly(); err != nil {
		return err
	}
	s.edit.Lock()
	defer s.edit.Unlock()
	t := s.mgr.Table()
	if err := fn(t); err != nil {
		return err
	}
	return s.commit(ctx, t)
}
