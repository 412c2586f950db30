package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/internal/qemuroot"
)

// RogueNode is the third machine of RogueVM: a VM like the nodes, booted
// from the ISO with "Replace PM, join system" answers.
var RogueNode = Node{Name: "rogue", Index: 2, Action: answers.Replace, Template: "recipes/answers/replace-node1.yaml", Addr: "192.0.2.13"}

// RogueVM plugs a third machine into node0's priv0 port — node1's priv0
// cable is pulled for it, while node1 stays connected over the A-Link —
// and installs it from the ISO as "Replace PM, join system", its answers
// even pinning the system's CA. node0 must refuse it: the system has two
// healthy nodes. It returns the end of the installer's console as plain
// text (escape sequences out, white space collapsed) and puts node1's
// cable back; the rogue's VM, taps and files are removed.
func (l *Lab) RogueVM(ctx context.Context) (string, error) {
	if err := l.load(); err != nil {
		return "", err
	}
	ns, dir := l.cfg.Namespace, l.cfg.StateDir
	n := RogueNode
	fp := strings.TrimSpace(readAll(SystemFilesIn(dir).Fingerprint))
	if fp == "" {
		return "", errors.New("lab: rogue: no system fingerprint (is the lab up?)")
	}
	f := NodeFiles(dir, n)
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return "", err
	}
	defer os.RemoveAll(f.Dir)
	if err := emptyDisk(f.System, SystemDiskBytes); err != nil {
		return "", err
	}
	if err := emptyDisk(f.Data, DataDiskBytes); err != nil {
		return "", err
	}
	if err := l.writeAnswers(n, Extra{Fingerprint: fp}); err != nil {
		return "", err
	}
	in := func(args ...string) []string { return append([]string{"-n", ns}, args...) }
	var taps []string
	defer func() {
		for _, t := range taps {
			_ = ipCmd(context.Background(), in("link", "del", t)...)
		}
	}()
	for k, s := range Segments {
		t := n.Tap(k)
		for _, args := range [][]string{
			in("tuntap", "add", "dev", t, "mode", "tap"),
			in("link", "set", "dev", t, "addrgenmode", "none"),
			in("link", "set", "dev", t, "master", s.Name, "up"),
		} {
			if err := ipCmd(ctx, args...); err != nil {
				return "", fmt.Errorf("lab: rogue: %w", err)
			}
		}
		taps = append(taps, t)
	}
	if err := l.Cut("node1:priv0"); err != nil {
		return "", err
	}
	defer l.Restore("node1:priv0")

	l.mu.Lock()
	spec := VMSpec{Namespace: ns, Node: n, Files: f, Machine: l.st.Machine, NICModel: l.st.NICModel, Install: true, ISO: l.st.ISO}
	qemu := l.st.QEMU
	l.mu.Unlock()
	if l.cfg.Firmware == OVMF {
		root, err := qemuroot.Ensure(ctx, l.cfg.CacheDir, l.cfg.Logf)
		if err != nil {
			return "", err
		}
		if spec.FirmwareArgs, err = root.PflashArgs(f.Dir); err != nil {
			return "", err
		}
	}
	argv := spec.Argv(qemu)
	cmd := exec.Command(argv[0], argv[1:]...)
	qlog, err := os.Create(f.QEMULog)
	if err != nil {
		return "", err
	}
	defer qlog.Close()
	cmd.Stdout, cmd.Stderr = qlog, qlog
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("lab: rogue: start QEMU: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Kill()
		<-exited
		if d := os.Getenv("LOCKSTEP_TEST_LOGS"); d != "" {
			if b, err := os.ReadFile(f.Console); err == nil {
				_ = os.WriteFile(filepath.Join(d, "lab-rogue-console.log"), b, 0o644)
			}
		}
	}()
	l.logf("rogue: a third machine on node0's priv0 port installs from the ISO as Replace PM")
	wctx, cancel := context.WithTimeout(ctx, l.cfg.InstallTimeout)
	defer cancel()
	alive := func() bool {
		select {
		case <-exited:
			return false
		default:
			return true
		}
	}
	if _, err := waitConsole(wctx, f.Console, 0, alive, installFailed, installDone); err != nil {
		out, _ := readFrom(f.Console, 0)
		return "", fmt.Errorf("lab: rogue: %w\n%s", err, Tail(out, 3000))
	}
	// The whole failure line: the reason follows the marker.
	time.Sleep(time.Second)
	out, _ := readFrom(f.Console, 0)
	if strings.Contains(out, installDone) {
		return "", fmt.Errorf("lab: rogue: the third machine was installed into the system\n%s", Tail(out, 3000))
	}
	return plainText(Tail(out, 3000)), nil
}

var escape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// plainText is console output without terminal escapes, its white space
// (line breaks of the TUI's wrapping too) collapsed to single spaces.
func plainText(s string) string {
	return strings.Join(strings.Fields(escape.ReplaceAllString(s, " ")), " ")
}
