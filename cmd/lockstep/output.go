package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
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
	fmt.Fprintln(tw, "ID\tTIME\tSEVERITY\tNODE\tCODE\tCLEARED\tSENT\tMESSAGE")
	for _, a := range l.Alerts {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, c.stamp(a.Time), a.Severity, orDash(a.Node), a.Code, yesNo(a.Cleared), sent(a.Deliveries), a.Message)
	}
	return tw.Flush()
}

// sent sums up an alert's deliveries: "-" when it went nowhere, "yes"
// when it reached every target, else how many failed ("--json" has why).
func sent(ds []api.Delivery) string {
	failed := 0
	for _, d := range ds {
		if !d.OK {
			failed++
		}
	}
	switch {
	case len(ds) == 0:
		return "-"
	case failed == 0:
		return "yes"
	default:
		return fmt.Sprintf("failed %d of %d", failed, len(ds))
	}
}

// human shows a number of bytes in binary units, with one decimal where
// it is not whole: "4 GiB", "1.5 TiB".
func human(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for ; b >= 1024 && i < len(units)-1; i++ {
		b /= 1024
	}
	return oneDecimal(b) + " " + units[i]
}

func mib(n int64) string { return human(float64(n) * (1 << 20)) }

func oneDecimal(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0")
}

func syncState(v api.VolumeStatus) string {
	if v.Sync == "resyncing" {
		return "resyncing " + oneDecimal(v.ResyncPercent) + "%"
	}
	return orDash(v.Sync)
}

func showVMs(c *cli, l api.VMList) error {
	if len(l.VMs) == 0 {
		_, err := fmt.Fprintln(c.stdout, "No VMs.")
		return err
	}
	tw := table(c.stdout)
	fmt.Fprintln(tw, "NAME\tMODE\tSTATE\tFT\tNODE\tVCPUS\tMEMORY\tVOLUMES")
	for _, vm := range l.VMs {
		var vols []string
		for _, v := range vm.Volumes {
			vols = append(vols, v.Name+" "+syncState(v))
		}
		if len(vm.Volumes) == 0 { // no mirror state reported: the names at least
			for _, v := range vm.VMSpec.Volumes {
				vols = append(vols, v.Name)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", vm.Name, orDash(vm.Mode), vm.State, ftShort(vm.FT), orDash(vm.RunningOn),
			vm.VCPUs, mib(vm.MemoryMiB), orDash(strings.Join(vols, ", ")))
	}
	return tw.Flush()
}

func showVM(c *cli, vm api.VM) error {
	tw := table(c.stdout)
	fmt.Fprintf(tw, "Name:\t%s\n", vm.Name)
	fmt.Fprintf(tw, "Mode:\t%s\n", orDash(vm.Mode))
	fmt.Fprintf(tw, "State:\t%s\n", vm.State)
	if !vm.Since.IsZero() {
		fmt.Fprintf(tw, "Since:\t%s\n", c.ago(vm.Since))
	}
	if vm.Reason != "" {
		fmt.Fprintf(tw, "Reason:\t%s\n", vm.Reason)
	}
	fmt.Fprintf(tw, "Running on:\t%s\n", orDash(vm.RunningOn))
	if ft := vm.FT; ft != nil {
		state := ft.State
		if !ft.Since.IsZero() {
			state += ", since " + c.ago(ft.Since)
		}
		fmt.Fprintf(tw, "FT state:\t%s\n", state)
		if ft.Reason != "" {
			fmt.Fprintf(tw, "FT reason:\t%s\n", ft.Reason)
		}
		fmt.Fprintf(tw, "Secondary on:\t%s\n", orDash(ft.SecondaryOn))
	}
	fmt.Fprintf(tw, "Preferred node:\t%s\n", cmp.Or(vm.Node, "any"))
	fmt.Fprintf(tw, "vCPUs:\t%d\n", vm.VCPUs)
	fmt.Fprintf(tw, "Memory:\t%s\n", mib(vm.MemoryMiB))
	fmt.Fprintf(tw, "CD:\t%s\n", orDash(vm.CD))
	fmt.Fprintf(tw, "Autostart:\t%s\n", yesNo(vm.Autostart))
	if err := tw.Flush(); err != nil {
		return err
	}

	// One row per volume, the spec's joined with its mirror state, and a
	// column per node that reports a disk.
	status := map[string]api.VolumeStatus{}
	nodes := map[string]bool{}
	for _, v := range vm.Volumes {
		status[v.Name] = v
		for n := range v.Disks {
			nodes[n] = true
		}
	}
	specs := vm.VMSpec.Volumes
	for _, v := range vm.Volumes {
		if !slices.ContainsFunc(specs, func(s api.VolumeSpec) bool { return s.Name == v.Name }) {
			specs = append(specs, api.VolumeSpec{Name: v.Name})
		}
	}
	fmt.Fprintln(c.stdout)
	if len(specs) == 0 {
		fmt.Fprintln(c.stdout, "No volumes.")
	} else {
		cols := slices.Sorted(maps.Keys(nodes))
		tw = table(c.stdout)
		fmt.Fprint(tw, "VOLUME\tSIZE\tGROUP\tSYNC")
		for _, n := range cols {
			fmt.Fprint(tw, "\t"+strings.ToUpper(n))
		}
		fmt.Fprintln(tw)
		for _, v := range specs {
			size := "-"
			if v.SizeMiB > 0 {
				size = mib(v.SizeMiB)
			}
			st, ok := status[v.Name]
			sync := "-"
			if ok {
				sync = syncState(st)
				if st.ResyncedBytes > 0 {
					sync += " (" + human(float64(st.ResyncedBytes)) + " resynced)"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s", v.Name, size, orDash(v.Group), sync)
			for _, n := range cols {
				fmt.Fprint(tw, "\t"+orDash(st.Disks[n]))
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(c.stdout)
	if len(vm.NICs) == 0 {
		_, err := fmt.Fprintln(c.stdout, "No NICs.")
		return err
	}
	tw = table(c.stdout)
	fmt.Fprintln(tw, "NIC\tNETWORK\tMAC")
	for i, n := range vm.NICs {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", i, n.Network, orDash(n.MAC))
	}
	return tw.Flush()
}

func showStorage(c *cli, l api.StorageList) error {
	if len(l.Groups) == 0 {
		_, err := fmt.Fprintln(c.stdout, "No storage groups.")
		return err
	}
	tw := table(c.stdout)
	fmt.Fprintln(tw, "GROUP\tUSABLE SIZE\tUSABLE FREE\tNODE\tSIZE\tFREE\tDEVICES")
	for _, g := range l.Groups {
		lead := g.Name + "\t" + human(float64(g.SizeBytes)) + "\t" + human(float64(g.FreeBytes))
		for _, n := range slices.Sorted(maps.Keys(g.Nodes)) {
			s := g.Nodes[n]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", lead, n, human(float64(s.SizeBytes)), human(float64(s.FreeBytes)), orDash(strings.Join(s.Devices, ",")))
			lead = "\t\t" // the group's columns once, on its first node
		}
		if len(g.Nodes) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\n", lead)
		}
	}
	return tw.Flush()
}

func showCapacity(c *cli, cp api.Capacity) error {
	tw := table(c.stdout)
	fmt.Fprintf(tw, "Edition:\t%s\n", orDash(cp.Edition))
	fmt.Fprintf(tw, "Running VMs:\t%d of %d\n", cp.RunningVMs, cp.MaxRunningVMs)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	tw = table(c.stdout)
	fmt.Fprintln(tw, "\tVCPUS\tMEMORY")
	fmt.Fprintf(tw, "capacity (lesser node)\t%d\t%s\n", cp.VCPUs, mib(cp.MemoryMiB))
	fmt.Fprintf(tw, "system reserve\t%d\t%s\n", cp.ReserveVCPUs, mib(cp.ReserveMemoryMiB))
	fmt.Fprintf(tw, "used by VMs\t%d\t%s\n", cp.UsedVCPUs, mib(cp.UsedMemoryMiB))
	fmt.Fprintf(tw, "free\t%d\t%s\n", cp.FreeVCPUs, mib(cp.FreeMemoryMiB))
	return tw.Flush()
}

func showVCDs(c *cli, l api.VCDList) error {
	if len(l.VCDs) == 0 {
		_, err := fmt.Fprintln(c.stdout, "No VCDs.")
		return err
	}
	tw := table(c.stdout)
	fmt.Fprintln(tw, "NAME\tSIZE\tNODES\tSHA256")
	for _, v := range l.VCDs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Name, human(float64(v.SizeBytes)), orDash(strings.Join(v.Nodes, ",")), orDash(v.SHA256[:min(12, len(v.SHA256))]))
	}
	return tw.Flush()
}

func showVCD(c *cli, v api.VCD) error {
	tw := table(c.stdout)
	fmt.Fprintf(tw, "Name:\t%s\n", v.Name)
	fmt.Fprintf(tw, "Size:\t%s (%d bytes)\n", human(float64(v.SizeBytes)), v.SizeBytes)
	fmt.Fprintf(tw, "Nodes:\t%s\n", orDash(strings.Join(v.Nodes, ", ")))
	fmt.Fprintf(tw, "SHA-256:\t%s\n", orDash(v.SHA256))
	return tw.Flush()
}

// ftShort is an FT VM's protection in a list: its state, and the node of
// the secondary while there is one.
func ftShort(ft *api.FTStatus) string {
	switch {
	case ft == nil:
		return "-"
	case ft.SecondaryOn != "":
		return ft.State + " (" + ft.SecondaryOn + ")"
	}
	return ft.State
}
