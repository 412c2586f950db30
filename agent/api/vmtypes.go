package api

import "time"

// VM modes (SPEC A8, A9).
const (
	ModeFT = "ft"
	ModeHA = "ha"
)

// VM states as the API reports them.
const (
	VMStopped   = "stopped"
	VMStarting  = "starting"
	VMRunning   = "running"
	VMStopping  = "stopping"
	VMMigrating = "migrating"
	VMFailed    = "failed" // could not be started on any node; Reason says why
)

// VMSpec is what an administrator chooses for a VM: POST /api/v1/vms
// creates one, PATCH /api/v1/vms/{name} changes a stopped one (fields left
// zero keep their value; Volumes and NICs, when given, replace the lists).
type VMSpec struct {
	Name      string `json:"name"`
	Mode      string `json:"mode"` // ModeFT, ModeHA
	VCPUs     int    `json:"vcpus"`
	MemoryMiB int64  `json:"memory_mib"`
	// CD is the name of a VCD inserted at start ("" none).
	CD      string       `json:"cd,omitempty"`
	Volumes []VolumeSpec `json:"volumes,omitempty"`
	NICs    []NICSpec    `json:"nics,omitempty"`
	// Node is the preferred node ("node0", "node1"; "" lets the system choose).
	Node string `json:"node,omitempty"`
	// Autostart: started when the system starts and kept running.
	Autostart bool `json:"autostart,omitempty"`
}

// VolumeSpec is one disk of a VM: a mirrored volume in a storage group.
type VolumeSpec struct {
	Name    string `json:"name"`
	SizeMiB int64  `json:"size_mib"`
	Group   string `json:"group,omitempty"` // storage group; "" storage0, else the first both nodes have
}

// NICSpec is one network interface of a VM, on a business network.
type NICSpec struct {
	Network string `json:"network"`
	MAC     string `json:"mac,omitempty"` // chosen by the system if empty
}

// VM is GET /api/v1/vms/{name}.
type VM struct {
	VMSpec
	State string `json:"state"`
	// RunningOn is the node that runs the VM ("" when stopped).
	RunningOn string `json:"running_on,omitempty"`
	// Reason explains a failed or refused state, for the operator.
	Reason  string         `json:"reason,omitempty"`
	Volumes []VolumeStatus `json:"volume_status,omitempty"`
	Since   time.Time      `json:"since,omitzero"` // when State was entered
	// FT is an FT VM's protection while it runs (nil otherwise).
	FT *FTStatus `json:"ft,omitempty"`
}

// FT protection states (SPEC A8).
const (
	// FTProtected: QEMU COLO runs; the secondary on the other node holds
	// a checkpoint of the VM, so losing either node loses nothing.
	FTProtected = "protected"
	// FTSyncing: the secondary is being set up (disk copy, first full
	// checkpoint of memory); not protected yet.
	FTSyncing = "syncing"
	// FTSimplex: the VM runs on one node only; Reason says why.
	FTSimplex = "simplex"
)

// FTStatus is a running FT VM's protection.
type FTStatus struct {
	State  string `json:"state"` // FTProtected, FTSyncing, FTSimplex
	Reason string `json:"reason,omitempty"`
	// SecondaryOn is the node that runs (or is setting up) the secondary.
	SecondaryOn string    `json:"secondary_on,omitempty"`
	Since       time.Time `json:"since,omitzero"`
}

// VolumeStatus is a volume's mirror as the system sees it (DRBD states).
type VolumeStatus struct {
	Name string `json:"name"`
	// Disk states per node: "UpToDate", "Inconsistent", "Outdated",
	// "Diskless", "unknown".
	Disks map[string]string `json:"disks"`
	// Sync is "in-sync", "resyncing", "degraded" (one copy) or "split-brain".
	Sync string `json:"sync"`
	// ResyncPercent while resyncing; ResyncedBytes since the last connect.
	ResyncPercent float64 `json:"resync_percent,omitempty"`
	ResyncedBytes int64   `json:"resynced_bytes,omitempty"`
}

// VMList is GET /api/v1/vms.
type VMList struct {
	VMs []VM `json:"vms"`
}

// VMActionResult answers POST /api/v1/vms/{name}/{action}.
type VMActionResult struct {
	VM     string `json:"vm"`
	Action string `json:"action"`
	Status string `json:"status"` // "accepted"
}

// StorageGroup is one node's storage group (LVM volume group) paired with
// the peer's group of the same name; usable size is the smaller one.
type StorageGroup struct {
	Name string `json:"name"`
	// Per node: size and free bytes of its volume group.
	Nodes map[string]GroupSpace `json:"nodes"`
	// SizeBytes and FreeBytes are what VMs can use: the lesser node's.
	SizeBytes int64 `json:"size_bytes"`
	FreeBytes int64 `json:"free_bytes"`
}

// GroupSpace is one node's side of a storage group.
type GroupSpace struct {
	Devices   []string `json:"devices"`
	SizeBytes int64    `json:"size_bytes"`
	FreeBytes int64    `json:"free_bytes"`
}

// StorageList is GET /api/v1/storage.
type StorageList struct {
	Groups []StorageGroup `json:"groups"`
}

// Capacity is GET /api/v1/capacity: what the system offers VMs (SPEC A4).
type Capacity struct {
	Edition string `json:"edition"`
	// The lesser node's resources, the system's reserve, and what remains.
	VCPUs            int   `json:"vcpus"`
	MemoryMiB        int64 `json:"memory_mib"`
	ReserveVCPUs     int   `json:"reserve_vcpus"`
	ReserveMemoryMiB int64 `json:"reserve_memory_mib"`
	UsedVCPUs        int   `json:"used_vcpus"`
	UsedMemoryMiB    int64 `json:"used_memory_mib"`
	FreeVCPUs        int   `json:"free_vcpus"`
	FreeMemoryMiB    int64 `json:"free_memory_mib"`
	RunningVMs       int   `json:"running_vms"`
	MaxRunningVMs    int   `json:"max_running_vms"`
}

// Error code of a VM refused for want of room or by a limit: the message
// has the numbers that do not add up.
const CodeNoCapacity = "no_capacity"
