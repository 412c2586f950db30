package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
)

var commands []*command

func init() {
	commands = slices.Concat([]*command{
		{name: "system info", summary: "show the system: id, name, system IP, version, primary node, state",
			run: getAndShow("/api/v1/system", func(c *cli, b []byte) error { return decodeShow(c, b, showSystem) })},
		{name: "node list", summary: "list the nodes with their role, state, links and boot slot",
			run: getAndShow("/api/v1/nodes", func(c *cli, b []byte) error { return decodeShow(c, b, showNodes) })},
		{name: "node info", args: "<node>", nargs: 1, summary: "show one node, with the state of each link to its peer",
			run: nodeInfo},
		nodeAction("workon", "put a node into maintenance: its VMs move to the peer",
			"The command returns once the node has taken the request; 'node info' shows\nwhen the node is in maintenance."),
		nodeAction("workoff", "bring a node back from maintenance", ""),
		nodeAction("shutdown", "shut a node down", "For a UPS script: run it for each node, the secondary first."),
		nodeAction("reboot", "reboot a node", ""),
		{name: "node linktest", args: "<node>", nargs: 1, summary: "measure the replication link (first A-Link) from a node to its peer",
			help: "The node sends 256 MiB (or for 5 seconds) to its peer over plain TCP on the\nreplication link, as DRBD's mirroring and resync do.",
			run:  linkTest},
	}, vmCommands(), storageCommands(), networkCommands(), vcdCommands(), []*command{
		{name: "alert list", summary: "list the alert history, newest first",
			help:  "--since takes a time (2026-03-01T12:00:00Z, 2026-03-01 12:00, 2026-03-01)\nor an age (90m, 24h, 7d).",
			flags: alertFlags, run: alertList},
	}, alertCommands(), userCommands(), []*command{
		{name: "login", summary: "log in and remember the session for this server (~/.config/lockstep/token)",
			help: "The session ends after the server's idle time (30 minutes by default).\nThe system CA that verified the server is remembered with it, so later\ncommands need neither --ca-file nor --fingerprint.",
			run:  login},
		{name: "logout", summary: "end the remembered session for this server", run: logout},
		{name: "version", summary: "show the CLI's version", run: showVersion},
	})
}

// getAndShow is a command that GETs path and shows the answer.
func getAndShow(path string, show func(*cli, []byte) error) func(context.Context, *cli, []string) error {
	return func(ctx context.Context, c *cli, _ []string) error {
		if err := c.connect(); err != nil {
			return err
		}
		b, err := c.call(ctx, "GET", path, nil, nil)
		if err != nil {
			return err
		}
		return show(c, b)
	}
}

// decodeShow prints b as it came with --json, else decodes it for show.
func decodeShow[T any](c *cli, b []byte, show func(*cli, T) error) error {
	if c.g.json {
		_, err := c.stdout.Write(b)
		return err
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%s: unexpected answer: %w", c.server, err)
	}
	return show(c, v)
}

// nodePath is the API path of a node; the server resolves ids, numbers and
// host names alike and names the nodes there are if none matches.
func nodePath(ref string) string { return "/api/v1/nodes/" + url.PathEscape(ref) }

func nodeInfo(ctx context.Context, c *cli, args []string) error {
	return getAndShow(nodePath(args[0]), func(c *cli, b []byte) error { return decodeShow(c, b, showNode) })(ctx, c, args)
}

func nodeAction(verb, summary, help string) *command {
	return &command{name: "node " + verb, args: "<node>", nargs: 1, summary: summary, help: help,
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := c.connect(); err != nil {
				return err
			}
			b, err := c.call(ctx, "POST", nodePath(args[0])+"/"+verb, nil, nil)
			if err != nil {
				return err
			}
			return decodeShow(c, b, func(c *cli, r api.ActionResult) error {
				_, err := fmt.Fprintf(c.stdout, "%s: %s %s\n", r.Node, r.Action, r.Status)
				return err
			})
		}}
}

func alertFlags(fs *flag.FlagSet, c *cli) {
	fs.StringVar(&c.since, "since", "", "only alerts raised since `time` or within the last age")
	fs.IntVar(&c.limit, "limit", api.DefaultAlertLimit, "show at most `n` alerts")
}

func alertList(ctx context.Context, c *cli, _ []string) error {
	q, err := c.listQuery()
	if err != nil {
		return err
	}
	if err := c.connect(); err != nil {
		return err
	}
	b, err := c.call(ctx, "GET", "/api/v1/alerts", q, nil)
	if err != nil {
		return err
	}
	return decodeShow(c, b, showAlerts)
}

// listQuery is the query of a history list (alerts, audit records) from
// --limit and --since.
func (c *cli) listQuery() (url.Values, error) {
	q := url.Values{}
	if c.limit < 1 || c.limit > api.MaxAlertLimit {
		return nil, usagef("--limit %d: use 1 to %d", c.limit, api.MaxAlertLimit)
	}
	q.Set("limit", strconv.Itoa(c.limit))
	if c.since != "" {
		t, err := parseSince(c.since, c.now(), c.loc)
		if err != nil {
			return nil, &usageError{err.Error()}
		}
		q.Set("since", t.UTC().Format(time.RFC3339))
	}
	return q, nil
}

// parseSince reads --since: an absolute time (RFC 3339, or a date and
// time in loc) or an age before now ("90m", "24h", "7d").
func parseSince(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want a time (2026-03-01T12:00:00Z, 2026-03-01 12:00, 2026-03-01) or an age (90m, 24h, 7d)", s)
}

func login(ctx context.Context, c *cli, _ []string) error {
	if err := c.connect(); err != nil {
		return err
	}
	if err := c.login(ctx); err != nil {
		return err
	}
	if c.g.json {
		return printJSON(c, map[string]string{"server": c.server, "user": c.g.user})
	}
	_, err := fmt.Fprintf(c.stdout, "Logged in to %s as %s.\n", c.server, c.g.user)
	return err
}

func logout(ctx context.Context, c *cli, _ []string) error {
	if err := c.connect(); err != nil {
		return err
	}
	if c.sess.Token == "" {
		_, err := fmt.Fprintf(c.stdout, "Not logged in to %s.\n", c.server)
		return err
	}
	// Ending the session on the server is a courtesy: forgetting the
	// token here is what matters, so a failure is only reported.
	if resp, b, err := c.send(ctx, "POST", "/api/v1/logout", nil, nil, authToken); err != nil {
		fmt.Fprintf(c.stderr, "lockstep: warning: %v\n", err)
	} else if resp.StatusCode/100 != 2 && resp.StatusCode != 401 {
		fmt.Fprintf(c.stderr, "lockstep: warning: %v\n", answerError(resp, b))
	}
	c.forget()
	_, err := fmt.Fprintf(c.stdout, "Logged out of %s.\n", c.server)
	return err
}

func showVersion(_ context.Context, c *cli, _ []string) error {
	if c.g.json {
		return printJSON(c, map[string]string{"version": version})
	}
	_, err := fmt.Fprintf(c.stdout, "lockstep %s\n", version)
	return err
}

// printJSON prints what the CLI itself answers in the server's style.
func printJSON(c *cli, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = c.stdout.Write(append(b, '\n'))
	return err
}

func linkTest(ctx context.Context, c *cli, args []string) error {
	if err := c.connect(); err != nil {
		return err
	}
	b, err := c.call(ctx, "POST", nodePath(args[0])+"/linktest", nil, nil)
	if err != nil {
		return err
	}
	return decodeShow(c, b, func(c *cli, r api.LinkTest) error {
		_, err := fmt.Fprintf(c.stdout, "%s -> %s over %s: %.1f MiB/s (%d MiB in %.2f s)\n", r.Node, r.Peer, r.Link, r.MiBPerS, r.Bytes>>20, r.Seconds)
		return err
	})
}
