//go:build linux

// Package netnstest puts a test into a network namespace of its own, for
// the tests that talk to the real kernel (netlink, raw sockets). They need
// root and run only with LOCKSTEP_NETWORK_TESTS=1 (make test sets it), and
// they must never touch the machine's own interfaces.
package netnstest

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Enter skips the test unless LOCKSTEP_NETWORK_TESTS=1 and root, then locks
// the calling goroutine to its thread and moves that thread into a new,
// unnamed network namespace holding only lo, which it returns. Sockets made
// by this goroutine from now on live there. The test's cleanup moves the
// thread back; the namespace (and every veth in it) goes away with its last
// handle, even when the test crashes.
func Enter(t *testing.T) netns.NsHandle {
	t.Helper()
	if os.Getenv("LOCKSTEP_NETWORK_TESTS") != "1" {
		t.Skip("set LOCKSTEP_NETWORK_TESTS=1 (as root) to run")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	// The namespace is the thread's: keep this goroutine on it.
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	ns, err := netns.New()
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatalf("new network namespace: %v", err)
	}
	t.Cleanup(func() {
		defer orig.Close()
		if err := netns.Set(orig); err != nil {
			// Stay locked: the runtime then ends the thread with this
			// goroutine instead of running others in the test namespace.
			t.Errorf("restore the original network namespace: %v", err)
			return
		}
		ns.Close()
		runtime.UnlockOSThread()
	})
	if cur, _ := netns.Get(); cur.Equal(orig) {
		t.Fatal("still in the original network namespace")
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if ls, err := h.LinkList(); err != nil || len(ls) != 1 || ls[0].Attrs().Name != "lo" {
		t.Fatalf("a new namespace should hold only lo; got %v, %v: refusing to touch it", ls, err)
	}
	return ns
}
