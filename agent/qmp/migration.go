package qmp

import (
	"context"
	"encoding/json"
	"slices"
)

type capabilityState struct {
	Capability string `json:"capability"`
	State      bool   `json:"state"`
}

// MigrateSetCapabilities runs migrate-set-capabilities, e.g.
// {"x-colo": true, "events": true}. Capabilities must be set on both sides
// before migrate / migrate-incoming.
func (c *Client) MigrateSetCapabilities(ctx context.Context, caps map[string]bool) error {
	names := make([]string, 0, len(caps))
	for n := range caps {
		names = append(names, n)
	}
	slices.Sort(names) // a stable request, for logs and tests
	list := make([]capabilityState, 0, len(names))
	for _, n := range names {
		list = append(list, capabilityState{Capability: n, State: caps[n]})
	}
	return c.Execute(ctx, "migrate-set-capabilities", map[string]any{"capabilities": list}, nil)
}

// MigrationParameters are the migrate-set-parameters members the agent
// sets. Nil fields are not sent (left as they are); new(uint32(2000))
// builds a value.
type MigrationParameters struct {
	// XCheckpointDelay is the COLO checkpoint interval in milliseconds.
	XCheckpointDelay *uint32 `json:"x-checkpoint-delay,omitempty"`
	// MaxBandwidth is in bytes per second.
	MaxBandwidth *uint64 `json:"max-bandwidth,omitempty"`
	// DowntimeLimit is in milliseconds.
	DowntimeLimit *uint64 `json:"downtime-limit,omitempty"`
}

// MigrateSetParameters runs migrate-set-parameters.
func (c *Client) MigrateSetParameters(ctx context.Context, p MigrationParameters) error {
	return c.Execute(ctx, "migrate-set-parameters", p, nil)
}

// Migrate runs migrate with a URI such as "tcp:10.0.0.2:9998".
func (c *Client) Migrate(ctx context.Context, uri string) error {
	return c.Execute(ctx, "migrate", map[string]any{"uri": uri}, nil)
}

// MigrateIncoming runs migrate-incoming; QEMU must have been started with
// -incoming defer.
func (c *Client) MigrateIncoming(ctx context.Context, uri string) error {
	return c.Execute(ctx, "migrate-incoming", map[string]any{"uri": uri}, nil)
}

// MigrateCancel runs migrate_cancel (the name keeps its historical
// underscore). It succeeds even when no migration is running.
func (c *Client) MigrateCancel(ctx context.Context) error {
	return c.Execute(ctx, "migrate_cancel", nil, nil)
}

// MigrationInfo is the part of query-migrate's reply the agent reads; Raw
// holds the whole reply.
type MigrationInfo struct {
	// Status is a MigrationStatus; empty when no migration was ever
	// started.
	Status           string          `json:"status"`
	RAM              *MigrationRAM   `json:"ram,omitempty"`
	TotalTime        int64           `json:"total-time"`        // ms
	SetupTime        int64           `json:"setup-time"`        // ms
	Downtime         int64           `json:"downtime"`          // ms, once completed
	ExpectedDowntime int64           `json:"expected-downtime"` // ms, while active
	ErrorDesc        string          `json:"error-desc"`
	Raw              json.RawMessage `json:"-"`
}

// MigrationRAM is MigrationStats, for progress reporting.
type MigrationRAM struct {
	Transferred    int64   `json:"transferred"`
	Remaining      int64   `json:"remaining"`
	Total          int64   `json:"total"`
	Duplicate      int64   `json:"duplicate"`
	Normal         int64   `json:"normal"`
	NormalBytes    int64   `json:"normal-bytes"`
	DirtyPagesRate int64   `json:"dirty-pages-rate"`
	Mbps           float64 `json:"mbps"`
	DirtySyncCount int64   `json:"dirty-sync-count"`
	PageSize       int64   `json:"page-size"`
}

// QueryMigrate runs query-migrate.
func (c *Client) QueryMigrate(ctx context.Context) (MigrationInfo, error) {
	var raw json.RawMessage
	if err := c.Execute(ctx, "query-migrate", nil, &raw); err != nil {
		return MigrationInfo{}, err
	}
	var mi MigrationInfo
	if err := json.Unmarshal(raw, &mi); err != nil {
		return MigrationInfo{}, err
	}
	mi.Raw = raw
	return mi, nil
}

// ColoStatus is the reply of query-colo-status.
type ColoStatus struct {
	Mode string `json:"mode"`
	// LastMode is the mode before the last failover; equal to Mode while
	// COLO runs.
	LastMode string `json:"last-mode"`
	Reason   string `json:"reason"`
}

// QueryColoStatus runs query-colo-status (QEMU built with replication).
func (c *Client) QueryColoStatus(ctx context.Context) (ColoStatus, error) {
	var s ColoStatus
	err := c.Execute(ctx, "query-colo-status", nil, &s)
	return s, err
}

// XColoLostHeartbeat runs x-colo-lost-heartbeat: on the primary it leaves
// COLO and runs alone; on the secondary it fails over and takes over the
// service. COLO_EXIT follows.
func (c *Client) XColoLostHeartbeat(ctx context.Context) error {
	return c.Execute(ctx, "x-colo-lost-heartbeat", nil, nil)
}
