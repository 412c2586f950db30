// Package qmptest is a fake QMP server for unit tests of code that drives
// QEMU through package qmp.
//
// It follows the protocol rules the client depends on: greeting first,
// capabilities negotiation before anything else, replies carrying the
// request's id, in-band commands handled one at a time in arrival order,
// out-of-band commands handled at once (so their replies overtake), and no
// events before negotiation.
package qmptest

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/qmp"
)

// Command is a command the server received.
type Command struct {
	Name string
	// Args is the decoded "arguments" (numbers as float64); nil when the
	// request had none.
	Args    map[string]any
	RawArgs json.RawMessage
	// OOB is true for "exec-oob" requests.
	OOB bool
	ID  json.RawMessage
}

// Handler answers a command: a value for "return" (nil: {}), or an error,
// sent as its *qmp.Error class and desc, or as GenericError. ctx ends when
// the connection or the server closes; a handler that blocks must watch it.
type Handler func(ctx context.Context, cmd Command) (any, error)

// Option configures New.
type Option func(*Server)

// WithoutOOB makes the greeting offer no capabilities, like a monitor on
// stdio.
func WithoutOOB() Option { return func(s *Server) { s.oob = false } }

// WithVersion sets the version in the greeting and query-version.
func WithVersion(major, minor, micro int) Option {
	return func(s *Server) { s.version = [3]int{major, minor, micro} }
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	t       testing.TB
	path    string
	ln      net.Listener
	ctx     context.Context
	cancel  context.CancelFunc
	oob     bool
	version [3]int

	mu       sync.Mutex
	handlers map[string]Handler
	cmds     []Command
	arrived  chan struct{} // closed and replaced whenever a command is recorded
	conns    map[*conn]struct{}
	wg       sync.WaitGroup
}

// New starts a server on a unix socket in a temporary directory; it is
// stopped by t.Cleanup. Commands without a handler reply {"return":{}},
// except query-status ("running") and query-version.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:        t,
		oob:      true,
		version:  [3]int{11, 1, 0},
		handlers: make(map[string]Handler),
		arrived:  make(chan struct{}),
		conns:    make(map[*conn]struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.path = socketPath(t)
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		t.Fatalf("qmptest: %v", err)
	}
	s.ln = ln
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// socketPath keeps the path under the 108-byte sun_path limit, which
// t.TempDir can exceed with long test names.
func socketPath(t testing.TB) string {
	p := filepath.Join(t.TempDir(), "qmp.sock")
	if len(p) < 100 {
		return p
	}
	dir, err := os.MkdirTemp("", "qmptest")
	if err != nil {
		t.Fatalf("qmptest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "qmp.sock")
}

// Path is the socket path, for qmp.Dial.
func (s *Server) Path() string { return s.path }

// Conn dials the server; the connection is closed at cleanup.
func (s *Server) Conn() net.Conn {
	s.t.Helper()
	c, err := net.Dial("unix", s.path)
	if err != nil {
		s.t.Fatalf("qmptest: %v", err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Client dials and negotiates a qmp.Client, closed at cleanup. Call it
// from the test goroutine.
func (s *Server) Client() *qmp.Client {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := qmp.Dial(ctx, s.path)
	if err != nil {
		s.t.Fatalf("qmptest: %v", err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Handle sets the handler of a command.
func (s *Server) Handle(name string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[name] = h
}

// Return makes a command reply with v.
func (s *Server) Return(name string, v any) {
	s.Handle(name, func(context.Context, Command) (any, error) { return v, nil })
}

// Fail makes a command reply with an error.
func (s *Server) Fail(name, class, desc string) {
	s.Handle(name, func(context.Context, Command) (any, error) {
		return nil, &qmp.Error{Class: class, Desc: desc}
	})
}

// Commands returns every command received so far, qmp_capabilities
// included, in arrival order.
func (s *Server) Commands() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cmds)
}

// Named returns the received commands called name.
func (s *Server) Named(name string) []Command {
	var out []Command
	for _, c := range s.Commands() {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// WaitCommand returns the first command called name, waiting for it to
// arrive if it has not yet.
func (s *Server) WaitCommand(ctx context.Context, name string) (Command, error) {
	for {
		s.mu.Lock()
		for _, c := range s.cmds {
			if c.Name == name {
				s.mu.Unlock()
				return c, nil
			}
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			return Command{}, ctx.Err()
		}
	}
}

// Emit sends an event (data nil: none) to every negotiated connection,
// timestamped now. It returns once written, so a reply sent afterwards
// reaches the client after the event. Connections still negotiating get
// nothing, as with QEMU.
func (s *Server) Emit(name string, data any) {
	msg := map[string]any{"event": name, "timestamp": timestamp(time.Now())}
	if data != nil {
		msg["data"] = data
	}
	line, err := json.Marshal(msg)
	if err != nil {
		s.t.Errorf("qmptest: event %s: %v", name, err)
		return
	}
	for _, c := range s.connList() {
		if c.negotiated.Load() {
			c.write(append(line, '\n'))
		}
	}
}

// SendRaw writes text as is to every connection, for malformed-input
// tests.
func (s *Server) SendRaw(text string) {
	for _, c := range s.connList() {
		c.write([]byte(text))
	}
}

// CloseConnections drops every client connection, as a crashing QEMU
// would; the server keeps accepting new ones.
func (s *Server) CloseConnections() {
	for _, c := range s.connList() {
		c.close()
	}
}

// Close stops the server and waits for its goroutines (and so handlers).
func (s *Server) Close() {
	s.cancel()
	s.ln.Close()
	s.CloseConnections()
	s.wg.Wait()
}

func (s *Server) connList() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		list = append(list, c)
	}
	return list
}

func (s *Server) record(cmd Command) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmds = append(s.cmds, cmd)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

func (s *Server) handler(name string) Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.handlers[name]; ok {
		return h
	}
	switch name {
	case "query-status":
		return func(context.Context, Command) (any, error) {
			return map[string]any{"running": true, "status": "running"}, nil
		}
	case "query-version":
		return func(context.Context, Command) (any, error) {
			return s.versionInfo(), nil
		}
	}
	return nil
}

func (s *Server) versionInfo() map[string]any {
	return map[string]any{
		"qemu":    map[string]int{"major": s.version[0], "minor": s.version[1], "micro": s.version[2]},
		"package": "qmptest",
	}
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := newConn(s, nc)
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(2)
		go c.serve()
		go c.dispatchInband()
	}
}

func timestamp(t time.Time) map[string]int64 {
	return map[string]int64{"seconds": t.Unix(), "microseconds": int64(t.Nanosecond() / 1000)}
}

// replyError turns a handler error into the wire's error object.
func replyError(err error) map[string]string {
	var qe *qmp.Error
	if errors.As(err, &qe) {
		return map[string]string{"class": qe.Class, "desc": qe.Desc}
	}
	return map[string]string{"class": qmp.ErrorClassGeneric, "desc": err.Error()}
}
