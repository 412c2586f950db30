// Package lab is the two-node lab: two QEMU (TCG) node VMs installed from
// the built ISO, wired like the recommended layout of a real pair, inside a
// network namespace the lab creates itself. Nothing of the lab touches the
// host's interfaces and nothing is routed out.
//
// The lab host namespace (Namespace, "lockstep-lab") holds one bridge per
// segment (the Segments table): the management segment ibiz (the lab host
// has HostIP on it, so `ip netns exec lockstep-lab …` reaches the nodes), the
// business segment biz, and the two point-to-point links priv0 and alink0,
// each a bridge with exactly two ports, one tap per node. QEMU runs inside
// that namespace (`ip netns exec`) and attaches each NIC to its tap with
// -netdev tap,ifname=…,script=no. A link is cut by setting its taps down.
//
// Everything the lab writes lives in its state directory (out/lab): disks,
// answer sticks, serial console logs, QMP sockets, pid files and lab.json.
// Down kills every QEMU and every other process in the namespace, deletes
// the namespace and removes the state directory.
package lab

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// The lab's fixed values. Everything that names an address, a MAC, a disk
// or a node comes from here (and from Segments and Nodes below), so the
// answer files, the QEMU command lines and the network agree by
// construction.
const (
	// Namespace is the lab host's network namespace. Every namespace the
	// lab creates starts with NamespacePrefix.
	Namespace       = "lockstep-lab"
	NamespacePrefix = "lockstep-lab"

	// SystemName and SystemIP are the system node0 creates.
	SystemName = "lockstep-lab"
	SystemIP   = "192.0.2.10"
	// HostIP is the lab host's address on ibiz (gateway, DNS and NTP in
	// the answer files, although nothing is served or routed there).
	HostIP = "192.0.2.1"
	// Subnet is the management segment (RFC 5737 documentation range).
	Subnet = "192.0.2.0/24"
	// BizHostIP is the lab host's address on the business segment, where
	// it plays a client of the guests; GuestIP is the lab's HA VM there,
	// FTGuestIP its FT VM.
	BizHostIP = "198.51.100.1"
	GuestIP   = "198.51.100.50"
	FTGuestIP = "198.51.100.51"

	// AdminPassword is the lab administrator's password: the
	// password_hash in recipes/answers/create-node0.yaml is its hash.
	AdminPassword = "lockstep-lab-admin"

	// The node VMs' hardware. Five vCPUs, although the host has two
	// cores: the system reserves two of a node's threads (SPEC A4), and a
	// guest needs its own plus one of HA overhead, or two of FT overhead.
	// Idle TCG vCPUs cost nothing.
	CPUs             = 5
	MemoryMiB        = 3072
	SystemDiskBytes  = 32 << 30
	DataDiskBytes    = 16 << 30
	SystemDiskSerial = "lockstep-sys"
	DataDiskSerial   = "lockstep-data"
	// The disks' ids as the installer lists them (installer/probe
	// Disk.Stable: "serial:<serial>" for a virtio disk). The templates'
	// "virtio-lockstep-sys" (the /dev/disk/by-id name) is not one the
	// installer accepts.
	SystemDiskID = "serial:" + SystemDiskSerial
	DataDiskID   = "serial:" + DataDiskSerial

	// StickLabel is the FAT label of the answer stick (answers.yaml at
	// its root); FAT labels hold 11 characters.
	StickLabel = "LOCKSTEPCFG"
)

// Segment is one virtual network of the lab: a bridge in the lab host
// namespace with one tap per node.
type Segment struct {
	// Name is the bridge's name and the link's name for cut and restore.
	Name string
	// NIC is the node NIC on this segment, as the node names it.
	NIC string
	// PointToPoint segments stand for a direct cable between the nodes:
	// the bridge has exactly the two nodes' taps, no address of the lab
	// host, and forwards link-local group frames (LLDP) as a cable does.
	PointToPoint bool
	// HostAddr is the lab host's address on the bridge (CIDR), if any.
	HostAddr string
	// About says what the segment is for.
	About string
}

// Segments is the lab's wiring, in the order of the node VMs' NICs (the
// order gives the last byte of the MAC addresses).
var Segments = []Segment{
	{Name: "priv0", NIC: "priv0", PointToPoint: true, About: "private link, node0 <-> node1 (heartbeat, join)"},
	{Name: "alink0", NIC: "alink0", PointToPoint: true, About: "A-Link, node0 <-> node1 (sync, checkpoints)"},
	{Name: "ibiz", NIC: "ibiz0", HostAddr: HostIP + "/24", About: "management segment: node IPs, system IP, API; the lab host is " + HostIP},
	{Name: "biz", NIC: "biz0", HostAddr: BizHostIP + "/24", About: "business segment (guests' networks); the lab host is " + BizHostIP},
}

// Node is one node VM.
type Node struct {
	Name  string // node0, node1: the host name too
	Index int    // the N of its MAC addresses and tap names
	// Action is the install: node0 creates the system, node1 joins it.
	Action answers.Action
	// Template is the answer file the lab's is made from, relative to the
	// repository root.
	Template string
	// Addr is the node's own address on ibiz0.
	Addr string
}

// Nodes are the lab's two nodes.
var Nodes = []Node{
	{Name: "node0", Index: 0, Action: answers.Create, Template: "recipes/answers/create-node0.yaml", Addr: "192.0.2.11"},
	{Name: "node1", Index: 1, Action: answers.Replace, Template: "recipes/answers/replace-node1.yaml", Addr: "192.0.2.12"},
}

// NodeByName finds a node of the table.
func NodeByName(name string) (Node, error) {
	var names []string
	for _, n := range Nodes {
		if n.Name == name {
			return n, nil
		}
		names = append(names, n.Name)
	}
	return Node{}, fmt.Errorf("no node %q in the lab (nodes: %s)", name, strings.Join(names, ", "))
}

// SegmentByName finds a segment by its name or by its NIC's name.
func SegmentByName(name string) (Segment, int, error) {
	var names []string
	for i, s := range Segments {
		if s.Name == name || s.NIC == name {
			return s, i, nil
		}
		names = append(names, s.Name)
	}
	return Segment{}, -1, fmt.Errorf("no link %q in the lab (links: %s)", name, strings.Join(names, ", "))
}

// MAC is the fixed MAC address of the node's NIC on Segments[k]:
// 52:54:00:4c:0N:0K (0x4c is "L").
func (n Node) MAC(k int) string { return fmt.Sprintf("52:54:00:4c:%02x:%02x", n.Index, k) }

// NICMAC is the MAC address of the node's NIC with that name (priv0, ...).
func (n Node) NICMAC(nic string) string {
	for k, s := range Segments {
		if s.NIC == nic {
			return n.MAC(k)
		}
	}
	panic("lab: no NIC " + nic)
}

// Tap is the name of the node's tap on Segments[k] in the lab namespace:
// n<N>-<nic>, at most 15 characters.
func (n Node) Tap(k int) string { return fmt.Sprintf("n%d-%s", n.Index, Segments[k].NIC) }

// GuestName is the node's QEMU -name: the marker by which the lab
// recognises its QEMU processes.
func GuestName(namespace string, n Node) string { return namespace + "-" + n.Name }

// Prefix is the management segment's prefix.
func Prefix() netip.Prefix { return netip.MustParsePrefix(Subnet) }

// ReadyPrefix is the start of the line the node's agent prints on the
// serial console when it is up: "LOCKSTEP NODE READY <host> <addr> <state>"
// (cmd/lockstepd). The state word is left out: it changes once the nodes
// form the system.
func ReadyPrefix(n Node) string {
	return fmt.Sprintf("LOCKSTEP NODE READY %s %s ", n.Name, n.Addr)
}
