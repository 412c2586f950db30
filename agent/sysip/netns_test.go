//go:build linux

package sysip

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lockstep-ft/lockstep/internal/netnstest"
)

// TestSystemIPInNamespace acquires and releases a system IP against the
// real kernel, in a network namespace of its own with a veth pair: ibiz0
// holds the address, its other end cap0 captures what goes out. It needs
// root, so it runs only when asked:
//
//	LOCKSTEP_NETWORK_TESTS=1 go test ./agent/sysip/ -run TestSystemIPInNamespace -v
func TestSystemIPInNamespace(t *testing.T) {
	// Every socket (netlink, AF_PACKET) is made while in the namespace.
	ns := netnstest.Enter(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	mac, _ := net.ParseMAC("02:00:00:00:5e:01")
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ibiz0", HardwareAddr: mac}, PeerName: "cap0"}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatalf("create veth pair: %v", err)
	}
	ibiz0, _ := h.LinkByName("ibiz0")
	cap0, _ := h.LinkByName("cap0")
	for _, l := range []netlink.Link{ibiz0, cap0} {
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	// The node's own address, which must stay the subnet's source.
	nodeIP := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("192.0.2.10").To4(), Mask: net.CIDRMask(24, 32)}}
	if err := h.AddrAdd(ibiz0, nodeIP); err != nil {
		t.Fatal(err)
	}

	capt := capture(t, cap0.Attrs().Index)
	defer capt.stop()

	m, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sys := netip.MustParsePrefix("192.0.2.5/24")

	for round := 1; round <= 2; round++ { // the second finds the address in place
		start := time.Now()
		if err := m.Acquire(context.Background(), "ibiz0", sys); err != nil {
			t.Fatalf("acquire %d: %v", round, err)
		}
		t.Logf("acquire %d took %v", round, time.Since(start).Round(time.Millisecond))
		frames := capt.announcements(t, mac, sys.Addr(), 3, 2*time.Second)
		for i := 1; i < len(frames); i++ {
			if gap := frames[i].at.Sub(frames[i-1].at); gap < 150*time.Millisecond || gap > 500*time.Millisecond {
				t.Errorf("round %d: announcements %d and %d are %v apart, want ~200 ms", round, i, i+1, gap)
			}
		}
		checkAddr(t, h, ibiz0, sys, true)
	}
	if held, err := m.Held("ibiz0", sys); !held || err != nil {
		t.Errorf("Held = %v, %v", held, err)
	}
	// The subnet route's source is still the node's own address.
	routes, err := h.RouteList(ibiz0, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == "192.0.2.0/24" && !r.Src.Equal(net.ParseIP("192.0.2.10")) {
			t.Errorf("subnet route %v has source %v, want the node's 192.0.2.10", r.Dst, r.Src)
		}
	}

	for range 2 { // the second finds nothing to remove
		if err := m.Release("ibiz0", sys); err != nil {
			t.Fatalf("release: %v", err)
		}
	}
	checkAddr(t, h, ibiz0, sys, false)
	checkAddr(t, h, ibiz0, netip.MustParsePrefix("192.0.2.10/24"), true)
	if n := len(capt.announcements(t, mac, sys.Addr(), 0, 300*time.Millisecond)); n != 0 {
		t.Errorf("%d announcements after Release", n)
	}
}

func checkAddr(t *testing.T, h *netlink.Handle, l netlink.Link, p netip.Prefix, want bool) {
	t.Helper()
	as, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		ones, _ := a.Mask.Size()
		if ip, _ := netip.AddrFromSlice(a.IP); ip.Unmap() != p.Addr() || ones != p.Bits() {
			continue
		}
		if !want {
			t.Errorf("%v still on %s", p, l.Attrs().Name)
			return
		}
		if p.Addr() == netip.MustParseAddr("192.0.2.5") {
			if a.Label != "ibiz0:sys" || a.Flags&unix.IFA_F_NOPREFIXROUTE == 0 {
				t.Errorf("system IP label %q, flags %#x; want ibiz0:sys with IFA_F_NOPREFIXROUTE", a.Label, a.Flags)
			}
		}
		return
	}
	if want {
		t.Errorf("%v not on %s: %v", p, l.Attrs().Name, as)
	}
}

// capturer reads ARP frames arriving on one interface.
type capturer struct {
	fd     int
	mu     sync.Mutex
	frames []frame
	done   chan struct{}
	wg     sync.WaitGroup
}

type frame struct {
	at  time.Time
	arp ARP
}

func capture(t *testing.T, ifindex int) *capturer {
	t.Helper()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	// Short reads, so that stop returns soon.
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000})
	c := &capturer{fd: fd, done: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf := make([]byte, 2048)
		for {
			select {
			case <-c.done:
				return
			default:
			}
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue // timeout
			}
			if a, ok := ParseARP(append([]byte(nil), buf[:n]...)); ok {
				c.mu.Lock()
				c.frames = append(c.frames, frame{time.Now(), a})
				c.mu.Unlock()
			}
		}
	}()
	return c
}

// announcements waits until want announcements of ip by mac have been
// captured (or, with want 0, for the whole wait), takes them and returns
// them. Other ARP frames are ignored; more than want is an error.
func (c *capturer) announcements(t *testing.T, mac net.HardwareAddr, ip netip.Addr, want int, wait time.Duration) []frame {
	t.Helper()
	deadline := time.Now().Add(wait)
	var got []frame
	for {
		c.mu.Lock()
		for _, f := range c.frames {
			if f.arp.IsAnnouncement(mac, ip) {
				got = append(got, f)
			} else {
				t.Logf("other ARP frame: %+v", f.arp)
			}
		}
		c.frames = nil
		c.mu.Unlock()
		if want > 0 && len(got) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if want > 0 {
		// Anything beyond want would show within a further interval.
		time.Sleep(300 * time.Millisecond)
		c.mu.Lock()
		for _, f := range c.frames {
			if f.arp.IsAnnouncement(mac, ip) {
				got = append(got, f)
			}
		}
		c.frames = nil
		c.mu.Unlock()
		if len(got) != want {
			t.Errorf("captured %d announcements of %v by %v, want %d", len(got), ip, mac, want)
		}
	}
	return got
}

func (c *capturer) stop() {
	close(c.done)
	c.wg.Wait()
	unix.Close(c.fd)
}
