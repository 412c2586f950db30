package storage

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestExecOutput(t *testing.T) {
	ctx := context.Background()
	out, err := Output(ctx, Exec{}, "sh", "-c", "echo out; echo err >&2")
	if err != nil || string(out) != "out\n" {
		t.Fatalf("Output = %q, %v", out, err)
	}
	// Standard input is empty, so a prompt reads EOF instead of hanging.
	_, err = Output(ctx, Exec{}, "sh", "-c", "read answer || { echo 'no answer' >&2; exit 5; }")
	var ce *CmdError
	var exit *exec.ExitError
	if !errors.As(err, &ce) || !errors.As(err, &exit) || exit.ExitCode() != 5 {
		t.Fatalf("Output = %v, want a CmdError with exit status 5", err)
	}
	if want := "sh -c read answer || { echo 'no answer' >&2; exit 5; }: exit status 5: no answer"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestExecMissingProgram(t *testing.T) {
	_, err := Output(context.Background(), Exec{}, "lockstep-no-such-program")
	if err == nil || !strings.Contains(err.Error(), "lockstep-no-such-program") {
		t.Errorf("Output = %v", err)
	}
}
