package qmptest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/qmp"
	"github.com/lockstep-ft/lockstep/agent/qmp/qmptest"
)

// rawClient speaks to the fake without package qmp, to check what the fake
// itself puts on the wire.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, s *qmptest.Server) *rawClient {
	conn := s.Conn()
	return &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *rawClient) read() map[string]any {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		c.t.Fatalf("bad line %q: %v", line, err)
	}
	return m
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s + "\n")); err != nil {
		c.t.Fatal(err)
	}
}

func TestGreetingAndNegotiation(t *testing.T) {
	s := qmptest.New(t, qmptest.WithVersion(10, 2, 1))
	c := dialRaw(t, s)
	g := c.read()
	want := map[string]any{"QMP": map[string]any{
		"version":      map[string]any{"qemu": map[string]any{"major": 10.0, "minor": 2.0, "micro": 1.0}, "package": "qmptest"},
		"capabilities": []any{"oob"},
	}}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("greeting = %v", g)
	}

	s.Emit("STOP", nil) // not negotiated yet: must not be sent
	c.send(`{"execute":"stop","id":1}`)
	if r := c.read(); r["error"].(map[string]any)["class"] != "CommandNotFound" || r["id"] != 1.0 {
		t.Errorf("command before negotiation: %v", r)
	}
	c.send(`{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":"neg"}`)
	if r := c.read(); !reflect.DeepEqual(r, map[string]any{"return": map[string]any{}, "id": "neg"}) {
		t.Errorf("negotiation reply = %v", r)
	}
	c.send(`{"execute":"qmp_capabilities","id":2}`)
	if r := c.read(); r["error"] == nil {
		t.Errorf("second negotiation accepted: %v", r)
	}
	s.Emit("STOP", map[string]int{"x": 1})
	ev := c.read()
	if ev["event"] != "STOP" || ev["timestamp"] == nil || !reflect.DeepEqual(ev["data"], map[string]any{"x": 1.0}) {
		t.Errorf("event = %v", ev)
	}
}

func TestOOBRefusedWhenNotOffered(t *testing.T) {
	s := qmptest.New(t, qmptest.WithoutOOB())
	c := dialRaw(t, s)
	if g := c.read(); !reflect.DeepEqual(g["QMP"].(map[string]any)["capabilities"], []any{}) {
		t.Errorf("greeting offers %v", g)
	}
	c.send(`{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":1}`)
	if r := c.read(); r["error"] == nil {
		t.Errorf("oob enabled though not offered: %v", r)
	}
	c.send(`{"execute":"qmp_capabilities","id":2}`)
	if r := c.read(); r["error"] != nil {
		t.Fatalf("plain negotiation failed: %v", r)
	}
	c.send(`{"exec-oob":"yank","arguments":{"instances":[]},"id":3}`)
	if r := c.read(); r["error"] == nil || r["id"] != 3.0 {
		t.Errorf("exec-oob without oob: %v", r)
	}
}

func TestInbandInOrderOOBAtOnce(t *testing.T) {
	s := qmptest.New(t)
	release := make(chan struct{})
	s.Handle("slow", func(ctx context.Context, _ qmptest.Command) (any, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return "slow", nil
	})
	c := dialRaw(t, s)
	c.read()
	c.send(`{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}`)
	c.read()
	c.send(`{"execute":"slow","id":1}`)
	c.send(`{"execute":"fast","id":2}`)
	c.send(`{"exec-oob":"query-yank","id":3}`)
	if r := c.read(); r["id"] != 3.0 {
		t.Fatalf("first reply %v, want the oob one (3)", r)
	}
	close(release)
	if r := c.read(); r["id"] != 1.0 || r["return"] != "slow" {
		t.Errorf("second reply %v, want 1", r)
	}
	if r := c.read(); r["id"] != 2.0 {
		t.Errorf("third reply %v, want 2 (in-band runs in order)", r)
	}
	cmds := s.Commands()
	if len(cmds) != 4 || !cmds[3].OOB || cmds[1].OOB || cmds[0].Name != "qmp_capabilities" || cmds[0].ID != nil {
		t.Errorf("recorded %+v", cmds)
	}
}

func TestHandlerErrors(t *testing.T) {
	s := qmptest.New(t)
	s.Handle("plain", func(context.Context, qmptest.Command) (any, error) { return nil, errors.New("boom") })
	s.Fail("typed", qmp.ErrorClassDeviceNotFound, "no such device")
	s.Return("value", []int{1, 2})
	c := s.Client()
	ctx := context.Background()
	var qe *qmp.Error
	if err := c.Execute(ctx, "plain", nil, nil); !errors.As(err, &qe) || qe.Class != "GenericError" || qe.Desc != "boom" {
		t.Errorf("plain error = %v", err)
	}
	if err := c.Execute(ctx, "typed", nil, nil); !errors.As(err, &qe) || qe.Class != "DeviceNotFound" || qe.Desc != "no such device" {
		t.Errorf("typed error = %v", err)
	}
	var got []int
	if err := c.Execute(ctx, "value", nil, &got); err != nil || !reflect.DeepEqual(got, []int{1, 2}) {
		t.Errorf("value = %v, %v", got, err)
	}
	if err := c.Execute(ctx, "unhandled", map[string]any{"a": 1}, nil); err != nil {
		t.Errorf("default reply: %v", err)
	}
	cmd, err := s.WaitCommand(ctx, "unhandled")
	if err != nil || !reflect.DeepEqual(cmd.Args, map[string]any{"a": 1.0}) || string(cmd.RawArgs) != `{"a":1}` {
		t.Errorf("recorded %+v, %v", cmd, err)
	}
}

func TestWaitCommandWaits(t *testing.T) {
	s := qmptest.New(t)
	c := s.Client()
	got := make(chan qmptest.Command, 1)
	go func() {
		cmd, _ := s.WaitCommand(context.Background(), "cont")
		got <- cmd
	}()
	select {
	case cmd := <-got:
		t.Fatalf("WaitCommand returned %+v before cont was sent", cmd)
	case <-time.After(20 * time.Millisecond):
	}
	if err := c.Cont(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case cmd := <-got:
		if cmd.Name != "cont" {
			t.Errorf("got %+v", cmd)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitCommand did not return")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.WaitCommand(ctx, "never"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitCommand(never) = %v", err)
	}
}

func TestLongTestNameSocketPath(t *testing.T) {
	t.Run("a_very_long_subtest_name_that_pushes_the_temporary_directory_path_well_past_the_unix_socket_limit", func(t *testing.T) {
		s := qmptest.New(t)
		if len(s.Path()) >= 108 {
			t.Errorf("socket path %d bytes long", len(s.Path()))
		}
		s.Client()
	})
}
