package lab

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is the lab as `lockstep-lab status` shows it.
type Status struct {
	Namespace   string       `json:"namespace"`
	NamespaceUp bool         `json:"namespace_up"`
	StateDir    string       `json:"state_dir"`
	Up          bool         `json:"up"` // a state file exists
	ISO         string       `json:"iso,omitempty"`
	QEMU        string       `json:"qemu,omitempty"`
	Machine     string       `json:"machine,omitempty"`
	Firmware    string       `json:"firmware,omitempty"`
	NICModel    string       `json:"nic_model,omitempty"`
	SystemName  string       `json:"system_name"`
	SystemIP    string       `json:"system_ip"`
	HostIP      string       `json:"lab_host_ip"`
	Formed      bool         `json:"formed"`
	FormedWhy   string       `json:"formed_detail"`
	Nodes       []NodeStatus `json:"nodes"`
	Links       []TapState   `json:"links"`
	LinksError  string       `json:"links_error,omitempty"`
}

// NodeStatus is one node in a Status.
type NodeStatus struct {
	Name      string    `json:"name"`
	Action    string    `json:"install"`
	Addr      string    `json:"address"`
	Phase     string    `json:"phase"`
	PID       int       `json:"pid,omitempty"`
	Running   bool      `json:"running"`
	Installed bool      `json:"installed"`
	Ready     bool      `json:"ready"`
	ReadyLine string    `json:"ready_line,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Console   string    `json:"console"`
	QMP       string    `json:"qmp"`
}

// Status reports the lab; with no lab it says so (Up false) without error.
func (l *Lab) Status(ctx context.Context) (Status, error) {
	s := Status{Namespace: l.cfg.Namespace, NamespaceUp: NamespaceExists(l.cfg.Namespace), StateDir: l.cfg.StateDir,
		SystemName: SystemName, SystemIP: SystemIP, HostIP: HostIP}
	st, err := loadState(l.cfg.StateDir)
	if err != nil {
		return s, nil
	}
	l.mu.Lock()
	l.st = st
	l.mu.Unlock()
	s.Up = true
	s.ISO, s.QEMU, s.Machine, s.Firmware, s.NICModel = st.ISO, st.QEMU, st.Machine, st.Firmware, st.NICModel
	o, err := l.Observe()
	if err != nil {
		return s, err
	}
	s.Formed, s.FormedWhy = SystemFormed(o)
	for _, n := range Nodes {
		ns := st.Nodes[n.Name]
		f := NodeFiles(l.cfg.StateDir, n)
		no := o.Nodes[n.Name]
		line := readyLine(no.Console, n)
		pid := 0
		if ns.PID != 0 && isNodeQEMU(ns.PID, st.Namespace, l.cfg.StateDir, n) {
			pid = ns.PID
		}
		s.Nodes = append(s.Nodes, NodeStatus{Name: n.Name, Action: string(n.Action), Addr: n.Addr, Phase: ns.Phase,
			PID: pid, Running: pid != 0, Installed: ns.Installed, Ready: no.Running && line != "", ReadyLine: line,
			StartedAt: ns.StartedAt, Console: f.Console, QMP: f.QMP})
	}
	if s.NamespaceUp {
		if s.Links, err = Taps(ctx, l.cfg.Namespace); err != nil {
			s.LinksError = err.Error()
		}
	}
	return s, nil
}

// Write prints the status for people.
func (s Status) Write(w io.Writer) {
	if !s.Up {
		fmt.Fprintf(w, "no lab is up (no state in %s)", s.StateDir)
		if s.NamespaceUp {
			fmt.Fprintf(w, "; but namespace %s exists: `lockstep-lab down` removes it", s.Namespace)
		}
		fmt.Fprintln(w)
		return
	}
	formed := "not formed: " + s.FormedWhy
	if s.Formed {
		formed = "formed (" + s.FormedWhy + ")"
	}
	fmt.Fprintf(w, "system %s, system IP %s: %s\n", s.SystemName, s.SystemIP, formed)
	ns := "namespace " + s.Namespace
	if !s.NamespaceUp {
		ns += " MISSING"
	}
	fmt.Fprintf(w, "%s, lab host %s on ibiz; %s, %s, %s; QEMU %s\n\n", ns, s.HostIP, s.Machine, s.Firmware, s.NICModel, s.QEMU)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tPOWER\tQEMU PID\tREADY\tCONSOLE")
	for _, n := range s.Nodes {
		power := n.Phase
		if n.Phase != PhaseOff && !n.Running {
			power += " (QEMU gone)"
		}
		pid := "-"
		if n.PID != 0 {
			pid = fmt.Sprint(n.PID)
		}
		ready := "no"
		if n.Ready {
			ready = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Addr, power, pid, ready, n.Console)
	}
	tw.Flush()
	if s.LinksError != "" {
		fmt.Fprintf(w, "\nlinks: %s\n", s.LinksError)
		return
	}
	if len(s.Links) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LINK\tPORTS")
		for _, seg := range Segments {
			var ports []string
			for _, t := range s.Links {
				if t.Segment != seg.Name {
					continue
				}
				state := "up"
				switch {
				case !t.Up:
					state = "CUT"
				case !t.Carrier:
					state = "no carrier"
				}
				ports = append(ports, fmt.Sprintf("%s %s", t.Name, state))
			}
			fmt.Fprintf(tw, "%s\t%s\n", seg.Name, strings.Join(ports, ", "))
		}
		tw.Flush()
	}
}

// WriteReach prints how to reach the lab.
func (s Status) WriteReach(w io.Writer, stateDir string) {
	fmt.Fprintf(w, "system %s: system IP %s (on the primary once the nodes form the system)\n", s.SystemName, s.SystemIP)
	for _, n := range s.Nodes {
		fmt.Fprintf(w, "  %s  %-11s  console %s\n", n.Name, n.Addr, n.Console)
	}
	fmt.Fprintf(w, "The lab lives in network namespace %s (nothing is routed to or from the host); the lab host is %s:\n", s.Namespace, s.HostIP)
	fmt.Fprintf(w, "  ip netns exec %s lockstep --server %s node list\n", s.Namespace, s.SystemIP)
	fmt.Fprintf(w, "  go run ./cmd/lockstep-lab ping node0        go run ./cmd/lockstep-lab exec <command...>\n")
	fmt.Fprintf(w, "Administrator password (lab only): %s\n", AdminPassword)
	fmt.Fprintf(w, "Lab actions: status, power-off|power-on|replace-disk <node>, cut|restore <link>, down (state in %s)\n", filepath.Clean(stateDir))
}
