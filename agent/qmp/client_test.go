package qmp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/qmp"
	"github.com/lockstep-ft/lockstep/agent/qmp/qmptest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNegotiatesOOBWhenOffered(t *testing.T) {
	srv := qmptest.New(t, qmptest.WithVersion(11, 1, 2))
	c := srv.Client()
	if !c.OOB() {
		t.Error("OOB() = false, want true")
	}
	if got, want := c.Version(), (qmp.Version{Major: 11, Minor: 1, Micro: 2, Package: "qmptest"}); got != want {
		t.Errorf("Version() = %+v, want %+v", got, want)
	}
	if !c.Version().AtLeast(11, 1) || c.Version().AtLeast(11, 2) {
		t.Errorf("AtLeast is wrong for %v", c.Version())
	}
	caps := srv.Named("qmp_capabilities")
	if len(caps) != 1 {
		t.Fatalf("qmp_capabilities sent %d times", len(caps))
	}
	want := map[string]any{"enable": []any{"oob"}}
	if !reflect.DeepEqual(caps[0].Args, want) {
		t.Errorf("qmp_capabilities arguments = %v, want %v", caps[0].Args, want)
	}
	if cmds := srv.Commands(); cmds[0].Name != "qmp_capabilities" {
		t.Errorf("first command %q, want qmp_capabilities", cmds[0].Name)
	}
}

func TestNegotiatesWithoutOOB(t *testing.T) {
	srv := qmptest.New(t, qmptest.WithoutOOB())
	c := srv.Client()
	if c.OOB() {
		t.Error("OOB() = true without the capability")
	}
	caps := srv.Named("qmp_capabilities")
	if len(caps) != 1 || caps[0].RawArgs != nil {
		t.Fatalf("qmp_capabilities = %+v, want one without arguments", caps)
	}

	err := c.ExecuteOOB(testCtx(t), "yank", map[string]any{"instances": []any{}}, nil)
	if !errors.Is(err, qmp.ErrOOBNotNegotiated) || !strings.Contains(err.Error(), "oob") {
		t.Errorf("ExecuteOOB error = %v, want ErrOOBNotNegotiated", err)
	}
	if err := c.Stop(testCtx(t)); err != nil { // a round trip: anything sent before it has arrived
		t.Fatal(err)
	}
	if got := srv.Named("yank"); len(got) != 0 {
		t.Errorf("refused ExecuteOOB still sent %+v", got)
	}
}

func TestExecuteOOBUsesExecOOB(t *testing.T) {
	srv := qmptest.New(t)
	c := srv.Client()
	if err := c.ExecuteOOB(testCtx(t), "migrate-pause", nil, nil); err != nil {
		t.Fatal(err)
	}
	got := srv.Named("migrate-pause")
	if len(got) != 1 || !got[0].OOB || got[0].ID == nil {
		t.Errorf("migrate-pause = %+v, want one exec-oob with an id", got)
	}
}

func TestOOBReplyOvertakesStuckInband(t *testing.T) {
	srv := qmptest.New(t)
	release := make(chan struct{})
	srv.Handle("migrate", func(ctx context.Context, _ qmptest.Command) (any, error) {
		select { // like a main loop stuck in a COLO checkpoint
		case <-release:
		case <-ctx.Done():
		}
		return nil, nil
	})
	c := srv.Client()
	ctx := testCtx(t)
	inband := make(chan error, 1)
	go func() { inband <- c.Migrate(ctx, "tcp:10.0.0.2:9998") }()
	if _, err := srv.WaitCommand(ctx, "migrate"); err != nil {
		t.Fatal(err)
	}
	if err := c.Yank(ctx, []qmp.YankInstance{qmp.YankMigration()}); err != nil {
		t.Fatalf("yank while in-band is stuck: %v", err)
	}
	select {
	case err := <-inband:
		t.Fatalf("migrate finished before release: %v", err)
	default:
	}
	close(release)
	if err := <-inband; err != nil {
		t.Fatal(err)
	}
}

func TestGreetingRequired(t *testing.T) {
	path, accepted := rawListener(t)
	go func() {
		conn := <-accepted
		conn.Write([]byte(`{"return": {}}` + "\n"))
	}()
	_, err := qmp.Dial(testCtx(t), path)
	if err == nil || !strings.Contains(err.Error(), "greeting") || !strings.Contains(err.Error(), path) {
		t.Errorf("Dial error = %v, want a greeting error naming %s", err, path)
	}
}

func TestHandshakeHonoursContext(t *testing.T) {
	path, _ := rawListener(t) // accepts, never speaks: a stuck QEMU
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := qmp.Dial(ctx, path)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial error = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Dial took %v after its deadline", d)
	}
}

func TestDialNamesSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.sock")
	_, err := qmp.Dial(testCtx(t), path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Dial error = %v, want one naming %s", err, path)
	}
}

// rawListener is a unix socket whose accepted connections go to the test.
func rawListener(t *testing.T) (string, <-chan net.Conn) {
	path := filepath.Join(t.TempDir(), "raw.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan net.Conn, 1)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			ch <- conn
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return path, ch
}

func TestErrorReply(t *testing.T) {
	srv := qmptest.New(t)
	srv.Fail("blockdev-del", qmp.ErrorClassGeneric, "Node 'x' is busy")
	c := srv.Client()
	err := c.BlockdevDel(testCtx(t), "x")
	qe, ok := err.(*qmp.Error)
	if !ok {
		t.Fatalf("error %T %v, want *qmp.Error", err, err)
	}
	if qe.Class != "GenericError" || qe.Desc != "Node 'x' is busy" || qe.Command != "blockdev-del" {
		t.Errorf("error = %+v", qe)
	}
	if !strings.Contains(err.Error(), "blockdev-del") || !strings.Contains(err.Error(), "busy") {
		t.Errorf("message %q lacks command or desc", err)
	}
	// The connection is still usable after an error reply.
	if _, err := c.QueryStatus(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownCommandClass(t *testing.T) {
	srv := qmptest.New(t)
	srv.Fail("x-nonexistent", qmp.ErrorClassCommandNotFound, "The command x-nonexistent has not been found")
	c := srv.Client()
	var qe *qmp.Error
	if err := c.Execute(testCtx(t), "x-nonexistent", nil, nil); !errors.As(err, &qe) || qe.Class != qmp.ErrorClassCommandNotFound {
		t.Errorf("error = %v, want CommandNotFound", err)
	}
}

// Twenty concurrent calls; the peer answers each batch in reverse order.
// Every caller must get its own reply, and the client must never have more
// than 7 in-band requests outstanding (QEMU stops reading at 8, which would
// lock out yank).
func TestConcurrentExecuteMatchesByID(t *testing.T) {
	c, p := newPeer(t, "oob")
	const calls = 20
	ctx := testCtx(t)
	errs := make(chan error, calls)
	for i := range calls {
		go func() {
			var out struct{ N int }
			err := c.Execute(ctx, "echo", map[string]int{"n": i}, &out)
			if err == nil && out.N != i {
				err = errors.New("call " + itoa(i) + " got reply " + itoa(out.N))
			}
			errs <- err
		}()
	}
	for served := 0; served < calls; {
		var batch []peerRequest
		for len(batch) < 7 && served+len(batch) < calls {
			batch = append(batch, p.read())
		}
		if served+len(batch) < calls && !p.quiet(100*time.Millisecond) {
			t.Fatal("client sent an 8th in-band request")
		}
		for i := len(batch) - 1; i >= 0; i-- {
			p.reply(batch[i], json.RawMessage(`{"N":`+argN(t, batch[i])+`}`))
		}
		served += len(batch)
	}
	for range calls {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func argN(t *testing.T, r peerRequest) string {
	var a struct{ N json.RawMessage }
	if err := json.Unmarshal(r.Arguments, &a); err != nil || a.N == nil {
		t.Fatalf("request %s has no n", r.Arguments)
	}
	return string(a.N)
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestContextCancelDropsLateReply(t *testing.T) {
	c, p := newPeer(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Execute(ctx, "first", nil, nil) }()
	first := p.read()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Execute = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled Execute did not return")
	}

	var out string
	errc2 := make(chan error, 1)
	go func() { errc2 <- c.Execute(testCtx(t), "second", nil, &out) }()
	second := p.read()
	p.reply(first, "late reply for first")
	p.reply(second, "second")
	if err := <-errc2; err != nil || out != "second" {
		t.Errorf("second call = %q, %v; want its own reply", out, err)
	}
}

// A cancelled call's request may still be queued in QEMU, so its in-band
// slot is only freed by its reply.
func TestCancelledCallsKeepInbandSlots(t *testing.T) {
	c, p := newPeer(t, "oob")
	var stale []peerRequest
	for range 7 {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- c.Execute(ctx, "stuck", nil, nil) }()
		stale = append(stale, p.read())
		cancel()
		<-errc
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Execute(ctx, "eighth", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("8th in-band call = %v, want it held back", err)
	}
	if !p.quiet(50 * time.Millisecond) {
		t.Fatal("8th in-band request was sent")
	}
	// OOB requests are not held back.
	oobc := make(chan error, 1)
	go func() { oobc <- c.ExecuteOOB(testCtx(t), "query-yank", nil, nil) }()
	if req := p.read(); req.ExecOOB != "query-yank" {
		t.Fatalf("got %+v, want exec-oob query-yank", req)
	} else {
		p.reply(req, []any{})
	}
	if err := <-oobc; err != nil {
		t.Fatal(err)
	}
	p.reply(stale[0], map[string]any{})
	errc := make(chan error, 1)
	go func() { errc <- c.Execute(testCtx(t), "ninth", nil, nil) }()
	req := p.read()
	if req.Execute != "ninth" {
		t.Fatalf("got %+v, want ninth", req)
	}
	p.reply(req, map[string]any{})
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestConnectionLostMidCall(t *testing.T) {
	srv := qmptest.New(t)
	srv.Handle("migrate", func(ctx context.Context, _ qmptest.Command) (any, error) {
		<-ctx.Done()
		return nil, nil
	})
	c := srv.Client()
	events, _ := c.Subscribe()
	w := c.Expect(qmp.EventColoExit, nil)
	errc := make(chan error, 1)
	go func() { errc <- c.Migrate(context.Background(), "tcp:x:1") }()
	if _, err := srv.WaitCommand(testCtx(t), "migrate"); err != nil {
		t.Fatal(err)
	}
	srv.CloseConnections()

	var err error
	select {
	case err = <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("pending call not failed after the connection dropped")
	}
	checkLost := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, qmp.ErrDisconnected) || !errors.Is(err, io.EOF) {
			t.Errorf("%s: error = %v, want ErrDisconnected wrapping io.EOF", what, err)
		}
		if err != nil && !strings.Contains(err.Error(), srv.Path()) {
			t.Errorf("%s: error %q does not name the socket", what, err)
		}
	}
	checkLost("pending call", err)
	if !strings.Contains(err.Error(), "migrate") {
		t.Errorf("error %q does not name the command", err)
	}
	checkLost("later call", c.Stop(testCtx(t)))
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed")
	}
	checkLost("Err", c.Err())
	if _, ok := <-events; ok {
		t.Error("subscription channel not closed")
	}
	if _, err := w.Wait(testCtx(t)); !errors.Is(err, qmp.ErrDisconnected) {
		t.Errorf("Wait = %v, want ErrDisconnected", err)
	}
}

func TestClose(t *testing.T) {
	srv := qmptest.New(t)
	c := srv.Client()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := c.Cont(testCtx(t)); !errors.Is(err, qmp.ErrClosed) {
		t.Errorf("call after Close = %v, want ErrClosed", err)
	}
}

func TestMalformedInputEndsConnection(t *testing.T) {
	srv := qmptest.New(t)
	c := srv.Client()
	srv.SendRaw("{\"event\": oops\n")
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client kept a desynchronised stream open")
	}
	if err := c.Err(); !errors.Is(err, qmp.ErrDisconnected) || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("Err = %v", err)
	}
}

func TestRepliesWithoutOurIDAreIgnored(t *testing.T) {
	c, p := newPeer(t)
	errc := make(chan error, 1)
	var out string
	go func() { errc <- c.Execute(testCtx(t), "x", nil, &out) }()
	req := p.read()
	// A parse-error reply has no id; a foreign id is not ours either.
	p.send(map[string]any{"error": map[string]string{"class": "GenericError", "desc": "JSON parse error"}})
	p.send(map[string]any{"return": "wrong", "id": "foreign"})
	p.send([]int{1, 2}) // not an object at all
	p.reply(req, "right")
	if err := <-errc; err != nil || out != "right" {
		t.Errorf("got %q, %v", out, err)
	}
}
