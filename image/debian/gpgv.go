package debian

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Verifier checks a clear-signed document (an InRelease file) and returns the
// signed text. Implementations must return only text that is covered by a
// valid signature: anything outside the signed block is attacker-controlled.
type Verifier interface {
	Verify(signed []byte) (cleartext []byte, err error)
}

// GPGV verifies with the gpgv tool against a fixed keyring. gpgv is what apt
// uses; it never consults the user's trust database or key servers.
type GPGV struct {
	Keyring string // path to an OpenPGP keyring (.gpg or .kbx)
	Path    string // gpgv binary; empty means "gpgv" from PATH
}

// Verify runs `gpgv --status-fd 3 --output - --keyring K` on signed.
//
// The decision is made from the machine-readable status lines, like apt does,
// not from the exit code alone: Debian signs each InRelease with several keys,
// and a keyring that lacks one of them (an older or newer release key) makes
// gpgv exit 2 even though another signature is good. The rule is: at least one
// signature with GOODSIG+VALIDSIG, and no BADSIG at all.
func (g GPGV) Verify(signed []byte) ([]byte, error) {
	bin := g.Path
	if bin == "" {
		bin = "gpgv"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("gpgv not found (%v): install package gpgv (apt-get install gpgv)", err)
	}
	if g.Keyring == "" {
		return nil, errors.New("gpgv: no keyring configured")
	}
	// gpgv looks up a bare file name in ~/.gnupg, so always pass a path.
	keyring, err := filepath.Abs(g.Keyring)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(keyring); err != nil {
		return nil, fmt.Errorf("gpgv keyring %s: %w (install package debian-archive-keyring?)", keyring, err)
	}

	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer statusR.Close()

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path, "--status-fd", "3", "--output", "-", "--keyring", keyring)
	cmd.Stdin = bytes.NewReader(signed)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.ExtraFiles = []*os.File{statusW} // becomes fd 3 in the child
	if err := cmd.Start(); err != nil {
		statusW.Close()
		return nil, fmt.Errorf("running gpgv: %w", err)
	}
	statusW.Close() // the child holds its own copy; we must drop ours to see EOF

	// Read the status stream concurrently: gpgv blocks if the pipe fills.
	statusDone := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(statusR)
		statusDone <- b
	}()
	waitErr := cmd.Wait()
	status := <-statusDone

	good, bad := parseGPGStatus(status)
	if len(bad) > 0 {
		return nil, fmt.Errorf("gpgv (keyring %s): BAD signature: %s", keyring, strings.Join(bad, "; "))
	}
	if good == 0 {
		msg := oneLine(stderr.String())
		if msg == "" && waitErr != nil {
			msg = waitErr.Error()
		}
		return nil, fmt.Errorf("gpgv (keyring %s): no valid signature: %s", keyring, msg)
	}
	// Exit 2 is gpgv's "some signature could not be checked" (e.g. missing
	// key); anything else with a good signature would be unexpected.
	var exitErr *exec.ExitError
	if waitErr != nil && !(errors.As(waitErr, &exitErr) && exitErr.ExitCode() == 2) {
		return nil, fmt.Errorf("gpgv (keyring %s): %v: %s", keyring, waitErr, oneLine(stderr.String()))
	}
	if stdout.Len() == 0 {
		return nil, fmt.Errorf("gpgv (keyring %s): good signature but no signed text in output", keyring)
	}
	return stdout.Bytes(), nil
}

// parseGPGStatus counts signatures that are both GOODSIG and VALIDSIG within
// one NEWSIG block (VALIDSIG is also emitted for expired or revoked keys, so
// it is not enough on its own), and collects every BADSIG.
func parseGPGStatus(status []byte) (good int, bad []string) {
	var sawGood, sawValid bool
	flush := func() {
		if sawGood && sawValid {
			good++
		}
		sawGood, sawValid = false, false
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "[GNUPG:] ")
		if !ok {
			continue
		}
		keyword, args, _ := strings.Cut(rest, " ")
		switch keyword {
		case "NEWSIG":
			flush()
		case "GOODSIG":
			sawGood = true
		case "VALIDSIG":
			sawValid = true
		case "BADSIG":
			bad = append(bad, args)
		}
	}
	flush()
	return good, bad
}

// oneLine joins gpgv's multi-line diagnostics so they fit in one error line.
func oneLine(s string) string {
	var lines []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
