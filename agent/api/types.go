// Package api is the system's HTTPS API, served by lockstepd on the system
// IP and on each node's ibiz0 address, and used by the lockstep CLI and
// scripts (SPEC A15, A16). It is versioned under /api/v1/, speaks JSON, and
// answers nothing without authentication except the health probe.
//
// This file holds the wire types: they are the API's contract, shared with
// the CLI, so a field renamed here is a breaking change for scripts.
package api

import "time"

// SystemInfo is GET /api/v1/system.
type SystemInfo struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	IP      string `json:"ip"` // the system IP (on the primary's ibiz0)
	Version string `json:"version"`
	Primary string `json:"primary"` // node id, "" while there is none
	State   string `json:"state"`   // e.g. "ok", "degraded", "forming"
	// Witnesses are the system's quorum witnesses as this node sees them.
	Witnesses []Witness `json:"witnesses,omitempty"`
}

// Witness is one quorum witness (SPEC A2).
type Witness struct {
	Address   string `json:"address"`
	Reachable bool   `json:"reachable"`
}

// Node roles and states, as the API reports them.
const (
	RolePrimary   = "primary"
	RoleSecondary = "secondary"

	StateHealthy     = "healthy"
	StateLost        = "lost"
	StateJoining     = "joining"
	StateMaintenance = "maintenance"

	LinkUp   = "up"
	LinkDown = "down"
)

// Node is one physical server, GET /api/v1/nodes/{id}.
type Node struct {
	ID        string    `json:"id"` // "node0" or "node1"
	Hostname  string    `json:"hostname"`
	Role      string    `json:"role"`  // RolePrimary, RoleSecondary
	State     string    `json:"state"` // StateHealthy, StateLost, ...
	Addresses []Address `json:"addresses"`
	Links     []Link    `json:"links"`
	Boot      Boot      `json:"boot"`
}

// Address is an address a node holds, with the interface it is on.
type Address struct {
	Interface string `json:"interface"` // "ibiz0"
	Address   string `json:"address"`   // CIDR, "192.0.2.11/24"
}

// Link is a heartbeat link to the peer (priv0 or an A-Link) as this system
// sees it.
type Link struct {
	Name     string    `json:"name"`
	State    string    `json:"state"`              // LinkUp, LinkDown
	LastSeen time.Time `json:"last_seen,omitzero"` // last heartbeat; absent if never
	Flapping bool      `json:"flapping"`
}

// Boot is the node's A/B boot state: the running slot and its version.
type Boot struct {
	Slot    string `json:"slot"` // "a" or "b"
	Version string `json:"version"`
}

// Alert is one entry of the alert history (SPEC A12).
type Alert struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Severity string    `json:"severity"`       // "info", "warning", "error", "critical"
	Node     string    `json:"node,omitempty"` // "" for the system as a whole
	Code     string    `json:"code"`           // stable, for scripts: "link.down"
	Message  string    `json:"message"`
	Cleared  bool      `json:"cleared"`
	// Deliveries say how sending the alert went, a target each (see
	// AlertSettings); absent for an alert below MinSeverity or raised
	// while no target was set.
	Deliveries []Delivery `json:"deliveries,omitempty"`
}

// NodeList is GET /api/v1/nodes.
type NodeList struct {
	Nodes []Node `json:"nodes"`
}

// AlertList is GET /api/v1/alerts.
type AlertList struct {
	Alerts []Alert `json:"alerts"`
}

// ActionResult answers a node action (202: the backend took it on; it
// may still be running, e.g. a workon evacuating VMs).
type ActionResult struct {
	Node   string `json:"node"`
	Action string `json:"action"`
	Status string `json:"status"` // "accepted"
}

// LinkTest answers POST /api/v1/nodes/{id}/linktest: the node sent Bytes
// to its peer over the replication link (the first A-Link) in Seconds.
type LinkTest struct {
	Node    string  `json:"node"`
	Peer    string  `json:"peer"`
	Link    string  `json:"link"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MiBPerS float64 `json:"mib_per_s"`
}

// LoginRequest is POST /api/v1/login.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// LoginResponse carries a bearer token. It expires after IdleSeconds
// without use.
type LoginResponse struct {
	Token       string `json:"token"`
	User        string `json:"user"`
	IdleSeconds int    `json:"idle_seconds"`
}

// Health is GET /healthz: "ok" or "unavailable", nothing more, because it
// is the one unauthenticated endpoint.
type Health struct {
	Status string `json:"status"`
}

// Error is every error response.
type Error struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// Nodes lists the node ids that exist, on a "node_not_found".
	Nodes []string `json:"nodes,omitempty"`
	// Reasons are the problems of a bad VM spec ("bad_parameter") or the
	// numbers that do not add up ("no_capacity"), one each, so that a
	// client can list them; Error has them joined.
	Reasons []string `json:"reasons,omitempty"`
}

// Error codes.
const (
	CodeAuthRequired     = "auth_required"
	CodeInvalidToken     = "invalid_token"
	CodeBadCredentials   = "bad_credentials"
	CodeRateLimited      = "rate_limited"
	CodeBadRequest       = "bad_request"
	CodeBadParameter     = "bad_parameter"
	CodeNotFound         = "not_found"
	CodeNodeNotFound     = "node_not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodeNotSupported     = "not_supported"
	CodeInternal         = "internal"
	CodeForbidden        = "forbidden"
)
