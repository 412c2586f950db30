package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
)

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func showSystem(c *cli, s api.SystemInfo) error {
	tw := table(c.stdout)
	fmt.Fprintf(tw, "ID:\t%s\n", s.ID)
	fmt.Fprintf(tw, "Name:\t%s\n", s.Name)
	fmt.Fprintf(tw, "System IP:\t%s\n", orDash(s.IP))
	fmt.Fprintf(tw, "Version:\t%s\n", s.Version)
	fmt.Fprintf(tw, "Primary:\t%s\n", orDash(s.Primary))
	fmt.Fprintf(tw, "State:\t%s\n", s.State)
	if len(s.Witnesses) > 0 {
		var ws []string
		for _, w := range s.Witnesses {
			r := "unreachable"
			if w.Reachable {
				r = "reachable"
			}
			ws = append(ws, w.Address+" ("+r+")")
		}
		fmt.Fprintf(tw, "Witnesses:\t%s\n", strings.Join(ws, ", "))
	}
	return tw.Flush()
}

func showNodes(c *cli, l api.NodeList) error {
	tw := table(c.stdout)
	fmt.Fprintln(tw, "NODE\tHOSTNAME\tROLE\tSTATE\tADDRESSES\tLINKS\tBOOT")
	for _, n := range l.Nodes {
		var addrs, links []string
		for _, a := range n.Addresses {
			addrs = append(addrs, a.Address)
		}
		for _, l := range n.Links {
			s := l.Name + " " + l.State
			if l.Flapping {
				s += " (flapping)"
			}
			links = append(links, s)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, orDash(n.Hostname), orDash(n.Role), n.State,
			orDash(strings.Join(addrs, ",")), orDash(strings.Join(links, ", ")), boot(n.Boot))
	}
	return tw.Flush()
}

func boot(b api.Boot) string {
	if b.Slot == "" {
		return "-"
	}
	return b.Slot + " " + b.Version
}

func showNode(c *cli, n api.Node) error {
	tw := table(c.stdout)
	fmt.Fprintf(tw, "Node:\t%s\n", n.ID)
	fmt.Fprintf(tw, "Hostname:\t%s\n", orDash(n.Hostname))
	fmt.Fprintf(tw, "Role:\t%s\n", orDash(n.Role))
	fmt.Fprintf(tw, "State:\t%s\n", n.State)
	fmt.Fprintf(tw, "Boot:\tslot %s, version %s\n", orDash(n.Boot.Slot), orDash(n.Boot.Version))
	for i, a := range n.Addresses {
		label := ""
		if i == 0 {
			label = "Addresses:"
		}
		fmt.Fprintf(tw, "%s\t%s on %s\n", label, a.Address, a.Interface)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(n.Links) == 0 {
		_, err := fmt.Fprintln(c.stdout, "\nNo links reported.")
		return err
	}
	fmt.Fprintln(c.stdout)
	tw = table(c.stdout)
	fmt.Fprintln(tw, "LINK\tSTATE\tFLAPPING\tLAST SEEN")
	for _, l := range n.Links {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Name, l.State, yesNo(l.Flapping), c.ago(l.LastSeen))
	}
	return tw.Flush()
}

// ago shows a time with how long ago it was, which is what matters for a
// heartbeat.
func (c *cli) ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := c.now().Sub(t)
	var rel string
	switch {
	case d < 0:
		rel = "in the future: check the clocks"
	case d < time.Second:
		rel = "just now"
	default:
		rel = d.Truncate(time.Second).String() + " ago"
	}
	return c.stamp(t) + " (" + rel + ")"
}

func (c *cli) stamp(t time.Time) string { return t.In(c.loc).Format("2006-01-02 15:04:05 MST") }

func showAlerts(c *cli, l api.AlertList) error {
	if len(l.Alerts) == 0 {
		_, err := fmt.Fprintln(c.stdout, "No alerts.")
		return err
	}
	tw := table(c.stdout)
	fmt.Fprintln(tw, "ID\tTIME\tSEVERITY\tNODE\tCODE\tCLEARED\tMESSAGE")
	for _, a := range l.Alerts {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, c.stamp(a.Time), a.Severity, orDash(a.Node), a.Code, yesNo(a.Cleared), a.Message)
	}
	return tw.Flush()
}
