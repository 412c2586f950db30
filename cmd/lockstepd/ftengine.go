package main

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// ftEngine runs this node's side of FT VMs' QEMU COLO pairs (agent/ft in
// production: ftqemu.go). The FT runner (ftrunner.go) decides what runs
// where; the engine only starts QEMU and drives it over QMP.
type ftEngine interface {
	// StartActive starts vm's QEMU here as the side that runs the guest,
	// unprotected (no secondary yet).
	StartActive(ctx context.Context, vm ftVM) (ftActive, error)
	// StartSecondary starts a QEMU here that waits for the checkpoints of
	// the active side on the peer, with its QMP listening on the
	// replication link (vm.Link.Local, vm.Ports.QMP) for the peer's agent.
	StartSecondary(ctx context.Context, vm ftVM) (ftSecondary, error)
}

// ftProcess is one QEMU of an FT VM on this node.
type ftProcess interface {
	// Exited is closed once QEMU has exited; ExitErr then says how.
	Exited() <-chan struct{}
	ExitErr() error
	// Kill ends QEMU at once (SIGKILL), as a crash would.
	Kill() error
	// ConsoleLog is the file QEMU writes the guest's serial console to.
	ConsoleLog() string
}

// ftActive is the QEMU that runs the guest.
type ftActive interface {
	ftProcess
	// Protect copies the disk to the peer's secondary (its QMP at
	// secondaryQMP, host:port), sets COLO up and returns once the pair is
	// protected. lost is closed when the protection ends: the secondary's
	// QMP connection is gone, or either side left COLO. On error the
	// active side runs on, unprotected.
	Protect(ctx context.Context, secondaryQMP string) (lost <-chan struct{}, err error)
	// ContinueAlone fails over on this side after the secondary was lost
	// (QEMU's "primary failover"): COLO's filters go, so the guest's
	// network output, which colo-compare holds, flows again.
	ContinueAlone(ctx context.Context) error
	// Powerdown presses the guest's ACPI power button.
	Powerdown(ctx context.Context) error
	State() ftState
}

// ftSecondary is the QEMU that follows the peer's active side.
type ftSecondary interface {
	ftProcess
	// QMPAddr is where the peer's agent reaches its QMP (host:port).
	QMPAddr() string
	// Detached is closed when it no longer receives checkpoints: its
	// active side is gone, it left COLO, or it exited.
	Detached() <-chan struct{}
	// TakeOver fails over on this side after the active side was lost
	// (QEMU's "secondary failover"): the guest resumes from the last
	// checkpoint, without a reboot, and this QEMU becomes the active side
	// (not protected). errFTNoCheckpoint: it never received a checkpoint,
	// there is nothing to resume.
	TakeOver(ctx context.Context) (ftActive, error)
}

var errFTNoCheckpoint = errors.New("the secondary never received a checkpoint")

// ftState is an FT VM's protection as its active side sees it.
type ftState struct {
	Mode   string // api.FTProtected, api.FTSyncing, api.FTSimplex
	Reason string
	Since  time.Time
}

// ftVM is one FT VM as this node's QEMU runs it; both nodes derive it from
// the same record, so the two machines match (a checkpoint of one must
// load into the other).
type ftVM struct {
	Name, UUID string
	VCPUs      int
	MemoryMiB  int64
	// Disk is this node's logical volume; the guest sees DiskBytes of it.
	Disk      string
	DiskBytes int64
	CD        string // this node's copy of the VCD; "" none
	NICs      []ftNIC
	// WorkDir is this node's directory for the VM's sockets, logs and the
	// secondary's active and hidden images; short (unix socket paths
	// hold at most 107 bytes).
	WorkDir string
	Link    ftLink
}

// ftNIC is one NIC: a tap that the engine makes and puts on Bridge. Both
// sides use the same MAC; COLO's filters hold the secondary's output
// until it takes over, and the engine announces the MAC then.
type ftNIC struct {
	Bridge, MAC, Tap string
}

// ftLink is the VM's COLO channels on the replication link. Each node
// listens on its own address only.
type ftLink struct {
	Local, Peer netip.Addr
	Ports       ftPorts
}

// ftPorts are a VM's TCP ports: the same numbers on both nodes, whichever
// side each runs, so that a swap of roles needs no new ones.
type ftPorts struct {
	Mirror, Compare int // on the active side
	Migration, NBD  int // on the secondary
	QMP             int // the secondary's QMP, for the peer's agent
}
