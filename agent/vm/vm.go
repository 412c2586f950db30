// Package vm runs guest VMs through libvirt on this node: it renders a VM's
// domain XML (DomainXML) and starts, stops, watches and live-migrates
// domains (Hypervisor; Libvirt talks to libvirtd).
//
// Every domain is transient: libvirt holds no definition of its own, the
// agent's store is the only one (SPEC A7), and a domain exists in libvirt
// exactly while it runs. Absent therefore means shut off.
//
// The libvirt implementation needs cgo and libvirt's headers; everything else
// here builds without cgo, so that the HA logic can be tested against a fake
// Hypervisor on any machine.
package vm

import (
	"context"
	"errors"
)

// Hypervisor is what the agent needs of a node's hypervisor.
type Hypervisor interface {
	// Start creates and boots a transient domain from its XML.
	Start(ctx context.Context, xml string) error
	// Shutdown asks the guest to power off (ACPI power button); the domain
	// goes away when the guest complies, which it may never do.
	Shutdown(name string) error
	// Destroy powers the domain off at once.
	Destroy(name string) error
	// State is StateShutoff, without error, for a domain that is not here.
	State(name string) (State, error)
	// List returns the domains running (or paused) here, by name.
	List() ([]DomainInfo, error)
	// Migrate live-migrates a running domain to the libvirtd at destURI;
	// xml, if not "", is the domain's XML on the destination: the same
	// guest hardware (libvirt checks), host-side details such as paths may
	// differ.
	Migrate(ctx context.Context, name, destURI, xml string, opt MigrateOptions) error
	// ChangeMedia inserts the ISO at cdPath into the domain's CD drive, or
	// ejects the drive's medium if cdPath is "".
	ChangeMedia(name, cdPath string) error
	// Events calls fn for every lifecycle event until ctx is done. fn runs on
	// the event loop: it must return quickly and not wait on the Hypervisor.
	Events(ctx context.Context, fn func(Event)) error
	Close() error
}

// ErrNotRunning: the domain is not running on this node. Errors wrap it
// with the domain's name.
var ErrNotRunning = errors.New("not running on this node")

// ErrAlreadyRunning: Start found a domain of that name already running.
var ErrAlreadyRunning = errors.New("already running on this node")

// State of a domain on this node.
type State string

const (
	StateRunning      State = "running"
	StatePaused       State = "paused" // by the agent, an I/O error, or a migration's last phase
	StateShuttingDown State = "shutting-down"
	StateShutoff      State = "shutoff" // also: no such domain here
	StateCrashed      State = "crashed"
	StateSuspended    State = "suspended" // the guest suspended itself (S3/S4)
	StateUnknown      State = "unknown"
)

// DomainInfo is one domain found on this node.
type DomainInfo struct {
	Name  string
	UUID  string
	State State
}

// EventKind is the kind of a lifecycle event.
type EventKind string

const (
	EventStarted  EventKind = "started"
	EventStopped  EventKind = "stopped"
	EventPaused   EventKind = "paused"
	EventResumed  EventKind = "resumed"
	EventShutdown EventKind = "shutdown" // the guest shut down; a stopped event follows
	EventCrashed  EventKind = "crashed"  // the guest panicked
	// EventDisconnected: the connection to libvirtd is gone (Domain is "").
	// Events may have been missed: reopen and compare List with what should run.
	EventDisconnected EventKind = "disconnected"
	EventOther        EventKind = "other"
)

// Event is a domain lifecycle event.
type Event struct {
	Domain string
	UUID   string
	Kind   EventKind
	// Reason details Kind: started "booted", "migrated", "restored";
	// stopped "shutdown", "destroyed", "crashed", "migrated", "failed",
	// "saved"; paused "paused", "migrated", "ioerror", "watchdog", "api-error",
	// "postcopy"; resumed "unpaused", "migrated", "postcopy"; shutdown
	// "finished", "guest", "host"; crashed "panicked". Details this package
	// does not name are "detail-N", events it does not know (EventOther)
	// "event-N-M", with libvirt's numbers.
	Reason string
}

// MigrateOptions tune a live migration. Flags that are always set and never
// set are in Libvirt.Migrate.
type MigrateOptions struct {
	// DataURI carries the memory stream, e.g. "tcp://169.254.100.2" on the
	// A-Link; "" lets libvirt use the destination's host name, which would
	// put the stream on whatever network that name resolves to.
	DataURI string
	// TLS encrypts the memory stream (QEMU's TLS: needs the certificates
	// set in qemu.conf on both nodes).
	TLS bool
	// AutoConverge slows the guest's vCPUs when it dirties memory faster
	// than the link can copy it; without it such a migration never ends.
	AutoConverge bool
	// BandwidthMiBs caps the stream (MiB/s); 0 is no cap.
	BandwidthMiBs uint64
}
