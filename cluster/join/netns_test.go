//go:build linux

package join

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/pki"
)

// The namespace test runs two copies of this test binary, each in a network
// namespace of its own made with CLONE_NEWNET (so nothing is named in
// /run/netns and both vanish with their processes), joined by a veth pair
// named priv0 on both sides. The "responder" child is node0 of a new
// system: join server on its link-local address, discovery responder. The
// "joiner" child creates the veth pair, discovers node0 over ff02::1 and
// joins. Only link-local addresses exist in the namespaces; nothing can
// reach the machine's own interfaces.
const (
	envRole     = "LOCKSTEP_JOIN_NETNS_ROLE"
	envParentNS = "LOCKSTEP_JOIN_PARENT_NETNS"
	envPeerPID  = "LOCKSTEP_JOIN_PEER_PID"
	linePrefix  = "NETNS "
)

type netnsResult struct {
	Peers       []Peer       `json:"peers"`
	Fingerprint string       `json:"fingerprint"`
	Confirmed   string       `json:"confirmed"` // what Confirm was shown
	NodeID      int          `json:"node_id"`
	Config      SystemConfig `json:"config"`
}

// TestDiscoverAndJoinInNamespace needs root, so it runs only when asked:
//
//	LOCKSTEP_NETWORK_TESTS=1 go test ./cluster/join/ -run InNamespace -v
func TestDiscoverAndJoinInNamespace(t *testing.T) {
	if os.Getenv("LOCKSTEP_NETWORK_TESTS") != "1" {
		t.Skip("set LOCKSTEP_NETWORK_TESTS=1 (as root) to run")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	parentNS := netnsOf(t, "self")

	resp := child(t, "responder", parentNS, 0)
	stdin, err := resp.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := resp.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Process.Kill(); resp.Wait() }) // no-op once it has exited
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), linePrefix); ok {
				lines <- l
			} else {
				t.Logf("responder: %s", sc.Text())
			}
		}
		close(lines)
	}()

	joiner := child(t, "joiner", parentNS, resp.Process.Pid)
	jout, jerr := joiner.CombinedOutput()
	var res *netnsResult
	for _, l := range strings.Split(string(jout), "\n") {
		if j, ok := strings.CutPrefix(l, linePrefix+"result "); ok {
			res = new(netnsResult)
			if err := json.Unmarshal([]byte(j), res); err != nil {
				t.Fatal(err)
			}
		} else if l != "" {
			t.Logf("joiner: %s", l)
		}
	}
	if jerr != nil || res == nil {
		t.Fatalf("joiner: %v", jerr)
	}

	var fp string
	select {
	case l := <-lines:
		fp, _ = strings.CutPrefix(l, "ready ")
	case <-time.After(20 * time.Second):
		t.Fatal("responder never got ready")
	}
	if len(res.Peers) != 1 || res.Peers[0].Addr != netip.MustParseAddr("fe80::2%priv0") ||
		res.Peers[0].SystemName != "lab" || res.Peers[0].JoinAddr() != "[fe80::2%priv0]:7410" {
		t.Errorf("discovered %+v", res.Peers)
	}
	if res.Fingerprint != fp || res.Confirmed != "lab "+fp {
		t.Errorf("joiner accepted %s (shown %q), node0's CA is %s", res.Fingerprint, res.Confirmed, fp)
	}
	if res.NodeID != 1 || res.Config.PeerPriv0 != "fe80::2" || res.Config.NodeIP != "192.0.2.11" || len(res.Config.Nodes) != 2 {
		t.Errorf("joined as node%d with config %+v", res.NodeID, res.Config)
	}

	stdin.Close() // the responder prints its registry and exits
	var reg []NodeRecord
	for l := range lines {
		if j, ok := strings.CutPrefix(l, "registry "); ok {
			json.Unmarshal([]byte(j), &reg)
		}
	}
	if err := resp.Wait(); err != nil {
		t.Errorf("responder: %v", err)
	}
	if len(reg) != 2 || reg[1].Hostname != "pm-b" {
		t.Errorf("node0's registry after the join: %+v", reg)
	}
	t.Logf("node1 discovered node0 at %s over ff02::1 and joined system %q (CA %s)", res.Peers[0].JoinAddr(), "lab", pki.FormatFingerprint(fp))
}

// child prepares this test binary as role in a new network namespace.
func child(t *testing.T, role, parentNS string, peerPID int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestNamespaceChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envRole+"="+role, envParentNS+"="+parentNS, envPeerPID+"="+strconv.Itoa(peerPID))
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// TestNamespaceChild is the body of a child of
// TestDiscoverAndJoinInNamespace; run directly, it skips.
func TestNamespaceChild(t *testing.T) {
	role := os.Getenv(envRole)
	if role == "" {
		t.Skip("a helper of TestDiscoverAndJoinInNamespace")
	}
	// Never touch links in the machine's own namespace.
	self := netnsOf(t, "self")
	if self == os.Getenv(envParentNS) {
		t.Fatalf("still in the parent's network namespace %s: refusing to touch links", self)
	}
	ip(t, "link", "set", "lo", "up")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	switch role {
	case "responder":
		waitLink(t, "priv0")
		configure(t, "fe80::2")
		runNode0(ctx, t)
	case "joiner":
		peer := os.Getenv(envPeerPID)
		if ns := netnsOf(t, peer); ns == os.Getenv(envParentNS) || ns == self {
			t.Fatalf("peer process %s is in namespace %s: not a namespace of its own", peer, ns)
		}
		ip(t, "link", "add", "priv0", "type", "veth", "peer", "name", "priv0", "netns", peer)
		configure(t, "fe80::1")
		runJoiner(ctx, t)
	default:
		t.Fatalf("role %q", role)
	}
}

func runNode0(ctx context.Context, t *testing.T) {
	sys, err := pki.NewSystem("lab", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ll, err := LinkLocal("priv0")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := pki.NewKey()
	cert, _, err := sys.IssueNode(0, "pm-a", []net.IP{net.IP(ll.AsSlice())}, key.Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := pki.KeyPair(cert, key)
	reg := NewMemRegistry(NodeRecord{ID: 0, Hostname: "pm-a", IP: "192.0.2.10"})
	srv := &Server{System: sys, Self: 0, SystemIP: "192.0.2.5", Priv0: ll.WithZone("").String(), Registry: reg, ShareCAKey: true, Logf: t.Logf}
	ln, err := net.Listen("tcp6", netip.AddrPortFrom(ll, DefaultPort).String())
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ListenResponder(DefaultPort)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go srv.Serve(ctx, ln, kp)
	r := &Responder{SystemName: sys.Name, SystemID: sys.ID, NodeID: 0, JoinPort: DefaultPort, Iface: "priv0"}
	go r.Serve(ctx, pc)
	fmt.Printf("%sready %s\n", linePrefix, sys.Fingerprint())
	io.Copy(io.Discard, os.Stdin) // until the parent is done
	nodes, _ := reg.Nodes()
	b, _ := json.Marshal(nodes)
	fmt.Printf("%sregistry %s\n", linePrefix, b)
}

func runJoiner(ctx context.Context, t *testing.T) {
	peers, err := Discover(ctx, "priv0", DefaultPort)
	if err != nil {
		t.Fatal(err)
	}
	res := netnsResult{Peers: peers}
	peer, err := SinglePeer(peers)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Join(ctx, Options{
		Addr: peer.JoinAddr(), Action: Replace, Hostname: "pm-b", NodeIP: "192.0.2.11",
		IPs:     []net.IP{net.ParseIP("fe80::1")},
		Confirm: func(name, fp string) bool { res.Confirmed = name + " " + fp; return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	res.Fingerprint, res.NodeID, res.Config = r.Fingerprint, r.NodeID, r.Config
	b, _ := json.Marshal(res)
	fmt.Printf("%sresult %s\n", linePrefix, b)
}

// configure brings priv0 up with only the given link-local address,
// without duplicate address detection, so that it is usable at once.
func configure(t *testing.T, addr string) {
	ip(t, "link", "set", "priv0", "addrgenmode", "none")
	ip(t, "link", "set", "priv0", "up")
	ip(t, "-6", "addr", "add", addr+"/64", "dev", "priv0", "nodad")
}

func waitLink(t *testing.T, name string) {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := net.InterfaceByName(name); err == nil {
			return
		}
	}
	t.Fatalf("%s never appeared", name)
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func netnsOf(t *testing.T, pid string) string {
	t.Helper()
	ns, err := os.Readlink("/proc/" + pid + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return ns
}
