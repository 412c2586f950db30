package membership

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults (SPEC A2, issue 5: detection of a dead peer within 1 s).
const (
	DefaultHeartbeatInterval = 200 * time.Millisecond
	DefaultPeerTimeout       = time.Second
	DefaultWitnessTimeout    = 300 * time.Millisecond
	DefaultWitnessLease      = 3 * time.Second
	DefaultRetryInterval     = time.Second
	DefaultProbeInterval     = 5 * time.Second
	DefaultFlapWindow        = 10 * time.Second
	DefaultFlapThreshold     = 4
)

// MaxWitnesses is the largest number of witnesses a system may use.
const MaxWitnesses = 2

// Config is one node's membership configuration. Zero durations take the
// defaults above (see WithDefaults).
type Config struct {
	// SystemID names the pair; heartbeats and votes of other systems are ignored.
	SystemID string
	// Self is this node.
	Self NodeID
	// Links are the links heartbeats travel on: priv0 and every A-Link.
	Links []string
	// Witnesses are the witnesses' names (their addresses); 0, 1 or 2.
	Witnesses []string

	// HeartbeatInterval is how often a heartbeat is sent on every link.
	HeartbeatInterval time.Duration
	// PeerTimeout is the silence after which a link is down; the peer is
	// lost when every link is down, i.e. silent for PeerTimeout.
	PeerTimeout time.Duration
	// WitnessTimeout is how long a witness answer is awaited.
	WitnessTimeout time.Duration
	// WitnessLease is the lease asked for in a vote; it is renewed every
	// third of it while the peer stays out of sight.
	WitnessLease time.Duration
	// RetryInterval is how often a node without the vote asks again.
	RetryInterval time.Duration
	// ProbeInterval is how often witnesses are probed in normal operation,
	// so that a dead witness is reported before it is needed.
	ProbeInterval time.Duration
	// A link that changes state FlapThreshold times within FlapWindow is
	// flapping: its up/down alerts are replaced by one flapping alert until
	// it has been stable for FlapWindow.
	FlapWindow    time.Duration
	FlapThreshold int
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&c.PeerTimeout, DefaultPeerTimeout)
	def(&c.WitnessTimeout, DefaultWitnessTimeout)
	def(&c.WitnessLease, DefaultWitnessLease)
	def(&c.RetryInterval, DefaultRetryInterval)
	def(&c.ProbeInterval, DefaultProbeInterval)
	def(&c.FlapWindow, DefaultFlapWindow)
	if c.FlapThreshold == 0 {
		c.FlapThreshold = DefaultFlapThreshold
	}
	return c
}

// Validate reports every problem of c (after defaults), one per line.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.SystemID == "":
		bad("system id is empty")
	case len(c.SystemID) > 128 || strings.ContainsFunc(c.SystemID, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		bad("system id %q must be at most 128 printable characters without spaces", c.SystemID)
	}
	if c.Self != Node0 && c.Self != Node1 {
		bad("self is node%d; a system has only node0 and node1", c.Self)
	}
	if len(c.Links) == 0 {
		bad("no links: heartbeats need priv0 and the A-Links")
	}
	names("link", c.Links, &errs)
	if len(c.Witnesses) > MaxWitnesses {
		bad("%d witnesses configured; 0, 1 or 2 are supported", len(c.Witnesses))
	}
	names("witness", c.Witnesses, &errs)
	positive := func(name string, d time.Duration) bool {
		if d <= 0 {
			bad("%s is %v; it must be positive", name, d)
			return false
		}
		return true
	}
	hb := positive("heartbeat interval", c.HeartbeatInterval)
	if positive("peer timeout", c.PeerTimeout) && hb && c.PeerTimeout < 2*c.HeartbeatInterval {
		bad("peer timeout %v is shorter than two heartbeat intervals (2×%v): one late heartbeat would declare the peer lost", c.PeerTimeout, c.HeartbeatInterval)
	}
	wt := positive("witness timeout", c.WitnessTimeout)
	if positive("witness lease", c.WitnessLease) && wt && c.WitnessLease < 4*c.WitnessTimeout {
		bad("witness lease %v is shorter than four witness timeouts (4×%v): a renewal sent every third of the lease could not come back before the lease ends", c.WitnessLease, c.WitnessTimeout)
	}
	if positive("retry interval", c.RetryInterval) && wt && c.RetryInterval < c.WitnessTimeout {
		bad("retry interval %v is shorter than the witness timeout %v", c.RetryInterval, c.WitnessTimeout)
	}
	if positive("probe interval", c.ProbeInterval) && wt && c.ProbeInterval < c.WitnessTimeout {
		bad("probe interval %v is shorter than the witness timeout %v", c.ProbeInterval, c.WitnessTimeout)
	}
	if positive("flap window", c.FlapWindow) && c.FlapWindow < c.PeerTimeout {
		bad("flap window %v is shorter than the peer timeout %v", c.FlapWindow, c.PeerTimeout)
	}
	if c.FlapThreshold < 2 {
		bad("flap threshold %d: at least 2 state changes are needed to call a link flapping", c.FlapThreshold)
	}
	return errors.Join(errs...)
}

func names(kind string, list []string, errs *[]error) {
	seen := map[string]bool{}
	for i, n := range list {
		switch {
		case n == "":
			*errs = append(*errs, fmt.Errorf("%s %d has an empty name", kind, i+1))
		case strings.ContainsFunc(n, func(r rune) bool { return r <= ' ' }):
			*errs = append(*errs, fmt.Errorf("%s %q: names cannot contain spaces", kind, n))
		case seen[n]:
			*errs = append(*errs, fmt.Errorf("%s %q is listed twice", kind, n))
		}
		seen[n] = true
	}
}

// detectionSkew bounds how much later than one node the other may find the
// two disconnected (rule L3 of the package comment): a node keeps saying it
// hears its peer until it declares the peer lost, so the peer may go on
// hearing that for a heartbeat's latency after, and then needs PeerTimeout
// of silence to notice. Latency stays below one interval.
func (c Config) detectionSkew() time.Duration {
	return c.PeerTimeout + c.HeartbeatInterval
}

// ChallengeDelay is how long after losing the peer a node that is not the
// primary waits before it asks the witnesses (or, without witnesses, before
// node0 claims the system). It must outlast the incumbent primary's own
// attempt (WitnessTimeout) after the incumbent's own detection, which may
// come detectionSkew after ours. node1 waits one interval longer, so that a
// race between two challengers — both nodes started without seeing each
// other — goes to node0.
func (c Config) ChallengeDelay(n NodeID) time.Duration {
	d := c.WitnessTimeout + c.detectionSkew()
	if n == Node1 {
		d += c.HeartbeatInterval
	}
	return d
}

// TakeoverDelay is how long after losing the peer a winner waits before it
// starts the peer's resources: by then the peer, had it lost, has stopped
// them (a loser stops at the latest ChallengeDelay+WitnessTimeout after its
// own detection, which may come detectionSkew after ours).
func (c Config) TakeoverDelay() time.Duration {
	return c.ChallengeDelay(Node1) + c.WitnessTimeout + c.detectionSkew()
}

// unseenGrace is how long, without witnesses, node1 must keep seeing node0
// report it lost before it stops its resources (one heartbeat round trip
// of a healing link is not a verdict).
func (c Config) unseenGrace() time.Duration { return 2 * c.HeartbeatInterval }
