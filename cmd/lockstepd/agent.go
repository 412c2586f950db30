package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lockstep-ft/lockstep/agent/boot"
	"github.com/lockstep-ft/lockstep/agent/console"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// systemView is what the status screen shows of the node's system.
type systemView struct{ State, Name, IP string }

// stateWaiting is the state in the READY line: the node is up and about
// to look for its peer.
const stateWaiting = "waiting for peer"

// agent is lockstepd's first-boot sequence with its side effects injected.
type agent struct {
	configPath string
	grubenv    string
	runDir     string
	cmdline    boot.Cmdline
	cmdlineErr error

	net         *netcfg.Configurator
	newDHCP     func(hostname string) netcfg.DHCP
	setHostname func(string) error
	con         *console.Console
	stdout      io.Writer // the journal
	notify      func(state string) error
	logf        func(format string, args ...any)
	// cluster, when set, brings the healthy node into its system (founds
	// it on a "Create new system" node) and returns the system state for
	// the status screen.
	cluster func(ctx context.Context, cfg nodeconfig.Config, res netcfg.Result, slot, version string) (func() systemView, error)

	retry   time.Duration // config and network attempts while not ready
	refresh time.Duration // status screen once ready

	// what the screen shows
	cfg        *nodeconfig.Config
	res        netcfg.Result
	state      string
	system     systemView // once the node is in its system
	lastErr    string
	lastConErr string
}

// run brings the node up and then keeps the status screen current until
// ctx ends (SIGTERM). Failures are shown and retried rather than returned:
// under Restart=always an exit would only restart the same failure.
func (a *agent) run(ctx context.Context) {
	a.state = "starting"
	var persistent []error // non-fatal problems that stay on screen
	if a.cmdlineErr != nil {
		persistent = append(persistent, fmt.Errorf("kernel command line: %w", a.cmdlineErr))
	}
	for {
		err := a.bringUp(ctx, &persistent)
		if err == nil {
			break
		}
		a.show(append(persistent, err))
		if !sleep(ctx, a.retry) {
			a.stopped()
			return
		}
	}

	persistent = append(persistent, a.healthy()...)
	a.state = stateWaiting
	var systemState func() systemView
	if a.cluster != nil {
		f, err := a.cluster(ctx, *a.cfg, a.res, string(a.cmdline.Slot), a.cmdline.Version)
		if err != nil {
			persistent = append(persistent, fmt.Errorf("system: %w", err))
		} else {
			systemState = f
		}
	}
	renew := a.renewal(time.Now())
	for {
		errs := persistent
		if !renew.IsZero() && time.Now().After(renew) {
			// u-root's client does not renew; a new request keeps the
			// lease (servers give a known MAC its address again).
			res, err := a.net.Configure(ctx, a.cfg.Network)
			if err != nil {
				errs = append(errs, fmt.Errorf("DHCP renewal: %w", err))
				renew = time.Now().Add(a.retry)
			} else {
				a.res = res
				renew = a.renewal(time.Now())
			}
		}
		if systemState != nil {
			v := systemState()
			a.state, a.system = v.State, v
		}
		a.show(errs)
		if !sleep(ctx, a.refresh) {
			a.stopped()
			return
		}
	}
}

// bringUp loads the config (once) and configures the network; a nil error
// means the node is reachable.
func (a *agent) bringUp(ctx context.Context, persistent *[]error) error {
	if a.cfg == nil {
		c, err := nodeconfig.Load(a.configPath)
		if err != nil {
			return fmt.Errorf("node config: %w", err)
		}
		a.cfg = &c
		a.logf("node config %s: %s, action %s", a.configPath, c.Hostname, c.Action)
		if err := a.setHostname(c.Hostname); err != nil {
			*persistent = append(*persistent, fmt.Errorf("hostname: %w", err))
		}
		a.net.DHCP = a.newDHCP(c.Hostname)
	}
	a.state = "configuring the network"
	a.show(*persistent)
	res, err := a.net.Configure(ctx, a.cfg.Network)
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	a.res = res
	for _, w := range res.Warnings {
		*persistent = append(*persistent, w)
	}
	return nil
}

// healthy does what a node that came up does once: tell systemd and the
// boot loader, and print the line lab scripts wait for on the serial
// console.
func (a *agent) healthy() []error {
	var errs []error
	if err := os.MkdirAll(a.runDir, 0o755); err != nil {
		errs = append(errs, err)
	} else if err := os.WriteFile(filepath.Join(a.runDir, "healthy"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		errs = append(errs, err)
	}
	// Without the commit GRUB would fall back to the other slot after a
	// trial boot; a failure is shown but the node keeps running.
	if changed, err := boot.Commit(a.grubenv, a.cmdline.Slot); err != nil {
		errs = append(errs, err)
	} else if changed {
		a.logf("boot: slot %s marked good and active in %s", a.cmdline.Slot, a.grubenv)
	}
	line := fmt.Sprintf("LOCKSTEP NODE READY %s %s %s", a.cfg.Hostname, a.res.Ibiz0.Addr(), stateWaiting)
	if err := a.con.Println(line); err != nil {
		a.logf("serial console: %v", err)
	}
	fmt.Fprintln(a.stdout, line)
	if err := a.notify("READY=1\nSTATUS=" + stateWaiting); err != nil {
		errs = append(errs, fmt.Errorf("sd_notify: %w", err))
	}
	return errs
}

// renewal is when to ask for the DHCP lease again: halfway, as RFC 2131's T1.
func (a *agent) renewal(now time.Time) time.Time {
	if !a.res.DHCP || a.res.Lease.Time <= 0 {
		return time.Time{}
	}
	return now.Add(time.Duration(a.res.Lease.Time) * time.Second / 2)
}

func (a *agent) stopped() {
	a.state = "stopped (lockstepd is not running)"
	a.show(nil)
}

// show draws the status screen and logs errors when they change.
func (a *agent) show(errs []error) {
	s := console.Status{State: a.state, Slot: string(a.cmdline.Slot), Version: a.cmdline.Version}
	if c := a.cfg; c != nil {
		s.Hostname, s.Action, s.Lab = c.Hostname, string(c.Action), c.Lab
		s.SystemName, s.SystemIP = c.System.Name, c.System.IP
		if a.system.Name != "" { // a joined node learns them from the system
			s.SystemName, s.SystemIP = a.system.Name, a.system.IP
		}
		s.AddrMode = "static"
		if c.Network.Node.DHCP {
			s.AddrMode = "DHCP"
		}
	}
	// Before the config names the links there is nothing to observe.
	if a.cfg != nil {
		o, err := netcfg.Observe(a.net.Links)
		if err != nil {
			errs = append(errs, err)
		}
		s.Priv0, s.Ibiz0 = o.Priv0, o.Ibiz0State
		for _, l := range o.ALinks {
			s.ALinks = append(s.ALinks, console.Link{Name: l.Name, State: l.State})
		}
		for _, p := range o.Ibiz0 {
			s.NodeAddrs = append(s.NodeAddrs, p.String())
		}
	}
	for _, e := range errs {
		s.Errors = append(s.Errors, e.Error())
	}
	if msg := strings.Join(s.Errors, "; "); msg != a.lastErr {
		if msg != "" {
			a.logf("error: %s", msg)
		} else if a.lastErr != "" {
			a.logf("errors cleared")
		}
		a.lastErr = msg
	}
	var conErr string
	if err := a.con.Show(s); err != nil {
		conErr = err.Error()
	}
	if conErr != a.lastConErr { // a dead screen must not flood the journal
		if conErr != "" {
			a.logf("%s", conErr)
		}
		a.lastConErr = conErr
	}
}

// sleep waits d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
