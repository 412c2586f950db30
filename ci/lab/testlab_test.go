package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// newTestLab makes the lab of one lab test: its own namespace (Namespace
// plus suffix) and a state directory under the test's temporary
// directory, so that a lab someone has up on this machine is left alone.
// Its logs are saved under logPrefix and it is taken down when the test
// ends. logf prints with the time since the test began.
func newTestLab(t *testing.T, suffix, logPrefix string) (*Lab, func(format string, args ...any)) {
	t.Helper()
	if os.Getenv("LOCKSTEP_LAB_TESTS") != "1" {
		t.Skip("LOCKSTEP_LAB_TESTS is not 1 (the lab installs two nodes under TCG: about 10 minutes)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, taps)")
	}
	t0 := time.Now()
	logf := func(format string, args ...any) {
		t.Helper() // the line that logs, not this one
		t.Logf("[%6s] "+format, append([]any{time.Since(t0).Round(time.Second)}, args...)...)
	}
	l, err := New(Config{RepoRoot: repoRoot, ISO: os.Getenv("LOCKSTEP_ISO"), Logf: logf,
		Namespace: Namespace + suffix, StateDir: filepath.Join(t.TempDir(), "lab")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := l.Config()
	if err := reclaimTestNamespace(cfg.Namespace, logf); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		saveLogs(t, cfg.StateDir, logPrefix)
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("down (cleanup): %v", err)
		}
	})
	return l, logf
}

// reclaimTestNamespace deletes a lab test's namespace that an earlier run
// left behind when it was killed before its cleanup: with no process in
// it, nothing uses it any more. One with processes is a lab still running
// (the same test started twice), which is an error, not something to kill.
func reclaimTestNamespace(ns string, logf func(string, ...any)) error {
	if !NamespaceExists(ns) {
		return nil
	}
	ino, err := namespaceInode(ns)
	if err != nil {
		return err
	}
	if ps := processesIn(ino); len(ps) > 0 {
		return fmt.Errorf("a lab is up already in namespace %s (processes %v): `go run ./cmd/lockstep-lab down` or stop that test first", ns, ps)
	}
	logf("namespace %s left by an earlier run has no process in it: deleting it", ns)
	return deleteNamespace(ns)
}
