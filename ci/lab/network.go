package lab

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns` keeps named namespaces.
var netnsDir = "/run/netns"

// NetworkPlan is the `ip` commands (without the leading "ip") that build
// the lab's network in namespace ns: the namespace, one bridge per segment
// and one tap per node and segment. Nothing is created outside ns, and
// forwarding stays off, so nothing is routed anywhere.
func NetworkPlan(ns string) [][]string {
	in := func(args ...string) []string { return append([]string{"-n", ns}, args...) }
	plan := [][]string{
		{"netns", "add", ns},
		in("link", "set", "dev", "lo", "up"),
		{"netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0"},
	}
	for k, s := range Segments {
		add := in("link", "add", "name", s.Name, "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
		if s.PointToPoint {
			// Like a cable: LLDP and the other link-local group frames
			// pass (STP, pause and LACP can never be forwarded).
			add = append(add, "group_fwd_mask", "0xfff8")
		}
		plan = append(plan, add)
		if s.HostAddr == "" {
			// The lab host takes no part in this segment: no IPv6 link-local.
			plan = append(plan, in("link", "set", "dev", s.Name, "addrgenmode", "none"))
		} else {
			plan = append(plan, in("addr", "add", s.HostAddr, "dev", s.Name))
		}
		plan = append(plan, in("link", "set", "dev", s.Name, "up"))
		for _, n := range Nodes {
			tap := n.Tap(k)
			plan = append(plan,
				in("tuntap", "add", "dev", tap, "mode", "tap"),
				in("link", "set", "dev", tap, "addrgenmode", "none"),
				in("link", "set", "dev", tap, "master", s.Name, "up"),
			)
		}
	}
	return plan
}

// ipCmd runs `ip args…`.
func ipCmd(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// NamespaceExists reports whether the named namespace exists.
func NamespaceExists(ns string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, ns))
	return err == nil
}

// LabNamespaces lists the named namespaces whose names start with
// NamespacePrefix.
func LabNamespaces() []string {
	ents, _ := os.ReadDir(netnsDir)
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), NamespacePrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// setupNetwork builds the lab's network; on failure it deletes the
// namespace again.
func setupNetwork(ctx context.Context, ns string) error {
	if NamespaceExists(ns) {
		return fmt.Errorf("lab: namespace %s exists already", ns)
	}
	for _, args := range NetworkPlan(ns) {
		if err := ipCmd(ctx, args...); err != nil {
			_ = deleteNamespace(ns)
			return fmt.Errorf("lab: network: %w", err)
		}
	}
	return nil
}

// deleteNamespace deletes a named namespace, with its bridges and taps.
func deleteNamespace(ns string) error {
	if !NamespaceExists(ns) {
		return nil
	}
	return ipCmd(context.Background(), "netns", "del", ns)
}

// namespaceInode is the inode of the namespace's nsfs file: the same
// number /proc/<pid>/ns/net shows for the processes inside it.
func namespaceInode(ns string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, ns), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// LinkTargets resolves a link name as cut and restore take it: a segment
// ("priv0", "ibiz"; also by its NIC name, "ibiz0") means every node's tap
// on it, "<node>:<nic>" ("node0:ibiz0") one node's port only.
func LinkTargets(link string) ([]string, error) {
	if node, nic, ok := strings.Cut(link, ":"); ok {
		n, err := NodeByName(node)
		if err != nil {
			return nil, err
		}
		_, k, err := SegmentByName(nic)
		if err != nil {
			return nil, err
		}
		return []string{n.Tap(k)}, nil
	}
	_, k, err := SegmentByName(link)
	if err != nil {
		return nil, err
	}
	var taps []string
	for _, n := range Nodes {
		taps = append(taps, n.Tap(k))
	}
	return taps, nil
}

// LinkCommands are the `ip` commands that cut (up=false) or restore a link.
func LinkCommands(ns, link string, up bool) ([][]string, error) {
	taps, err := LinkTargets(link)
	if err != nil {
		return nil, err
	}
	state := "down"
	if up {
		state = "up"
	}
	var cmds [][]string
	for _, t := range taps {
		cmds = append(cmds, []string{"-n", ns, "link", "set", "dev", t, state})
	}
	return cmds, nil
}

// TapState is one tap as `ip -j link show` reports it.
type TapState struct {
	Name    string `json:"name"`
	Node    string `json:"node"`
	Segment string `json:"segment"`
	// Up is the administrative state: false when the lab cut it.
	Up bool `json:"up"`
	// Carrier: QEMU has the tap open (the node is powered on) and the
	// tap is up.
	Carrier bool   `json:"carrier"`
	Oper    string `json:"operstate"`
}

// parseLinks reads `ip -j link show` output.
func parseLinks(b []byte) (map[string]TapState, error) {
	var links []struct {
		Name  string   `json:"ifname"`
		Flags []string `json:"flags"`
		Oper  string   `json:"operstate"`
	}
	if err := json.Unmarshal(b, &links); err != nil {
		return nil, err
	}
	out := map[string]TapState{}
	for _, l := range links {
		// LOWER_UP is the carrier itself; NO-CARRIER and the operstate
		// follow it asynchronously (linkwatch), up to a second late.
		st := TapState{Name: l.Name, Oper: l.Oper}
		for _, f := range l.Flags {
			switch f {
			case "UP":
				st.Up = true
			case "LOWER_UP":
				st.Carrier = true
			}
		}
		if !st.Up {
			st.Carrier = false
		}
		out[l.Name] = st
	}
	return out, nil
}

// Taps reports every tap of the lab, in Segments then Nodes order.
func Taps(ctx context.Context, ns string) ([]TapState, error) {
	out, err := exec.CommandContext(ctx, "ip", "-n", ns, "-j", "link", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("lab: ip -n %s link show: %w", ns, err)
	}
	links, err := parseLinks(out)
	if err != nil {
		return nil, err
	}
	var taps []TapState
	for k, s := range Segments {
		for _, n := range Nodes {
			st, ok := links[n.Tap(k)]
			if !ok {
				return nil, fmt.Errorf("lab: tap %s is missing from namespace %s", n.Tap(k), ns)
			}
			st.Node, st.Segment = n.Name, s.Name
			taps = append(taps, st)
		}
	}
	return taps, nil
}

// InNamespace runs f on an OS thread that has entered the named namespace,
// then puts the thread back. A socket f opens stays in that namespace after
// f returns.
func InNamespace(ns string, f func() error) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("lab: namespace %s: %w", ns, err)
	}
	defer h.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return // the locked thread ends with the goroutine
		}
		defer orig.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("lab: setns %s: %w", ns, err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			// The thread stays in the lab namespace: it must not run
			// anything else, so it ends with the goroutine (locked).
			errc <- errors.Join(ferr, fmt.Errorf("lab: back from namespace %s: %w", ns, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Ping sends ICMP echo requests to addr from inside the lab namespace, one
// a second, until one is answered or ctx ends; it returns the round trip.
func Ping(ctx context.Context, ns string, addr netip.Addr) (time.Duration, error) {
	if !addr.Is4() {
		return 0, fmt.Errorf("lab: ping %s: IPv4 only", addr)
	}
	var fd int
	err := InNamespace(ns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("lab: ICMP socket in %s: %w", ns, err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrInet4{Addr: addr.As4()}
	id := uint16(os.Getpid())
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, err
	}
	var lastErr error
	for seq := uint16(1); ; seq++ {
		if err := ctx.Err(); err != nil {
			if lastErr == nil {
				lastErr = errors.New("no reply")
			}
			return 0, fmt.Errorf("lab: ping %s from %s: %v (%w)", addr, ns, lastErr, err)
		}
		sent := time.Now()
		if err := unix.Sendto(fd, echoRequest(id, seq), 0, to); err != nil {
			lastErr = err
		} else {
			for time.Since(sent) < time.Second {
				buf := make([]byte, 1500)
				n, from, err := unix.Recvfrom(fd, buf, 0)
				if err != nil {
					continue // timeout: check the clock
				}
				if f, ok := from.(*unix.SockaddrInet4); !ok || f.Addr != addr.As4() {
					continue
				}
				if isEchoReply(buf[:n], id, seq) {
					return time.Since(sent), nil
				}
			}
			lastErr = errors.New("no reply")
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(sent.Add(time.Second))):
		}
	}
}

// echoRequest is an ICMP echo request with a checksum.
func echoRequest(id, seq uint16) []byte {
	b := make([]byte, 8+16)
	b[0] = 8 // echo request
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], "lockstep-lab....")
	binary.BigEndian.PutUint16(b[2:], icmpChecksum(b))
	return b
}

// isEchoReply reads a raw IPv4 packet as an echo reply to (id, seq).
func isEchoReply(pkt []byte, id, seq uint16) bool {
	if len(pkt) < 20 {
		return false
	}
	ihl := int(pkt[0]&0x0f) * 4
	if len(pkt) < ihl+8 {
		return false
	}
	m := pkt[ihl:]
	return m[0] == 0 && binary.BigEndian.Uint16(m[4:]) == id && binary.BigEndian.Uint16(m[6:]) == seq
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
