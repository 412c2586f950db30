package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/netcfg"
)

// libvirtPort is libvirtd's TCP port on the replication link, where the
// peer's libvirtd connects for a live migration.
const libvirtPort = 16509

// libvirtSettings are the lines the agent keeps in libvirt's
// configuration (/etc is on the root's tmpfs, so at every start):
//   - qemu.conf security_driver "none": the image carries libvirt's
//     AppArmor helper but not AppArmor's parser, and the kernel has
//     AppArmor on, so libvirt would try (and fail) to confine every guest;
//   - libvirtd.conf auth_tcp "none": the TCP socket listens only on the
//     replication link, a cable to the peer node (TLS with the system's CA
//     is the next step).
var libvirtSettings = map[string][][2]string{
	"/etc/libvirt/qemu.conf":     {{"security_driver", `"none"`}},
	"/etc/libvirt/libvirtd.conf": {{"auth_tcp", `"none"`}},
}

// setConf sets key = value in a libvirt configuration text, replacing
// every uncommented assignment of key (libvirt takes the first one).
func setConf(text, key, value string) string {
	re := regexp.MustCompile(`(?m)^[ \t]*` + regexp.QuoteMeta(key) + `[ \t]*=.*\n?`)
	text = re.ReplaceAllString(text, "")
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return text + key + " = " + value + "\n"
}

// tcpSocketDropIn makes libvirtd-tcp.socket listen on the replication
// address only; FreeBind, since the address may come after the socket.
func tcpSocketDropIn(rep netcfg.Replication) string {
	return fmt.Sprintf("# Written by lockstepd.\n[Socket]\nListenStream=\nListenStream=%s:%d\nFreeBind=yes\n", rep.Local.Addr(), libvirtPort)
}

// configureLibvirt writes the settings and, if any changed, restarts
// libvirtd with its TCP socket (running guests are not affected).
func configureLibvirt(ctx context.Context, rep netcfg.Replication, logf func(string, ...any)) error {
	changed := false
	write := func(path, text string) error {
		if old, err := os.ReadFile(path); err == nil && string(old) == text {
			return nil
		}
		changed = true
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, []byte(text), 0o644)
	}
	for path, kvs := range libvirtSettings {
		b, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		text := string(b)
		for _, kv := range kvs {
			text = setConf(text, kv[0], kv[1])
		}
		if err := write(path, text); err != nil {
			return err
		}
	}
	if err := write("/run/systemd/system/libvirtd-tcp.socket.d/lockstep.conf", tcpSocketDropIn(rep)); err != nil {
		return err
	}
	if !changed {
		return nil
	}
	logf("vms: libvirt configured (TCP on %s:%d for migrations); restarting libvirtd", rep.Local.Addr(), libvirtPort)
	// systemd refuses to start a socket whose service runs ("Socket
	// service libvirtd.service already active, refusing"): the service
	// stops first and gets the new socket when it starts again.
	for _, args := range [][]string{
		{"daemon-reload"}, {"stop", "libvirtd.service"}, {"start", "libvirtd-tcp.socket"}, {"start", "libvirtd.service"},
	} {
		if out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("systemctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
