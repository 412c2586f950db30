package sysimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Cmd is one process of a pipeline.
type Cmd struct {
	Name string   `json:"name"`
	Args []string `json:"args"`
	// Env changes the builder's environment: "KEY=value" sets, "KEY" removes.
	Env []string `json:"env,omitempty"`
}

// environ applies changes to base.
func environ(base, changes []string) []string {
	drop := map[string]bool{}
	for _, c := range changes {
		k, _, _ := strings.Cut(c, "=")
		drop[k] = true
	}
	var out []string
	for _, e := range base {
		k, _, _ := strings.Cut(e, "=")
		if !drop[k] {
			out = append(out, e)
		}
	}
	for _, c := range changes {
		if strings.Contains(c, "=") {
			out = append(out, c)
		}
	}
	return out
}

func (c Cmd) String() string {
	var b strings.Builder
	for _, e := range c.Env {
		b.WriteString(e + " ")
	}
	b.WriteString(c.Name)
	for _, a := range c.Args {
		b.WriteString(" " + shq(a))
	}
	return b.String()
}

// Runner runs the build's host commands; tests record them instead.
type Runner interface {
	// Run runs cmds as a pipeline: each one's stdout is the next one's
	// stdin. Every stderr line, and the last stdout's, goes to log with the
	// command's name. It returns when all have exited.
	Run(ctx context.Context, log func(name, line string), cmds ...Cmd) error
	// Output runs one short command (a version probe) and returns its
	// stdout and stderr together.
	Output(ctx context.Context, c Cmd) ([]byte, error)
}

// Exec runs commands on the host.
type Exec struct{}

// stopGrace is how long a cancelled command has after SIGTERM: mmdebstrap
// then unmounts /proc, /sys and /dev of its chroot and removes it.
const stopGrace = 2 * time.Minute

func (Exec) command(ctx context.Context, c Cmd) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Env = environ(os.Environ(), c.Env)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	return cmd
}

// Output implements Runner.
func (e Exec) Output(ctx context.Context, c Cmd) ([]byte, error) {
	return e.command(ctx, c).CombinedOutput()
}

// Run implements Runner.
func (e Exec) Run(ctx context.Context, log func(name, line string), cmds ...Cmd) error {
	if len(cmds) == 0 {
		return nil
	}
	procs := make([]*exec.Cmd, len(cmds))
	var writers []*lineWriter
	var closeAfterStart []io.Closer
	for i, c := range cmds {
		p := e.command(ctx, c)
		w := &lineWriter{name: c.Name, log: log}
		writers = append(writers, w)
		p.Stderr = w
		if i == len(cmds)-1 {
			p.Stdout = w
		}
		procs[i] = p
	}
	for i := 0; i < len(procs)-1; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		procs[i].Stdout, procs[i+1].Stdin = w, r
		closeAfterStart = append(closeAfterStart, r, w)
	}
	started := 0
	var startErr error
	for i, p := range procs {
		if err := p.Start(); err != nil {
			startErr = fmt.Errorf("%s: %w", cmds[i].Name, err)
			break
		}
		started++
	}
	for _, c := range closeAfterStart {
		c.Close()
	}
	var errs []error
	if startErr != nil {
		errs = append(errs, startErr)
		for _, p := range procs[:started] {
			p.Process.Signal(syscall.SIGTERM)
		}
	}
	for i, p := range procs[:started] {
		if err := p.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cmds[i].Name, err))
		}
	}
	for _, w := range writers {
		w.flush()
	}
	return errors.Join(errs...)
}

// lineWriter hands complete lines to log.
type lineWriter struct {
	mu   sync.Mutex
	name string
	log  func(name, line string)
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

func (w *lineWriter) emit(line string) {
	line = strings.TrimRight(line, "\r")
	// apt redraws progress with carriage returns: keep the last state.
	if i := strings.LastIndexByte(line, '\r'); i >= 0 {
		line = line[i+1:]
	}
	if w.log != nil && line != "" {
		w.log(w.name, line)
	}
}
