package qmp

import "fmt"

// Event names used by the COLO and block code. The payloads are defined in
// QEMU's qapi/*.json.
const (
	EventResume    = "RESUME"   // vCPUs started (cont, end of incoming migration)
	EventStop      = "STOP"     // vCPUs stopped (stop, start of a checkpoint)
	EventShutdown  = "SHUTDOWN" // guest or quit asked to shut down; the process exits next
	EventReset     = "RESET"
	EventPowerdown = "POWERDOWN"

	EventMigration     = "MIGRATION"      // {"status": MigrationStatus…}; needs capability "events"
	EventMigrationPass = "MIGRATION_PASS" // {"pass": n}
	EventColoExit      = "COLO_EXIT"      // {"mode", "reason"}: this side left COLO

	EventBlockJobReady      = "BLOCK_JOB_READY" // mirror caught up; complete or cancel it now
	EventBlockJobCompleted  = "BLOCK_JOB_COMPLETED"
	EventBlockJobCancelled  = "BLOCK_JOB_CANCELLED"
	EventBlockJobError      = "BLOCK_JOB_ERROR"
	EventJobStatusChange    = "JOB_STATUS_CHANGE"
	EventBlockIOError       = "BLOCK_IO_ERROR"
	EventBlockExportDeleted = "BLOCK_EXPORT_DELETED"

	// EventFailoverNegotiated is virtio-net standby failover (a guest
	// driver accepted VIRTIO_NET_F_STANDBY), unrelated to COLO failover.
	EventFailoverNegotiated = "FAILOVER_NEGOTIATED"
)

// MigrationStatus values (qapi/migration.json MigrationStatus) that the
// COLO code acts on.
const (
	MigrationNone      = "none"
	MigrationSetup     = "setup"
	MigrationActive    = "active"
	MigrationCompleted = "completed"
	MigrationFailed    = "failed"
	MigrationCancelled = "cancelled"
	// MigrationColo is the steady state of a COLO pair: the migration never
	// completes, it keeps checkpointing.
	MigrationColo = "colo"
)

// COLOMode and COLOExitReason values.
const (
	ColoModeNone      = "none"
	ColoModePrimary   = "primary"
	ColoModeSecondary = "secondary"

	ColoExitNone       = "none"
	ColoExitRequest    = "request" // x-colo-lost-heartbeat
	ColoExitError      = "error"
	ColoExitProcessing = "processing"
)

// MigrationEvent is the data of MIGRATION.
type MigrationEvent struct {
	Status string `json:"status"`
}

// ColoExitEvent is the data of COLO_EXIT.
type ColoExitEvent struct {
	Mode   string `json:"mode"`
	Reason string `json:"reason"`
}

// BlockJobEvent is the data of BLOCK_JOB_READY, BLOCK_JOB_COMPLETED and
// BLOCK_JOB_CANCELLED. Device is the job id.
type BlockJobEvent struct {
	Type   string `json:"type"`
	Device string `json:"device"`
	Len    int64  `json:"len"`
	Offset int64  `json:"offset"`
	Speed  int64  `json:"speed"`
	// Error is set on a BLOCK_JOB_COMPLETED that failed.
	Error string `json:"error,omitempty"`
}

// Migration decodes a MIGRATION event.
func (e Event) Migration() (MigrationEvent, error) {
	var d MigrationEvent
	err := e.decodeAs(&d, EventMigration)
	return d, err
}

// ColoExit decodes a COLO_EXIT event.
func (e Event) ColoExit() (ColoExitEvent, error) {
	var d ColoExitEvent
	err := e.decodeAs(&d, EventColoExit)
	return d, err
}

// BlockJob decodes a BLOCK_JOB_READY, _COMPLETED or _CANCELLED event.
func (e Event) BlockJob() (BlockJobEvent, error) {
	var d BlockJobEvent
	err := e.decodeAs(&d, EventBlockJobReady, EventBlockJobCompleted, EventBlockJobCancelled)
	return d, err
}

func (e Event) decodeAs(v any, names ...string) error {
	for _, n := range names {
		if e.Name == n {
			return e.Decode(v)
		}
	}
	return fmt.Errorf("qmp: event %s is not %v", e.Name, names)
}
