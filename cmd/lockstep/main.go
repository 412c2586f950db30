// Command lockstep is the administrator's CLI of a Lockstep system (SPEC
// A15): a thin client of the HTTPS API, meant as much for scripts (scheduled
// backups, UPS-triggered shutdown) as for people.
//
//	export LOCKSTEP_SERVER=192.0.2.100
//	lockstep login --fingerprint <system CA fingerprint>
//	lockstep node list
//	lockstep node workon node1 --json
//
// Exit status: 0 success, 1 error (the server's message is printed), 2
// usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], osEnv()))
}

// env is the process's surroundings, injected so that tests run the whole
// CLI in-process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
	loc            *time.Location // times are shown in this zone
	// readPassword prompts without echo; nil when there is no terminal,
	// so that a script never hangs on a prompt.
	readPassword func(prompt string) (string, error)
	progress     bool // stderr is a terminal: a long upload shows progress there
}

func osEnv() env {
	e := env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, now: time.Now, loc: time.Local,
		progress: term.IsTerminal(int(os.Stderr.Fd()))}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		e.readPassword = func(prompt string) (string, error) {
			fmt.Fprint(os.Stderr, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(os.Stderr)
			return string(b), err
		}
	}
	return e
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, e env) int {
	err := dispatch(ctx, args, e)
	var ue *usageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "lockstep: %s\nRun 'lockstep help' for usage.\n", ue.msg)
		return 2
	default:
		fmt.Fprintf(e.stderr, "lockstep: %s\n", err)
		return 1
	}
}
