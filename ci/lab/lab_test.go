package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

const repoRoot = "../.."

func TestTopology(t *testing.T) {
	macs, taps := map[string]string{}, map[string]bool{}
	for _, n := range Nodes {
		for k, s := range Segments {
			mac := n.MAC(k)
			hw, err := net.ParseMAC(mac)
			if err != nil || hw.String() != mac {
				t.Errorf("%s %s: MAC %q is not canonical", n.Name, s.NIC, mac)
			}
			if want := "52:54:00:4c:0" + string(rune('0'+n.Index)) + ":0" + string(rune('0'+k)); mac != want {
				t.Errorf("%s %s: MAC %s, want %s", n.Name, s.NIC, mac, want)
			}
			if other, dup := macs[mac]; dup {
				t.Errorf("MAC %s of %s %s is also %s's", mac, n.Name, s.NIC, other)
			}
			macs[mac] = n.Name + " " + s.NIC
			tap := n.Tap(k)
			if len(tap) > 15 || taps[tap] {
				t.Errorf("tap name %q: too long or not unique", tap)
			}
			taps[tap] = true
			if n.NICMAC(s.NIC) != mac {
				t.Errorf("NICMAC(%s) = %s, want %s", s.NIC, n.NICMAC(s.NIC), mac)
			}
		}
	}
	pfx := Prefix()
	seen := map[netip.Addr]string{}
	for what, s := range map[string]string{"system IP": SystemIP, "lab host": HostIP, Nodes[0].Name: Nodes[0].Addr, Nodes[1].Name: Nodes[1].Addr} {
		a := netip.MustParseAddr(s)
		if !pfx.Contains(a) {
			t.Errorf("%s %s is outside %s", what, a, pfx)
		}
		if other, dup := seen[a]; dup {
			t.Errorf("%s and %s share %s", what, other, a)
		}
		seen[a] = what
	}
	hosts := 0
	for _, s := range Segments {
		if len(s.Name) > 15 {
			t.Errorf("bridge name %q is too long", s.Name)
		}
		if s.HostAddr != "" {
			hosts++
			p := netip.MustParsePrefix(s.HostAddr)
			want := map[string]string{"ibiz": HostIP, "biz": BizHostIP}[s.Name]
			if p.Addr().String() != want || p.Bits() != pfx.Bits() || s.PointToPoint {
				t.Errorf("segment %s: host address %s, want %s/%d on a shared segment", s.Name, s.HostAddr, want, pfx.Bits())
			}
		}
	}
	if hosts != 2 {
		t.Errorf("%d segments carry a lab host address, want ibiz and biz", hosts)
	}
	if g := netip.MustParseAddr(GuestIP); !netip.MustParsePrefix(BizHostIP + "/24").Contains(g) {
		t.Errorf("the guest's address %s is not on the business segment", g)
	}
	for _, nic := range []string{"priv0", "alink0", "ibiz0"} {
		if _, _, err := SegmentByName(nic); err != nil {
			t.Errorf("no segment for %s: %v", nic, err)
		}
	}
	for _, n := range Nodes {
		if _, err := os.Stat(filepath.Join(repoRoot, n.Template)); err != nil {
			t.Errorf("%s: template: %v", n.Name, err)
		}
		if got, err := NodeByName(n.Name); err != nil || got != n {
			t.Errorf("NodeByName(%s) = %v, %v", n.Name, got, err)
		}
	}
	if _, err := NodeByName("node2"); err == nil || !strings.Contains(err.Error(), "node0, node1") {
		t.Errorf("NodeByName(node2): %v", err)
	}
}

// TestNetworkPlan: every command after creating the namespace acts inside
// it, point-to-point bridges get exactly the two nodes' taps, and only ibiz
// gets an address.
func TestNetworkPlan(t *testing.T) {
	ns := "lockstep-lab-t"
	plan := NetworkPlan(ns)
	if !slices.Equal(plan[0], []string{"netns", "add", ns}) {
		t.Fatalf("first command %q", plan[0])
	}
	ports := map[string][]string{}
	var addrs []string
	for _, c := range plan[1:] {
		inside := (len(c) > 2 && c[0] == "-n" && c[1] == ns) || (len(c) > 3 && c[0] == "netns" && c[1] == "exec" && c[2] == ns)
		if !inside {
			t.Errorf("command outside the namespace: ip %s", strings.Join(c, " "))
		}
		if i := slices.Index(c, "master"); i >= 0 {
			ports[c[i+1]] = append(ports[c[i+1]], c[i-1])
		}
		if slices.Contains(c, "addr") {
			addrs = append(addrs, strings.Join(c, " "))
		}
	}
	for k, s := range Segments {
		want := []string{Nodes[0].Tap(k), Nodes[1].Tap(k)}
		if !slices.Equal(ports[s.Name], want) {
			t.Errorf("bridge %s has ports %v, want %v", s.Name, ports[s.Name], want)
		}
	}
	if want := []string{"-n " + ns + " addr add 192.0.2.1/24 dev ibiz", "-n " + ns + " addr add 198.51.100.1/24 dev biz"}; !slices.Equal(addrs, want) {
		t.Errorf("addresses %q, want %q", addrs, want)
	}
	joined := func(c []string) string { return strings.Join(c, " ") }
	var all []string
	for _, c := range plan {
		all = append(all, joined(c))
	}
	for _, want := range []string{
		"netns exec " + ns + " sysctl -q -w net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0",
		"-n " + ns + " link add name priv0 type bridge stp_state 0 mcast_snooping 0 group_fwd_mask 0xfff8",
		"-n " + ns + " link add name biz type bridge stp_state 0 mcast_snooping 0",
		"-n " + ns + " link set dev priv0 addrgenmode none",
		"-n " + ns + " tuntap add dev n1-alink0 mode tap",
		"-n " + ns + " link set dev n1-alink0 master alink0 up",
	} {
		if !slices.Contains(all, want) {
			t.Errorf("the plan lacks `ip %s`", want)
		}
	}
}

func TestLinkCommands(t *testing.T) {
	for _, tc := range []struct {
		link string
		up   bool
		want []string
	}{
		{"priv0", false, []string{"-n ns link set dev n0-priv0 down", "-n ns link set dev n1-priv0 down"}},
		{"alink0", true, []string{"-n ns link set dev n0-alink0 up", "-n ns link set dev n1-alink0 up"}},
		{"ibiz0", false, []string{"-n ns link set dev n0-ibiz0 down", "-n ns link set dev n1-ibiz0 down"}},
		{"node1:ibiz0", false, []string{"-n ns link set dev n1-ibiz0 down"}},
		{"node0:biz", true, []string{"-n ns link set dev n0-biz0 up"}},
	} {
		cmds, err := LinkCommands("ns", tc.link, tc.up)
		if err != nil {
			t.Errorf("%s: %v", tc.link, err)
			continue
		}
		var got []string
		for _, c := range cmds {
			got = append(got, strings.Join(c, " "))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s up=%v: %q, want %q", tc.link, tc.up, got, tc.want)
		}
	}
	for _, bad := range []string{"priv1", "node2:priv0", "node0:eth0"} {
		if _, err := LinkCommands("ns", bad, false); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestParseLinks(t *testing.T) {
	js := `[{"ifindex":3,"ifname":"n0-priv0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"operstate":"UP"},
	{"ifindex":4,"ifname":"n1-priv0","flags":["NO-CARRIER","BROADCAST","MULTICAST","UP"],"operstate":"DOWN"},
	{"ifindex":6,"ifname":"n1-alink0","flags":["BROADCAST","MULTICAST","UP"],"operstate":"UP"},
	{"ifindex":5,"ifname":"n0-alink0","flags":["BROADCAST","MULTICAST"],"operstate":"DOWN"}]`
	m, err := parseLinks([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]TapState{
		"n0-priv0":  {Name: "n0-priv0", Up: true, Carrier: true, Oper: "UP"},
		"n1-priv0":  {Name: "n1-priv0", Up: true, Carrier: false, Oper: "DOWN"},
		"n0-alink0": {Name: "n0-alink0", Up: false, Carrier: false, Oper: "DOWN"},
		// The carrier is gone, the operstate does not know yet.
		"n1-alink0": {Name: "n1-alink0", Up: true, Carrier: false, Oper: "UP"},
	}
	for k, w := range want {
		if m[k] != w {
			t.Errorf("%s: %+v, want %+v", k, m[k], w)
		}
	}
}

// labHardware validates the lab's answers as the installer would on the
// lab's VM.
func TestAnswers(t *testing.T) {
	for _, n := range Nodes {
		t.Run(n.Name, func(t *testing.T) {
			b, err := Answers(repoRoot, n)
			if err != nil {
				t.Fatal(err)
			}
			a, err := answers.Parse(b)
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if errs := answers.Validate(a, Hardware(n)); len(errs) > 0 {
				t.Fatalf("the installer would refuse the lab's answers:\n%v\n%s", errs, b)
			}
			if a.Action != n.Action || a.Hostname != n.Name || !a.Lab || !a.AcceptWarnings || !a.Disk.ConfirmErase {
				t.Errorf("action/hostname/lab flags: %+v", a)
			}
			if a.Network.Priv0 != n.MAC(0) || a.Network.Ibiz0 != n.MAC(2) || !slices.Equal(a.Network.ALinks, []string{n.MAC(1)}) {
				t.Errorf("priv0 %s ibiz0 %s alinks %v, want %s %s [%s]", a.Network.Priv0, a.Network.Ibiz0, a.Network.ALinks, n.MAC(0), n.MAC(2), n.MAC(1))
			}
			nd := a.Network.Node
			if nd.DHCP || nd.IP != n.Addr || nd.Netmask != "255.255.255.0" || nd.Gateway != HostIP {
				t.Errorf("node address %+v", nd)
			}
			if a.Disk.System != SystemDiskID || !slices.Equal(a.Disk.StorageGroup, []string{DataDiskID}) {
				t.Errorf("disks %+v", a.Disk)
			}
			switch n.Action {
			case answers.Create:
				if a.System.Name != SystemName || a.System.IP != SystemIP {
					t.Errorf("system %+v", a.System)
				}
				if !nodeconfig.VerifyPassword(AdminPassword, a.Admin.PasswordHash) {
					t.Errorf("the template's admin password hash is not the hash of %q", AdminPassword)
				}
			default:
				if !reflect.DeepEqual(a.System, answers.System{}) || a.Admin != (answers.Admin{}) {
					t.Errorf("a joining node has system %+v admin %+v", a.System, a.Admin)
				}
			}
			if !strings.HasPrefix(string(b), "# Lockstep lab: unattended install of "+n.Name) {
				t.Errorf("no header:\n%s", b)
			}
		})
	}
	// What the lab learns while it comes up: node0 gets the witness,
	// node1 the fingerprint; neither gets the other's.
	fp := strings.Repeat("ab", 32)
	for _, n := range Nodes {
		b, err := AnswersWith(repoRoot, n, Extra{WitnessSecret: "lab-witness-secret-0123", Fingerprint: fp})
		if err != nil {
			t.Fatal(err)
		}
		a, err := answers.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if errs := answers.Validate(a, Hardware(n)); len(errs) > 0 {
			t.Errorf("%s with what the lab learned: %v", n.Name, errs)
		}
		witness := slices.Equal(a.System.Witnesses, []string{WitnessAddr}) && a.System.WitnessSecret != ""
		if (n.Action == answers.Create) != witness || (n.Action == answers.Create) == (a.Join.Fingerprint == fp) {
			t.Errorf("%s: witnesses %v, fingerprint %q", n.Name, a.System.Witnesses, a.Join.Fingerprint)
		}
	}
	// The template's own A-Link MACs are not the lab's, so an A-Link left
	// as the template wrote it would not resolve on the lab's VM.
	if raw, err := answers.Load(filepath.Join(repoRoot, Nodes[0].Template)); err != nil || len(raw.Network.ALinks) == 0 {
		t.Fatalf("the template lists no A-Link (%v): the substitution is not exercised", err)
	} else if errs := answers.ValidateField(raw, Hardware(Nodes[0]), "network.alinks"); len(errs) == 0 {
		t.Error("the template's A-Links resolve on the lab's VM; the test proves nothing")
	}
	// A template with another action than the table's is refused.
	tmpl, err := os.ReadFile(filepath.Join(repoRoot, Nodes[1].Template))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := answersFrom(tmpl, Nodes[0]); err == nil || !strings.Contains(err.Error(), "needs \"create\"") {
		t.Errorf("node0 from the replace template: %v", err)
	}
	// The model of the installer's disk list is strict like the installer:
	// the templates' by-id name "virtio-lockstep-sys" is not an id it lists.
	raw, err := answers.Parse(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	raw.Disk.System = "virtio-" + SystemDiskSerial
	if errs := answers.ValidateField(raw, Hardware(Nodes[1]), "disk.system"); len(errs) == 0 {
		t.Error("virtio-lockstep-sys validates on the lab's hardware model; the installer refuses it")
	}
	// The answers must not fit another node's NICs.
	b, _ := Answers(repoRoot, Nodes[0])
	a, _ := answers.Parse(b)
	if errs := answers.Validate(a, Hardware(Nodes[1])); len(errs) == 0 {
		t.Error("node0's answers validate on node1's hardware")
	}
}

func testSpec(install bool) VMSpec {
	return VMSpec{
		Namespace: "lockstep-lab", Node: Nodes[1], Files: NodeFiles("/s", Nodes[1]),
		Machine: "q35", NICModel: VirtioNet, Install: install, ISO: "/out/lockstep-0.1.0.iso",
	}
}

// hasPair reports whether args holds flag followed by value.
func hasPair(args []string, flag, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag && args[i+1] == value {
			return true
		}
	}
	return false
}

func TestVMArgs(t *testing.T) {
	run := testSpec(false).Args()
	inst := testSpec(true).Args()
	for _, args := range [][]string{run, inst} {
		for _, p := range [][2]string{
			{"-name", "guest=lockstep-lab-node1"},
			{"-machine", "q35"}, {"-accel", "tcg"}, {"-cpu", "max"}, {"-smp", "5"}, {"-m", "3072"},
			{"-display", "none"},
			{"-chardev", "file,id=console,path=/s/node1/console.log,append=on"},
			{"-serial", "chardev:console"},
			{"-qmp", "unix:/s/node1/qmp.sock,server=on,wait=off"},
			{"-drive", "file=/s/node1/system.img,format=raw,if=none,id=sys,cache=unsafe,discard=unmap"},
			{"-device", "virtio-blk-pci,drive=sys,serial=lockstep-sys,bootindex=1"},
			{"-drive", "file=/s/node1/data.img,format=raw,if=none,id=data,cache=unsafe,discard=unmap"},
			{"-device", "virtio-blk-pci,drive=data,serial=lockstep-data"},
			{"-netdev", "tap,id=priv0,ifname=n1-priv0,script=no,downscript=no"},
			{"-device", "virtio-net-pci,id=nic-priv0,netdev=priv0,mac=52:54:00:4c:01:00,romfile="},
			{"-netdev", "tap,id=biz0,ifname=n1-biz0,script=no,downscript=no"},
			{"-device", "virtio-net-pci,id=nic-ibiz0,netdev=ibiz0,mac=52:54:00:4c:01:02,romfile="},
		} {
			if !hasPair(args, p[0], p[1]) {
				t.Errorf("no %s %s in %q", p[0], p[1], args)
			}
		}
		netdevs := 0
		for i, a := range args {
			if a == "-netdev" {
				netdevs++
				if !strings.HasPrefix(args[i+1], "tap,") || !strings.Contains(args[i+1], ",script=no,downscript=no") {
					t.Errorf("netdev %s is not a script-less tap", args[i+1])
				}
			}
		}
		if netdevs != len(Segments) {
			t.Errorf("%d netdevs, want %d", netdevs, len(Segments))
		}
	}
	for _, s := range []string{"-no-reboot", "/out/lockstep-0.1.0.iso", "/s/node1/answers.img", "usb-storage"} {
		in := func(args []string) bool { return strings.Contains(strings.Join(args, " "), s) }
		if !in(inst) {
			t.Errorf("the install lacks %s", s)
		}
		if in(run) {
			t.Errorf("the boot from disk has %s", s)
		}
	}
	if !hasPair(inst, "-device", "ide-cd,drive=cd,bus=ide.0,bootindex=0") || !hasPair(inst, "-device", "usb-storage,bus=xhci.0,drive=cfg") {
		t.Errorf("install media: %q", inst)
	}

	sp := testSpec(false)
	sp.NICModel = E1000
	sp.FirmwareArgs = []string{"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/code.fd"}
	args := sp.Args()
	if !hasPair(args, "-device", "e1000,id=nic-alink0,netdev=alink0,mac=52:54:00:4c:01:01,romfile=") {
		t.Errorf("e1000: %q", args)
	}
	if !hasPair(args, "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/code.fd") {
		t.Errorf("firmware args missing: %q", args)
	}
	argv := testSpec(false).Argv("/q/bin/qemu-system-x86_64")
	if !slices.Equal(argv[:5], []string{"ip", "netns", "exec", "lockstep-lab", "/q/bin/qemu-system-x86_64"}) {
		t.Errorf("argv starts %q", argv[:5])
	}
}

func TestNewDefaults(t *testing.T) {
	l, err := New(Config{RepoRoot: "/r"})
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config()
	if c.StateDir != "/r/out/lab" || c.Namespace != Namespace || c.Firmware != SeaBIOS || c.Machine != "q35" || c.NICModel != VirtioNet {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range []Config{{Namespace: "other"}, {Firmware: "coreboot"}, {NICModel: "rtl8139"}} {
		if _, err := New(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if l, _ := New(Config{NICModel: "e1000"}); l.Config().NICModel != E1000 {
		t.Error("e1000 not taken")
	}
}

func TestWaitConsole(t *testing.T) {
	old := consolePoll
	consolePoll = 10 * time.Millisecond
	defer func() { consolePoll = old }()
	p := filepath.Join(t.TempDir(), "console.log")
	ready := ReadyPrefix(Nodes[0]) + "waiting for peer"
	if err := os.WriteFile(p, []byte("boot 1\r\n"+ready+"\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mark := fileSize(p)
	// The line of the previous boot does not count.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := waitConsole(ctx, p, mark, nil, ReadyPrefix(Nodes[0]))
	cancel()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting after the mark: %v", err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("boot 2\r\nLOCKSTEP NODE READY node0 192.0.2.11 waiting for peer\r\n")
		f.Close()
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := waitConsole(ctx, p, mark, nil, "nope", ReadyPrefix(Nodes[0]))
	if err != nil || got != ReadyPrefix(Nodes[0]) {
		t.Fatalf("got %q, %v", got, err)
	}
	out, _ := readFrom(p, mark)
	if l := readyLine(out, Nodes[0]); l != ready {
		t.Errorf("readyLine %q", l)
	}
	// A dead QEMU ends the wait at once.
	if _, err := waitConsole(ctx, p, mark, func() bool { return false }, "never"); err == nil || !strings.Contains(err.Error(), "QEMU exited") {
		t.Errorf("dead QEMU: %v", err)
	}
	// A missing log is empty, not an error.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	if _, err := waitConsole(ctx2, p+".none", 0, nil, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("missing log: %v", err)
	}
}

func TestSystemFormed(t *testing.T) {
	ready := func(n Node) string { return "...\r\n" + ReadyPrefix(n) + "waiting for peer\r\n" }
	joined := func(i int) string { return fmt.Sprintf("LOCKSTEP MEMBER node%d peer-joined: incarnation 1\r\n", i) }
	lost := func(i int) string { return fmt.Sprintf("LOCKSTEP MEMBER node%d peer-lost: heard on no link\r\n", i) }
	held := func(i int) string { return fmt.Sprintf("LOCKSTEP SYSTEM IP 192.0.2.10 held node%d\r\n", i) }
	released := func(i int) string { return fmt.Sprintf("LOCKSTEP SYSTEM IP 192.0.2.10 released node%d\r\n", i) }
	obs := func(c0, c1 string) Observation {
		return Observation{Nodes: map[string]NodeObservation{"node0": {Running: true, Console: c0}, "node1": {Running: true, Console: c1}}}
	}
	for _, tc := range []struct {
		name string
		o    Observation
		ok   bool
		why  string
	}{
		{"formed", obs(ready(Nodes[0])+held(0)+joined(0), ready(Nodes[1])+joined(1)), true, "both nodes see each other; node0 holds the system IP"},
		{"formed after a failover", obs(ready(Nodes[0])+joined(0), ready(Nodes[1])+joined(1)+lost(1)+held(1)+joined(1)), true, "both nodes see each other; node1 holds the system IP"},
		{"only ready", obs(ready(Nodes[0]), ready(Nodes[1])), false, "node0 does not see its peer, node1 does not see its peer"},
		{"peer lost last", obs(ready(Nodes[0])+held(0)+joined(0)+lost(0), ready(Nodes[1])+joined(1)), false, "node0 does not see its peer"},
		{"IP released", obs(ready(Nodes[0])+held(0)+joined(0)+released(0), ready(Nodes[1])+joined(1)), false, "no node holds the system IP"},
		{"node1 booting", obs(ready(Nodes[0])+held(0), "Loading Lockstep system A"), false, "node0 does not see its peer, node1 is not ready"},
		{"node0 off", Observation{Nodes: map[string]NodeObservation{
			"node0": {Running: false, Console: ready(Nodes[0])}, "node1": {Running: true, Console: ready(Nodes[1]) + joined(1)}}}, false, "node0 is off"},
		{"wrong node's line", obs(ready(Nodes[1]), ready(Nodes[1])+joined(1)+held(1)), false, "node0 is not ready"},
		{"nothing", Observation{}, false, "node0 is off, node1 is off"},
	} {
		ok, why := SystemFormed(tc.o)
		if ok != tc.ok || why != tc.why {
			t.Errorf("%s: %v %q, want %v %q", tc.name, ok, why, tc.ok, tc.why)
		}
	}
}

// fakeProc writes a /proc entry.
func fakeProc(t *testing.T, root string, pid int, state byte, args ...string) {
	d := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d, "cmdline"), []byte(strings.Join(args, "\x00")+"\x00"), 0o644)
	os.WriteFile(filepath.Join(d, "stat"), []byte(strconv.Itoa(pid)+" (qemu) x) "+string(state)+" 1 2 3"), 0o644)
}

func TestProcessIdentity(t *testing.T) {
	old := procRoot
	procRoot = t.TempDir()
	defer func() { procRoot = old }()
	argv := testSpec(false)
	argv.Files = NodeFiles("/work/out/lab", Nodes[1])
	args := argv.Argv("/q/qemu")
	fakeProc(t, procRoot, 100, 'S', args...)
	fakeProc(t, procRoot, 101, 'Z', args...)                                               // a zombie
	fakeProc(t, procRoot, 102, 'S', "/usr/bin/qemu-system-x86_64", "-name", "guest=other") // someone else's
	other := testSpec(false)
	other.Files = NodeFiles("/elsewhere/lab", Nodes[1])
	fakeProc(t, procRoot, 103, 'R', other.Argv("/q/qemu")...) // another state directory
	if !isNodeQEMU(100, "lockstep-lab", "/work/out/lab", Nodes[1]) {
		t.Error("100 is node1's QEMU")
	}
	if isNodeQEMU(100, "lockstep-lab", "/work/out/lab", Nodes[0]) {
		t.Error("100 is not node0's QEMU")
	}
	if isNodeQEMU(100, "lockstep-lab", "/work/out/la", Nodes[1]) {
		t.Error("a state directory prefix matched")
	}
	for _, pid := range []int{101, 102, 103, 104} {
		if isNodeQEMU(pid, "lockstep-lab", "/work/out/lab", Nodes[1]) {
			t.Errorf("%d taken for node1's QEMU", pid)
		}
	}
	got := LabQEMUs("lockstep-lab", "/work/out/lab")
	if len(got) != 1 || !slices.Equal(got["node1"], []int{100}) {
		t.Errorf("LabQEMUs: %v", got)
	}
	if any := AnyLabQEMU(); !slices.Equal(any, []int{100, 103}) {
		t.Errorf("AnyLabQEMU: %v", any)
	}
	if running(101) || !running(100) || running(999) {
		t.Error("running: zombies and missing processes do not run")
	}
}

func TestStateAndLock(t *testing.T) {
	dir := t.TempDir()
	st := &State{Namespace: "lockstep-lab", ISO: "/i.iso", Nodes: map[string]*NodeState{
		"node0": {Phase: PhaseOn, PID: 42, ConsoleMark: 1234, Installed: true, StartedAt: time.Unix(1e9, 0).UTC()},
		"node1": {Phase: PhaseOff, FirmwareArgs: []string{"-drive", "x"}},
	}}
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}
	back, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Nodes["node0"], st.Nodes["node0"]) || !slices.Equal(back.Nodes["node1"].FirmwareArgs, []string{"-drive", "x"}) {
		t.Errorf("round trip: %+v", back.Nodes)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDir(dir); !errors.Is(err, errBusy) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("second lock: %v", err)
	}
	unlock()
	unlock2, err := lockDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

func TestEcho(t *testing.T) {
	req := echoRequest(0x1234, 7)
	if icmpChecksum(req) != 0 {
		t.Error("the request's checksum does not verify")
	}
	// An IPv4 header (20 bytes) and the reply.
	reply := append(make([]byte, 20), req...)
	reply[0] = 0x45
	reply[20] = 0 // echo reply
	if !isEchoReply(reply, 0x1234, 7) || isEchoReply(reply, 0x1234, 8) || isEchoReply(reply[:24], 0x1234, 7) {
		t.Error("isEchoReply")
	}
	binary.BigEndian.PutUint16(reply[24:], 1)
	if isEchoReply(reply, 0x1234, 7) {
		t.Error("another id matched")
	}
	reply[20] = 8
	if isEchoReply(append(make([]byte, 20), req...), 0x1234, 7) {
		t.Error("a request is not a reply")
	}
}

func TestFindISO(t *testing.T) {
	root := t.TempDir()
	if _, err := FindISO(root); err == nil || !strings.Contains(err.Error(), "make iso") {
		t.Errorf("no ISO: %v", err)
	}
	os.MkdirAll(filepath.Join(root, "out"), 0o755)
	old, new := filepath.Join(root, "out", "lockstep-0.1.0.iso"), filepath.Join(root, "out", "lockstep-0.2.0.iso")
	os.WriteFile(old, nil, 0o644)
	os.WriteFile(new, nil, 0o644)
	os.Chtimes(old, time.Now(), time.Now().Add(-time.Hour))
	if got, err := FindISO(root); err != nil || got != new {
		t.Errorf("FindISO: %s, %v", got, err)
	}
}

func TestLocked(t *testing.T) {
	locks := []byte(`1: OFDLCK ADVISORY  READ -1 fe:00:5308832 203 203
2: POSIX  ADVISORY  WRITE 1234 08:01:77 0 EOF
2: -> POSIX  ADVISORY  WRITE 1235 08:01:99 0 EOF
`)
	for id, want := range map[string]bool{"fe:00:5308832": true, "08:01:77": true, "08:01:99": true, "fe:00:530883": false, "fe:01:5308832": false} {
		if got := locked(locks, id); got != want {
			t.Errorf("locked(%s) = %v, want %v", id, got, want)
		}
	}
	// A real file: no lock, then an OFD lock as QEMU takes it.
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if fileLocked(p) {
		t.Fatal("a fresh file is locked")
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: 100, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Skipf("OFD locks: %v", err)
	}
	if !fileLocked(p) {
		t.Error("an OFD lock is not seen")
	}
	f.Close()
	if fileLocked(p) {
		t.Error("the lock outlived its file")
	}
}

func TestPlainText(t *testing.T) {
	in := "\x1b[24;H Lockstep installer\x1b[K\r\n    ERROR join refused: system lab already has two\r\n    healthy nodes\x1b[0m"
	if got, want := plainText(in), "Lockstep installer ERROR join refused: system lab already has two healthy nodes"; got != want {
		t.Errorf("plainText: %q, want %q", got, want)
	}
}

func TestFailoverReport(t *testing.T) {
	var b strings.Builder
	runs := []FailoverRun{
		{Killed: "node0", Survivor: "node1", Detection: 800 * time.Millisecond, IPMove: 1800 * time.Millisecond},
		{Killed: "node1", Survivor: "node0", Detection: 900 * time.Millisecond, IPMove: 1600 * time.Millisecond},
		{Killed: "node0", Survivor: "node1", Detection: 1000 * time.Millisecond, IPMove: 2000 * time.Millisecond},
	}
	WriteFailoverReport(&b, runs, &PeerTimes{Name: "corosync 3.1.7", Median: 6500 * time.Millisecond, Max: 6600 * time.Millisecond})
	for _, want := range []string{
		"detection     median 0.900s max 1.000s",
		"system IP up  median 1.800s max 2.000s",
		"corosync 3.1.7, same run: a one-node membership after median 6.500s max 6.600s",
		"ratio to corosync 3.1.7: detection 0.14x, system IP up 0.28x",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
