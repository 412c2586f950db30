package ft

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Spec is one protection of an FT VM: the machine both QEMUs run, which
// node runs the guest (Primary) and which one keeps the copy (Secondary),
// where each side keeps its files, and how the two reach each other on the
// replication link. Both nodes derive their command line from the same
// Spec, so the two machines cannot drift apart (a checkpoint of one must
// load into the other).
//
// The roles belong to the protection, not to the nodes: once the
// secondary has taken over, the next protection has that node as primary
// and a new secondary on the other node, Swap of the first. A Pair swaps
// its own Spec at a secondary failover.
type Spec struct {
	Name      string
	VCPUs     int    // default 1
	MemoryMiB int    // default 512
	Machine   string // QEMU machine type; default "q35"
	// Accel is QEMU's accelerator: "kvm" (default) or "tcg".
	Accel string
	// CPU is the -cpu model; empty: QEMU's default for the accelerator.
	CPU string

	// The guest boots a kernel (Kernel, Initrd, Append), the CD image
	// CDROM (read-only, the same file on both nodes), or, with neither,
	// its disk (an installed guest).
	Kernel, Initrd, Append string
	CDROM                  string

	// MAC is the NIC's address, the same on both sides: after failover the
	// secondary answers for the same MAC and IP.
	MAC string
	// NICModel is the QEMU NIC device; default "e1000", the model COLO was
	// proven with under TCG here.
	NICModel string

	// DiskFormat is the format of both sides' disk images: "raw" (default)
	// or "qcow2". Protect copies the primary's disk contents into the
	// secondary's image before COLO starts, so the secondary's image only
	// needs the right size.
	DiskFormat string
	// DiskSize is the size of the guest's disk in bytes; 0: the whole
	// image. A raw image may be larger (a logical volume with room for
	// other data at its end): QEMU's raw driver is given size= on both
	// sides' images, so the guest sees exactly DiskSize bytes of either,
	// Protect's disk copy (a mirror between the two raw nodes) copies
	// exactly those, and the rest of each image is never touched. For
	// raw it must be a multiple of 512 (QEMU's rule) and at most each
	// image's size. It is also the size of the secondary's active and
	// hidden images, which replication requires to equal the disk's; 0:
	// CreateReplicationImages reads it from the secondary's image. For
	// qcow2 it can only be the images' virtual size.
	DiskSize int64

	Primary, Secondary Side
	Link               Link

	// CheckpointDelay is the longest time between two checkpoints (QEMU's
	// x-checkpoint-delay; a mismatch in the guests' network output forces
	// one sooner). Default DefaultCheckpointDelay.
	CheckpointDelay time.Duration
}

// DefaultCheckpointDelay is QEMU's own default for x-checkpoint-delay.
const DefaultCheckpointDelay = 20 * time.Second

// Side is what one side of the pair keeps on its node.
type Side struct {
	// Disk is the VM's disk image on this node.
	Disk string
	// Netdev is the NIC's host backend, as QEMU's -netdev without id: a
	// script-less tap ("tap,ifname=vm0,script=no,downscript=no") or a
	// socket netdev. vhost must stay off: COLO's net filters sit in QEMU's
	// packet path, which vhost bypasses (vhost=off is added to a tap that
	// does not say).
	Netdev string
	// WorkDir holds this side's QMP socket, serial console log, QEMU's own
	// log, the primary's local compare sockets and the secondary's active
	// and hidden images. Unix socket paths are limited to 107 bytes, so
	// keep it short.
	WorkDir string
	// QMPAddr, if set ("host:port", host an IP address), is a second QMP
	// monitor on TCP, so that the peer's agent can drive this QEMU over
	// the replication link (Protect needs both monitors). It has no
	// authentication: bind it to the replication link's address only.
	QMPAddr string
	// Console is the file the guest's serial console is appended to; ""
	// for console.log in WorkDir. Where both sides of a VM may share a
	// WorkDir in turn (one node runs the primary, later a secondary), the
	// secondary writes a file of its own: its output past the last
	// checkpoint is speculative and must not extend the primary's.
	Console string
}

// Link is the replication link between the two nodes: the addresses of
// the primary and the secondary on it and the TCP ports of the COLO
// channels. Each listener binds to its own side's address only.
type Link struct {
	PrimaryHost   string // the primary node's address
	SecondaryHost string // the secondary node's address
	// On the primary: the mirror of the packets that arrive for the guest
	// (filter-mirror m0 → the secondary's redirector f1), and the
	// secondary guest's output for colo-compare (redirector f2 → comp0).
	MirrorPort, ComparePort int
	// On the secondary: the migration (checkpoint) stream, and the NBD
	// server that exports the secondary's disk to the primary's
	// replication node.
	MigrationPort, NBDPort int
}

// The ports QEMU's COLO guide uses, as defaults.
const (
	DefaultMirrorPort    = 9003
	DefaultComparePort   = 9004
	DefaultMigrationPort = 9998
	DefaultNBDPort       = 9999
)

// Names of the QEMU objects of the topology. The failover sequences refer
// to them, so they are fixed.
const (
	netdevID = "hn0"
	nicID    = "nic0"
	diskDev  = "disk0"

	// diskID is the quorum the guest's disk device sits on, on both sides.
	diskID = "colo-disk0"
	// parentID is the secondary's disk image, exported over NBD under this
	// name; childID is its replication node (active → hidden → parent0).
	parentID = "parent0"
	childID  = "childs0"
	// replicationNode is the primary's replication node, added as quorum
	// child children.1 by Protect; nbdNode is its NBD client, named so that
	// yank can cut its connection.
	replicationNode  = "replication0"
	replicationChild = "children.1"
	nbdNode          = "colo-nbd0"
	exportID         = "colo-export0"
	// The secondary's active and hidden layers, named so that a failover
	// can tell when replication has committed them (they leave the graph).
	activeNode = "colo-active0"
	hiddenNode = "colo-hidden0"
	// Protect's copy of the primary's disk to the secondary's parent0: an
	// NBD client node and the mirror job writing to it.
	resyncNode = "colo-resync0"
	resyncJob  = "colo-resync"

	// Primary: chardevs and filters.
	mirrorChardev     = "mirror0"
	compareSecChardev = "compare1"     // the secondary's output, from the link
	comparePriServer  = "compare0"     // redire1 writes the primary's output here…
	comparePriClient  = "compare0-0"   // …and colo-compare reads it here
	compareOutServer  = "compare_out"  // redire0 reads colo-compare's verdicts here…
	compareOutClient  = "compare_out0" // …which colo-compare writes here
	mirrorFilter      = "m0"
	outFilter         = "redire0"
	inFilter          = "redire1"
	compareIOThread   = "iothread1"
	compareObject     = "comp0"

	// Secondary: chardevs and filters.
	mirrorClient    = "red0"
	compareClient   = "red1"
	mirrorRedirect  = "f1"
	compareRedirect = "f2"
	rewriter        = "rew0"

	qmpChardev     = "qmp"
	qmpMonitor     = "qmp0"
	qmpTCPChardev  = "qmp-tcp"
	qmpTCPMonitor  = "qmp1"
	consoleChardev = "console"
)

// withDefaults fills the zero fields that have defaults.
func (s Spec) withDefaults() Spec {
	if s.VCPUs == 0 {
		s.VCPUs = 1
	}
	if s.MemoryMiB == 0 {
		s.MemoryMiB = 512
	}
	if s.Machine == "" {
		s.Machine = "q35"
	}
	if s.Accel == "" {
		s.Accel = "kvm"
	}
	if s.NICModel == "" {
		s.NICModel = "e1000"
	}
	if s.DiskFormat == "" {
		s.DiskFormat = "raw"
	}
	if s.CheckpointDelay == 0 {
		s.CheckpointDelay = DefaultCheckpointDelay
	}
	l := &s.Link
	for _, p := range []struct {
		port *int
		def  int
	}{{&l.MirrorPort, DefaultMirrorPort}, {&l.ComparePort, DefaultComparePort},
		{&l.MigrationPort, DefaultMigrationPort}, {&l.NBDPort, DefaultNBDPort}} {
		if *p.port == 0 {
			*p.port = p.def
		}
	}
	return s
}

// Validate reports every problem of s (after defaults) at once.
func (s Spec) Validate() error {
	s = s.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Name == "" || strings.ContainsAny(s.Name, ", \t\n=") {
		bad("name %q: must be non-empty, without commas, blanks or '='", s.Name)
	}
	if s.VCPUs < 1 || s.MemoryMiB < 16 {
		bad("vcpus %d, memory %d MiB: too small", s.VCPUs, s.MemoryMiB)
	}
	if s.Accel != "kvm" && s.Accel != "tcg" {
		bad("accel %q: want kvm or tcg", s.Accel)
	}
	switch {
	case s.Kernel != "" && s.CDROM != "":
		bad("boot: both a kernel and a CD given")
	case s.Kernel == "" && (s.Initrd != "" || s.Append != ""):
		bad("boot: an initrd or a command line without a kernel")
	}
	if _, err := net.ParseMAC(s.MAC); err != nil || len(s.MAC) != len("52:54:00:00:00:00") {
		bad("mac %q: want a 48-bit address like 52:54:00:12:34:56", s.MAC)
	}
	if s.DiskFormat != "raw" && s.DiskFormat != "qcow2" {
		bad("disk format %q: want raw or qcow2", s.DiskFormat)
	}
	if s.DiskSize < 0 {
		bad("disk size %d: negative", s.DiskSize)
	} else if s.DiskFormat == "raw" && s.DiskSize%512 != 0 {
		bad("disk size %d: QEMU's raw driver wants a multiple of 512", s.DiskSize)
	}
	if s.CheckpointDelay < time.Millisecond || s.CheckpointDelay > time.Duration(1<<32-1)*time.Millisecond {
		bad("checkpoint delay %v: out of range", s.CheckpointDelay)
	}
	for _, side := range []struct {
		name string
		s    Side
	}{{"primary", s.Primary}, {"secondary", s.Secondary}} {
		if side.s.Disk == "" {
			bad("%s: no disk image", side.name)
		}
		if !filepath.IsAbs(side.s.WorkDir) {
			bad("%s: work dir %q: want an absolute path", side.name, side.s.WorkDir)
		} else if n := len(side.s.sock("compare_out")); n > 107 {
			bad("%s: work dir %q: too long for unix socket paths (%d > 107 bytes)", side.name, side.s.WorkDir, n)
		}
		if side.s.QMPAddr != "" {
			host, port, err := net.SplitHostPort(side.s.QMPAddr)
			if n, perr := strconv.Atoi(port); err != nil || net.ParseIP(host) == nil || perr != nil || n < 1 || n > 65535 {
				bad("%s: QMP address %q: want IP:port", side.name, side.s.QMPAddr)
			}
		}
		backend, _, _ := strings.Cut(side.s.Netdev, ",")
		switch {
		case backend != "tap" && backend != "socket" && backend != "stream" && backend != "dgram":
			bad("%s: netdev %q: want a tap, socket, stream or dgram backend", side.name, side.s.Netdev)
		case hasOpt(side.s.Netdev, "id"):
			bad("%s: netdev %q: the id is set by the topology (%s)", side.name, side.s.Netdev, netdevID)
		case hasOptValue(side.s.Netdev, "vhost", "on"):
			bad("%s: netdev %q: COLO's filters do not see vhost's packets", side.name, side.s.Netdev)
		case backend == "tap" && (!hasOptValue(side.s.Netdev, "script", "no") && !hasOpt(side.s.Netdev, "fd")):
			bad("%s: netdev %q: a tap needs script=no (the agent wires the tap itself)", side.name, side.s.Netdev)
		}
	}
	l := s.Link
	if net.ParseIP(l.PrimaryHost) == nil || net.ParseIP(l.SecondaryHost) == nil {
		bad("link: hosts %q and %q: want IP addresses", l.PrimaryHost, l.SecondaryHost)
	}
	for _, p := range []int{l.MirrorPort, l.ComparePort, l.MigrationPort, l.NBDPort} {
		if p < 1 || p > 65535 {
			bad("link: port %d: out of range", p)
		}
	}
	if l.MirrorPort == l.ComparePort {
		bad("link: mirror and compare port are both %d", l.MirrorPort)
	}
	if l.MigrationPort == l.NBDPort {
		bad("link: migration and NBD port are both %d", l.NBDPort)
	}
	return errors.Join(errs...)
}

// hasOpt reports whether QEMU option string opts sets key.
func hasOpt(opts, key string) bool {
	for _, kv := range strings.Split(opts, ",") {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

func hasOptValue(opts, key, value string) bool {
	for _, kv := range strings.Split(opts, ",") {
		if k, v, _ := strings.Cut(kv, "="); k == key && v == value {
			return true
		}
	}
	return false
}

// Swap is the spec of the next protection after the secondary took over:
// the former secondary's node runs the guest (Primary) and the former
// primary's node gets the new secondary. The ports stay: each listener
// binds to its own node's address.
func (s Spec) Swap() Spec {
	s.Primary, s.Secondary = s.Secondary, s.Primary
	s.Link.PrimaryHost, s.Link.SecondaryHost = s.Link.SecondaryHost, s.Link.PrimaryHost
	return s
}

// QMPSocket is the side's QMP socket.
func (s Side) QMPSocket() string { return s.sock("qmp") }

// ConsoleLog is the file the guest's first serial port is written to
// (appended: a restarted QEMU keeps the history).
func (s Side) ConsoleLog() string {
	if s.Console != "" {
		return s.Console
	}
	return filepath.Join(s.WorkDir, "console.log")
}

// QEMULog is QEMU's own standard output and error.
func (s Side) QEMULog() string { return filepath.Join(s.WorkDir, "qemu.log") }

// ActiveImage and HiddenImage are the secondary's replication layers over
// its disk: the active image takes the secondary guest's writes between
// checkpoints, the hidden one the primary's writes' old data.
func (s Side) ActiveImage() string { return filepath.Join(s.WorkDir, "active.qcow2") }

// HiddenImage: see ActiveImage.
func (s Side) HiddenImage() string { return filepath.Join(s.WorkDir, "hidden.qcow2") }

func (s Side) sock(name string) string { return filepath.Join(s.WorkDir, name+".sock") }

// MigrationURI is where the primary sends the checkpoint stream.
func (l Link) MigrationURI() string {
	return "tcp:" + net.JoinHostPort(l.SecondaryHost, strconv.Itoa(l.MigrationPort))
}
