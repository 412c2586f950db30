package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// globals are the flags every command takes, before or after its name.
type globals struct {
	server, user, passwordFile, caFile, fingerprint string
	insecure, json                                  bool
}

func newGlobals() *globals { return &globals{user: "admin"} }

// fromEnv fills in what the flags left unset. The environment's way to
// verify the server applies only if no flag gave one, so that a flag
// overrides it instead of conflicting with it.
func (g *globals) fromEnv(getenv func(string) string) {
	if g.server == "" {
		g.server = getenv("LOCKSTEP_SERVER")
	}
	if g.caFile == "" && g.fingerprint == "" && !g.insecure {
		g.caFile, g.fingerprint = getenv("LOCKSTEP_CA_FILE"), getenv("LOCKSTEP_FINGERPRINT")
	}
}

// register adds the global flags to fs. Each default is the current value,
// so registering them on the command's flag set keeps what the flags
// before the command set.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.server, "server", g.server, "system `host[:port]` (port 8443 if omitted; default $LOCKSTEP_SERVER)")
	fs.StringVar(&g.user, "user", g.user, "user `name`")
	fs.StringVar(&g.passwordFile, "password-file", g.passwordFile, "read the password from the first line of `file` (else $LOCKSTEP_PASSWORD, else a prompt)")
	fs.StringVar(&g.caFile, "ca-file", g.caFile, "verify the server with the system CA certificate in PEM `file` (default $LOCKSTEP_CA_FILE)")
	fs.StringVar(&g.fingerprint, "fingerprint", g.fingerprint, "verify the server by the system CA's SHA-256 `fingerprint` in hex (default $LOCKSTEP_FINGERPRINT)")
	fs.BoolVar(&g.insecure, "insecure", g.insecure, "do not verify the server's certificate (not for production)")
	fs.BoolVar(&g.json, "json", g.json, "print the server's JSON instead of a table")
}

// command is one verb of the CLI.
type command struct {
	name    string // words, "node info"
	args    string // "<node>"
	nargs   int    // -1: none or one
	summary string
	help    string
	flags   func(*flag.FlagSet, *cli)
	run     func(context.Context, *cli, []string) error
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed by dispatch
	fs.Usage = func() {}
	return fs
}

func dispatch(ctx context.Context, args []string, e env) error {
	g := newGlobals()
	root := newFlagSet("lockstep")
	g.register(root)
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(e.stdout, root)
			return err
		}
		return usagef("%v", err)
	}
	rest := root.Args()
	if len(rest) == 0 {
		usage(e.stderr, root)
		return usagef("no command given")
	}
	if rest[0] == "help" {
		return help(e, root, rest[1:])
	}
	cmd, err := lookup(rest)
	if err != nil {
		return err
	}
	c := &cli{env: e, g: g}
	fs := newFlagSet("lockstep " + cmd.name)
	g.register(fs)
	if cmd.flags != nil {
		cmd.flags(fs, c)
	}
	pos, err := parseInterleaved(fs, rest[len(strings.Fields(cmd.name)):])
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(e.stdout, cmd, fs)
		return err
	}
	if err != nil {
		return usagef("%s: %v", cmd.name, err)
	}
	if cmd.nargs >= 0 && len(pos) != cmd.nargs || cmd.nargs < 0 && len(pos) > 1 {
		return usagef("usage: %s", synopsis(cmd))
	}
	g.fromEnv(e.getenv)
	return cmd.run(ctx, c, pos)
}

// lookup finds the command named by the first words of args.
func lookup(args []string) (*command, error) {
	for _, c := range commands {
		w := strings.Fields(c.name)
		if len(args) >= len(w) && slices.Equal(args[:len(w)], w) {
			return c, nil
		}
	}
	var subs []string
	for _, c := range commands {
		if g, sub, ok := strings.Cut(c.name, " "); ok && g == args[0] {
			subs = append(subs, sub)
		}
	}
	if len(subs) > 0 {
		if len(args) == 1 {
			return nil, usagef("%s: which one? %s", args[0], strings.Join(subs, ", "))
		}
		return nil, usagef("%s: unknown command %q; the commands are %s", args[0], args[1], strings.Join(subs, ", "))
	}
	return nil, usagef("unknown command %q", args[0])
}

// parseInterleaved parses flags wherever they are among the positional
// arguments ("node info node1 --json"), which the flag package alone does
// not; after "--" everything is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		used := len(args) - fs.NArg()
		rest := fs.Args()
		if used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

const intro = `usage: lockstep [flags] <command> [args]

Manages a Lockstep system through its HTTPS API.

Commands:
`

const outro = `
<node> is node0, node1, 0, 1 or a node's host name; <vm> is a VM's name,
<group> a storage group's, <network> a business network's, <vcd> a VCD's (a
virtual CD: an ISO image kept on both nodes).
Flags go before or after the command. The server's certificate is checked
with --ca-file or --fingerprint; after "lockstep login" the CA is remembered
with the session (in ~/.config/lockstep/token).

Exit status: 0 success, 1 error, 2 usage error.

Flags:
`

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, intro)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(tw, "  help [command]\tshow this help, or a command's\n")
	tw.Flush()
	fmt.Fprint(w, outro)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

func commandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s.\n", synopsis(c), strings.ToUpper(c.summary[:1])+c.summary[1:])
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", c.help)
	}
	fmt.Fprint(w, "\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

func synopsis(c *command) string {
	return strings.TrimSpace("lockstep " + c.name + " [flags] " + c.args)
}

// help is "lockstep help [command words]".
func help(e env, root *flag.FlagSet, args []string) error {
	if len(args) == 0 {
		usage(e.stdout, root)
		return nil
	}
	c, err := lookup(args)
	if err != nil {
		return err
	}
	fs := newFlagSet("lockstep " + c.name)
	newGlobals().register(fs)
	if c.flags != nil {
		c.flags(fs, &cli{})
	}
	commandUsage(e.stdout, c, fs)
	return nil
}
