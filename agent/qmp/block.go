package qmp

import "context"

type inetAddress struct {
	Host string `json:"host"`
	Port string `json:"port"`
}

// NBDServerStart runs nbd-server-start on host:port. Its addr is the
// legacy SocketAddress form, {"type":"inet","data":{…}}, unlike
// block-export-add's flat one.
func (c *Client) NBDServerStart(ctx context.Context, host, port string) error {
	args := map[string]any{"addr": map[string]any{
		"type": "inet",
		"data": inetAddress{Host: host, Port: port},
	}}
	return c.Execute(ctx, "nbd-server-start", args, nil)
}

// BlockExportAddNBD exports node on the running NBD server through
// block-export-add. The export name defaults to the node name, which is
// what the primary's replication driver connects to (file.export=…).
// Prefer it to NBDServerAdd.
func (c *Client) BlockExportAddNBD(ctx context.Context, id, nodeName string, writable bool) error {
	args := map[string]any{"type": "nbd", "id": id, "node-name": nodeName, "writable": writable}
	return c.Execute(ctx, "block-export-add", args, nil)
}

// BlockExportDel runs block-export-del; BLOCK_EXPORT_DELETED follows once
// the export is gone.
func (c *Client) BlockExportDel(ctx context.Context, id string) error {
	return c.Execute(ctx, "block-export-del", map[string]any{"id": id}, nil)
}

// NBDServerAdd runs nbd-server-add, as in QEMU's COLO-FT guide.
//
// Deprecated: nbd-server-add is deprecated in the QEMU schema since 5.2
// (still present as of the 10.x/11.x schema) and is refused when QEMU runs
// with -compat deprecated-input=reject; use BlockExportAddNBD.
func (c *Client) NBDServerAdd(ctx context.Context, device string, writable bool) error {
	return c.Execute(ctx, "nbd-server-add", map[string]any{"device": device, "writable": writable}, nil)
}

// NBDServerStop runs nbd-server-stop, which also drops every export.
func (c *Client) NBDServerStop(ctx context.Context) error {
	return c.Execute(ctx, "nbd-server-stop", nil, nil)
}

// BlockdevAdd runs blockdev-add. options is a BlockdevOptions object
// (driver, node-name, driver options…) and is sent as the arguments.
func (c *Client) BlockdevAdd(ctx context.Context, options any) error {
	return c.Execute(ctx, "blockdev-add", options, nil)
}

// BlockdevDel runs blockdev-del.
func (c *Client) BlockdevDel(ctx context.Context, nodeName string) error {
	return c.Execute(ctx, "blockdev-del", map[string]any{"node-name": nodeName}, nil)
}

// XBlockdevChange runs x-blockdev-change on a quorum node: with node, add
// that node as a new child of parent; with child (e.g. "children.1"),
// remove that child. Empty strings are not sent.
func (c *Client) XBlockdevChange(ctx context.Context, parent, child, node string) error {
	args := map[string]any{"parent": parent}
	if child != "" {
		args["child"] = child
	}
	if node != "" {
		args["node"] = node
	}
	return c.Execute(ctx, "x-blockdev-change", args, nil)
}

// DriveMirrorOptions are drive-mirror's arguments. Empty optional fields
// are not sent.
type DriveMirrorOptions struct {
	JobID  string `json:"job-id,omitempty"`
	Device string `json:"device"`
	// Target is a file name or URI, e.g. "nbd://10.0.0.2:9999/parent0".
	Target string `json:"target"`
	Format string `json:"format,omitempty"`
	// Mode is "existing" when the target already exists (COLO resync
	// into the secondary's NBD export), or "absolute-paths" (default).
	Mode     string `json:"mode,omitempty"`
	Sync     string `json:"sync"` // "full", "top", "none"
	NodeName string `json:"node-name,omitempty"`
	Replaces string `json:"replaces,omitempty"`
	Speed    int64  `json:"speed,omitempty"` // bytes per second
}

// DriveMirror runs drive-mirror. BLOCK_JOB_READY follows once the target
// has caught up.
func (c *Client) DriveMirror(ctx context.Context, o DriveMirrorOptions) error {
	return c.Execute(ctx, "drive-mirror", o, nil)
}

// BlockdevMirrorOptions are blockdev-mirror's arguments; Target is a node
// name added with BlockdevAdd.
type BlockdevMirrorOptions struct {
	JobID    string `json:"job-id,omitempty"`
	Device   string `json:"device"`
	Target   string `json:"target"`
	Sync     string `json:"sync"`
	Replaces string `json:"replaces,omitempty"`
	Speed    int64  `json:"speed,omitempty"`
}

// BlockdevMirror runs blockdev-mirror.
func (c *Client) BlockdevMirror(ctx context.Context, o BlockdevMirrorOptions) error {
	return c.Execute(ctx, "blockdev-mirror", o, nil)
}

// BlockJobInfo is an element of query-block-jobs' reply. Device is the job
// id.
type BlockJobInfo struct {
	Type     string `json:"type"`
	Device   string `json:"device"`
	Len      int64  `json:"len"`
	Offset   int64  `json:"offset"`
	Busy     bool   `json:"busy"`
	Paused   bool   `json:"paused"`
	Speed    int64  `json:"speed"`
	IOStatus string `json:"io-status"`
	Ready    bool   `json:"ready"`
	Status   string `json:"status"` // JobStatus: "running", "ready", "concluded", …
	Error    string `json:"error,omitempty"`
}

// QueryBlockJobs runs query-block-jobs.
func (c *Client) QueryBlockJobs(ctx context.Context) ([]BlockJobInfo, error) {
	var jobs []BlockJobInfo
	err := c.Execute(ctx, "query-block-jobs", nil, &jobs)
	return jobs, err
}

// BlockJobCancel runs block-job-cancel. On a ready mirror job this ends the
// job without switching the guest to the target, leaving source and target
// in sync: that is how COLO's resync ends (after stop). force cancels even
// a paused job.
func (c *Client) BlockJobCancel(ctx context.Context, device string, force bool) error {
	args := map[string]any{"device": device}
	if force {
		args["force"] = true
	}
	return c.Execute(ctx, "block-job-cancel", args, nil)
}

// BlockJobComplete runs block-job-complete: a ready mirror job pivots the
// guest onto the target.
func (c *Client) BlockJobComplete(ctx context.Context, device string) error {
	return c.Execute(ctx, "block-job-complete", map[string]any{"device": device}, nil)
}
