// Package storage holds what the storage packages share: the Runner through
// which every host command (LVM, drbdadm, drbdsetup) runs, so that their
// tests need no root and no disks, and the error a failed command returns.
//
// Storage groups and VM volumes are in agent/storage/lvm; the mirroring of
// each volume to the peer node is in agent/storage/drbd (SPEC A6, A10).
package storage

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
)

// Runner runs one host command to completion.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) (stdout, stderr []byte, err error)
}

// Exec runs commands on the host.
type Exec struct{}

// Run implements Runner. Standard input is empty: LVM and drbdmeta read
// their yes/no prompts from it, and a prompt must fail, not hang the agent.
// LC_ALL=C keeps the messages that end up in errors in English.
func (Exec) Run(ctx context.Context, name string, args ...string) ([]byte, []byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.Bytes(), err
}

// CmdError is a command that failed: its command line, what it wrote to
// standard error and why it failed (usually its exit status).
type CmdError struct {
	Args   []string // the program and its arguments
	Stderr string
	Err    error
}

func (e *CmdError) Error() string {
	msg := strings.Join(e.Args, " ") + ": " + e.Err.Error()
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

func (e *CmdError) Unwrap() error { return e.Err }

// Output runs a command through r and returns its standard output; a
// failure is a *CmdError.
func Output(ctx context.Context, r Runner, name string, args ...string) ([]byte, error) {
	stdout, stderr, err := r.Run(ctx, name, args...)
	if err != nil {
		return stdout, &CmdError{Args: append([]string{name}, args...), Stderr: string(stderr), Err: err}
	}
	return stdout, nil
}
