package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// alertSetFlags are the flags of the commands that change the alert
// settings.
type alertSetFlags struct {
	off          bool // alert email --off
	server       string
	port         int
	security     string
	caFile       string
	user         string
	passwordFile string
	from         string
	to           []string

	host      string // alert snmp add|remove
	version   string
	community string
}

const alertPath = "/api/v1/alerts/settings"

func alertCommands() []*command {
	return []*command{
		{name: "alert settings", summary: "show where alerts go: the email server and recipients, the SNMP trap receivers",
			run: getAndShow(alertPath, func(c *cli, b []byte) error { return decodeShow(c, b, showAlertSettings) })},
		{name: "alert email", summary: "send alerts by email through an SMTP server (or stop: --off)",
			help: "Every node sends the alerts it raises itself, so the survivor of a node loss\nreports it. " +
				"--security starttls (the default) and tls check the server's\ncertificate against the system's roots, " +
				"or only against --smtp-ca-file. A\npassword is never sent unencrypted; it is read from --smtp-password-file\n(the first line) or a prompt, never from the command line.\n\n" +
				"  lockstep alert email --smtp-server smtp.example.com --from pair@example.com --to ops@example.com\n" +
				"  lockstep alert email --smtp-server mail.example.com --smtp-port 465 --security tls --smtp-user alerts \\\n" +
				"      --smtp-password-file /root/smtp.pw --from pair@example.com --to ops@example.com --to oncall@example.com\n" +
				"  lockstep alert email --off",
			flags: alertEmailFlags, run: alertEmail},
		{name: "alert snmp add", summary: "send alerts as SNMP traps (v1 or v2c) to a receiver",
			help:  "The traps are LOCKSTEP-MIB's lsAlert notifications (the MIB is in the README).\n\n  lockstep alert snmp add --host 10.0.0.5 --community public --version v2c",
			flags: alertSNMPFlags, run: alertSNMPAdd},
		{name: "alert snmp remove", summary: "stop sending traps to a receiver",
			flags: alertSNMPFlags, run: alertSNMPRemove},
		{name: "alert severity", args: "<severity>", nargs: 1, summary: "send alerts of this severity and worse: info, warning (the default), error, critical",
			help: "Every alert is kept in the history whatever its severity.", run: alertSeverity},
		{name: "alert test", summary: "send a test alert to every email and SNMP target now, and say how each went",
			run: alertTest},
	}
}

func alertEmailFlags(fs *flag.FlagSet, c *cli) {
	f := &c.alert
	fs.BoolVar(&f.off, "off", false, "send no more email")
	fs.StringVar(&f.server, "smtp-server", "", "the SMTP server's `host` name or address")
	fs.IntVar(&f.port, "smtp-port", 0, "the SMTP server's `port` (default 587 for starttls, 465 for tls, 25 for none)")
	fs.StringVar(&f.security, "security", api.SecuritySTARTTLS, "`mode`: starttls, tls or none")
	fs.StringVar(&f.caFile, "smtp-ca-file", "", "trust only the CA certificates in this PEM `file` for the server")
	fs.StringVar(&f.user, "smtp-user", "", "SMTP AUTH `user` name")
	fs.StringVar(&f.passwordFile, "smtp-password-file", "", "read the SMTP password from the first line of `file`")
	fs.StringVar(&f.from, "from", "", "the sender `address`")
	fs.Func("to", "a recipient `address` (repeat for more)", func(v string) error {
		f.to = append(f.to, v)
		return nil
	})
}

func alertSNMPFlags(fs *flag.FlagSet, c *cli) {
	f := &c.alert
	fs.StringVar(&f.host, "host", "", "the trap receiver's `host` name or address")
	fs.IntVar(&f.port, "port", 162, "the trap receiver's UDP `port`")
	fs.StringVar(&f.version, "version", api.SNMPv2c, "`version`: v1 or v2c")
	fs.StringVar(&f.community, "community", "public", "the `community` string")
}

// editAlerts reads the settings, changes them with fn and writes them
// back; the server checks the result and answers what it keeps.
func (c *cli) editAlerts(ctx context.Context, fn func(*api.AlertSettings) error) error {
	if err := c.connect(); err != nil {
		return err
	}
	b, err := c.call(ctx, "GET", alertPath, nil, nil)
	if err != nil {
		return err
	}
	var s api.AlertSettings
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s: unexpected answer: %w", c.server, err)
	}
	if err := fn(&s); err != nil {
		return err
	}
	if b, err = c.call(ctx, "PUT", alertPath, nil, s); err != nil {
		return err
	}
	return decodeShow(c, b, showAlertSettings)
}

func alertEmail(ctx context.Context, c *cli, _ []string) error {
	f := c.alert
	if f.off {
		if f.server != "" || f.from != "" || len(f.to) > 0 || f.user != "" {
			return usagef("alert email --off takes no other flag")
		}
		return c.editAlerts(ctx, func(s *api.AlertSettings) error { s.Email = nil; return nil })
	}
	if f.server == "" || f.from == "" || len(f.to) == 0 {
		return usagef("alert email: give --smtp-server, --from and at least one --to (or --off)")
	}
	e := &api.EmailSettings{Server: f.server, Port: f.port, Security: f.security, Username: f.user, From: f.from, To: f.to}
	if f.caFile != "" {
		b, err := os.ReadFile(f.caFile)
		if err != nil {
			return err
		}
		e.CA = string(b)
	}
	if f.user == "" && f.passwordFile != "" {
		return usagef("--smtp-password-file needs --smtp-user")
	}
	return c.editAlerts(ctx, func(s *api.AlertSettings) error {
		switch {
		case f.user == "":
			empty := "" // no AUTH: a password stored before goes
			e.Password = &empty
		case f.passwordFile == "" && s.Email != nil && s.Email.Username == f.user && s.Email.PasswordSet:
			// The same user: the stored password stays (nil keeps it).
		default:
			pw, err := c.smtpPassword(f)
			if err != nil {
				return err
			}
			e.Password = &pw
		}
		s.Email = e
		return nil
	})
}

// smtpPassword reads the SMTP password from --smtp-password-file or the
// terminal: a password on the command line would show in ps and in the
// shell's history.
func (c *cli) smtpPassword(f alertSetFlags) (string, error) {
	if f.passwordFile != "" {
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return "", err
		}
		pw, _, _ := strings.Cut(string(b), "\n")
		if pw = strings.TrimRight(pw, "\r"); pw == "" {
			return "", fmt.Errorf("%s: no password in it", f.passwordFile)
		}
		return pw, nil
	}
	if c.readPassword == nil {
		return "", usagef("--smtp-user %s: give --smtp-password-file, or run on a terminal to be asked", f.user)
	}
	return c.readPassword(fmt.Sprintf("SMTP password for %s@%s: ", f.user, f.server))
}

func (f alertSetFlags) snmpTarget() (api.SNMPTarget, error) {
	if f.host == "" {
		return api.SNMPTarget{}, usagef("give the receiver's --host")
	}
	return api.SNMPTarget{Host: f.host, Port: f.port, Version: f.version, Community: f.community}, nil
}

func alertSNMPAdd(ctx context.Context, c *cli, _ []string) error {
	t, err := c.alert.snmpTarget()
	if err != nil {
		return err
	}
	return c.editAlerts(ctx, func(s *api.AlertSettings) error {
		for _, x := range s.SNMP {
			if x.Address() == t.Address() && x.Version == t.Version {
				return usagef("%s %s is a trap receiver already", t.Address(), t.Version)
			}
		}
		s.SNMP = append(s.SNMP, t)
		return nil
	})
}

func alertSNMPRemove(ctx context.Context, c *cli, _ []string) error {
	t, err := c.alert.snmpTarget()
	if err != nil {
		return err
	}
	return c.editAlerts(ctx, func(s *api.AlertSettings) error {
		n := len(s.SNMP)
		s.SNMP = slices.DeleteFunc(s.SNMP, func(x api.SNMPTarget) bool { return x.Address() == t.Address() && x.Version == t.Version })
		if len(s.SNMP) == n {
			return fmt.Errorf("%s %s is not a trap receiver of the system", t.Address(), t.Version)
		}
		return nil
	})
}

func alertSeverity(ctx context.Context, c *cli, args []string) error {
	if api.SeverityRank(args[0]) < 0 {
		return usagef("severity %q: use one of %s", args[0], strings.Join(api.Severities, ", "))
	}
	return c.editAlerts(ctx, func(s *api.AlertSettings) error { s.MinSeverity = args[0]; return nil })
}

func alertTest(ctx context.Context, c *cli, _ []string) error {
	if err := c.connect(); err != nil {
		return err
	}
	b, err := c.call(ctx, "POST", "/api/v1/alerts/test", nil, nil)
	if err != nil {
		return err
	}
	failed := 0
	err = decodeShow(c, b, func(c *cli, r api.AlertTestResult) error {
		fmt.Fprintf(c.stdout, "Test alert %d raised on %s.\n", r.Alert.ID, r.Alert.Node)
		tw := table(c.stdout)
		fmt.Fprintln(tw, "TARGET\tRESULT")
		for _, d := range r.Deliveries {
			res := "sent"
			if !d.OK {
				res, failed = "FAILED: "+d.Error, failed+1
			}
			fmt.Fprintf(tw, "%s\t%s\n", d.Target, res)
		}
		return tw.Flush()
	})
	if err == nil && failed > 0 {
		return fmt.Errorf("the test alert did not reach %d of its targets", failed)
	}
	return err
}

func showAlertSettings(c *cli, s api.AlertSettings) error {
	w := c.stdout
	fmt.Fprintf(w, "Alerts sent:   %s and worse (every alert is kept in the history)\n", s.MinSeverity)
	if e := s.Email; e != nil {
		fmt.Fprintf(w, "Email:         %s, security %s", e.Address(), e.Security)
		if e.CA != "" {
			fmt.Fprint(w, ", own CA")
		}
		if e.Username != "" {
			fmt.Fprintf(w, ", user %s (password %s)", e.Username, map[bool]string{true: "set", false: "not set"}[e.PasswordSet])
		}
		fmt.Fprintf(w, "\n  from:        %s\n  to:          %s\n", e.From, strings.Join(e.To, ", "))
	} else {
		fmt.Fprintln(w, "Email:         none")
	}
	if len(s.SNMP) == 0 {
		_, err := fmt.Fprintln(w, "SNMP traps:    none")
		return err
	}
	fmt.Fprintln(w, "SNMP traps:")
	tw := table(w)
	fmt.Fprintln(tw, "  RECEIVER\tVERSION\tCOMMUNITY")
	for _, t := range s.SNMP {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.Address(), t.Version, t.Community)
	}
	return tw.Flush()
}
