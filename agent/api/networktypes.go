package api

// Per-node state of a business network, Network.State: NetworkOK, or why
// the node's bridge or port is not in place ("port enp9s0 not found",
// "bridge error: …"), or NetworkUnknown when the node did not say.
const (
	NetworkOK      = "ok"
	NetworkUnknown = "unknown"
)

// NetworkSpec is a business network as an administrator gives it: POST
// /api/v1/networks creates one; PUT /api/v1/networks/{name} changes its
// ports (the nodes given get the port given, the others keep theirs; the
// name, if given, must be the network's).
type NetworkSpec struct {
	// Name: 1 to 10 lower-case letters, digits and '-', starting with a
	// letter (the bridge on each node is "lsbr-" and the name).
	Name string `json:"name"`
	// Ports is each node's NIC for the network, by node ("node0"): its
	// interface name ("enp9s0") or MAC address. priv0, ibiz0 and the
	// A-Links cannot be ports, and a NIC serves one network.
	Ports map[string]string `json:"ports"`
}

// Network is GET /api/v1/networks/{name}.
type Network struct {
	NetworkSpec
	Bridge string `json:"bridge"` // the bridge's name on each node
	// State is each node's: NetworkOK, the problem, or NetworkUnknown.
	// A network whose port is missing on a node still has its bridge
	// there, so its VMs start; they reach nothing beyond that node.
	State map[string]string `json:"state"`
	// VMs are the VMs with a NIC on the network, by name.
	VMs []string `json:"vms"`
}

// NetworkList is GET /api/v1/networks.
type NetworkList struct {
	Networks []Network `json:"networks"`
}
