package api

import (
	"context"
	"errors"
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

	// The node actions (SPEC A11). They return once the action is under
	// way. An action the agent cannot do yet returns NotSupported; one
	// refused in the current state (e.g. shutting down the last healthy
	// node) returns Conflict.
	Workon(ctx context.Context, node string) error
	Workoff(ctx context.Context, node string) error
	Shutdown(ctx context.Context, node string) error
	Reboot(ctx context.Context, node string) error
}

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
