package drbd

import (
	"bytes"
	"context"

	"github.com/lockstep-ft/lockstep/agent/storage"
)

// Adm drives the node's resources with drbdadm (8.4 commands, see the
// package comment) on the configuration that WriteConfig wrote.
type Adm struct {
	Runner storage.Runner
	Config string // the top-level file, passed as drbdadm -c
}

func (a *Adm) drbdadm(ctx context.Context, res string, args ...string) error {
	if err := ValidName(res); err != nil {
		return err
	}
	_, err := storage.Output(ctx, a.Runner, "drbdadm", append(append([]string{"-c", a.Config}, args...), res)...)
	return err
}

// CreateMD writes new metadata on the resource's backing volume, for a new
// volume or the empty volume of a replaced node: --force answers drbdmeta's
// questions yes, so existing metadata is overwritten without asking. That
// is why it is only for a volume that holds nothing yet.
func (a *Adm) CreateMD(ctx context.Context, res string) error {
	return a.drbdadm(ctx, res, "--", "--force", "create-md")
}

// Up attaches the backing volume and starts connecting to the peer.
func (a *Adm) Up(ctx context.Context, res string) error { return a.drbdadm(ctx, res, "up") }

// Down disconnects, detaches and removes the resource from the kernel.
func (a *Adm) Down(ctx context.Context, res string) error { return a.drbdadm(ctx, res, "down") }

// Primary promotes the resource. force is for the first promotion of a
// new volume pair, and for a survivor whose disk is not UpToDate with its
// peer lost, which needs an operator's consent (see the package comment).
func (a *Adm) Primary(ctx context.Context, res string, force bool) error {
	if force {
		return a.drbdadm(ctx, res, "primary", "--force")
	}
	return a.drbdadm(ctx, res, "primary")
}

// Secondary demotes the resource; the kernel refuses while the device is
// open (the VM still runs on it).
func (a *Adm) Secondary(ctx context.Context, res string) error {
	return a.drbdadm(ctx, res, "secondary")
}

// Connect connects a StandAlone resource to its peer.
func (a *Adm) Connect(ctx context.Context, res string) error { return a.drbdadm(ctx, res, "connect") }

// Disconnect makes the resource StandAlone.
func (a *Adm) Disconnect(ctx context.Context, res string) error {
	return a.drbdadm(ctx, res, "disconnect")
}

// DropPeer makes the resource StandAlone without asking the peer: a plain
// disconnect of a connected resource is a cluster-wide state change that
// waits for the peer's answer, i.e. for DRBD's own timeout when the peer
// is dead. Only for a peer the membership has declared lost.
func (a *Adm) DropPeer(ctx context.Context, res string) error {
	return a.drbdadm(ctx, res, "disconnect", "--force")
}

// Adjust makes the kernel's resource match the configuration file.
func (a *Adm) Adjust(ctx context.Context, res string) error { return a.drbdadm(ctx, res, "adjust") }

// Resize makes the device use backing volumes grown on both nodes
// (SPEC A13: a container grows while the VM runs).
func (a *Adm) Resize(ctx context.Context, res string) error { return a.drbdadm(ctx, res, "resize") }

// Invalidate discards this node's data: a full resync from the peer
// follows. It is run on a replaced node (SPEC A6).
func (a *Adm) Invalidate(ctx context.Context, res string) error {
	return a.drbdadm(ctx, res, "invalidate")
}

// InvalidateRemote makes the peer's data invalid: a full resync to the
// peer follows. It is the survivor's side of replacing a node.
func (a *Adm) InvalidateRemote(ctx context.Context, res string) error {
	return a.drbdadm(ctx, res, "invalidate-remote")
}

// NewCurrentUUID starts a new data generation. With clearBitmap on a brand
// new volume pair (both just through CreateMD and Up, Connected
// Secondary/Secondary Inconsistent/Inconsistent) both sides become
// UpToDate without the initial full sync; that is only true because
// neither side holds data yet, so it must never be used on a volume that
// does. 8.4 wants the volume number (r/0) for this command.
func (a *Adm) NewCurrentUUID(ctx context.Context, res string, clearBitmap bool) error {
	if err := ValidName(res); err != nil {
		return err
	}
	args := []string{"-c", a.Config, "new-current-uuid"}
	if clearBitmap {
		args = append(args, "--clear-bitmap")
	}
	_, err := storage.Output(ctx, a.Runner, "drbdadm", append(args, res+"/0")...)
	return err
}

// AllowTwoPrimaries switches dual primary on for a live migration and off
// after it (see the package comment for why it is not always on).
func (a *Adm) AllowTwoPrimaries(ctx context.Context, res string, allow bool) error {
	v := "no"
	if allow {
		v = "yes"
	}
	return a.drbdadm(ctx, res, "net-options", "--allow-two-primaries="+v)
}

// EventsCommand is the command whose output Watch reads: every resource's
// state once, then every change. --statistics adds the sizes and counters
// State keeps.
func EventsCommand() []string {
	return []string{"drbdsetup", "events2", "--statistics", "all"}
}

// Status is the resource's state now. A resource that is not up in the
// kernel has a zero State but for its name. Resync progress (Done) only
// moves between events, so this is what a progress display polls.
func (a *Adm) Status(ctx context.Context, res string) (State, error) {
	if err := ValidName(res); err != nil {
		return State{}, err
	}
	out, err := storage.Output(ctx, a.Runner, "drbdsetup", "events2", "--now", "--statistics", res)
	if err != nil {
		return State{}, err
	}
	st := State{Name: res}
	err = Watch(ctx, bytes.NewReader(out), func(s State) {
		if s.Name == res {
			st = s
		}
	})
	return st, err
}
