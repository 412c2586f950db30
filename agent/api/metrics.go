package api

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GET /metrics: the system's state for existing monitoring (SPEC A17), in
// Prometheus' text exposition format 0.0.4. It is built from the same
// backend calls as the API's own answers, so a scrape and `lockstep node
// list` never disagree, and it needs a login like every other path
// (Prometheus' basic_auth or authorization settings).
//
// A part the backend cannot give (the VM service down on this node) is
// left out and counted in lockstep_scrape_errors, rather than failing the
// whole scrape: the node and link series matter most when things are
// wrong.

// metricsContentType is what Prometheus asks for and expects back.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// metric is one family: its help, its type and its samples.
type metric struct {
	name, help, kind string
	samples          []sample
}

type sample struct {
	labels []string // name, value, name, value …
	value  float64
}

// metrics collects families in the order they are first named.
type metrics struct {
	fams  []*metric
	index map[string]*metric
}

func (m *metrics) add(name, kind, help string, value float64, labels ...string) {
	if m.index == nil {
		m.index = map[string]*metric{}
	}
	f := m.index[name]
	if f == nil {
		f = &metric{name: name, help: help, kind: kind}
		m.index[name] = f
		m.fams = append(m.fams, f)
	}
	f.samples = append(f.samples, sample{labels: labels, value: value})
}

func (m *metrics) gauge(name, help string, value float64, labels ...string) {
	m.add(name, "gauge", help, value, labels...)
}

// write renders the families: HELP and TYPE once each, then the samples.
func (m *metrics) write(b *bytes.Buffer) {
	for _, f := range m.fams {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.kind)
		for _, s := range f.samples {
			b.WriteString(f.name)
			if len(s.labels) > 0 {
				b.WriteByte('{')
				for i := 0; i+1 < len(s.labels); i += 2 {
					if i > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(b, "%s=\"%s\"", s.labels[i], escapeLabel(s.labels[i+1]))
				}
				b.WriteByte('}')
			}
			b.WriteByte(' ')
			b.WriteString(strconv.FormatFloat(s.value, 'g', -1, 64))
			b.WriteByte('\n')
		}
	}
}

// The format's escapes: a label value escapes backslash, quote and line
// feed; a help text backslash and line feed.
var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var m metrics
	errs := 0
	failed := func(err error) bool {
		if err != nil {
			errs++
			return true
		}
		return false
	}

	if info, err := s.backend.SystemInfo(ctx); !failed(err) {
		m.gauge("lockstep_system_info", "The system: its id, name, version and primary node (always 1).", 1,
			"id", info.ID, "name", info.Name, "version", info.Version, "primary", info.Primary)
		m.gauge("lockstep_system_ok", "1 when both nodes are connected and one of them is primary.", b2f(info.State == "ok"))
		for _, wt := range info.Witnesses {
			m.gauge("lockstep_witness_reachable", "1 when the quorum witness answers.", b2f(wt.Reachable), "witness", wt.Address)
		}
	}
	if nodes, err := s.backend.Nodes(ctx); !failed(err) {
		for _, n := range nodes {
			m.gauge("lockstep_node_info", "A node: host name, boot slot and the version in it (always 1).", 1,
				"node", n.ID, "hostname", n.Hostname, "slot", n.Boot.Slot, "version", n.Boot.Version)
		}
		for _, n := range nodes {
			m.gauge("lockstep_node_healthy", "1 when the node is healthy (not lost, not in maintenance, not failed).", b2f(n.State == StateHealthy), "node", n.ID)
		}
		for _, n := range nodes {
			m.gauge("lockstep_node_primary", "1 on the primary node, which holds the system IP.", b2f(n.Role == RolePrimary), "node", n.ID)
		}
		for _, n := range nodes {
			for _, l := range n.Links {
				m.gauge("lockstep_link_up", "1 when heartbeats arrive on the link (priv0 or an A-Link) from the node's peer.", b2f(l.State == LinkUp), "node", n.ID, "link", l.Name)
			}
		}
		for _, n := range nodes {
			for _, l := range n.Links {
				m.gauge("lockstep_link_flapping", "1 while the link goes down and up too often.", b2f(l.Flapping), "node", n.ID, "link", l.Name)
			}
		}
		for _, n := range nodes {
			for _, l := range n.Links {
				if !l.LastSeen.IsZero() {
					m.gauge("lockstep_link_last_heartbeat_seconds", "When the last heartbeat arrived on the link (Unix time).",
						float64(l.LastSeen.UnixMilli())/1000, "node", n.ID, "link", l.Name)
				}
			}
		}
	}
	if vms, err := s.backend.VMs(ctx); !failed(err) {
		slices.SortFunc(vms, func(a, b VM) int { return strings.Compare(a.Name, b.Name) })
		for _, v := range vms {
			m.gauge("lockstep_vm_info", "A VM: its mode, state and the node it runs on (always 1).", 1,
				"vm", v.Name, "mode", v.Mode, "state", v.State, "node", v.RunningOn)
		}
		for _, v := range vms {
			m.gauge("lockstep_vm_running", "1 while the VM runs.", b2f(v.State == VMRunning), "vm", v.Name)
		}
		for _, v := range vms {
			m.gauge("lockstep_vm_vcpus", "The VM's virtual CPUs.", float64(v.VCPUs), "vm", v.Name)
		}
		for _, v := range vms {
			m.gauge("lockstep_vm_memory_bytes", "The VM's memory.", float64(v.MemoryMiB)*(1<<20), "vm", v.Name)
		}
		for _, v := range vms {
			if v.FT != nil {
				m.gauge("lockstep_vm_ft_protected", "1 while a running FT VM is protected (its secondary holds a checkpoint on the other node).",
					b2f(v.FT.State == FTProtected), "vm", v.Name)
			}
		}
		for _, v := range vms {
			for _, vol := range v.Volumes {
				m.gauge("lockstep_volume_in_sync", "1 when both nodes' copies of the volume are the same (in-sync).", b2f(vol.Sync == "in-sync"),
					"vm", v.Name, "volume", vol.Name)
			}
		}
		for _, v := range vms {
			for _, vol := range v.Volumes {
				if vol.Sync == "resyncing" {
					m.gauge("lockstep_volume_resync_ratio", "How much of a resync is done, 0 to 1.", vol.ResyncPercent/100,
						"vm", v.Name, "volume", vol.Name)
				}
			}
		}
	}
	if groups, err := s.backend.Storage(ctx); !failed(err) {
		for _, g := range groups {
			for _, node := range sortedKeys(g.Nodes) {
				m.gauge("lockstep_storage_group_size_bytes", "A storage group's size on a node.", float64(g.Nodes[node].SizeBytes), "group", g.Name, "node", node)
			}
		}
		for _, g := range groups {
			for _, node := range sortedKeys(g.Nodes) {
				m.gauge("lockstep_storage_group_free_bytes", "A storage group's free space on a node.", float64(g.Nodes[node].FreeBytes), "group", g.Name, "node", node)
			}
		}
	}
	if c, err := s.backend.Capacity(ctx); !failed(err) {
		for _, x := range []struct {
			what        string
			vcpus       int
			memoryBytes float64
		}{
			{"total", c.VCPUs, float64(c.MemoryMiB) * (1 << 20)},
			{"reserved", c.ReserveVCPUs, float64(c.ReserveMemoryMiB) * (1 << 20)},
			{"used", c.UsedVCPUs, float64(c.UsedMemoryMiB) * (1 << 20)},
			{"free", c.FreeVCPUs, float64(c.FreeMemoryMiB) * (1 << 20)},
		} {
			m.gauge("lockstep_capacity_vcpus", "The system's vCPUs (the lesser node's): total, reserved for the system, used by VMs (with their overhead), free.", float64(x.vcpus), "kind", x.what)
			m.gauge("lockstep_capacity_memory_bytes", "The system's memory, as lockstep_capacity_vcpus.", x.memoryBytes, "kind", x.what)
		}
		m.gauge("lockstep_running_vms", "VMs running.", float64(c.RunningVMs))
		m.gauge("lockstep_running_vms_max", "VMs the edition supports running at once.", float64(c.MaxRunningVMs))
	}
	if alerts, err := s.backend.Alerts(ctx, time.Time{}, MaxAlertLimit); !failed(err) {
		count, undelivered := map[string]int{}, 0
		for _, a := range alerts {
			count[a.Severity]++
			for _, d := range a.Deliveries {
				if !d.OK {
					undelivered++
					break
				}
			}
		}
		for _, sev := range Severities {
			m.gauge("lockstep_alerts", "Alerts in the history (the last 1000 of each node), by severity.", float64(count[sev]), "severity", sev)
		}
		m.gauge("lockstep_alerts_undelivered", "Alerts in the history that did not reach one of their targets (email, SNMP).", float64(undelivered))
	}
	m.gauge("lockstep_scrape_errors", "Parts of this scrape the node could not give (their series are missing).", float64(errs))

	var b bytes.Buffer
	m.write(&b)
	w.Header().Set("Content-Type", metricsContentType)
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for x := range m {
		k = append(k, x)
	}
	slices.Sort(k)
	return k
}
