package qmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxInband is how many in-band requests may be outstanding at once. QEMU
// suspends the monitor (stops reading the socket, out-of-band requests
// included) when its in-band queue reaches QMP_REQ_QUEUE_LEN_MAX = 8; one
// below that keeps yank deliverable while the main loop is stuck.
const maxInband = 7

// Client is a QMP connection. It is safe for concurrent use.
type Client struct {
	conn net.Conn
	name string // socket path (or remote address) for error messages
	dec  *json.Decoder

	version Version
	caps    []string
	oob     bool // written during New only

	nextID atomic.Uint64
	slots  chan struct{} // in-band permits, see maxInband
	writeq chan []byte   // lines for the writer goroutine

	mu       sync.Mutex
	pending  map[uint64]*call
	subs     map[*subscriber]struct{}
	waiters  map[*Waiter]struct{}
	closing  bool
	cause    error // set once, when the connection ends
	done     chan struct{}
	dropped  atomic.Uint64
	routines sync.WaitGroup
}

// Version is QEMU's version, as in the greeting and query-version.
type Version struct {
	Major, Minor, Micro int
	// Package is the downstream build string (e.g. "Debian 1:11.1+dfsg-1").
	Package string
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Micro) }

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

// versionInfo is the schema's VersionInfo.
type versionInfo struct {
	QEMU struct {
		Major int `json:"major"`
		Minor int `json:"minor"`
		Micro int `json:"micro"`
	} `json:"qemu"`
	Package string `json:"package"`
}

func (vi versionInfo) version() Version {
	return Version{Major: vi.QEMU.Major, Minor: vi.QEMU.Minor, Micro: vi.QEMU.Micro, Package: vi.Package}
}

type greeting struct {
	QMP *struct {
		Version      versionInfo `json:"version"`
		Capabilities []string    `json:"capabilities"`
	} `json:"QMP"`
}

// Dial connects to the QMP unix socket at path and negotiates capabilities.
// ctx bounds the connection and the handshake only.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qmp %s: %w", path, err)
	}
	return start(ctx, conn, path)
}

// New runs the handshake on an established connection (which the Client
// then owns) with no time limit; see NewContext.
func New(conn net.Conn) (*Client, error) {
	return NewContext(context.Background(), conn)
}

// NewContext is New with ctx bounding the handshake: a QEMU that accepted
// the connection but is stuck never sends its greeting.
func NewContext(ctx context.Context, conn net.Conn) (*Client, error) {
	return start(ctx, conn, connName(conn))
}

func connName(conn net.Conn) string {
	if a := conn.RemoteAddr(); a != nil {
		if s := a.String(); s != "" && s != "<nil>" {
			return s
		}
	}
	return "monitor"
}

func start(ctx context.Context, conn net.Conn, name string) (*Client, error) {
	c := &Client{
		conn:    conn,
		name:    name,
		dec:     json.NewDecoder(conn),
		slots:   make(chan struct{}, maxInband),
		writeq:  make(chan []byte),
		pending: make(map[uint64]*call),
		subs:    make(map[*subscriber]struct{}),
		waiters: make(map[*Waiter]struct{}),
		done:    make(chan struct{}),
	}
	if err := c.readGreeting(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	c.routines.Add(2)
	go c.readLoop()
	go c.writeLoop()
	if err := c.negotiate(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) readGreeting(ctx context.Context) error {
	// A read cannot watch ctx; an expired deadline unblocks it instead.
	stop := context.AfterFunc(ctx, func() { c.conn.SetReadDeadline(time.Unix(1, 0)) })
	var g greeting
	err := c.dec.Decode(&g)
	if !stop() {
		return fmt.Errorf("qmp %s: waiting for the greeting: %w", c.name, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("qmp %s: reading the greeting: %w", c.name, err)
	}
	if g.QMP == nil {
		return fmt.Errorf("qmp %s: first message is not a QMP greeting", c.name)
	}
	c.version = g.QMP.Version.version()
	c.caps = g.QMP.Capabilities
	return nil
}

func (c *Client) negotiate(ctx context.Context) error {
	// Only capabilities the server offered may be enabled; asking for one
	// it did not offer fails the whole negotiation.
	var args any
	oob := slices.Contains(c.caps, "oob")
	if oob {
		args = map[string]any{"enable": []string{"oob"}}
	}
	if err := c.Execute(ctx, "qmp_capabilities", args, nil); err != nil {
		return fmt.Errorf("qmp %s: capabilities negotiation: %w", c.name, err)
	}
	c.oob = oob
	return nil
}

// Version is the QEMU version from the greeting.
func (c *Client) Version() Version { return c.version }

// Capabilities are the capabilities the server offered in its greeting.
func (c *Client) Capabilities() []string { return slices.Clone(c.caps) }

// OOB reports whether out-of-band execution was negotiated.
func (c *Client) OOB() bool { return c.oob }

// Done is closed when the connection ends (QEMU exited, the socket broke,
// or Close was called); Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is nil while the connection is up, then the reason it ended (wrapping
// ErrDisconnected or ErrClosed).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause == nil {
		return nil
	}
	return fmt.Errorf("qmp %s: %w", c.name, c.cause)
}

// Close closes the connection and fails pending calls with ErrClosed. It
// waits for the client's goroutines, so it must not be called from an
// Expect match function.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	err := c.conn.Close()
	c.fail(ErrClosed)
	c.routines.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil // already closed: Close is idempotent
	}
	return err
}

// fail ends the connection once: pending calls and waiters are woken
// through done, subscriber channels are closed.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.cause != nil {
		c.mu.Unlock()
		return
	}
	if c.closing {
		c.cause = ErrClosed
	} else {
		c.cause = fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	for s := range c.subs {
		close(s.ch)
	}
	c.subs = nil
	c.pending = nil
	close(c.done)
	c.mu.Unlock()
	c.conn.Close()
}

// callErr is the error for a call that the ended connection cut off.
func (c *Client) callErr(command string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Errorf("qmp %s: %s: %w", c.name, command, c.cause)
}
