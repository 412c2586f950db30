package colo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lockstep-ft/lockstep/agent/ft"
)

// gate skips the test unless LOCKSTEP_COLO_TESTS=1, then checks what it
// needs (requirements).
func gate(t *testing.T) {
	t.Helper()
	if os.Getenv("LOCKSTEP_COLO_TESTS") != "1" {
		t.Skip("set LOCKSTEP_COLO_TESTS=1 (as root) to run QEMU 11.1's COLO with a test guest (a few minutes)")
	}
	requirements(t)
}

// requirements checks what a rig needs from the host: under CI=true a
// missing piece fails the test instead of skipping it, so that CI cannot
// pass without the proof.
func requirements(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "needs root (network namespace, bridge, taps)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing(t, "needs iproute2's ip: %v", err)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		missing(t, "needs /dev/net/tun for the guests' taps: %v", err)
	}
}

// missing skips, or fails under CI.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and the COLO tests are on, but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// The test network: a bridge in a namespace of the test's own, holding the
// two guests' taps (the same MAC is on both sides) and the client's
// address. Nothing is routed out of it, and the host's own interfaces are
// never touched.
const (
	bridge    = "br0"
	priTap    = "tp-pri"
	secTap    = "tp-sec"
	clientIP  = "10.99.0.1/24"
	guestIP   = "10.99.0.2/24"
	guestAddr = "10.99.0.2:7" // the guest's TCP echo
	guestMAC  = "52:54:00:4c:c0:10"
)

// newNetns creates the namespace with its bridge and taps and deletes it
// at cleanup (taps and bridge go with it).
func newNetns(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	ns := "lockstep-colo-" + hex.EncodeToString(b)
	in := func(args ...string) []string { return append([]string{"-n", ns}, args...) }
	plan := [][]string{
		{"netns", "add", ns},
		in("link", "set", "dev", "lo", "up"),
		in("link", "add", "name", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"),
		in("link", "set", "dev", bridge, "addrgenmode", "none"), // no IPv6 chatter to the guests
		in("addr", "add", clientIP, "dev", bridge),
		in("link", "set", "dev", bridge, "up"),
	}
	for _, tap := range []string{priTap, secTap} {
		plan = append(plan,
			in("tuntap", "add", "dev", tap, "mode", "tap"),
			in("link", "set", "dev", tap, "addrgenmode", "none"),
			in("link", "set", "dev", tap, "master", bridge, "up"))
	}
	for i, args := range plan {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			if i == 0 {
				missing(t, "cannot create a network namespace: ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
			}
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		if i == 0 {
			t.Cleanup(func() {
				if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
					t.Errorf("ip netns del %s: %v: %s", ns, err, out)
				}
			})
		}
	}
	return ns
}

// inNetns runs the commands of f inside namespace ns (ip netns exec runs
// the program in place of itself: the process id is QEMU's).
func inNetns(ns string, f ft.CommandFunc) ft.CommandFunc {
	return func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := f(ctx, args...)
		ip, err := exec.LookPath("ip")
		if err != nil {
			cmd.Err = err
			return cmd
		}
		cmd.Path = ip
		cmd.Args = append([]string{"ip", "netns", "exec", ns}, cmd.Args...)
		return cmd
	}
}

// dialIn connects to addr from inside namespace ns: a goroutine's thread
// enters it and is never given back (the runtime ends a thread whose
// goroutine exits locked), and the socket stays in the namespace.
func dialIn(ns, addr string, timeout time.Duration) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			ch <- result{nil, err}
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			ch <- result{nil, fmt.Errorf("enter %s: %w", ns, err)}
			return
		}
		c, err := net.DialTimeout("tcp", addr, timeout)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// roundTrip writes msg and reads it back by the deadline.
func roundTrip(c net.Conn, msg []byte, deadline time.Time) error {
	c.SetDeadline(deadline)
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("sent %q, got back %q", msg, got)
	}
	return nil
}

// tail is the end of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// saveLogs copies the sides' logs to LOCKSTEP_TEST_LOGS, if set.
func saveLogs(t *testing.T, spec ft.Spec) {
	dst := os.Getenv("LOCKSTEP_TEST_LOGS")
	if dst == "" {
		return
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Log(err)
		return
	}
	for role, s := range map[string]ft.Side{"nodeA": spec.Primary, "nodeB": spec.Secondary} {
		for _, p := range []string{s.ConsoleLog(), s.QEMULog()} {
			if b, err := os.ReadFile(p); err == nil {
				// A subtest's name has slashes.
				name := strings.ReplaceAll(t.Name(), "/", "-") + "-" + role + "-" + filepath.Base(p)
				_ = os.WriteFile(filepath.Join(dst, name), b, 0o644)
			}
		}
	}
}
