package netcfg

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/lockstep-ft/lockstep/internal/netnstest"
)

// TestBridgesInNamespace reconciles business networks' bridges in the
// real kernel, in a network namespace of its own with veth pairs standing
// in for the NICs. Root only, when asked:
//
//	LOCKSTEP_NETWORK_TESTS=1 go test ./agent/netcfg/ -run TestBridgesInNamespace -v
func TestBridgesInNamespace(t *testing.T) {
	netnstest.Enter(t)
	n, err := NewNetlink()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	h := n.h

	for _, v := range []struct{ name, mac string }{
		{"enp9s0", "52:54:00:00:00:09"}, {"enp10s0", "52:54:00:00:00:0a"}, {"enp11s0", "52:54:00:00:00:0b"}, {"priv0", macPriv},
	} {
		if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: v.name, HardwareAddr: mac(v.mac)}, PeerName: v.name + "p"}); err != nil {
			t.Fatalf("veth %s: %v", v.name, err)
		}
		// The far end up: the bridge gets a carrier, which is when the
		// kernel would give it an IPv6 link-local address.
		p, _ := h.LinkByName(v.name + "p")
		if err := h.LinkSetUp(p); err != nil {
			t.Fatal(err)
		}
	}
	// A bridge that is not ours, and one of a network since deleted, each
	// with a port.
	for _, br := range []struct{ name, port string }{{"virbr0", "enp11s0p"}, {"lsbr-old", "enp11s0"}} {
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: br.name}}); err != nil {
			t.Fatal(err)
		}
		b, _ := h.LinkByName(br.name)
		p, _ := h.LinkByName(br.port)
		if err := h.LinkSetMaster(p, b); err != nil {
			t.Fatal(err)
		}
	}

	nets := []BusinessNet{{"biz0", "enp9s0"}, {"biz1", "52:54:00:00:00:0a"}, {"dmz", "enp99s0"}, {"bad", macPriv}}
	for run := 1; run <= 2; run++ {
		states, err := ReconcileBridges(n, nets)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if states["biz0"] != "ok" || states["biz1"] != "ok" || states["dmz"] != "port enp99s0 not found" || !strings.Contains(states["bad"], "priv0 is the heartbeat port") {
			t.Errorf("run %d: states %v", run, states)
		}
	}

	master := func(name string) string {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if l.Attrs().MasterIndex == 0 {
			return ""
		}
		m, err := h.LinkByIndex(l.Attrs().MasterIndex)
		if err != nil {
			t.Fatal(err)
		}
		return m.Attrs().Name
	}
	for port, want := range map[string]string{"enp9s0": "lsbr-biz0", "enp10s0": "lsbr-biz1", "enp11s0": "", "enp11s0p": "virbr0", "priv0": ""} {
		if got := master(port); got != want {
			t.Errorf("%s: on %q, want %q", port, got, want)
		}
	}
	if _, err := h.LinkByName("lsbr-old"); err == nil {
		t.Error("lsbr-old is still there")
	}
	time.Sleep(100 * time.Millisecond) // the carrier comes through a work queue
	for _, name := range []string{"lsbr-biz0", "lsbr-biz1", "lsbr-dmz", "lsbr-bad"} {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if l.Type() != "bridge" || l.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("%s: %s, flags %v", name, l.Type(), l.Attrs().Flags)
		}
		if as, err := h.AddrList(l, netlink.FAMILY_ALL); err != nil || len(as) != 0 {
			t.Errorf("%s: addresses %v, %v; want none, not even link-local", name, as, err)
		}
		stp, delay := bridgeAttrs(t, l.Attrs().Index)
		if stp != 0 || delay != 0 {
			t.Errorf("%s: STP %d, forward delay %d; want 0, 0", name, stp, delay)
		}
		for _, s := range bridgeSysctls {
			p := "/proc/sys/net/" + fmt.Sprintf(s.path, name)
			if b, err := os.ReadFile(p); err != nil || strings.TrimSpace(string(b)) != s.value {
				t.Errorf("%s: %q, %v; want %s", p, b, err, s.value)
			}
		}
	}

	// The last network goes: every bridge of ours with it, nothing else.
	if _, err := ReconcileBridges(n, nil); err != nil {
		t.Fatal(err)
	}
	ls, _ := h.LinkList()
	for _, l := range ls {
		if strings.HasPrefix(l.Attrs().Name, BridgePrefix) {
			t.Errorf("%s is still there", l.Attrs().Name)
		}
	}
	if master("enp11s0p") != "virbr0" || master("enp9s0") != "" {
		t.Errorf("enp11s0p on %q, enp9s0 on %q", master("enp11s0p"), master("enp9s0"))
	}
}

// bridgeAttrs reads a bridge's STP state and forward delay, which the
// netlink library does not decode.
func bridgeAttrs(t *testing.T, index int) (stp, delay uint32) {
	t.Helper()
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("RTM_GETLINK %d: %d messages, %v", index, len(msgs), err)
	}
	attrs, err := nl.ParseRouteAttr(msgs[0][unix.SizeofIfInfomsg:])
	if err != nil {
		t.Fatal(err)
	}
	stp, delay = 99, 99
	for _, a := range attrs {
		if a.Attr.Type != unix.IFLA_LINKINFO {
			continue
		}
		infos, _ := nl.ParseRouteAttr(a.Value)
		for _, i := range infos {
			if i.Attr.Type != nl.IFLA_INFO_DATA {
				continue
			}
			data, _ := nl.ParseRouteAttr(i.Value)
			for _, d := range data {
				switch d.Attr.Type {
				case nl.IFLA_BR_STP_STATE:
					stp = binary.NativeEndian.Uint32(d.Value)
				case nl.IFLA_BR_FORWARD_DELAY:
					delay = binary.NativeEndian.Uint32(d.Value)
				}
			}
		}
	}
	return stp, delay
}
