package lab

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"time"

	"github.com/vishvananda/netns"
)

// GuestEchoPort is the test guest's TCP echo (ci/lab/guest, lsguest.ip=).
const GuestEchoPort = 7

// DialGuest opens a TCP connection from the lab host's side of the
// business segment (the lab namespace) to a guest's echo service.
func (l *Lab) DialGuest(addr string, timeout time.Duration) (*Echo, error) {
	c, err := dialIn(l.cfg.Namespace, net.JoinHostPort(addr, fmt.Sprint(GuestEchoPort)), timeout)
	if err != nil {
		return nil, err
	}
	return &Echo{c: c}, nil
}

// dialIn dials from inside the named network namespace. The socket keeps
// the namespace it was made in; the thread that made it is never unlocked,
// so Go ends it with the goroutine instead of reusing a thread that sits in
// the lab's namespace.
func dialIn(ns, addr string, timeout time.Duration) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns)
		if err != nil {
			ch <- result{nil, fmt.Errorf("namespace %s: %w", ns, err)}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- result{nil, fmt.Errorf("entering namespace %s: %w", ns, err)}
			return
		}
		c, err := net.DialTimeout("tcp", addr, timeout)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// Echo is one connection to a guest's echo service.
type Echo struct {
	c net.Conn
	n int
}

// Check sends a line and waits until it comes back whole, within timeout:
// TCP retransmits across a VM's migration pause, so a timeout of tens of
// seconds lets a connection that survives show it.
func (e *Echo) Check(timeout time.Duration) (time.Duration, error) {
	e.n++
	msg := []byte(fmt.Sprintf("lockstep-lab echo %d\n", e.n))
	start := time.Now()
	e.c.SetDeadline(start.Add(timeout))
	if _, err := e.c.Write(msg); err != nil {
		return 0, err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(e.c, got); err != nil {
		return 0, err
	}
	if !bytes.Equal(got, msg) {
		return 0, fmt.Errorf("echo: sent %q, got %q", msg, got)
	}
	return time.Since(start), nil
}

// Close closes the connection.
func (e *Echo) Close() error { return e.c.Close() }
