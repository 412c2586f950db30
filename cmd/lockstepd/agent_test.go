package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/boot"
	"github.com/lockstep-ft/lockstep/agent/console"
	"github.com/lockstep-ft/lockstep/agent/netcfg"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/engine/abboot"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// syncBuffer is a bytes.Buffer the agent goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// links is netcfg.Links in memory (the agent's goroutine only).
type links struct {
	ls    []netcfg.Link
	addrs map[int][]netip.Prefix
}

func (f *links) find(l netcfg.Link) *netcfg.Link {
	for i := range f.ls {
		if f.ls[i].Index == l.Index {
			return &f.ls[i]
		}
	}
	panic(fmt.Sprintf("no link %d", l.Index))
}
func (f *links) List() ([]netcfg.Link, error) { return append([]netcfg.Link(nil), f.ls...), nil }
func (f *links) Rename(l netcfg.Link, n string) error {
	k := f.find(l)
	k.Name, k.Up = n, false
	return nil
}
func (f *links) SetUp(l netcfg.Link) error { f.find(l).Up = true; return nil }
func (f *links) ReplaceAddr(l netcfg.Link, p netip.Prefix) error {
	f.addrs[l.Index] = []netip.Prefix{p}
	return nil
}
func (f *links) Addrs(l netcfg.Link) ([]netip.Prefix, error)       { return f.addrs[l.Index], nil }
func (f *links) ReplaceDefaultRoute(netcfg.Link, netip.Addr) error { return nil }
func mustMAC(s string) net.HardwareAddr                            { m, _ := net.ParseMAC(s); return m }

func TestAgentFirstBoot(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "node.json")
	grubenv := filepath.Join(dir, "grubenv")
	runDir := filepath.Join(dir, "run")

	// Slot B was just written by an upgrade and GRUB is trying it once.
	st, _ := abboot.New().BeginInstall(abboot.A)
	st, _ = st.FinishInstall(abboot.A, "1.0", false)
	st, _ = st.BeginInstall(abboot.B)
	st, _ = st.FinishInstall(abboot.B, "1.1", true)
	_, st, _ = abboot.BootChoice(st)
	blk, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(grubenv, blk, 0o644); err != nil {
		t.Fatal(err)
	}

	var tty, serial, stdout syncBuffer
	var hostname, notified string
	a := &agent{
		configPath: cfgPath,
		grubenv:    grubenv,
		runDir:     runDir,
		cmdline:    boot.ParseCmdline("lockstep.slot=b lockstep.version=1.1"),
		net: &netcfg.Configurator{Links: &links{
			ls: []netcfg.Link{
				{Index: 1, Name: "lo", Up: true},
				{Index: 2, Name: "ens3", MAC: mustMAC("52:54:00:00:00:01")},
				{Index: 3, Name: "ens4", MAC: mustMAC("52:54:00:00:00:02")},
			},
			addrs: map[int][]netip.Prefix{},
		}},
		newDHCP:     func(string) netcfg.DHCP { return nil },
		setHostname: func(h string) error { hostname = h; return nil },
		con:         &console.Console{TTY: &tty, Serial: &serial},
		stdout:      &stdout,
		notify:      func(s string) error { notified = s; return nil },
		logf:        t.Logf,
		retry:       10 * time.Millisecond,
		refresh:     10 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.run(ctx); close(done) }()

	waitFor(t, &serial, "Errors:\n  - node config: open ")
	c := nodeconfig.Config{
		Format:   nodeconfig.Format,
		Action:   answers.Create,
		Hostname: "node0",
		System:   answers.System{Name: "lab", IP: "192.0.2.100"},
		Network: nodeconfig.Network{
			Priv0: nodeconfig.NIC{MAC: "52:54:00:00:00:01"},
			Ibiz0: nodeconfig.NIC{MAC: "52:54:00:00:00:02"},
			Node:  answers.Address{IP: "192.0.2.10", Netmask: "255.255.255.0", Gateway: "192.0.2.1"},
		},
	}
	if err := c.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	const ready = "LOCKSTEP NODE READY node0 192.0.2.10 waiting for peer\n"
	waitFor(t, &serial, ready)
	waitFor(t, &tty, "192.0.2.10/24 (static), link up")
	cancel()
	<-done

	if got := stdout.String(); got != ready {
		t.Errorf("stdout %q, want exactly %q", got, ready)
	}
	if n := strings.Count(serial.String(), "LOCKSTEP NODE READY"); n != 1 {
		t.Errorf("%d READY lines on the serial console", n)
	}
	if hostname != "node0" || notified != "READY=1\nSTATUS=waiting for peer" {
		t.Errorf("hostname %q, notify %q", hostname, notified)
	}
	if _, err := os.Stat(filepath.Join(runDir, "healthy")); err != nil {
		t.Error(err)
	}
	if st, err := abboot.LoadFile(grubenv); err != nil || st.Active != abboot.B || st.Next != "" {
		t.Errorf("boot state %s, %v; want b committed", st, err)
	}
	last := tty.String()
	last = last[strings.LastIndex(last, console.Clear):]
	if !strings.Contains(last, "stopped") || strings.Contains(last, "Errors") {
		t.Errorf("last screen:\n%s", last)
	}
}

func waitFor(t *testing.T, b *syncBuffer, s string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if strings.Contains(b.String(), s) {
			return
		}
	}
	t.Fatalf("never saw %q in:\n%s", s, b.String())
}

func TestSDNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Fatalf("without a socket: %v", err)
	}
	p := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", p)
	if err := sdNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = l.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := l.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("received %q, %v", buf[:n], err)
	}
}
