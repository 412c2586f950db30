package ft

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/lockstep-ft/lockstep/agent/qmp"
)

// CommandFunc makes the command that runs QEMU's system emulator with
// args, unstarted. qemuroot.Root.Command has this shape; a test wraps it
// (e.g. to enter a network namespace) or replaces QEMU altogether.
type CommandFunc func(ctx context.Context, args ...string) *exec.Cmd

// Process is one side's running QEMU: the process, its monitor and its
// files (see Side).
type Process struct {
	Role Role
	Side Side

	cmd     *exec.Cmd
	qmp     *qmp.Client
	exited  chan struct{}
	waitErr error // set before exited is closed
}

// Start runs the QEMU of one side of spec through newCmd, with its output
// appended to the side's QEMULog and the guest's serial console to its
// ConsoleLog, and connects to its monitor. ctx bounds the start only: the
// process lives until Kill or Stop. The secondary's active and hidden
// images must exist (CreateReplicationImages).
func Start(ctx context.Context, newCmd CommandFunc, spec Spec, role Role) (*Process, error) {
	var args []string
	var err error
	var side Side
	switch role {
	case PrimaryRole:
		args, err = PrimaryArgs(spec)
		side = spec.Primary
	case SecondaryRole:
		args, err = SecondaryArgs(spec)
		side = spec.Secondary
	default:
		return nil, fmt.Errorf("ft: start: unknown role %q", role)
	}
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(side.WorkDir, 0o750); err != nil {
		return nil, fmt.Errorf("ft: start %s: %w", role, err)
	}
	// A socket left by an earlier QEMU would accept nothing; QEMU replaces
	// it, but a dial racing with that must not find the stale one.
	for _, name := range []string{"qmp", comparePriServer, compareOutServer} {
		if err := os.Remove(side.sock(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("ft: start %s: %w", role, err)
		}
	}
	if err := endLine(side.ConsoleLog()); err != nil {
		return nil, fmt.Errorf("ft: start %s: %w", role, err)
	}
	logFile, err := os.OpenFile(side.QEMULog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("ft: start %s: %w", role, err)
	}
	defer logFile.Close() // the child has its own descriptor
	fmt.Fprintf(logFile, "--- %s: starting the %s\n", time.Now().Format(time.RFC3339Nano), role)

	// Not tied to ctx: an FT VM outlives the call that started it.
	cmd := newCmd(context.Background(), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ft: start %s: %w", role, err)
	}
	p := &Process{Role: role, Side: side, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if p.qmp, err = p.dial(ctx); err != nil {
		p.Kill()
		<-p.exited
		return nil, fmt.Errorf("ft: start %s: %w%s", role, err, p.logTail())
	}
	return p, nil
}

// dial connects to the monitor as soon as QEMU has created its socket.
func (p *Process) dial(ctx context.Context) (*qmp.Client, error) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := os.Stat(p.Side.QMPSocket()); err == nil {
			c, err := qmp.Dial(ctx, p.Side.QMPSocket())
			if err == nil {
				return c, nil
			}
			if ctx.Err() != nil {
				return nil, err
			}
		}
		select {
		case <-p.exited:
			// QEMU says why on stderr (the log): an operator reading
			// "vm info" should not need the node's shell for it.
			return nil, fmt.Errorf("QEMU exited: %v: %s", p.waitErr, lastLine(p.logTail()))
		case <-ctx.Done():
			return nil, fmt.Errorf("no monitor on %s: %w", p.Side.QMPSocket(), ctx.Err())
		case <-t.C:
		}
	}
}

// QMP is the process's monitor connection.
func (p *Process) QMP() *qmp.Client { return p.qmp }

// Pid is QEMU's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr is how the process exited; nil while it runs.
func (p *Process) ExitErr() error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
		return nil
	}
}

// Kill sends SIGKILL, as a crash would end QEMU.
func (p *Process) Kill() error {
	err := p.cmd.Process.Signal(syscall.SIGKILL)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// Stop asks QEMU to quit, kills it if it has not exited by the time ctx
// ends, and closes the monitor connection.
func (p *Process) Stop(ctx context.Context) error {
	defer p.qmp.Close()
	select {
	case <-p.exited:
		return nil
	default:
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_ = p.qmp.Quit(qctx) // a QEMU stuck in its main loop does not answer: then kill it
	cancel()
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
	}
	if err := p.Kill(); err != nil {
		return err
	}
	<-p.exited
	return nil
}

// logTail is the end of QEMULog, for errors.
func (p *Process) logTail() string {
	f, err := os.Open(p.Side.QEMULog())
	if err != nil {
		return ""
	}
	defer f.Close()
	const max = 2048
	if st, err := f.Stat(); err == nil && st.Size() > max {
		f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	if len(b) == 0 {
		return ""
	}
	return "\nQEMU log: " + string(b)
}

// DialQMP connects to a side's TCP monitor (Side.QMPAddr), as the peer's
// agent does over the replication link. ctx bounds the connection and the
// handshake only.
func DialQMP(ctx context.Context, addr string) (*qmp.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ft: QMP %s: %w", addr, err)
	}
	c, err := qmp.NewContext(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("ft: QMP %s: %w", addr, err)
	}
	return c, nil
}

// endLine ends the console log's last line if a QEMU killed in mid-line
// left it open: the next QEMU appends to the same log (the console of one
// VM across its runs and roles), and its first line must not join the cut
// one.
func endLine(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, st.Size()-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	_, err = f.WriteAt([]byte("\n"), st.Size())
	return err
}

// lastLine is the last non-blank line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
