package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/nodeconfig"
	"github.com/u-root/u-root/pkg/dhclient"
)

// fakeLinks is Links in memory, with the kernel's rules that matter here:
// unique names, renames only while down.
type fakeLinks struct {
	links  []*Link
	addrs  map[int][]netip.Prefix
	routes map[int]netip.Addr
	ops    []string
}

func newFake(ls ...Link) *fakeLinks {
	f := &fakeLinks{addrs: map[int][]netip.Prefix{}, routes: map[int]netip.Addr{}}
	for i := range ls {
		l := ls[i]
		f.links = append(f.links, &l)
	}
	return f
}

func (f *fakeLinks) get(l Link) (*Link, error) {
	for _, k := range f.links {
		if k.Index == l.Index {
			return k, nil
		}
	}
	return nil, fmt.Errorf("no link with index %d", l.Index)
}

func (f *fakeLinks) byName(n string) *Link {
	for _, k := range f.links {
		if k.Name == n {
			return k
		}
	}
	return nil
}

func (f *fakeLinks) List() ([]Link, error) {
	var out []Link
	for _, k := range f.links {
		out = append(out, *k)
	}
	return out, nil
}

func (f *fakeLinks) Rename(l Link, name string) error {
	k, err := f.get(l)
	if err != nil {
		return err
	}
	if o := f.byName(name); o != nil {
		return fmt.Errorf("name %s is taken", name)
	}
	f.ops = append(f.ops, "rename "+k.Name+" "+name)
	k.Up, k.Carrier, k.Name = false, false, name
	return nil
}

func (f *fakeLinks) SetUp(l Link) error {
	k, err := f.get(l)
	if err != nil {
		return err
	}
	f.ops = append(f.ops, "up "+k.Name)
	k.Up, k.Carrier = true, true
	return nil
}

func (f *fakeLinks) ReplaceAddr(l Link, p netip.Prefix) error {
	k, err := f.get(l)
	if err != nil {
		return err
	}
	f.ops = append(f.ops, "addr "+k.Name+" "+p.String())
	for _, a := range f.addrs[k.Index] {
		if a == p {
			return nil
		}
	}
	f.addrs[k.Index] = append(f.addrs[k.Index], p)
	return nil
}

func (f *fakeLinks) Addrs(l Link) ([]netip.Prefix, error) { return f.addrs[l.Index], nil }

func (f *fakeLinks) ReplaceDefaultRoute(l Link, gw netip.Addr) error {
	k, err := f.get(l)
	if err != nil {
		return err
	}
	f.ops = append(f.ops, "route "+k.Name+" "+gw.String())
	f.routes[k.Index] = gw
	return nil
}

type fakeDHCP struct {
	lease Lease
	err   error
	asked []string
}

func (d *fakeDHCP) Lease(_ context.Context, l Link) (Lease, error) {
	d.asked = append(d.asked, l.Name)
	if !l.Up {
		return Lease{}, errors.New("link is down")
	}
	return d.lease, d.err
}

var (
	macPriv   = "52:54:00:00:00:01"
	macIbiz   = "52:54:00:00:00:02"
	macALink0 = "52:54:00:00:00:03"
	macALink1 = "52:54:00:00:00:04"
)

func mac(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }

func twoNICs() *fakeLinks {
	return newFake(
		Link{Index: 1, Name: "lo", Up: true},
		Link{Index: 2, Name: "enp1s0", MAC: mac(macPriv)},
		Link{Index: 3, Name: "enp2s0", MAC: mac(macIbiz)},
	)
}

func staticNet() nodeconfig.Network {
	return nodeconfig.Network{
		Priv0: nodeconfig.NIC{MAC: macPriv},
		Ibiz0: nodeconfig.NIC{MAC: macIbiz},
		Node:  answers.Address{IP: "192.0.2.10", Netmask: "255.255.255.0", Gateway: "192.0.2.1"},
		DNS:   []string{"192.0.2.53", "2001:db8::53"},
	}
}

func TestConfigureStatic(t *testing.T) {
	f := twoNICs()
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	c := &Configurator{Links: f, ResolvConf: rc}
	res, err := c.Configure(context.Background(), staticNet())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"rename enp1s0 priv0", "rename enp2s0 ibiz0", "up priv0", "up ibiz0",
		"addr ibiz0 192.0.2.10/24", "route ibiz0 192.0.2.1",
	}
	if !reflect.DeepEqual(f.ops, want) {
		t.Fatalf("operations:\n%q\nwant\n%q", f.ops, want)
	}
	if res.Ibiz0 != netip.MustParsePrefix("192.0.2.10/24") || res.DHCP || len(res.Warnings) != 0 {
		t.Fatalf("result %+v", res)
	}
	b, _ := os.ReadFile(rc)
	if !strings.Contains(string(b), "nameserver 192.0.2.53\nnameserver 2001:db8::53\n") {
		t.Fatalf("resolv.conf:\n%s", b)
	}

	// A restarted agent finds everything in place and renames nothing.
	f.ops = nil
	if _, err := c.Configure(context.Background(), staticNet()); err != nil {
		t.Fatal(err)
	}
	want = []string{"addr ibiz0 192.0.2.10/24", "route ibiz0 192.0.2.1"}
	if !reflect.DeepEqual(f.ops, want) {
		t.Fatalf("second run operations: %q, want %q", f.ops, want)
	}
	o, err := Observe(f)
	if err != nil {
		t.Fatal(err)
	}
	if o.Priv0 != "up" || o.Ibiz0State != "up" || len(o.Ibiz0) != 1 || o.Ibiz0[0] != res.Ibiz0 {
		t.Fatalf("Observe = %+v", o)
	}
}

func TestConfigureSwappedNames(t *testing.T) {
	// The NICs' roles were swapped since the names were given.
	f := newFake(
		Link{Index: 2, Name: "ibiz0", MAC: mac(macPriv), Up: true},
		Link{Index: 3, Name: "priv0", MAC: mac(macIbiz), Up: true},
	)
	n := staticNet()
	n.Node.Gateway = ""
	if _, err := (&Configurator{Links: f}).Configure(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if l := f.byName("priv0"); l == nil || !reflect.DeepEqual(l.MAC, mac(macPriv)) || !l.Up {
		t.Fatalf("priv0 = %+v", l)
	}
	if l := f.byName("ibiz0"); l == nil || !reflect.DeepEqual(l.MAC, mac(macIbiz)) || !l.Up {
		t.Fatalf("ibiz0 = %+v", l)
	}
	if len(f.routes) != 0 {
		t.Fatalf("route without a gateway: %v", f.routes)
	}
}

func TestConfigureDHCP(t *testing.T) {
	f := twoNICs()
	d := &fakeDHCP{lease: Lease{
		Addr:    netip.MustParsePrefix("192.0.2.77/24"),
		Gateway: netip.MustParsePrefix("192.0.2.1/32").Addr(),
		DNS:     []netip.Addr{netip.MustParseAddr("192.0.2.2")},
	}}
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	n := staticNet()
	n.Node = answers.Address{DHCP: true}
	n.DNS = nil
	res, err := (&Configurator{Links: f, DHCP: d, ResolvConf: rc}).Configure(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if !res.DHCP || res.Ibiz0 != d.lease.Addr || !reflect.DeepEqual(d.asked, []string{"ibiz0"}) {
		t.Fatalf("result %+v, asked %v", res, d.asked)
	}
	if got := f.routes[3]; got != d.lease.Gateway {
		t.Fatalf("route via %v", got)
	}
	if b, _ := os.ReadFile(rc); !strings.Contains(string(b), "nameserver 192.0.2.2\n") {
		t.Fatalf("resolv.conf from the lease:\n%s", b)
	}

	d.err = errors.New("timed out")
	if _, err := (&Configurator{Links: f, DHCP: d}).Configure(context.Background(), n); err == nil || !strings.Contains(err.Error(), "ibiz0: DHCP: timed out") {
		t.Fatalf("DHCP failure: %v", err)
	}
}

func TestConfigureErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		links *fakeLinks
		edit  func(*nodeconfig.Network)
		want  string
	}{
		"missing NIC": {newFake(Link{Index: 2, Name: "enp1s0", MAC: mac(macPriv)}), nil,
			"ibiz0: no network link has MAC 52:54:00:00:00:02 (the NIC chosen at install); links: enp1s0 52:54:00:00:00:01"},
		"shared MAC": {newFake(
			Link{Index: 2, Name: "enp1s0", MAC: mac(macPriv)},
			Link{Index: 3, Name: "enp2s0", MAC: mac(macIbiz)},
			Link{Index: 4, Name: "br0", MAC: mac(macIbiz)},
		), nil, "ibiz0: several links have MAC 52:54:00:00:00:02: enp2s0 52:54:00:00:00:02, br0 52:54:00:00:00:02"},
		"bad netmask": {twoNICs(), func(n *nodeconfig.Network) { n.Node.Netmask = "255.0.255.0" }, "not contiguous"},
		"bad MAC":     {twoNICs(), func(n *nodeconfig.Network) { n.Priv0.MAC = "nope" }, `priv0: node config MAC "nope"`},
		"no DHCP":     {twoNICs(), func(n *nodeconfig.Network) { n.Node = answers.Address{DHCP: true} }, "no DHCP client"},
		"missing A-Link": {fourNICs(), func(n *nodeconfig.Network) {
			n.ALinks = append(aLinkNet().ALinks, nodeconfig.NIC{MAC: "52:54:00:00:00:05"})
		},
			"alink2: no network link has MAC 52:54:00:00:00:05 (the NIC chosen at install); links: enp1s0 52:54:00:00:00:01"},
		"bad A-Link MAC": {fourNICs(), func(n *nodeconfig.Network) { n.ALinks = []nodeconfig.NIC{{MAC: macALink0}, {MAC: "x"}} }, `alink1: node config MAC "x"`},
		"A-Link on priv0": {fourNICs(), func(n *nodeconfig.Network) { n.ALinks = []nodeconfig.NIC{{MAC: "52-54-00-00-00-01"}} },
			"alink0: node config MAC 52:54:00:00:00:01 is priv0's too"},
	} {
		t.Run(name, func(t *testing.T) {
			n := staticNet()
			if tc.edit != nil {
				tc.edit(&n)
			}
			_, err := (&Configurator{Links: tc.links}).Configure(context.Background(), n)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// fourNICs is twoNICs with two more NICs for A-Links.
func fourNICs() *fakeLinks {
	f := twoNICs()
	f.links = append(f.links,
		&Link{Index: 4, Name: "enp3s0", MAC: mac(macALink0)},
		&Link{Index: 5, Name: "enp4s0", MAC: mac(macALink1)},
	)
	return f
}

func aLinkNet() nodeconfig.Network {
	n := staticNet()
	n.ALinks = []nodeconfig.NIC{{MAC: macALink0}, {MAC: macALink1}}
	return n
}

func TestConfigureALinks(t *testing.T) {
	f := fourNICs()
	c := &Configurator{Links: f}
	if _, err := c.Configure(context.Background(), aLinkNet()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"rename enp1s0 priv0", "rename enp2s0 ibiz0", "rename enp3s0 alink0", "rename enp4s0 alink1",
		"up priv0", "up ibiz0", "up alink0", "up alink1",
		"addr ibiz0 192.0.2.10/24", "route ibiz0 192.0.2.1",
	}
	if !reflect.DeepEqual(f.ops, want) {
		t.Fatalf("operations:\n%q\nwant\n%q", f.ops, want)
	}
	for name, m := range map[string]string{"alink0": macALink0, "alink1": macALink1} {
		l := f.byName(name)
		if l == nil || !reflect.DeepEqual(l.MAC, mac(m)) || !l.Up {
			t.Fatalf("%s = %+v", name, l)
		}
		if a := f.addrs[l.Index]; len(a) != 0 || f.routes[l.Index].IsValid() {
			t.Errorf("%s has addresses %v or a route: A-Links keep only their link-local address", name, a)
		}
	}

	f.ops = nil
	if _, err := c.Configure(context.Background(), aLinkNet()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"addr ibiz0 192.0.2.10/24", "route ibiz0 192.0.2.1"}; !reflect.DeepEqual(f.ops, want) {
		t.Fatalf("second run operations: %q, want %q", f.ops, want)
	}

	o, err := Observe(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := []LinkState{{"alink0", "up"}, {"alink1", "up"}}; !reflect.DeepEqual(o.ALinks, want) || o.Priv0 != "up" || o.Ibiz0State != "up" {
		t.Fatalf("Observe = %+v", o)
	}
}

func TestConfigureALinksReordered(t *testing.T) {
	// The A-Links were listed the other way round since the names were
	// given, and a NIC no longer in the config holds alink2's old name
	// while ibiz0's old name is held by what is now alink0.
	f := newFake(
		Link{Index: 2, Name: "priv0", MAC: mac(macPriv), Up: true},
		Link{Index: 3, Name: "enp2s0", MAC: mac(macIbiz)},
		Link{Index: 4, Name: "alink1", MAC: mac(macALink0), Up: true},
		Link{Index: 5, Name: "alink0", MAC: mac(macALink1), Up: true},
		Link{Index: 6, Name: "ibiz0", MAC: mac("52:54:00:00:00:05"), Up: true},
	)
	n := aLinkNet()
	if _, err := (&Configurator{Links: f}).Configure(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]string{"priv0": macPriv, "ibiz0": macIbiz, "alink0": macALink0, "alink1": macALink1} {
		if l := f.byName(name); l == nil || !reflect.DeepEqual(l.MAC, mac(m)) || !l.Up {
			t.Errorf("%s = %+v, want MAC %s, up", name, l, m)
		}
	}
	// In role order, on every run; priv0, already in place, is left alone.
	want := []string{
		"rename ibiz0 lsold6", "rename alink0 lsold5", "rename alink1 lsold4",
		"rename enp2s0 ibiz0", "rename lsold4 alink0", "rename lsold5 alink1",
		"up ibiz0", "up alink0", "up alink1", "addr ibiz0 192.0.2.10/24", "route ibiz0 192.0.2.1",
	}
	if !reflect.DeepEqual(f.ops, want) {
		t.Fatalf("operations:\n%q\nwant\n%q", f.ops, want)
	}
}

func TestHeartbeatLinks(t *testing.T) {
	if got := HeartbeatLinks(staticNet()); !reflect.DeepEqual(got, []string{"priv0"}) {
		t.Errorf("without A-Links: %q", got)
	}
	if got := HeartbeatLinks(aLinkNet()); !reflect.DeepEqual(got, []string{"priv0", "alink0", "alink1"}) {
		t.Errorf("with two A-Links: %q", got)
	}
	for i, want := range []string{"alink0", "alink1", "alink3", "alink12"} {
		n := []int{0, 1, 3, 12}[i]
		if got := ALinkName(n); got != want {
			t.Errorf("ALinkName(%d) = %q", n, got)
		}
		if got := aLinkIndex(want); got != n {
			t.Errorf("aLinkIndex(%q) = %d", want, got)
		}
	}
	for _, name := range []string{"alink", "alink01", "alink-1", "alinkx", "priv0", "Alink0"} {
		if i := aLinkIndex(name); i != -1 {
			t.Errorf("aLinkIndex(%q) = %d, want -1", name, i)
		}
	}
}

func TestObserveALinks(t *testing.T) {
	f := newFake(
		Link{Index: 2, Name: "priv0", Up: true, Carrier: true},
		Link{Index: 3, Name: "alink1", Up: true},
		Link{Index: 4, Name: "alink7"}, // beyond answers.MaxALinks: not listed
		Link{Index: 5, Name: "alinkx"},
	)
	o, err := Observe(f)
	if err != nil {
		t.Fatal(err)
	}
	want := Observed{Priv0: "up", Ibiz0State: "missing", ALinks: []LinkState{{"alink0", "missing"}, {"alink1", "up, no carrier"}}}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("Observe = %+v, want %+v", o, want)
	}
	if o, _ := Observe(twoNICs()); o.ALinks != nil {
		t.Errorf("no A-Links: %+v", o.ALinks)
	}
}

func TestStaticAddress(t *testing.T) {
	for _, tc := range []struct {
		a    answers.Address
		want string
		err  bool
	}{
		{answers.Address{IP: "192.0.2.10", Netmask: "255.255.255.128"}, "192.0.2.10/25", false},
		{answers.Address{IP: "192.0.2.10", Netmask: "/22"}, "192.0.2.10/22", false},
		{answers.Address{IP: "192.0.2.10", Netmask: "16"}, "192.0.2.10/16", false},
		{answers.Address{IP: "192.0.2.10/24"}, "192.0.2.10/24", false},
		{answers.Address{IP: "192.0.2.10", Netmask: "33"}, "", true},
		{answers.Address{IP: "192.0.2.10"}, "", true},
		{answers.Address{IP: "192.0.2.300", Netmask: "24"}, "", true},
		{answers.Address{IP: "192.0.2.10/24", Gateway: "gw"}, "", true},
	} {
		p, _, err := StaticAddress(tc.a)
		if (err != nil) != tc.err || (!tc.err && p.String() != tc.want) {
			t.Errorf("StaticAddress(%+v) = %v, %v; want %s (error %v)", tc.a, p, err, tc.want, tc.err)
		}
	}
}

func TestLeaseOf(t *testing.T) {
	pkt, err := dhcpv4.New(
		dhcpv4.WithYourIP(net.ParseIP("192.0.2.77")),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(net.ParseIP("192.0.2.1")),
		dhcpv4.WithDNS(net.ParseIP("192.0.2.2")),
		dhcpv4.WithLeaseTime(3600),
	)
	if err != nil {
		t.Fatal(err)
	}
	l, err := leaseOf(dhclient.NewPacket4(nil, pkt))
	if err != nil {
		t.Fatal(err)
	}
	want := Lease{
		Addr:    netip.MustParsePrefix("192.0.2.77/24"),
		Gateway: netip.MustParseAddr("192.0.2.1"),
		DNS:     []netip.Addr{netip.MustParseAddr("192.0.2.2")},
		Time:    int(time.Hour / time.Second),
	}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("leaseOf = %+v, want %+v", l, want)
	}
}
