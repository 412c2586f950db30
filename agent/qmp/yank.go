package qmp

import "context"

// YankInstance names something yank can cut: the migration streams, the
// connection of an NBD block node, or a socket chardev.
type YankInstance struct {
	Type     string `json:"type"` // "migration", "block-node", "chardev"
	NodeName string `json:"node-name,omitempty"`
	ID       string `json:"id,omitempty"`
}

// YankMigration is the migration yank instance.
func YankMigration() YankInstance { return YankInstance{Type: "migration"} }

// YankBlockNode is the yank instance of an NBD client node.
func YankBlockNode(nodeName string) YankInstance {
	return YankInstance{Type: "block-node", NodeName: nodeName}
}

// YankChardev is the yank instance of a socket chardev.
func YankChardev(id string) YankInstance { return YankInstance{Type: "chardev", ID: id} }

// Yank runs yank: shut the instances' sockets down without waiting for
// the peer, so that a COLO side blocked on a dead peer's connection can
// fail over. The main loop may be stuck in exactly that situation, so yank
// goes out-of-band when oob was negotiated, in-band otherwise.
func (c *Client) Yank(ctx context.Context, instances []YankInstance) error {
	if instances == nil {
		instances = []YankInstance{}
	}
	return c.maybeOOB(ctx, "yank", map[string]any{"instances": instances}, nil)
}

// QueryYank runs query-yank (out-of-band when possible, like Yank).
func (c *Client) QueryYank(ctx context.Context) ([]YankInstance, error) {
	var list []YankInstance
	err := c.maybeOOB(ctx, "query-yank", nil, &list)
	return list, err
}

func (c *Client) maybeOOB(ctx context.Context, command string, args, result any) error {
	if c.oob {
		return c.ExecuteOOB(ctx, command, args, result)
	}
	return c.Execute(ctx, command, args, result)
}
