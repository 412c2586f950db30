package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// clusterBackend answers the API for the system from this node's view:
// its own state, the membership's view of the peer, and what the peer
// says of itself while it is reachable.
type clusterBackend struct{ c *clusterd }

func nodeName(id int) string { return fmt.Sprintf("node%d", id) }

func (b *clusterBackend) SystemInfo(ctx context.Context) (api.SystemInfo, error) {
	c := b.c
	s := c.runner.Status()
	info := api.SystemInfo{ID: c.id.System.ID, Name: c.id.System.Name, IP: c.id.Config.IP, Version: c.version}
	switch {
	case s.State == membership.StatePrimary:
		info.Primary = nodeName(c.id.NodeID)
	case s.PeerState == membership.StatePrimary && s.PeerVisible:
		info.Primary = nodeName(1 - c.id.NodeID)
	}
	for _, w := range s.Witnesses {
		info.Witnesses = append(info.Witnesses, api.Witness{Address: w.Name, Reachable: w.Known && w.Reachable})
	}
	_, peerKnown := c.id.Registry.Node(1 - c.id.NodeID)
	switch {
	case !peerKnown:
		info.State = "waiting for peer"
	case s.Connected && info.Primary != "":
		info.State = "ok"
	case info.Primary == "":
		info.State = "no primary"
	default:
		info.State = "degraded"
	}
	return info, nil
}

// selfNode is this node as it sees itself.
func (c *clusterd) selfNode() api.Node {
	s := c.runner.Status()
	n := api.Node{ID: nodeName(c.id.NodeID), Hostname: c.cfg.Hostname, Role: api.RoleSecondary,
		State: api.StateHealthy, Boot: c.boot, Links: apiLinks(s)}
	if s.State == membership.StatePrimary {
		n.Role = api.RolePrimary
	}
	if c.maintenance() {
		n.State = api.StateMaintenance
	}
	if o, err := netcfg.Observe(c.links); err == nil {
		for _, p := range o.Ibiz0 {
			n.Addresses = append(n.Addresses, api.Address{Interface: netcfg.Ibiz0, Address: p.String()})
		}
	} else if p := c.res.Ibiz0; p.IsValid() {
		n.Addresses = append(n.Addresses, api.Address{Interface: netcfg.Ibiz0, Address: p.String()})
	}
	return n
}

func apiLinks(s membership.Status) []api.Link {
	out := make([]api.Link, 0, len(s.Links))
	for _, l := range s.Links {
		al := api.Link{Name: l.Name, State: api.LinkDown, LastSeen: l.LastSeen.UTC(), Flapping: l.Flapping}
		if l.Up {
			al.State = api.LinkUp
		}
		out = append(out, al)
	}
	return out
}

// peerView is the peer as this node knows it: its own report while it
// answers, else the registry and the membership view.
func (b *clusterBackend) peerView(ctx context.Context) (api.Node, bool) {
	c := b.c
	pid := 1 - c.id.NodeID
	rec, ok := c.id.Registry.Node(pid)
	if !ok {
		return api.Node{}, false
	}
	s := c.runner.Status()
	if s.Connected {
		pctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		if n, err := c.peerNode(pctx); err == nil {
			n.Links = apiLinks(s) // the links as this side sees them
			return n, true
		}
	}
	n := api.Node{ID: nodeName(pid), Hostname: rec.Hostname, Role: api.RoleSecondary, Links: apiLinks(s)}
	if s.PeerVisible && s.PeerState == membership.StatePrimary {
		n.Role = api.RolePrimary
	}
	switch {
	case s.Connected:
		n.State = api.StateHealthy
	case s.PeerVisible:
		n.State = api.StateJoining
	default:
		n.State = api.StateLost
	}
	if rec.IP != "" {
		n.Addresses = []api.Address{{Interface: netcfg.Ibiz0, Address: rec.IP}}
	}
	return n, true
}

func (b *clusterBackend) Nodes(ctx context.Context) ([]api.Node, error) {
	nodes := []api.Node{b.c.selfNode()}
	if p, ok := b.peerView(ctx); ok {
		nodes = append(nodes, p)
	}
	slices.SortFunc(nodes, func(x, y api.Node) int { return strings.Compare(x.ID, y.ID) })
	return nodes, nil
}

func (b *clusterBackend) Node(ctx context.Context, id string) (api.Node, error) {
	if id == nodeName(b.c.id.NodeID) {
		return b.c.selfNode(), nil
	}
	if p, ok := b.peerView(ctx); ok && p.ID == id {
		return p, nil
	}
	return api.Node{}, api.ErrNotFound
}

func (b *clusterBackend) Alerts(ctx context.Context, since time.Time, limit int) ([]api.Alert, error) {
	out := b.c.alerts.list(since, limit)
	if b.c.runner.Status().Connected {
		var l api.AlertList
		pctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		if err := b.c.peerCall(pctx, "GET", "/peer/v1/alerts", &l); err == nil {
			for _, a := range l.Alerts {
				if !a.Time.Before(since) {
					out = append(out, a)
				}
			}
		}
	}
	slices.SortStableFunc(out, func(x, y api.Alert) int { return y.Time.Compare(x.Time) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (b *clusterBackend) action(ctx context.Context, verb, node string) error {
	c := b.c
	if node == nodeName(c.id.NodeID) {
		return c.selfAction(verb)
	}
	if _, ok := c.id.Registry.Node(1 - c.id.NodeID); !ok || node != nodeName(1-c.id.NodeID) {
		return api.ErrNotFound
	}
	if !c.runner.Status().Connected {
		return api.Conflict(fmt.Sprintf("%s %s: the node is not connected to this one", verb, node))
	}
	return c.peerCall(ctx, "POST", "/peer/v1/"+verb, nil)
}

// Workon puts node n into maintenance and moves its VMs to the other node
// by live migration (SPEC A11); it returns once the node is marked, the
// VMs move in the background ("vm list" shows them arrive).
func (b *clusterBackend) Workon(ctx context.Context, n string) error {
	s := b.c.vms
	var moving []string
	if s != nil {
		for name, node := range s.where() {
			if node == n {
				moving = append(moving, name)
			}
		}
	}
	if len(moving) > 0 {
		if err := s.primaryOnly(); err != nil {
			return err
		}
		if !b.c.runner.Status().Connected {
			return api.Conflict(fmt.Sprintf("%s runs %v and the other node is not connected to take them", n, moving))
		}
	}
	if err := b.action(ctx, "workon", n); err != nil {
		return err
	}
	if len(moving) > 0 {
		go func() {
			if err := s.evacuate(context.Background(), n); err != nil {
				b.c.logf("workon %s: %v", n, err)
			}
		}()
	}
	return nil
}
func (b *clusterBackend) Workoff(ctx context.Context, n string) error {
	return b.action(ctx, "workoff", n)
}
func (b *clusterBackend) Shutdown(ctx context.Context, n string) error {
	return b.action(ctx, "shutdown", n)
}
func (b *clusterBackend) Reboot(ctx context.Context, n string) error {
	return b.action(ctx, "reboot", n)
}

func (c *clusterd) maintenancePath() string { return filepath.Join(c.stateDir, "maintenance") }

func (c *clusterd) maintenance() bool {
	_, err := os.Stat(c.maintenancePath())
	return err == nil
}

// selfAction does a node action on this node. Shutdown and reboot go
// through systemd, which stops lockstepd first: its last heartbeat hands
// the system to the peer at once instead of after the peer timeout.
func (c *clusterd) selfAction(verb string) error {
	switch verb {
	case "workon":
		// The primary moves the node's VMs away (Workon).
		return os.WriteFile(c.maintenancePath(), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
	case "workoff":
		if err := os.Remove(c.maintenancePath()); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	case "shutdown", "reboot":
		target := map[string]string{"shutdown": "poweroff", "reboot": "reboot"}[verb]
		c.logf("node %s requested through the API", verb)
		// Answer the request first.
		time.AfterFunc(time.Second, func() {
			if out, err := exec.Command("systemctl", "--no-block", target).CombinedOutput(); err != nil {
				c.logf("systemctl %s: %v: %s", target, err, out)
			}
		})
		return nil
	}
	return api.NotSupported(verb)
}
