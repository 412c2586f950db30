// Command lockstepd is the Lockstep node agent, run by systemd on every
// installed node. This version does a node's first boot: it loads the node
// config from the STATE partition, sets the hostname, names and configures
// priv0 and ibiz0, shows the node's status on the local consoles, and once
// the node is reachable marks the running system slot good for the boot
// loader and reports READY.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lockstep-ft/lockstep/agent/boot"
	"github.com/lockstep-ft/lockstep/agent/console"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/installer/engine/abboot"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	var (
		configPath  = flag.String("config", nodeconfig.Path, "node config `file`")
		cmdlinePath = flag.String("cmdline", boot.CmdlinePath, "kernel command line `file`")
		grubenv     = flag.String("grubenv", abboot.RunningEnvPath, "GRUB environment block holding the A/B boot state")
		ttyPath     = flag.String("tty", "/dev/tty1", "console `device` for the status screen (\"\" for none)")
		serialPath  = flag.String("serial", "/dev/ttyS0", "serial console `device` (\"\" for none; skipped when absent)")
		runDir      = flag.String("run-dir", "/run/lockstep", "runtime `directory` (the healthy marker)")
		showVersion = flag.Bool("version", false, "print the version and exit")
		fenceOnly   = flag.Bool("fence", false, "stop this node's VMs and give up the system IP, as after the agent's end (run by systemd after it stops)")
	)
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	log.SetFlags(0) // the journal adds the time
	log.SetPrefix("lockstepd: ")
	if *fenceOnly {
		if err := runFence(nodeconfig.StateMount, log.Printf); err != nil {
			log.Fatal(err)
		}
		return
	}
	log.Printf("version %s starting", version)
	// The consoles are opened with O_NOCTTY, but a hangup of one must not
	// end the agent anyway.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	con := &console.Console{}
	if w := openScreen(*ttyPath, false); w != nil {
		defer w.Close()
		con.TTY = w
	}
	if w := openScreen(*serialPath, true); w != nil {
		defer w.Close()
		con.Serial = w
	}

	links, err := netcfg.NewNetlink()
	if err != nil {
		// Not worth retrying (the kernel has no rtnetlink); say why on the
		// screen before systemd restarts the agent.
		_ = con.Show(console.Status{State: "failed", Errors: []string{err.Error()}})
		log.Fatal(err)
	}
	defer links.Close()

	cmdline, cmdlineErr := boot.ReadCmdline(*cmdlinePath)
	a := &agent{
		configPath:  *configPath,
		grubenv:     *grubenv,
		runDir:      *runDir,
		cmdline:     cmdline,
		cmdlineErr:  cmdlineErr,
		net:         &netcfg.Configurator{Links: links, ResolvConf: "/etc/resolv.conf"},
		newDHCP:     func(h string) netcfg.DHCP { return netcfg.DHCPClient{Hostname: h} },
		setHostname: setHostname,
		con:         con,
		stdout:      os.Stdout,
		notify:      sdNotify,
		logf:        log.Printf,
		retry:       10 * time.Second,
		refresh:     5 * time.Second,
	}
	a.cluster = func(ctx context.Context, cfg nodeconfig.Config, res netcfg.Result, slot, slotVersion string) (func() systemView, error) {
		c := &clusterd{version: version, stateDir: nodeconfig.StateMount, logf: log.Printf, links: links, bridges: links,
			println: func(line string) {
				if err := con.Println(line); err != nil {
					log.Printf("serial console: %v", err)
				}
				fmt.Println(line)
			}}
		if err := c.start(ctx, cfg, res, slot, slotVersion); err != nil {
			return nil, err
		}
		return func() systemView {
			return systemView{State: c.state(), Name: c.id.System.Name, IP: c.id.Config.IP}
		}, nil
	}
	a.run(ctx)
	log.Print("stopped")
}

// openScreen opens a console device for the status screen, or returns nil
// when there is none to write to.
func openScreen(path string, optional bool) io.WriteCloser {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); optional && err != nil {
		return nil
	}
	t, err := console.OpenTerminal(path)
	if err != nil {
		// e.g. a ttyS0 node without a UART behind it (EIO)
		log.Printf("status screen %s: %v", path, err)
		return nil
	}
	return t
}

// setHostname sets the kernel's hostname and /etc/hostname (on the
// overlay's tmpfs: rewritten at every boot from the node config, which is
// the only persistent copy).
func setHostname(name string) error {
	if err := syscall.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("set hostname %q: %w", name, err)
	}
	if err := os.WriteFile("/etc/hostname", []byte(name+"\n"), 0o644); err != nil {
		log.Printf("hostname: %v", err) // best effort: the kernel's name is what counts
	}
	return nil
}
