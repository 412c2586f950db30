package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// networkFlags are the flags of the network commands.
type networkFlags struct {
	ports map[string]string // --port node=nic
	yes   bool              // network delete
}

const portHelp = "A port is a NIC of the node, by interface name (enp9s0) or MAC address;\n" +
	"priv0, ibiz0 and the A-Links cannot carry guests, and a NIC serves one\nnetwork. "

func networkCommands() []*command {
	return []*command{
		{name: "network list", summary: "list the business networks: each node's port and its state, and the VMs on each",
			run: getAndShow("/api/v1/networks", func(c *cli, b []byte) error { return decodeShow(c, b, showNetworks) })},
		{name: "network create", args: "<name>", nargs: 1, summary: "create a business network with a port (NIC) on each node",
			help: portHelp + "Each node gets a bridge lsbr-<name> with its port; VMs' NICs\n(vm create --nic <name>) join it and keep their MAC on either node.\n\n" +
				"  lockstep network create biz0 --port node0=enp9s0 --port node1=enp9s0",
			flags: portFlags, run: networkCreate},
		{name: "network modify", args: "<network>", nargs: 1, summary: "give a network another port on a node; the other node's stays",
			help: portHelp + "VMs may use the network meanwhile (after a board swap the\nnode's NIC is another one).\n\n" +
				"  lockstep network modify biz0 --port node1=enp10s0",
			flags: portFlags, run: networkModify},
		{name: "network delete", args: "<network>", nargs: 1, summary: "delete a business network that no VM uses, and its bridges (needs --yes)",
			flags: func(fs *flag.FlagSet, c *cli) {
				fs.BoolVar(&c.net.yes, "yes", false, "really delete the network")
			}, run: networkDelete},
	}
}

func networkPath(name string) string { return "/api/v1/networks/" + url.PathEscape(name) }

func portFlags(fs *flag.FlagSet, c *cli) {
	c.net.ports = map[string]string{}
	fs.Func("port", "a node's port as `node=nic`, e.g. node0=enp9s0 (once per node)", func(v string) error {
		node, nic, ok := strings.Cut(v, "=")
		if !ok || node == "" || nic == "" {
			return fmt.Errorf("want node=nic, e.g. node0=enp9s0")
		}
		if _, dup := c.net.ports[node]; dup {
			return fmt.Errorf("%s's port is given twice", node)
		}
		c.net.ports[node] = nic
		return nil
	})
}

func networkCreate(ctx context.Context, c *cli, args []string) error {
	if len(c.net.ports) == 0 {
		return usagef("network create: give each node's port: --port node0=<nic> --port node1=<nic>")
	}
	return c.sendNetwork(ctx, "POST", "/api/v1/networks", api.NetworkSpec{Name: args[0], Ports: c.net.ports})
}

func networkModify(ctx context.Context, c *cli, args []string) error {
	if len(c.net.ports) == 0 {
		return usagef("network modify: nothing to change; give --port node=<nic>")
	}
	return c.sendNetwork(ctx, "PUT", networkPath(args[0]), api.NetworkSpec{Ports: c.net.ports})
}

// sendNetwork sends a network or a change and shows the network the
// server answers.
func (c *cli) sendNetwork(ctx context.Context, method, path string, spec api.NetworkSpec) error {
	if err := c.connect(); err != nil {
		return err
	}
	b, err := c.call(ctx, method, path, nil, spec)
	if err != nil {
		return err
	}
	return decodeShow(c, b, func(c *cli, n api.Network) error { return showNetworks(c, api.NetworkList{Networks: []api.Network{n}}) })
}

func networkDelete(ctx context.Context, c *cli, args []string) error {
	if !c.net.yes {
		return usagef("network delete: this deletes %s and its bridge on both nodes; add --yes to do it", args[0])
	}
	if err := c.connect(); err != nil {
		return err
	}
	if _, err := c.call(ctx, "DELETE", networkPath(args[0]), nil, nil); err != nil {
		return err
	}
	if c.g.json { // the server answers 204, nothing to print as it came
		return printJSON(c, map[string]string{"network": args[0], "status": "deleted"})
	}
	_, err := fmt.Fprintf(c.stdout, "Deleted network %s.\n", args[0])
	return err
}

// showNetworks is one row per network and node, the network's own
// columns on its first node's row.
func showNetworks(c *cli, l api.NetworkList) error {
	if len(l.Networks) == 0 {
		_, err := fmt.Fprintln(c.stdout, "No business networks.")
		return err
	}
	tw := table(c.stdout)
	fmt.Fprintln(tw, "NETWORK\tBRIDGE\tVMS\tNODE\tPORT\tSTATE")
	for _, n := range l.Networks {
		lead := n.Name + "\t" + orDash(n.Bridge) + "\t" + orDash(strings.Join(n.VMs, ", "))
		nodes := slices.Sorted(maps.Keys(n.Ports))
		for _, node := range slices.Sorted(maps.Keys(n.State)) {
			if !slices.Contains(nodes, node) {
				nodes = append(nodes, node)
			}
		}
		if len(nodes) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\n", lead)
		}
		for _, node := range nodes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", lead, node, orDash(n.Ports[node]), orDash(n.State[node]))
			lead = "\t\t"
		}
	}
	return tw.Flush()
}
