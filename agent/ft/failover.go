package ft

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lockstep-ft/lockstep/agent/qmp"
)

// announceParameters are QEMU's defaults for announce-self (all four are
// required): five gratuitous announcements, 50 ms then 100 ms further
// apart each round.
var announceParameters = map[string]any{"initial": 50, "max": 550, "rounds": 5, "step": 100}

// Options tune the sequences that run on one QEMU's monitor.
type Options struct {
	// StepTimeout bounds each QMP command and each wait of a sequence
	// (default 10 s).
	StepTimeout time.Duration
	// Poll is the interval of status polls (default 100 ms).
	Poll time.Duration
	// Logf gets a line per step (default: none).
	Logf func(format string, args ...any)
}

func (o Options) stepTimeout() time.Duration {
	if o.StepTimeout > 0 {
		return o.StepTimeout
	}
	return 10 * time.Second
}

func (o Options) poll() time.Duration {
	if o.Poll > 0 {
		return o.Poll
	}
	return 100 * time.Millisecond
}

func (o Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// FailoverSecondaryOn makes the secondary QEMU behind c run the VM alone
// after the primary was lost (QEMU's "Secondary Failover"). It needs this
// side's monitor only: the node's own agent runs it.
//
//  1. yank (out-of-band) the migration stream: with the primary's node
//     gone its socket may never close, and COLO's incoming side would wait
//     on it;
//  2. nbd-server-stop: the primary's replication writes no longer come,
//     and replication's failover needs the export gone before it commits
//     the active and hidden layers into the disk;
//  3. x-colo-lost-heartbeat, then wait until query-colo-status says mode
//     none: the failover itself runs in QEMU's main loop after the reply;
//  4. object-del f2 and f1, chardev-remove red1 and red0: until then the
//     secondary's output still goes to the dead primary's colo-compare, so
//     nothing leaves the VM (the rewriter stays: it keeps shifting the
//     sequence numbers of connections opened since the last checkpoint);
//  5. announce-self, so that the switch (the bridge) learns that the MAC
//     now lives on this side;
//  6. wait until the active and hidden layers have left the block graph:
//     replication commits them into the disk image with a job of its own
//     (invisible to query-block-jobs), and a Protect of this side (now a
//     primary) must not start its disk copy under that job.
func FailoverSecondaryOn(ctx context.Context, c *qmp.Client, o Options) error {
	steps := []step{
		{side: SecondaryRole, name: "yank", run: func(ctx context.Context) error {
			return yankPresent(ctx, c, []qmp.YankInstance{qmp.YankMigration()})
		}},
		{side: SecondaryRole, name: "nbd-server-stop", run: c.NBDServerStop},
		{side: SecondaryRole, name: "x-colo-lost-heartbeat", run: c.XColoLostHeartbeat},
		{side: SecondaryRole, name: "wait for COLO mode none", run: func(ctx context.Context) error {
			return waitColoMode(ctx, c, qmp.ColoModeNone, o.poll())
		}},
		{side: SecondaryRole, name: "object-del " + compareRedirect, run: func(ctx context.Context) error { return c.ObjectDel(ctx, compareRedirect) }},
		{side: SecondaryRole, name: "object-del " + mirrorRedirect, run: func(ctx context.Context) error { return c.ObjectDel(ctx, mirrorRedirect) }},
		{side: SecondaryRole, name: "chardev-remove " + compareClient, run: func(ctx context.Context) error { return c.ChardevRemove(ctx, compareClient) }},
		{side: SecondaryRole, name: "chardev-remove " + mirrorClient, run: func(ctx context.Context) error { return c.ChardevRemove(ctx, mirrorClient) }},
		{side: SecondaryRole, name: "announce-self", run: func(ctx context.Context) error {
			return c.Execute(ctx, "announce-self", announceParameters, nil)
		}},
		{side: SecondaryRole, name: "wait for the replication commit", run: func(ctx context.Context) error {
			return waitNodeGone(ctx, c, activeNode, o.poll())
		}},
	}
	return runSteps(ctx, "secondary failover", o.stepTimeout(), o.logf, steps)
}

// FailoverPrimaryOn makes the primary QEMU behind c run the VM alone after
// the secondary was lost (QEMU's "Primary Failover"), with this side's
// monitor only:
//
//  1. yank (out-of-band) the migration stream and the NBD connection of
//     the replication node, which may hang on the dead peer (a checkpoint
//     in flight, a replicated write);
//  2. x-blockdev-change: drop the replication child (children.1) from the
//     quorum, then blockdev-del the replication node (its NBD client with
//     it);
//  3. object-del comp0, iothread1, m0, redire0 and redire1: the guest's
//     output goes straight to the NIC again;
//  4. x-colo-lost-heartbeat, then wait until query-colo-status says mode
//     none;
//  5. chardev-remove COLO's six chardevs, which Protect added: the side is
//     then a plain simplex primary again, ready for the next Protect.
func FailoverPrimaryOn(ctx context.Context, c *qmp.Client, o Options) error {
	del := func(id string) step {
		return step{side: PrimaryRole, name: "object-del " + id, run: func(ctx context.Context) error { return c.ObjectDel(ctx, id) }}
	}
	steps := []step{
		{side: PrimaryRole, name: "yank", run: func(ctx context.Context) error {
			return yankPresent(ctx, c, []qmp.YankInstance{qmp.YankMigration(), qmp.YankBlockNode(nbdNode)})
		}},
		{side: PrimaryRole, name: "x-blockdev-change", run: func(ctx context.Context) error {
			return c.XBlockdevChange(ctx, diskID, replicationChild, "")
		}},
		{side: PrimaryRole, name: "blockdev-del", run: func(ctx context.Context) error { return c.BlockdevDel(ctx, replicationNode) }},
		del(compareObject),
		del(compareIOThread),
		del(mirrorFilter),
		del(outFilter),
		del(inFilter),
		{side: PrimaryRole, name: "x-colo-lost-heartbeat", run: c.XColoLostHeartbeat},
		{side: PrimaryRole, name: "wait for COLO mode none", run: func(ctx context.Context) error {
			return waitColoMode(ctx, c, qmp.ColoModeNone, o.poll())
		}},
	}
	for _, ch := range primaryChardevs {
		steps = append(steps, step{side: PrimaryRole, name: "chardev-remove " + ch, run: func(ctx context.Context) error {
			return c.ChardevRemove(ctx, ch)
		}})
	}
	return runSteps(ctx, "primary failover", o.stepTimeout(), o.logf, steps)
}

// FailoverSecondary runs FailoverSecondaryOn on the pair's secondary. On
// success the roles swap: the pair's Spec becomes Swap of the old one, the
// survivor is its primary (simplex) and the next Protect brings in a new
// secondary on the other node. The state is simplex afterwards, whatever
// the outcome.
func (p *Pair) FailoverSecondary(ctx context.Context) error {
	gen := p.begin(Simplex, "primary lost: failing over to the secondary")
	p.mu.Lock()
	c := p.secondary
	p.mu.Unlock()
	if c == nil {
		err := errors.New("ft secondary failover: no secondary monitor (Protect never ran)")
		p.set(gen, Simplex, err.Error())
		return err
	}
	if err := FailoverSecondaryOn(ctx, c, p.options()); err != nil {
		p.set(gen, Simplex, "secondary failover failed: "+err.Error())
		return err
	}
	p.mu.Lock()
	if gen == p.gen {
		p.spec = p.spec.Swap()
		p.primary, p.secondary = c, nil
	}
	p.mu.Unlock()
	p.set(gen, Simplex, "primary lost: the secondary runs the VM alone")
	return nil
}

// FailoverPrimary runs FailoverPrimaryOn on the pair's primary; the next
// Protect brings in a new secondary on the same node as the lost one. The
// state is simplex afterwards, whatever the outcome.
func (p *Pair) FailoverPrimary(ctx context.Context) error {
	gen := p.begin(Simplex, "secondary lost: failing over to the primary")
	p.mu.Lock()
	c := p.primary
	p.mu.Unlock()
	if c == nil {
		err := errors.New("ft primary failover: no primary monitor (Protect never ran)")
		p.set(gen, Simplex, err.Error())
		return err
	}
	if err := FailoverPrimaryOn(ctx, c, p.options()); err != nil {
		p.set(gen, Simplex, "primary failover failed: "+err.Error())
		return err
	}
	p.mu.Lock()
	if gen == p.gen {
		p.secondary = nil
	}
	p.mu.Unlock()
	p.set(gen, Simplex, "secondary lost: the primary runs the VM alone")
	return nil
}

// yankPresent yanks those of want that QEMU has (query-yank): yank fails
// as a whole when one instance does not exist, e.g. the migration once
// COLO ended by itself.
func yankPresent(ctx context.Context, c *qmp.Client, want []qmp.YankInstance) error {
	have, err := c.QueryYank(ctx)
	if err != nil {
		return fmt.Errorf("query-yank: %w", err)
	}
	var cut []qmp.YankInstance
	for _, w := range want {
		if slices.Contains(have, w) {
			cut = append(cut, w)
		}
	}
	if len(cut) == 0 {
		return nil
	}
	return c.Yank(ctx, cut)
}

// waitColoMode polls c until its COLO mode is want. A timeout reports the
// last status seen.
func waitColoMode(ctx context.Context, c *qmp.Client, want string, poll time.Duration) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	var last error
	for {
		st, err := c.QueryColoStatus(ctx)
		switch {
		case err != nil && ctx.Err() != nil && last != nil:
			return fmt.Errorf("%w; %v", ctx.Err(), last)
		case err != nil:
			return err
		case st.Mode == want:
			return nil
		}
		last = fmt.Errorf("COLO mode still %q (last mode %q, reason %q)", st.Mode, st.LastMode, st.Reason)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; %v", ctx.Err(), last)
		case <-t.C:
		}
	}
}

// waitNodeGone polls query-named-block-nodes until no node is called name.
func waitNodeGone(ctx context.Context, c *qmp.Client, name string, poll time.Duration) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		var nodes []struct {
			NodeName string `json:"node-name"`
		}
		if err := c.Execute(ctx, "query-named-block-nodes", map[string]any{"flat": true}, &nodes); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w; node %s is still in the graph", err, name)
			}
			return err
		}
		if !slices.ContainsFunc(nodes, func(n struct {
			NodeName string `json:"node-name"`
		}) bool {
			return n.NodeName == name
		}) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; node %s is still in the graph", ctx.Err(), name)
		case <-t.C:
		}
	}
}
