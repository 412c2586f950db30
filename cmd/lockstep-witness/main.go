// Command lockstep-witness is the optional quorum witness of Lockstep
// systems (SPEC A2): run it on a third machine that both nodes reach over a
// path independent of their direct links. When the two nodes of a system
// cannot see each other, each asks the witness for its vote; the witness
// gives the system to at most one node per term, for a lease the winner
// renews (package cluster/witness has the rules). One witness can serve
// many systems that share its secret.
//
//	lockstep-witness -secret-file /etc/lockstep/witness.secret -state /var/lib/lockstep-witness/state.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/witness"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr, nil))
}

type options struct {
	listen     string
	secretFile string
	state      string
	maxLease   time.Duration
	maxSkew    time.Duration
	verbose    bool
}

const usageText = `usage: lockstep-witness -secret-file FILE [flags]

Answers the vote requests of Lockstep nodes that cannot see their peer, so
that only one node of a system takes it over. Requests are authenticated
with the shared secret (HMAC-SHA256, timestamped, replays refused). Every
grant and refusal is logged.

Run it with -state: without a state file a restarted witness refuses every
vote for -max-lease, since it cannot know which lease it granted before.

flags:
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(net.Addr)) int {
	fs := flag.NewFlagSet("lockstep-witness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.listen, "listen", ":7500", "UDP `address` to listen on")
	fs.StringVar(&o.secretFile, "secret-file", "", "`file` holding the shared secret (at least 16 bytes; required)")
	fs.StringVar(&o.state, "state", "", "state `file` recording grants across restarts (recommended)")
	fs.DurationVar(&o.maxLease, "max-lease", 30*time.Second, "longest lease granted; also the quarantine after a restart without state")
	fs.DurationVar(&o.maxSkew, "max-skew", witness.DefaultMaxSkew, "largest accepted difference between a request's timestamp and this clock")
	fs.BoolVar(&o.verbose, "v", false, "also log probes")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stderr, version)
		return 0
	}
	logger := log.New(stderr, "lockstep-witness: ", log.LstdFlags)
	if err := o.check(fs.Args()); err != nil {
		logger.Print(err)
		fmt.Fprintln(stderr, "run lockstep-witness -h for help")
		return 2
	}
	if err := serve(ctx, o, logger, ready); err != nil {
		logger.Print(err)
		return 1
	}
	return 0
}

func (o options) check(rest []string) error {
	var errs []error
	if len(rest) > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", rest))
	}
	if o.secretFile == "" {
		errs = append(errs, errors.New("-secret-file is required"))
	}
	if o.maxLease <= 0 {
		errs = append(errs, fmt.Errorf("-max-lease %v must be positive", o.maxLease))
	}
	if o.maxSkew <= 0 {
		errs = append(errs, fmt.Errorf("-max-skew %v must be positive", o.maxSkew))
	}
	return errors.Join(errs...)
}

func serve(ctx context.Context, o options, logger *log.Logger, ready func(net.Addr)) error {
	secret, err := readSecret(o.secretFile, logger)
	if err != nil {
		return err
	}
	ledger, err := openLedger(o, logger)
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	context.AfterFunc(ctx, func() { pc.Close() })
	srv := &witness.Server{
		Ledger: ledger, Secret: secret, MaxSkew: o.maxSkew,
		OnDecision: func(d witness.Decision) { logDecision(logger, d, o.verbose) },
		OnDrop:     newDropLogger(logger).log,
	}
	logger.Printf("version %s listening on %s (udp)", version, pc.LocalAddr())
	if ready != nil {
		ready(pc.LocalAddr())
	}
	err = srv.Serve(pc)
	logger.Print("stopped")
	return err
}

// readSecret reads the shared secret; surrounding white space (a trailing
// newline from echo or an editor) is not part of it.
func readSecret(path string, logger *log.Logger) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	secret := []byte(strings.TrimSpace(string(b)))
	if len(secret) < witness.MinSecret {
		return nil, fmt.Errorf("secret file %s holds %d bytes, need at least %d (make one with: head -c 32 /dev/urandom | base64 > %s)",
			path, len(secret), witness.MinSecret, path)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Printf("warning: secret file %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	return secret, nil
}

// openLedger loads the state file; without a recorded state the ledger is
// quarantined for one maximum lease (rule 3 of package witness).
func openLedger(o options, logger *log.Logger) (*witness.Ledger, error) {
	var st witness.State
	var store witness.Store
	found := false
	if o.state != "" {
		fs := witness.FileStore{Path: o.state}
		var err error
		if st, found, err = fs.Load(); err != nil {
			return nil, err
		}
		if err := fs.Save(st); err != nil { // fail now, not at the first vote
			return nil, fmt.Errorf("state file is not writable: %w", err)
		}
		store = fs
	}
	l := witness.NewLedger(o.maxLease, st, store)
	switch {
	case found:
		logger.Printf("state loaded from %s (%d systems)", o.state, len(st.Records))
	default:
		until := time.Now().Add(o.maxLease)
		l.QuarantineUntil(until)
		why := "no -state file"
		if o.state != "" {
			why = "no state in " + o.state
		}
		logger.Printf("%s: refusing all votes until %s (one -max-lease), since leases granted before a restart are unknown", why, until.Format(time.TimeOnly))
	}
	return l, nil
}

func logDecision(logger *log.Logger, d witness.Decision, verbose bool) {
	r, rep := d.Request, d.Reply
	who := fmt.Sprintf("system %s %s", r.System, witness.NodeName(r.Node))
	switch {
	case r.Kind == witness.KindVote && rep.Result == witness.Granted:
		logger.Printf("granted %s term %d, lease %v (from %v)", who, rep.Term, rep.Lease, d.From)
	case r.Kind == witness.KindVote:
		detail := string(rep.Reason)
		if rep.Held {
			detail += fmt.Sprintf(", held by %s", witness.NodeName(rep.Holder))
		}
		logger.Printf("refused %s term %d: %s (witness term %d, from %v)", who, r.Term, detail, rep.Term, d.From)
	case r.Kind == witness.KindRelease:
		logger.Printf("released by %s (term %d, from %v)", who, rep.Term, d.From)
	case verbose:
		logger.Printf("probe from %s (%v)", who, d.From)
	}
}

// dropLogger reports dropped datagrams at most once per 10 s, with a count,
// so that a flood of junk cannot flood the log.
type dropLogger struct {
	logger *log.Logger
	last   time.Time
	held   int
}

func newDropLogger(l *log.Logger) *dropLogger { return &dropLogger{logger: l} }

func (d *dropLogger) log(from net.Addr, err error) {
	d.held++
	if time.Since(d.last) < 10*time.Second {
		return
	}
	d.logger.Printf("dropped %d datagram(s); last from %v: %v", d.held, from, err)
	d.last, d.held = time.Now(), 0
}
