//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseNetConfig(t *testing.T) {
	const base = "console=ttyS0,115200 quiet loglevel=3 panic=-1"
	for _, tc := range []struct {
		cmdline string
		ok      bool
		addr    string // want, when ok
		gw      string
	}{
		{cmdline: base},
		{cmdline: ""},
		{cmdline: base + " lsguest.ip=10.0.2.15/24", ok: true, addr: "10.0.2.15/24"},
		{cmdline: "lsguest.ip=10.0.2.15/24 " + base, ok: true, addr: "10.0.2.15/24"},
		{cmdline: base + " lsguest.ip=10.0.2.15/24 lsguest.gw=10.0.2.2", ok: true, addr: "10.0.2.15/24", gw: "10.0.2.2"},
		{cmdline: base + " lsguest.gw=10.0.2.2\nlsguest.ip=10.0.2.15/24\n", ok: true, addr: "10.0.2.15/24", gw: "10.0.2.2"},
		// The last occurrence counts, as for the kernel's parameters.
		{cmdline: "lsguest.ip=10.0.0.1/8 lsguest.ip=192.168.7.3/30", ok: true, addr: "192.168.7.3/30"},
		{cmdline: "lsguest.ip=fd00::15/64 lsguest.gw=fd00::1", ok: true, addr: "fd00::15/64", gw: "fd00::1"},
		// Look-alikes are not ours.
		{cmdline: "xlsguest.ip=10.0.2.15/24 lsguest.ipaddr=10.0.2.15/24 ip=10.0.2.15"},
	} {
		cfg, ok, err := parseNetConfig(tc.cmdline)
		if err != nil || ok != tc.ok {
			t.Errorf("%q: ok %v, %v; want ok %v", tc.cmdline, ok, err, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if cfg.addr.String() != tc.addr {
			t.Errorf("%q: address %s, want %s", tc.cmdline, cfg.addr, tc.addr)
		}
		if want, _ := netip.ParseAddr(tc.gw); cfg.gw != want {
			t.Errorf("%q: gateway %s, want %q", tc.cmdline, cfg.gw, tc.gw)
		}
	}
	for _, bad := range []string{
		"lsguest.ip=10.0.2.15",    // no prefix length
		"lsguest.ip=10.0.2.15/33", // too long
		"lsguest.ip=",
		"lsguest.ip=eth0",
		"lsguest.ip=0.0.0.0/0",
		"lsguest.ip=127.0.0.2/8",
		"lsguest.ip=224.0.0.1/4",
		"lsguest.ip=::ffff:10.0.2.15/120",
		"lsguest.ip=fe80::1%eth0/64",
		"lsguest.gw=10.0.2.2", // a gateway for no address
		"lsguest.ip=10.0.2.15/24 lsguest.gw=10.0.3.2",
		"lsguest.ip=10.0.2.15/24 lsguest.gw=10.0.2.15",
		"lsguest.ip=10.0.2.15/24 lsguest.gw=fd00::1",
		"lsguest.ip=10.0.2.15/24 lsguest.gw=",
		"lsguest.ip=10.0.2.15/24 lsguest.gw=router",
	} {
		if cfg, ok, err := parseNetConfig(bad); err == nil || ok {
			t.Errorf("%q: %+v, ok %v, no error", bad, cfg, ok)
		}
	}
}

func TestIsNetModule(t *testing.T) {
	for path, want := range map[string]bool{
		"kernel/drivers/net/ethernet/intel/e1000/e1000.ko": true,
		"kernel/drivers/net/virtio_net.ko":                 true,
		"kernel/drivers/net/net_failover.ko":               true,
		"kernel/net/core/failover.ko":                      true,
		"kernel/drivers/block/virtio_blk.ko":               false,
		"kernel/drivers/virtio/virtio_pci.ko":              false,
		"kernel/drivers/netfoo/x.ko":                       false,
	} {
		if got := isNetModule(path); got != want {
			t.Errorf("isNetModule(%s) = %v", path, got)
		}
	}
}

func TestFirstNIC(t *testing.T) {
	dir := t.TempDir()
	if _, err := firstNIC(dir); !errors.Is(err, errNoNIC) {
		t.Fatalf("empty: %v", err)
	}
	iface := func(name, index, mac string, device bool) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(p, "ifindex"), []byte(index+"\n"), 0o644)
		os.WriteFile(filepath.Join(p, "address"), []byte(mac+"\n"), 0o644)
		if device {
			os.Mkdir(filepath.Join(p, "device"), 0o755)
		}
	}
	iface("lo", "1", "00:00:00:00:00:00", false)
	iface("sit0", "2", "00:00:00:00", false)
	if _, err := firstNIC(dir); !errors.Is(err, errNoNIC) {
		t.Fatalf("only lo and a tunnel: %v", err)
	}
	iface("eth1", "10", "52:54:00:00:00:02", true)
	iface("ens3", "4", "52:54:00:00:00:01", true)
	n, err := firstNIC(dir)
	if err != nil || n != (nic{name: "ens3", index: 4, mac: "52:54:00:00:00:01"}) {
		t.Fatalf("firstNIC = %+v, %v", n, err)
	}
}

// TestAttr checks the encoding against what the kernel's RTA_* macros give.
func TestAttr(t *testing.T) {
	got := attr(unix.IFA_LOCAL, []byte{10, 0, 2, 15})
	want := binary.NativeEndian.AppendUint16(nil, 8)
	want = binary.NativeEndian.AppendUint16(want, unix.IFA_LOCAL)
	want = append(want, 10, 0, 2, 15)
	if !bytes.Equal(got, want) {
		t.Errorf("IPv4 attribute % x, want % x", got, want)
	}
	if got := attr(1, []byte{1, 2, 3, 4, 5}); len(got) != 12 || binary.NativeEndian.Uint16(got) != 9 {
		t.Errorf("5-byte attribute % x: want length 9 padded to 12 bytes", got)
	}
}

// TestRtnl runs the netlink requests against the kernel, on lo in a network
// namespace of its own (root only), so the host's network is not touched.
func TestRtnl(t *testing.T) {
	// Never unlocked: the thread ends with the test's goroutine rather
	// than going back to the scheduler in the new namespace.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Skipf("no network namespace of our own: %v", err)
	}
	s, err := dialRtnl()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 7}); err == nil {
		t.Fatal("a fresh namespace has a route")
	}
	v4, v6 := netip.MustParsePrefix("10.0.2.15/24"), netip.MustParsePrefix("fd00::15/64")
	for range 2 { // a retry replaces what is there
		if err := s.linkUp(lo.Index); err != nil {
			t.Fatalf("link up: %v", err)
		}
		for _, p := range []netip.Prefix{v4, v6} {
			if err := s.addAddr(lo.Index, p); err != nil {
				t.Fatalf("address %s: %v", p, err)
			}
		}
		if err := s.addDefaultRoute(lo.Index, netip.MustParseAddr("10.0.2.2")); err != nil {
			t.Fatalf("default route: %v", err)
		}
	}
	if err := s.addAddr(1<<30, v4); !errors.Is(err, unix.ENODEV) {
		t.Errorf("address on a missing interface: %v, want ENODEV", err)
	}
	if lo, err = net.InterfaceByName("lo"); err != nil || lo.Flags&net.FlagUp == 0 {
		t.Errorf("lo: %+v, %v", lo, err)
	}
	addrs, _ := lo.Addrs()
	have := map[string]bool{}
	for _, a := range addrs {
		have[a.String()] = true
	}
	if !have[v4.String()] || !have[v6.String()] {
		t.Errorf("lo's addresses: %v", addrs)
	}
	// Connecting a UDP socket sends nothing but needs a route.
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 7})
	if err != nil {
		t.Fatalf("no default route: %v", err)
	}
	if src := c.LocalAddr().(*net.UDPAddr).IP.String(); src != "10.0.2.15" {
		t.Errorf("source address %s", src)
	}
	c.Close()
}
