package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// userFlags are the flags of the user commands.
type userFlags struct {
	role   string
	pwFile string // --new-password-file
	yes    bool
}

const newPasswordHelp = "The new password is read from --new-password-file (its first line) or asked\ntwice on the terminal, never taken from the command line."

func userCommands() []*command {
	roles := strings.Join(api.UserRoles, ", ")
	return []*command{
		{name: "user list", summary: "list the API's users and their roles (administrators only)",
			run: getAndShow("/api/v1/users", func(c *cli, b []byte) error { return decodeShow(c, b, showUsers) })},
		{name: "user create", args: "<name>", nargs: 1, summary: "add a user with a role: " + roles,
			help: "read-only users look; platform managers also run the system (VMs, nodes,\nstorage, networks, VCDs, alerts); administrators also manage users and read\nthe audit log. " +
				newPasswordHelp + "\n\n  lockstep user create rita --role read-only",
			flags: func(fs *flag.FlagSet, c *cli) {
				fs.StringVar(&c.user.role, "role", "", "the user's `role`: "+roles)
				fs.StringVar(&c.user.pwFile, "new-password-file", "", "read the user's password from the first line of `file`")
			}, run: userCreate},
		{name: "user modify", args: "<name>", nargs: 1, summary: "change a user's role (administrators only)",
			flags: func(fs *flag.FlagSet, c *cli) {
				fs.StringVar(&c.user.role, "role", "", "the user's new `role`: "+roles)
			}, run: userModify},
		{name: "user passwd", args: "[name]", nargs: -1, summary: "change your own password, or (administrators) a user's",
			help: newPasswordHelp,
			flags: func(fs *flag.FlagSet, c *cli) {
				fs.StringVar(&c.user.pwFile, "new-password-file", "", "read the new password from the first line of `file`")
			}, run: userPasswd},
		{name: "user delete", args: "<name>", nargs: 1, summary: "delete a user (needs --yes); their sessions end at once",
			flags: func(fs *flag.FlagSet, c *cli) {
				fs.BoolVar(&c.user.yes, "yes", false, "really delete the user")
			}, run: userDelete},
		{name: "audit list", summary: "list the audit log of both nodes, newest first: every change, refused login and refused request",
			help:  "--since takes a time or an age, as alert list's does. Administrators only.",
			flags: alertFlags, run: auditList},
	}
}

func userPath(name string) string { return "/api/v1/users/" + url.PathEscape(name) }

// newPassword reads a new password from --new-password-file or asks twice.
func (c *cli) newPassword(who string) (string, error) {
	if f := c.user.pwFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		pw, _, _ := strings.Cut(string(b), "\n")
		if pw = strings.TrimRight(pw, "\r"); pw == "" {
			return "", fmt.Errorf("%s: no password in it", f)
		}
		return pw, nil
	}
	if c.readPassword == nil {
		return "", usagef("give --new-password-file, or run on a terminal to be asked")
	}
	pw, err := c.readPassword(fmt.Sprintf("New password for %s: ", who))
	if err != nil {
		return "", err
	}
	again, err := c.readPassword(fmt.Sprintf("New password for %s, again: ", who))
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", fmt.Errorf("the two passwords differ; nothing changed")
	}
	return pw, nil
}

func userCreate(ctx context.Context, c *cli, args []string) error {
	if c.user.role == "" {
		return usagef("user create: give --role (%s)", strings.Join(api.UserRoles, ", "))
	}
	if err := c.connect(); err != nil {
		return err
	}
	pw, err := c.newPassword(args[0])
	if err != nil {
		return err
	}
	return c.sendUser(ctx, "POST", "/api/v1/users", api.UserSpec{Name: args[0], Role: c.user.role, Password: &pw})
}

func userModify(ctx context.Context, c *cli, args []string) error {
	if c.user.role == "" {
		return usagef("user modify: nothing to change; give --role (a password: user passwd)")
	}
	if err := c.connect(); err != nil {
		return err
	}
	return c.sendUser(ctx, "PUT", userPath(args[0]), api.UserSpec{Role: c.user.role})
}

func userPasswd(ctx context.Context, c *cli, args []string) error {
	if err := c.connect(); err != nil {
		return err
	}
	name := c.g.user
	if len(args) == 1 {
		name = args[0]
	}
	pw, err := c.newPassword(name)
	if err != nil {
		return err
	}
	if _, err := c.call(ctx, "PUT", userPath(name), nil, api.UserSpec{Password: &pw}); err != nil {
		return err
	}
	if name == c.g.user {
		// The remembered session stays valid, but a script's password
		// (file or environment) is the old one now.
		c.pw = pw
	}
	if c.g.json {
		return printJSON(c, map[string]string{"user": name, "status": "password changed"})
	}
	_, err = fmt.Fprintf(c.stdout, "Password of %s changed.\n", name)
	return err
}

func userDelete(ctx context.Context, c *cli, args []string) error {
	if !c.user.yes {
		return usagef("user delete: this deletes user %s and ends their sessions; add --yes to do it", args[0])
	}
	if err := c.connect(); err != nil {
		return err
	}
	if _, err := c.call(ctx, "DELETE", userPath(args[0]), nil, nil); err != nil {
		return err
	}
	if c.g.json {
		return printJSON(c, map[string]string{"user": args[0], "status": "deleted"})
	}
	_, err := fmt.Fprintf(c.stdout, "Deleted user %s.\n", args[0])
	return err
}

func (c *cli) sendUser(ctx context.Context, method, path string, spec api.UserSpec) error {
	b, err := c.call(ctx, method, path, nil, spec)
	if err != nil {
		return err
	}
	return decodeShow(c, b, func(c *cli, u api.User) error { return showUsers(c, api.UserList{Users: []api.User{u}}) })
}

func showUsers(c *cli, l api.UserList) error {
	tw := table(c.stdout)
	fmt.Fprintln(tw, "USER\tROLE\tBUILT-IN")
	for _, u := range l.Users {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, yesNo(u.BuiltIn))
	}
	return tw.Flush()
}

func auditList(ctx context.Context, c *cli, _ []string) error {
	q, err := c.listQuery()
	if err != nil {
		return err
	}
	if err := c.connect(); err != nil {
		return err
	}
	b, err := c.call(ctx, "GET", "/api/v1/audit", q, nil)
	if err != nil {
		return err
	}
	return decodeShow(c, b, func(c *cli, l api.AuditList) error {
		if len(l.Records) == 0 {
			_, err := fmt.Fprintln(c.stdout, "No audit records.")
			return err
		}
		tw := table(c.stdout)
		fmt.Fprintln(tw, "TIME\tNODE\tUSER\tCLIENT\tREQUEST\tSTATUS")
		for _, r := range l.Records {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\t%d\n", c.stamp(r.Time), orDash(r.Node), orDash(r.User), r.Client, r.Method, r.Path, r.Status)
		}
		return tw.Flush()
	})
}
