package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The witness the lab runs on the lab host (SPEC A2): node0's answers name
// it, so both nodes use it, over ibiz, a path independent of priv0 and the
// A-Links.
const (
	WitnessPort = 7500
	WitnessAddr = HostIP + ":7500"
)

// Console lines of the system (cmd/lockstepd).
const (
	systemLinePrefix = "LOCKSTEP SYSTEM " + SystemName + " " + SystemIP + " CA "
	memberLine       = "LOCKSTEP MEMBER "
	systemIPLine     = "LOCKSTEP SYSTEM IP " + SystemIP + " "
)

// SystemFiles are the lab's files for reaching the system.
type SystemFiles struct {
	Bin           string // the lab's builds of lockstep and lockstep-witness
	CLI           string
	Witness       string
	Lab           string // lockstep-lab
	WitnessSecret string
	WitnessState  string
	WitnessLog    string
	Fingerprint   string // the system CA's fingerprint, as node0 printed it
	Password      string // the administrator's password
	Home          string // the CLI's $HOME (its session cache)
}

// Files of the system under stateDir.
func SystemFilesIn(stateDir string) SystemFiles {
	bin := filepath.Join(stateDir, "bin")
	return SystemFiles{
		Bin: bin, CLI: filepath.Join(bin, "lockstep"), Witness: filepath.Join(bin, "lockstep-witness"),
		Lab:           filepath.Join(bin, "lockstep-lab"),
		WitnessSecret: filepath.Join(stateDir, "witness.secret"),
		WitnessState:  filepath.Join(stateDir, "witness.state"),
		WitnessLog:    filepath.Join(stateDir, "witness.log"),
		Fingerprint:   filepath.Join(stateDir, "ca.fingerprint"),
		Password:      filepath.Join(stateDir, "admin.password"),
		Home:          filepath.Join(stateDir, "cli"),
	}
}

// buildTools builds the CLI, the witness and lockstep-lab itself (the
// rogue runs it in its namespace) from the repository.
func (l *Lab) buildTools(ctx context.Context) error {
	f := SystemFilesIn(l.cfg.StateDir)
	for _, t := range []struct{ out, pkg string }{
		{f.CLI, "./cmd/lockstep"}, {f.Witness, "./cmd/lockstep-witness"}, {f.Lab, "./cmd/lockstep-lab"},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", t.out, t.pkg)
		cmd.Dir = l.cfg.RepoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("lab: go build %s: %v\n%s", t.pkg, err, out)
		}
	}
	if err := os.WriteFile(f.Password, []byte(AdminPassword+"\n"), 0o600); err != nil {
		return err
	}
	return os.MkdirAll(f.Home, 0o700)
}

// startWitness starts lockstep-witness on the lab host, in the namespace,
// in a session of its own (Down kills every process in the namespace).
func (l *Lab) startWitness() (string, error) {
	f := SystemFilesIn(l.cfg.StateDir)
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	secret := hex.EncodeToString(b[:])
	if err := os.WriteFile(f.WitnessSecret, []byte(secret+"\n"), 0o600); err != nil {
		return "", err
	}
	logf, err := os.OpenFile(f.WitnessLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", l.cfg.Namespace, f.Witness,
		"-listen", WitnessAddr, "-secret-file", f.WitnessSecret, "-state", f.WitnessState)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("lab: start the witness: %w", err)
	}
	go cmd.Wait()
	l.logf("witness: lockstep-witness on %s (pid %d), log %s", WitnessAddr, cmd.Process.Pid, f.WitnessLog)
	return secret, nil
}

// waitSystemLine waits for node0's system line and returns the CA
// fingerprint it shows (64 hex digits).
func (l *Lab) waitSystemLine(ctx context.Context, timeout time.Duration) (string, error) {
	n := Nodes[0]
	l.mu.Lock()
	ns := *l.st.Nodes[n.Name]
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	f := NodeFiles(l.cfg.StateDir, n)
	for {
		out, _ := readFrom(f.Console, ns.ConsoleMark)
		if i := strings.LastIndex(out, systemLinePrefix); i >= 0 {
			line := out[i+len(systemLinePrefix):]
			if j := strings.IndexAny(line, "\r\n"); j >= 0 {
				fp := strings.ReplaceAll(line[:j], " ", "")
				if len(fp) != 64 {
					return "", fmt.Errorf("lab: node0's system line has a fingerprint of %d digits: %q", len(fp), line[:j])
				}
				return fp, os.WriteFile(SystemFilesIn(l.cfg.StateDir).Fingerprint, []byte(fp+"\n"), 0o644)
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("lab: node0 did not print its system line within %v\n%s", timeout, Tail(out, 3000))
		case <-time.After(consolePoll):
		}
	}
}

// CLI runs the lockstep CLI inside the lab namespace against the system
// IP (or server, when given), logged in as the administrator, and returns
// its standard output.
func (l *Lab) CLI(ctx context.Context, server string, args ...string) ([]byte, error) {
	f := SystemFilesIn(l.cfg.StateDir)
	fp, err := os.ReadFile(f.Fingerprint)
	if err != nil {
		return nil, fmt.Errorf("lab: the system's fingerprint: %w", err)
	}
	if server == "" {
		server = SystemIP
	}
	argv := append([]string{"netns", "exec", l.cfg.Namespace, f.CLI, "--server", server,
		"--fingerprint", strings.TrimSpace(string(fp)), "--password-file", f.Password}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.Env = append(os.Environ(), "HOME="+f.Home, "XDG_CONFIG_HOME="+filepath.Join(f.Home, ".config"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("lockstep %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// ReachCommand is how a person reaches the system from the lab host.
func ReachCommand(stateDir string) string {
	f := SystemFilesIn(stateDir)
	return fmt.Sprintf("ip netns exec %s %s --server %s --fingerprint $(cat %s) --password-file %s node list",
		Namespace, f.CLI, SystemIP, f.Fingerprint, f.Password)
}

// ReplaceNode is a board swap: the node's power is cut, it gets empty
// disks, and it is installed from the ISO with "Replace PM, join system"
// (its answers pinning the system's CA), as the same host name and
// address; it joins through the surviving node, which holds the CA key.
// It returns once the system is formed again.
func (l *Lab) ReplaceNode(ctx context.Context, node string) error {
	n, err := NodeByName(node)
	if err != nil {
		return err
	}
	if err := l.load(); err != nil {
		return err
	}
	fp := strings.TrimSpace(readAll(SystemFilesIn(l.cfg.StateDir).Fingerprint))
	if fp == "" {
		return fmt.Errorf("lab: replace %s: no system fingerprint (is the lab up?)", node)
	}
	for _, d := range []string{"system", "data"} {
		if err := l.ReplaceDisk(node, d); err != nil {
			return err
		}
	}
	// node0's template founds a system: a replaced node0 joins like node1.
	r := n
	r.Action, r.Template = Nodes[1].Action, Nodes[1].Template
	if err := l.writeAnswers(r, Extra{Fingerprint: fp}); err != nil {
		return err
	}
	if err := l.installAndBoot(ctx, r); err != nil {
		return err
	}
	return l.WaitSystemFormed(ctx, 3*time.Minute)
}

// RecoverTemplate is the answer file a recovered node is installed from.
const RecoverTemplate = "recipes/answers/recover-node.yaml"

// RecoverNode re-installs a node onto its own disks with "Recover PM, join
// system: preserve data" (its answers pinning the system's CA): its power
// is cut, it boots the ISO, the install keeps its storage partition and
// storage-group disk, and it joins through the surviving node. It returns
// once the system is formed again.
func (l *Lab) RecoverNode(ctx context.Context, node string) error {
	n, err := NodeByName(node)
	if err != nil {
		return err
	}
	if err := l.load(); err != nil {
		return err
	}
	fp := strings.TrimSpace(readAll(SystemFilesIn(l.cfg.StateDir).Fingerprint))
	if fp == "" {
		return fmt.Errorf("lab: recover %s: no system fingerprint (is the lab up?)", node)
	}
	if err := l.PowerOff(node); err != nil {
		return err
	}
	r := n
	r.Action, r.Template = answers.Recover, RecoverTemplate
	if err := l.writeAnswers(r, Extra{Fingerprint: fp}); err != nil {
		return err
	}
	if err := l.installAndBoot(ctx, r); err != nil {
		return err
	}
	return l.WaitSystemFormed(ctx, 3*time.Minute)
}
