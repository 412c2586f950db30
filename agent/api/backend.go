package api

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// Backend is what the API serves; the agent implements it. Each call gets
// the request's context, which ends when the client goes away.
type Backend interface {
	SystemInfo(ctx context.Context) (SystemInfo, error)
	// Nodes lists the system's nodes, in id order.
	Nodes(ctx context.Context) ([]Node, error)
	// Node is one node by its id ("node0"); ErrNotFound if there is none.
	Node(ctx context.Context, id string) (Node, error)
	// Alerts returns at most limit alerts raised at or after since (zero:
	// from the start of the history), newest first.
	Alerts(ctx context.Context, since time.Time, limit int) ([]Alert, error)
	// AlertSettings are where alerts go (the SMTP password never in it,
	// only PasswordSet). SetAlertSettings replaces them; a *BadSpecError
	// says what is wrong. TestAlert raises an alert of code
	// "system.test" and sends it to every target at once, with no retry,
	// reporting how each went.
	AlertSettings(ctx context.Context) (AlertSettings, error)
	SetAlertSettings(ctx context.Context, s AlertSettings) (AlertSettings, error)
	TestAlert(ctx context.Context) (AlertTestResult, error)

	// Users and the audit log (SPEC A16). CreateUser and ModifyUser
	// return a *BadSpecError for a name, role or password that is wrong,
	// a Conflict for what the built-in admin cannot be or a user that
	// exists; ModifyUser changes the role or password given. Audit is
	// both nodes' audit logs, newest first, like Alerts.
	Users(ctx context.Context) ([]User, error)
	CreateUser(ctx context.Context, spec UserSpec) (User, error)
	ModifyUser(ctx context.Context, name string, change UserSpec) (User, error)
	DeleteUser(ctx context.Context, name string) error
	Audit(ctx context.Context, since time.Time, limit int) ([]AuditRecord, error)

	// The node actions (SPEC A11). They return once the action is under
	// way. An action the agent cannot do yet returns NotSupported; one
	// refused in the current state (e.g. shutting down the last healthy
	// node) returns Conflict.
	Workon(ctx context.Context, node string) error
	Workoff(ctx context.Context, node string) error
	Shutdown(ctx context.Context, node string) error
	Reboot(ctx context.Context, node string) error
	// LinkTest measures the replication link from node to its peer.
	LinkTest(ctx context.Context, node string) (LinkTest, error)

	// VMs (SPEC A7). CreateVM and ModifyVM validate the spec with the
	// capacity rules and return a *CapacityError for a VM that does not
	// fit, a *BadSpecError for a spec that is wrong in itself.
	VMs(ctx context.Context) ([]VM, error)
	VM(ctx context.Context, name string) (VM, error)
	CreateVM(ctx context.Context, spec VMSpec) (VM, error)
	// ModifyVM applies the non-zero fields of change to a stopped VM.
	ModifyVM(ctx context.Context, name string, change VMSpec) (VM, error)
	DeleteVM(ctx context.Context, name string) error
	// VMAction runs "start", "shutdown", "poweroff" or "migrate"
	// (to the other node); it returns once the action is under way.
	VMAction(ctx context.Context, name, action string) error
	// VMConsole returns the tail of the VM's serial console log, at most
	// max bytes, from the node that runs (or last ran) it.
	VMConsole(ctx context.Context, name string, max int) ([]byte, error)

	// Storage groups and what the system can still give VMs (SPEC A4, A6).
	Storage(ctx context.Context) ([]StorageGroup, error)
	// CreateStorageGroup makes a storage group on both nodes, and
	// ExtendStorageGroup adds disks to one (see StorageGroupSpec); they
	// return the group as Storage shows it. A request that is wrong, or a
	// disk that cannot be taken, is a *BadSpecError; the peer away is a
	// Conflict.
	CreateStorageGroup(ctx context.Context, spec StorageGroupSpec) (StorageGroup, error)
	ExtendStorageGroup(ctx context.Context, name string, spec StorageGroupSpec) (StorageGroup, error)
	Capacity(ctx context.Context) (Capacity, error)

	// Business networks: a bridge on each node with one of its NICs as
	// the port, for the VMs' NICs. Create and Modify return a
	// *BadSpecError for a name or port that is wrong; Delete a Conflict
	// while VMs use the network. Modify changes the ports of the nodes
	// in change.Ports and keeps the others'.
	Networks(ctx context.Context) ([]Network, error)
	Network(ctx context.Context, name string) (Network, error)
	CreateNetwork(ctx context.Context, spec NetworkSpec) (Network, error)
	ModifyNetwork(ctx context.Context, name string, change NetworkSpec) (Network, error)
	DeleteNetwork(ctx context.Context, name string) error

	// VCDs (SPEC A7): ISO images kept on both nodes.
	VCDs(ctx context.Context) ([]VCD, error)
	// PutVCD stores the ISO read from r (size bytes, -1 if unknown) as name,
	// replacing one of that name; it returns once both nodes (or this one,
	// if the peer is away) hold it.
	PutVCD(ctx context.Context, name string, size int64, r io.Reader) (VCD, error)
	DeleteVCD(ctx context.Context, name string) error
}

// BadSpecError is a VM spec or change that is wrong in itself (HTTP 400):
// a name, a limit of SPEC A5, a storage group or network that is not there,
// or a network's port that cannot serve.
type BadSpecError struct{ Problems []string }

func (e *BadSpecError) Error() string { return strings.Join(e.Problems, "; ") }

// CapacityError is a VM refused because it does not fit (HTTP 409, code
// no_capacity); Reasons carry the numbers that do not add up.
type CapacityError struct{ Reasons []string }

func (e *CapacityError) Error() string { return strings.Join(e.Reasons, "; ") }

// ErrNotFound says the thing asked for does not exist (HTTP 404).
var ErrNotFound = errors.New("not found")

// NotSupportedError is an action or query the backend does not do yet
// (HTTP 501), so a script can tell "later" from "failed".
type NotSupportedError struct{ What string }

func (e *NotSupportedError) Error() string { return "not supported yet: " + e.What }

// NotSupported returns a *NotSupportedError for what.
func NotSupported(what string) error { return &NotSupportedError{What: what} }

// ConflictError is a request refused in the system's current state (HTTP
// 409); Reason says why, for the operator.
type ConflictError struct{ Reason string }

func (e *ConflictError) Error() string { return e.Reason }

// Conflict returns a *ConflictError.
func Conflict(reason string) error { return &ConflictError{Reason: reason} }
