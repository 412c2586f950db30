// Package member runs this node's membership in its system (SPEC A2, A3):
// it drives the membership state machine (cluster/membership) with the
// heartbeats of every link (agent/heartbeat), the witnesses' votes
// (cluster/witness) and the clock, and carries out what the machine
// decides: heartbeats out, the system IP on or off ibiz0 (agent/sysip),
// the term and incarnation kept on STATE, alerts and notable events
// reported to the agent.
//
// All the decisions are the machine's; this package only moves events in
// and actions out, so the rules stay where the scenario tests replay them.
package member

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/agent/heartbeat"
	"github.com/lockstep-ft/lockstep/cluster/membership"
	"github.com/lockstep-ft/lockstep/cluster/pki"
	"github.com/lockstep-ft/lockstep/cluster/witness"
)

// Transport is the part of heartbeat.Transport the runner uses.
type Transport interface {
	Received() <-chan heartbeat.Received
	Send(link string, hb membership.Heartbeat) error
}

// SystemIP holds the system IP on an interface (sysip.Manager).
type SystemIP interface {
	Acquire(ctx context.Context, ifname string, p netip.Prefix) error
	Release(ifname string, p netip.Prefix) error
}

// Witness asks one witness (witness.Client).
type Witness interface {
	Do(ctx context.Context, req witness.Request) (witness.Reply, error)
}

// Kind of a notable event.
type Kind string

const (
	PeerLost      Kind = "peer-lost"
	PeerJoined    Kind = "peer-joined"
	BecamePrimary Kind = "primary"
	SteppedDown   Kind = "stepped-down"
	AlertRaised   Kind = "alert"
	TakeOver      Kind = "take-over"
	Release       Kind = "release"
)

// Event is something the agent shows on the console, logs or keeps as an
// alert.
type Event struct {
	Time   time.Time
	Kind   Kind
	Detail string
	Alert  *membership.Alert // for AlertRaised
	// Resources to start (TakeOver) or stop (Release) on this node.
	Resources []string
}

// Options configure a Runner.
type Options struct {
	Config    membership.Config
	Transport Transport
	// Witnesses by the names in Config.Witnesses.
	Witnesses map[string]Witness
	// SystemIP is the system IP as a /32 and Interface where it goes (ibiz0).
	SystemIP  netip.Prefix
	Interface string
	IP        SystemIP
	// StatePath keeps the incarnation and the term across restarts.
	StatePath string
	Now       func() time.Time
	Logf      func(format string, args ...any)
	// Notify receives notable events; it must not block for long.
	Notify func(Event)
}

// Runner is one node's membership at run time.
type Runner struct {
	o Options
	m *membership.Machine

	mu      sync.Mutex
	status  membership.Status
	primary bool
	since   time.Time // of the current role

	replies chan membership.WitnessReply
	ip      *ipWorker
	// owned is the latest SetResources not yet given to the machine.
	owned chan []string
}

// persisted is StatePath's content.
type persisted struct {
	Incarnation uint64 `json:"incarnation"`
	Term        uint64 `json:"term"`
}

// New checks o and makes the machine; Run starts it.
func New(o Options) (*Runner, error) {
	if o.Transport == nil || o.IP == nil || o.StatePath == "" || o.Interface == "" {
		return nil, errors.New("member: Transport, IP, StatePath and Interface are required")
	}
	for _, w := range o.Config.Witnesses {
		if o.Witnesses[w] == nil {
			return nil, fmt.Errorf("member: witness %s has no client", w)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Notify == nil {
		o.Notify = func(Event) {}
	}
	m, err := membership.New(o.Config)
	if err != nil {
		return nil, err
	}
	r := &Runner{o: o, m: m, replies: make(chan membership.WitnessReply, 16), owned: make(chan []string, 1)}
	r.status = m.Status()
	return r, nil
}

// Status is the machine's latest snapshot.
func (r *Runner) Status() membership.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Links = slices.Clone(s.Links)
	return s
}

// SetResources tells the machine what this node runs now (VMs, after the
// agent started or stopped one); only the latest call counts.
func (r *Runner) SetResources(owned []string) {
	owned = slices.Clone(owned)
	for {
		select {
		case r.owned <- owned:
			return
		default:
		}
		select {
		case <-r.owned: // superseded
		default:
		}
	}
}

// Primary reports whether this node holds the primary role, and since when.
func (r *Runner) Primary() (bool, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.primary, r.since
}

// Run starts the machine and drives it until ctx ends; then it stops the
// node gracefully (a last heartbeat hands everything to the peer, the
// system IP goes).
func (r *Runner) Run(ctx context.Context) error {
	st, err := r.load()
	if err != nil {
		return err
	}
	// The incarnation must exceed every earlier one of this node id, also
	// those of the board this one replaced, whose counter went with its
	// STATE (the peer ignores heartbeats of an older incarnation): the clock
	// in milliseconds gives that, the counter covers a clock set back.
	st.Incarnation = max(st.Incarnation+1, uint64(r.o.Now().UnixMilli()))
	if err := r.save(st); err != nil {
		return fmt.Errorf("member: %w", err)
	}
	r.ip = newIPWorker(r.o.IP, r.o.Interface, r.o.SystemIP, r.o.Logf)
	defer r.ip.close()
	// A restarted agent (not a rebooted node) may find the address it held
	// before: only the machine may say this node holds it.
	if err := r.o.IP.Release(r.o.Interface, r.o.SystemIP); err != nil {
		r.o.Logf("member: %v", err)
	}
	r.o.Logf("member: starting node%d incarnation %d term %d, links %v, %d witnesses",
		r.o.Config.Self, st.Incarnation, st.Term, r.o.Config.Links, len(r.o.Config.Witnesses))
	r.step(ctx, membership.Start{Incarnation: st.Incarnation, Term: st.Term})

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next := r.m.Next()
		d := next.Sub(r.o.Now())
		if next.IsZero() || d > time.Second {
			d = time.Second
		}
		timer.Reset(max(d, 0))
		select {
		case <-ctx.Done():
			r.step(context.Background(), membership.Stop{})
			r.ip.set(false)
			return nil
		case rec, ok := <-r.o.Transport.Received():
			if !ok {
				return errors.New("member: heartbeat transport closed")
			}
			r.step(ctx, rec.Event())
		case rep := <-r.replies:
			r.step(ctx, rep)
		case owned := <-r.owned:
			r.step(ctx, membership.SetResources{Owned: owned})
		case <-timer.C:
			r.step(ctx, membership.Tick{})
		}
	}
}

func (r *Runner) step(ctx context.Context, ev membership.Event) {
	now := r.o.Now()
	acts := r.m.Step(now, ev)
	for _, a := range acts {
		r.do(ctx, now, a)
	}
	r.mu.Lock()
	r.status = r.m.Status()
	r.mu.Unlock()
}

func (r *Runner) do(ctx context.Context, now time.Time, a membership.Action) {
	switch a := a.(type) {
	case membership.SendHeartbeat:
		// A link whose cable is out fails to send: the machine learns
		// that from the silence, the log would only fill.
		_ = r.o.Transport.Send(a.Link, a.Heartbeat)
	case membership.AskWitness:
		w := r.o.Witnesses[a.Witness]
		go func() {
			wctx, cancel := context.WithTimeout(ctx, r.o.Config.WithDefaults().WitnessTimeout)
			defer cancel()
			rep, err := w.Do(wctx, a.Request)
			out := membership.WitnessReply{Witness: a.Witness, ID: a.ID, Reply: rep, NoAnswer: err != nil}
			select {
			case r.replies <- out:
			case <-ctx.Done():
			}
		}()
	case membership.BecomePrimary:
		r.setPrimary(true, now)
		r.ip.set(true)
		r.event(now, BecamePrimary, fmt.Sprintf("term %d: %s", a.Term, a.Reason), nil)
	case membership.StepDown:
		r.setPrimary(false, now)
		r.ip.set(false)
		r.event(now, SteppedDown, fmt.Sprintf("term %d: %s", a.Term, a.Reason), nil)
	case membership.TakeOver:
		r.resEvent(now, TakeOver, fmt.Sprintf("%v (from peer %v): %s", a.Resources, a.FromPeer, a.Reason), a.Resources)
	case membership.Release:
		r.resEvent(now, Release, fmt.Sprintf("%v: %s", a.Resources, a.Reason), a.Resources)
	case membership.PeerLost:
		r.event(now, PeerLost, "heard on no link", nil)
	case membership.PeerJoined:
		d := fmt.Sprintf("incarnation %d", a.Incarnation)
		if a.Restarted {
			d += ", restarted"
		}
		r.event(now, PeerJoined, d, nil)
	case membership.SaveTerm:
		st, err := r.load()
		if err == nil {
			st.Term = a.Term
			err = r.save(st)
		}
		if err != nil {
			r.o.Logf("member: saving term %d: %v", a.Term, err)
		}
	case membership.LinkReport:
		// The status snapshot carries the links.
	case membership.Alert:
		al := a
		r.event(now, AlertRaised, al.String(), &al)
	}
}

func (r *Runner) setPrimary(p bool, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.primary != p {
		r.primary, r.since = p, now
	}
}

func (r *Runner) event(now time.Time, k Kind, detail string, al *membership.Alert) {
	r.o.Logf("member: %s: %s", k, detail)
	r.o.Notify(Event{Time: now, Kind: k, Detail: detail, Alert: al})
}

func (r *Runner) resEvent(now time.Time, k Kind, detail string, res []string) {
	r.o.Logf("member: %s: %s", k, detail)
	r.o.Notify(Event{Time: now, Kind: k, Detail: detail, Resources: slices.Clone(res)})
}

func (r *Runner) load() (persisted, error) {
	var p persisted
	b, err := os.ReadFile(r.o.StatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("member: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("member: %s: %w", r.o.StatePath, err)
	}
	return p, nil
}

func (r *Runner) save(p persisted) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(r.o.StatePath, append(b, '\n'), 0o600)
}
