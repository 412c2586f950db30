package sysip

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeAddrs is Addrs in memory, with the kernel's rule that an address is
// there once per (address, prefix length).
type fakeAddrs struct {
	links map[string][]Addr
	ops   []string
	fail  error
}

func newFakeAddrs(ifname string, have ...string) *fakeAddrs {
	f := &fakeAddrs{links: map[string][]Addr{ifname: nil}}
	for _, h := range have {
		f.links[ifname] = append(f.links[ifname], Addr{Prefix: netip.MustParsePrefix(h)})
	}
	return f
}

func (f *fakeAddrs) Addrs(ifname string) ([]Addr, error) {
	as, ok := f.links[ifname]
	if !ok {
		return nil, fmt.Errorf("%s: %w", ifname, ErrNoLink)
	}
	return slices.Clone(as), nil
}

func (f *fakeAddrs) AddAddr(ifname string, a Addr) error {
	f.ops = append(f.ops, fmt.Sprintf("add %s %v label=%s noprefixroute=%v", ifname, a.Prefix, a.Label, a.NoPrefixRoute))
	if f.fail != nil {
		return f.fail
	}
	if slices.ContainsFunc(f.links[ifname], func(o Addr) bool { return o.Prefix == a.Prefix }) {
		return errors.New("file exists")
	}
	f.links[ifname] = append(f.links[ifname], a)
	return nil
}

func (f *fakeAddrs) DelAddr(ifname string, p netip.Prefix) error {
	f.ops = append(f.ops, fmt.Sprintf("del %s %v", ifname, p))
	f.links[ifname] = slices.DeleteFunc(f.links[ifname], func(o Addr) bool { return o.Prefix == p })
	return nil
}

type announcement struct {
	ifname string
	ip     netip.Addr
}

type fakeARP struct {
	sent []announcement
	fail func(n int) error // by announcement number, from 1
}

func (f *fakeARP) Announce(ifname string, ip netip.Addr) error {
	f.sent = append(f.sent, announcement{ifname, ip})
	if f.fail != nil {
		return f.fail(len(f.sent))
	}
	return nil
}

// newManager returns a manager on fakes whose sleeps are recorded, not
// slept; onSleep runs at every sleep.
func newManager(addrs *fakeAddrs) (*Manager, *fakeARP, *[]time.Duration) {
	arp := &fakeARP{}
	var sleeps []time.Duration
	m := &Manager{Addrs: addrs, ARP: arp, Sleep: func(ctx context.Context, d time.Duration) error {
		sleeps = append(sleeps, d)
		return ctx.Err()
	}}
	return m, arp, &sleeps
}

var sysIP = netip.MustParsePrefix("192.0.2.5/24")

func TestAcquireAddsAndAnnounces(t *testing.T) {
	addrs := newFakeAddrs("ibiz0", "192.0.2.10/24")
	m, arp, sleeps := newManager(addrs)
	if err := m.Acquire(context.Background(), "ibiz0", sysIP); err != nil {
		t.Fatal(err)
	}
	// The node's own /24 covers the system IP: no second subnet route.
	want := []string{"add ibiz0 192.0.2.5/24 label=ibiz0:sys noprefixroute=true"}
	if !slices.Equal(addrs.ops, want) {
		t.Errorf("ops %q, want %q", addrs.ops, want)
	}
	wantARP := slices.Repeat([]announcement{{"ibiz0", sysIP.Addr()}}, 3)
	if !slices.Equal(arp.sent, wantARP) {
		t.Errorf("announcements %v", arp.sent)
	}
	if !slices.Equal(*sleeps, []time.Duration{200 * time.Millisecond, 200 * time.Millisecond}) {
		t.Errorf("spacing %v", *sleeps)
	}
	if held, err := m.Held("ibiz0", sysIP); !held || err != nil {
		t.Errorf("held %v, %v", held, err)
	}

	// Again: nothing added, announced again.
	if err := m.Acquire(context.Background(), "ibiz0", sysIP); err != nil {
		t.Fatal(err)
	}
	if len(addrs.ops) != 1 || len(arp.sent) != 6 {
		t.Errorf("second Acquire: ops %q, %d announcements", addrs.ops, len(arp.sent))
	}
}

func TestAcquirePrefixRoute(t *testing.T) {
	for _, c := range []struct {
		have []string
		p    string
		want bool
	}{
		{nil, "192.0.2.5/24", false},                        // alone in its subnet: keep the route
		{[]string{"192.0.2.130/25"}, "192.0.2.5/25", false}, // the node lives in another subnet
		{[]string{"192.0.2.10/16"}, "192.0.2.5/24", true},   // a wider node subnet covers it
		{[]string{"192.0.2.10/24"}, "192.0.2.5/32", false},  // a /32 brings no route anyway
		{[]string{"192.0.2.10/32"}, "192.0.2.5/24", false},  // a /32 covers nothing
		{[]string{"192.0.2.130/25"}, "192.0.2.5/24", false}, // the other half
		{[]string{"192.0.2.200/32", "192.0.2.10/24"}, "192.0.2.5/24", true},
	} {
		addrs := newFakeAddrs("ibiz0", c.have...)
		m, _, _ := newManager(addrs)
		if err := m.Acquire(context.Background(), "ibiz0", netip.MustParsePrefix(c.p)); err != nil {
			t.Fatal(err)
		}
		if got := strings.HasSuffix(addrs.ops[0], "noprefixroute=true"); got != c.want {
			t.Errorf("%v with %v: %s", c.p, c.have, addrs.ops[0])
		}
	}
}

func TestAcquireRefuses(t *testing.T) {
	for _, p := range []string{"2001:db8::5/64", "0.0.0.0/0", "127.0.0.5/8", "224.0.0.5/24", "192.0.2.0/24", "192.0.2.255/24", "169.254.1.1/16", "255.255.255.255/32"} {
		addrs := newFakeAddrs("ibiz0")
		m, arp, _ := newManager(addrs)
		if err := m.Acquire(context.Background(), "ibiz0", netip.MustParsePrefix(p)); err == nil {
			t.Errorf("%s acquired", p)
		}
		if len(addrs.ops)+len(arp.sent) != 0 {
			t.Errorf("%s: ops %q, announcements %v", p, addrs.ops, arp.sent)
		}
	}
	if err := (&Manager{}).Acquire(context.Background(), "ibiz0", netip.Prefix{}); err == nil {
		t.Error("invalid prefix acquired")
	}

	// The same address with another length is not ours to change.
	addrs := newFakeAddrs("ibiz0", "192.0.2.5/32")
	m, arp, _ := newManager(addrs)
	if err := m.Acquire(context.Background(), "ibiz0", sysIP); err == nil || !strings.Contains(err.Error(), "already has 192.0.2.5/32") {
		t.Errorf("conflict: %v", err)
	}
	if len(addrs.ops)+len(arp.sent) != 0 {
		t.Errorf("conflict: ops %q, announcements %v", addrs.ops, arp.sent)
	}

	// No interface, a failing add: nothing announced.
	if err := m.Acquire(context.Background(), "ibiz9", sysIP); !errors.Is(err, ErrNoLink) {
		t.Errorf("missing interface: %v", err)
	}
	addrs = newFakeAddrs("ibiz0")
	addrs.fail = errors.New("operation not permitted")
	m, arp, _ = newManager(addrs)
	if err := m.Acquire(context.Background(), "ibiz0", sysIP); err == nil || len(arp.sent) != 0 {
		t.Errorf("failing add: %v, %d announcements", err, len(arp.sent))
	}

	// A cancelled context adds nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	addrs = newFakeAddrs("ibiz0")
	m, _, _ = newManager(addrs)
	if err := m.Acquire(ctx, "ibiz0", sysIP); !errors.Is(err, context.Canceled) || len(addrs.ops) != 0 {
		t.Errorf("cancelled: %v, ops %q", err, addrs.ops)
	}
}

func TestAcquireAnnouncementFailures(t *testing.T) {
	addrs := newFakeAddrs("ibiz0")
	m, arp, _ := newManager(addrs)
	arp.fail = func(n int) error {
		if n == 2 {
			return errors.New("network is down")
		}
		return nil
	}
	err := m.Acquire(context.Background(), "ibiz0", sysIP)
	if err == nil || !strings.Contains(err.Error(), "1 of 3") || !strings.Contains(err.Error(), "network is down") {
		t.Errorf("one failed announcement: %v", err)
	}
	if len(arp.sent) != 3 {
		t.Errorf("%d announcements; the others must still go out", len(arp.sent))
	}
	// The address stays: a retry adds nothing and announces.
	arp.fail = nil
	if err := m.Acquire(context.Background(), "ibiz0", sysIP); err != nil || len(addrs.ops) != 1 {
		t.Errorf("retry: %v, ops %q", err, addrs.ops)
	}
}

func TestAcquireCancelledWhileAnnouncing(t *testing.T) {
	addrs := newFakeAddrs("ibiz0")
	m, arp, _ := newManager(addrs)
	ctx, cancel := context.WithCancel(context.Background())
	m.Sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}
	err := m.Acquire(ctx, "ibiz0", sysIP)
	if !errors.Is(err, context.Canceled) || len(arp.sent) != 1 {
		t.Errorf("%v after %d announcements", err, len(arp.sent))
	}
	if held, _ := m.Held("ibiz0", sysIP); !held {
		t.Error("a cancelled Acquire must leave the address (Release takes it)")
	}
}

// Release during the announcements: none leaves after it.
func TestReleaseStopsAnnouncements(t *testing.T) {
	addrs := newFakeAddrs("ibiz0", "192.0.2.10/24")
	m, arp, _ := newManager(addrs)
	m.Sleep = func(ctx context.Context, d time.Duration) error {
		if err := m.Release("ibiz0", sysIP); err != nil {
			t.Error(err)
		}
		return nil
	}
	err := m.Acquire(context.Background(), "ibiz0", sysIP)
	if !errors.Is(err, ErrSuperseded) {
		t.Errorf("Acquire: %v, want ErrSuperseded", err)
	}
	if len(arp.sent) != 1 {
		t.Errorf("%d announcements, want only the one before Release", len(arp.sent))
	}
	if held, _ := m.Held("ibiz0", sysIP); held {
		t.Error("released address still there")
	}
}

func TestRelease(t *testing.T) {
	addrs := newFakeAddrs("ibiz0", "192.0.2.10/24", "192.0.2.5/24")
	m, arp, _ := newManager(addrs)
	for range 2 { // the second finds nothing to do
		if err := m.Release("ibiz0", sysIP); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(addrs.ops, []string{"del ibiz0 192.0.2.5/24"}) {
		t.Errorf("ops %q", addrs.ops)
	}
	if as, _ := addrs.Addrs("ibiz0"); len(as) != 1 || as[0].Prefix != netip.MustParsePrefix("192.0.2.10/24") {
		t.Errorf("left %v", as)
	}
	// Another length of the same address is not the system IP: left alone.
	addrs = newFakeAddrs("ibiz0", "192.0.2.5/32")
	m, _, _ = newManager(addrs)
	if err := m.Release("ibiz0", sysIP); err != nil || len(addrs.ops) != 0 {
		t.Errorf("other length: %v, ops %q", err, addrs.ops)
	}
	// The interface is gone: so is the address.
	if err := m.Release("ibiz9", sysIP); err != nil {
		t.Errorf("missing interface: %v", err)
	}
	if len(arp.sent) != 0 {
		t.Error("Release announced")
	}
}

func TestLabel(t *testing.T) {
	for in, want := range map[string]string{"ibiz0": "ibiz0:sys", "enp1s0f1": "enp1s0f1:sys", "enp129s0f1np1": ""} {
		if got := Label(in); got != want {
			t.Errorf("Label(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGratuitousARPFrame(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	f := GratuitousARP(mac, netip.MustParseAddr("192.0.2.5"))
	want := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // to everyone
		0x02, 0x00, 0x5e, 0x10, 0x00, 0x01, // from us
		0x08, 0x06, // ARP
		0x00, 0x01, 0x08, 0x00, 6, 4, // Ethernet, IPv4
		0x00, 0x01, // request
		0x02, 0x00, 0x5e, 0x10, 0x00, 0x01, 192, 0, 2, 5, // sender
		0, 0, 0, 0, 0, 0, 192, 0, 2, 5, // target: no MAC, the same IP
	}
	want = append(want, make([]byte, 60-len(want))...)
	if !bytes.Equal(f, want) {
		t.Errorf("frame\n% x\nwant\n% x", f, want)
	}
	a, ok := ParseARP(f)
	if !ok || !a.IsAnnouncement(mac, netip.MustParseAddr("192.0.2.5")) || a.IsAnnouncement(mac, netip.MustParseAddr("192.0.2.6")) {
		t.Errorf("parsed %+v, %v", a, ok)
	}
	if _, ok := ParseARP(f[:41]); ok {
		t.Error("short frame parsed")
	}
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], htons(0x0806))
	if b != [2]byte{0x08, 0x06} {
		t.Errorf("htons(0x0806) lies in memory as % x", b)
	}
}
