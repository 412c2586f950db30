// Command lockstep-lab runs the two-node lab (ci/lab): two QEMU node VMs
// installed from the built ISO, wired inside a network namespace of their
// own.
//
//	lockstep-lab up [-iso PATH] [-firmware seabios|ovmf] [-nic virtio|e1000] [-machine q35|pc] [-keep]
//	lockstep-lab down
//	lockstep-lab status [-json]
//	lockstep-lab power-off <node>
//	lockstep-lab power-on [-wait] <node>
//	lockstep-lab cut <link>          priv0, alink0, ibiz, biz, or <node>:<nic> (node0:ibiz0)
//	lockstep-lab restore <link>
//	lockstep-lab replace-disk [-disk system|data] <node>
//	lockstep-lab ping <node|address>
//	lockstep-lab exec <command…>     runs the command inside the lab's namespace
//	lockstep-lab cli [-server ADDR] <lockstep arguments…>
//	lockstep-lab rogue               a third machine on priv0 tries to join
//	lockstep-lab bench-failover [-runs N] [-peer NAME -peer-times MEDIAN,MAX]
//	lockstep-lab bench-ha [-runs N]
//
// Every command takes -state DIR first (default out/lab in the repository).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lockstep-ft/lockstep/ci/lab"
)

const usage = `usage: lockstep-lab [-state DIR] <command> [arguments]

commands:
  up [-iso PATH] [-firmware seabios|ovmf] [-nic virtio|e1000] [-machine q35|pc] [-keep]
                          install node0 (create) and node1 (replace, join) from the ISO, boot
                          them and wait until the system is formed
  down                    kill the lab's QEMUs, delete its namespace and its state directory
  status [-json]          nodes, power, readiness and links
  power-off <node>        cut the node's power (SIGKILL to its QEMU)
  power-on [-wait] <node> start the node from its disk (-wait: until its agent is ready)
  cut <link>              cut a link: priv0, alink0, ibiz, biz, or one port as node0:ibiz0
  restore <link>          put a cut link back
  replace-disk [-disk system|data] <node>
                          power the node off and give it an empty disk
  ping <node|address>     ICMP echo from the lab host namespace
  exec <command...>       run a command inside the lab's namespace (ip netns exec)
  cli [-server ADDR] <lockstep arguments...>
                          the lockstep CLI against the system IP (or ADDR), logged in
  rogue [-vm]             plug a third machine into priv0 and have it try to join
                          (-vm: a VM installing from the ISO on node0's priv0 port)
  bench-failover [-runs N]
                          cut the primary's power N times: peer-loss detection and
                          system IP move times (median, max)
  bench-ha [-runs N]      an HA VM of the test guest: its write latency and throughput
                          mirrored and with alink0 cut, the resync against the A-Link's
                          bandwidth, and N restarts after a power cut of its node
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lockstep-lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	stateDir := fs.String("state", "", "the lab's state directory (default: out/lab in the repository)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	cfg := lab.Config{
		RepoRoot: repoRoot(),
		StateDir: *stateDir,
		Logf: func(format string, a ...any) {
			fmt.Fprintf(stderr, "[%6s] %s\n", time.Since(start).Round(time.Second), fmt.Sprintf(format, a...))
		},
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "lockstep-lab %s: %v\n", cmd, err)
		return 1
	}
	oneNode := func(fs *flag.FlagSet) (string, bool) {
		if err := fs.Parse(rest); err != nil {
			return "", false
		}
		if fs.NArg() != 1 {
			fmt.Fprintf(stderr, "lockstep-lab %s: name one node (%s)\n", cmd, nodeNames())
			return "", false
		}
		return fs.Arg(0), true
	}
	sub := flag.NewFlagSet("lockstep-lab "+cmd, flag.ContinueOnError)
	sub.SetOutput(stderr)

	switch cmd {
	case "up":
		sub.StringVar(&cfg.ISO, "iso", "", "the installer ISO (default: the newest out/lockstep-*.iso)")
		sub.StringVar(&cfg.Firmware, "firmware", lab.SeaBIOS, "seabios or ovmf")
		sub.StringVar(&cfg.NICModel, "nic", "virtio", "the NIC model: virtio or e1000")
		sub.StringVar(&cfg.Machine, "machine", "q35", "the QEMU machine: q35 or pc")
		sub.BoolVar(&cfg.KeepOnFailure, "keep", false, "leave the VMs running when up fails")
		if err := sub.Parse(rest); err != nil || sub.NArg() != 0 {
			return 2
		}
		l, err := lab.New(cfg)
		if err != nil {
			return fail(err)
		}
		if err := l.Up(ctx); err != nil {
			return fail(err)
		}
		s, err := l.Status(ctx)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "\nThe lab is up after %v.\n", time.Since(start).Round(time.Second))
		s.WriteReach(stdout, l.Config().StateDir)
		return 0

	case "down":
		if len(rest) != 0 {
			return fail(errors.New("takes no arguments"))
		}
		l, err := lab.New(cfg)
		if err != nil {
			return fail(err)
		}
		if err := l.Down(ctx); err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, "the lab is down")
		return 0

	case "status":
		asJSON := sub.Bool("json", false, "print JSON")
		if err := sub.Parse(rest); err != nil || sub.NArg() != 0 {
			return 2
		}
		l, err := lab.New(cfg)
		if err != nil {
			return fail(err)
		}
		s, err := l.Status(ctx)
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			b, _ := json.MarshalIndent(s, "", "  ")
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			s.Write(stdout)
		}
		return 0

	case "power-off", "power-on", "replace-disk":
		wait := sub.Bool("wait", false, "power-on: wait until the node's agent is ready")
		disk := sub.String("disk", "system", "replace-disk: system or data")
		node, ok := oneNode(sub)
		if !ok {
			return 2
		}
		l, err := lab.New(cfg)
		if err != nil {
			return fail(err)
		}
		switch cmd {
		case "power-off":
			err = l.PowerOff(node)
		case "power-on":
			if err = l.PowerOn(node); err == nil && *wait {
				var line string
				if line, err = l.WaitReady(ctx, node, l.Config().BootTimeout); err == nil {
					fmt.Fprintln(stdout, line)
				}
			}
		case "replace-disk":
			err = l.ReplaceDisk(node, *disk)
		}
		if err != nil {
			return fail(err)
		}
		return 0

	case "cut", "restore":
		if len(rest) != 1 {
			return fail(errors.New("name one link: priv0, alink0, ibiz, biz, or <node>:<nic>"))
		}
		l, err := lab.New(cfg)
		if err != nil {
			return fail(err)
		}
		if cmd == "cut" {
			err = l.Cut(rest[0])
		} else {
			err = l.Restore(rest[0])
		}
		if err != nil {
			return fail(err)
		}
		return 0

	case "ping":
		if len(rest) != 1 {
			return fail(errors.New("name one node or address"))
		}
		addr, err := pingTarget(rest[0])
		if err != nil {
			return fail(err)
		}
		l, err := lab.New(cfg)
		if err != nil {
			return fail(err)
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		rtt, err := l.Ping(pctx, addr)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s answers in %v\n", addr, rtt.Round(10*time.Microsecond))
		return 0

	case "exec":
		if len(rest) > 0 && rest[0] == "--" {
			rest = rest[1:]
		}
		l, err := lab.New(cfg)
		if err != nil {
			return fail(err)
		}
		stop() // the command gets ^C itself
		code, err := l.Exec(context.Background(), rest, os.Stdin, stdout, stderr)
		if err != nil {
			return fail(err)
		}
		return code

	case "cli":
		// The lockstep CLI against the system, logged in as the administrator.
		server := ""
		if len(rest) > 1 && rest[0] == "-server" {
			server, rest = rest[1], rest[2:]
		}
		l, err := lab.New(cfg)
		if err != nil {
			return fail(err)
		}
		out, err := l.CLI(ctx, server, rest...)
		stdout.Write(out)
		if err != nil {
			return fail(err)
		}
		return 0

	case "rogue":
		vm := sub.Bool("vm", false, "a VM installed from the ISO on node0's priv0 port instead")
		if err := sub.Parse(rest); err != nil || sub.NArg() != 0 {
			return 2
		}
		l, err := lab.New(cfg)
		if err != nil {
			return fail(err)
		}
		rogue := l.Rogue
		if *vm {
			rogue = l.RogueVM
		}
		out, err := rogue(ctx)
		fmt.Fprint(stdout, out)
		if err != nil {
			return fail(err)
		}
		return 0

	case "bench-failover":
		runs := sub.Int("runs", 10, "power cuts to measure")
		peerName := sub.String("peer", "", "the peer measured in the same run, e.g. \"corosync 3.1.7\"")
		peerTimes := sub.String("peer-times", "", "its peer-loss median and max in seconds: MEDIAN,MAX")
		if err := sub.Parse(rest); err != nil || sub.NArg() != 0 {
			return 2
		}
		var peer *lab.PeerTimes
		if *peerName != "" {
			var m, x float64
			if _, err := fmt.Sscanf(*peerTimes, "%g,%g", &m, &x); err != nil {
				return fail(fmt.Errorf("-peer-times %q: want MEDIAN,MAX in seconds", *peerTimes))
			}
			peer = &lab.PeerTimes{Name: *peerName, Median: time.Duration(m * float64(time.Second)), Max: time.Duration(x * float64(time.Second))}
		}
		l, err := lab.New(cfg)
		if err != nil {
			return fail(err)
		}
		res, err := l.BenchFailover(ctx, *runs, cfg.Logf)
		lab.WriteFailoverReport(stdout, res, peer)
		if err != nil {
			return fail(err)
		}
		return 0

	case "bench-ha":
		runs := sub.Int("runs", 5, "power cuts of the VM's node to measure")
		if err := sub.Parse(rest); err != nil || sub.NArg() != 0 {
			return 2
		}
		l, err := lab.New(cfg)
		if err != nil {
			return fail(err)
		}
		res, err := l.BenchHA(ctx, *runs, cfg.Logf)
		lab.WriteHAReport(stdout, res)
		if err != nil {
			return fail(err)
		}
		return 0

	case "rogue-join": // inside the rogue's namespace (see lab.Rogue)
		iface := sub.String("iface", "", "the rogue's NIC")
		fp := sub.String("fingerprint", "", "the system CA fingerprint")
		if err := sub.Parse(rest); err != nil {
			return 2
		}
		if err := lab.RogueJoin(ctx, *iface, *fp, func(s string) { fmt.Fprintln(stdout, s) }); err != nil {
			return fail(err)
		}
		return 0

	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "lockstep-lab: unknown command %q\n", cmd)
	fs.Usage()
	return 2
}

func nodeNames() string {
	var s []string
	for _, n := range lab.Nodes {
		s = append(s, n.Name)
	}
	return strings.Join(s, ", ")
}

// pingTarget is a node's address or an IPv4 address.
func pingTarget(s string) (netip.Addr, error) {
	if n, err := lab.NodeByName(s); err == nil {
		return netip.MustParseAddr(n.Addr), nil
	}
	if s == "system" {
		return netip.MustParseAddr(lab.SystemIP), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fmt.Errorf("%q is neither a node (%s), \"system\", nor an address", s, nodeNames())
	}
	return a, nil
}

// repoRoot is the directory of this module's go.mod above the current
// directory, so that every command finds the same out/lab from anywhere in
// the tree; outside the tree it is the current directory.
func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := wd; ; d = filepath.Dir(d) {
		if f, err := os.Open(filepath.Join(d, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			mod := ""
			for sc.Scan() {
				if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
					mod = strings.TrimSpace(m)
					break
				}
			}
			f.Close()
			if mod == "github.com/lockstep-ft/lockstep" {
				return d
			}
		}
		if filepath.Dir(d) == d {
			return wd
		}
	}
}
