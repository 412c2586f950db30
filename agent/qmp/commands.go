package qmp

import (
	"context"
	"errors"
	"fmt"
)

// Status is the reply of query-status.
type Status struct {
	Running bool `json:"running"`
	// Status is a RunState: "running", "paused", "inmigrate",
	// "postmigrate", "colo", "shutdown", …
	Status string `json:"status"`
}

// QueryStatus runs query-status.
func (c *Client) QueryStatus(ctx context.Context) (Status, error) {
	var s Status
	err := c.Execute(ctx, "query-status", nil, &s)
	return s, err
}

// Cont runs cont: start the vCPUs (RESUME follows).
func (c *Client) Cont(ctx context.Context) error { return c.Execute(ctx, "cont", nil, nil) }

// Stop runs stop: pause the vCPUs (STOP follows).
func (c *Client) Stop(ctx context.Context) error { return c.Execute(ctx, "stop", nil, nil) }

// Quit runs quit. QEMU replies and then exits, closing the socket; losing
// the connection after the command was issued is therefore success too
// (but not a connection that was already gone).
func (c *Client) Quit(ctx context.Context) error {
	if err := c.Err(); err != nil {
		return err
	}
	err := c.Execute(ctx, "quit", nil, nil)
	if errors.Is(err, ErrDisconnected) {
		return nil
	}
	return err
}

// QueryVersion runs query-version.
func (c *Client) QueryVersion(ctx context.Context) (Version, error) {
	var vi versionInfo
	if err := c.Execute(ctx, "query-version", nil, &vi); err != nil {
		return Version{}, err
	}
	return vi.version(), nil
}

// HumanMonitorCommand runs an HMP command line through
// human-monitor-command and returns its text output. COLO still needs it
// for "drive_add -n buddy driver=replication,…", which has no QMP
// equivalent. HMP reports many failures only in the text.
func (c *Client) HumanMonitorCommand(ctx context.Context, cmd string) (string, error) {
	var out string
	err := c.Execute(ctx, "human-monitor-command", map[string]any{"command-line": cmd}, &out)
	return out, err
}

// ObjectAdd runs object-add. The command is flat since QEMU 6.0: the
// type's properties sit next to qom-type and id, there is no "props".
func (c *Client) ObjectAdd(ctx context.Context, qomType, id string, props map[string]any) error {
	args := make(map[string]any, len(props)+2)
	for k, v := range props {
		if k == "qom-type" || k == "id" {
			return fmt.Errorf("qmp %s: object-add %s: property %q is set by the qomType and id arguments", c.name, id, k)
		}
		args[k] = v
	}
	args["qom-type"] = qomType
	args["id"] = id
	return c.Execute(ctx, "object-add", args, nil)
}

// ObjectDel runs object-del.
func (c *Client) ObjectDel(ctx context.Context, id string) error {
	return c.Execute(ctx, "object-del", map[string]any{"id": id}, nil)
}

// ChardevRemove runs chardev-remove.
func (c *Client) ChardevRemove(ctx context.Context, id string) error {
	return c.Execute(ctx, "chardev-remove", map[string]any{"id": id}, nil)
}
