package lab

import (
	"context"
	"errors"
	"fmt"
	"github.com/lockstep-ft/lockstep/agent/qmp"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lockstep-ft/lockstep/image/esp"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/internal/qemuroot"
)

// Markers on the installer's serial console.
const (
	installDone = "Installation complete"
	// An unattended install that cannot go on says so and waits.
	installFailed  = "Installation failed"
	installStopped = "Unattended install stopped"
	// A bad or unreadable answer file: "… restart the installer".
	installBadAnswers = "restart the installer"
)

// Config is a lab's configuration; the zero value of a field means its
// default.
type Config struct {
	// StateDir is the state directory: out/lab under RepoRoot.
	StateDir string
	// Namespace is the lab host's namespace: Namespace.
	Namespace string
	// RepoRoot holds the answer templates and out/: the current directory.
	RepoRoot string
	// ISO is the installer ISO: the newest out/lockstep-*.iso.
	ISO string
	// Firmware: SeaBIOS or OVMF.
	Firmware string
	// Machine: q35 (or pc).
	Machine string
	// NICModel: VirtioNet (or E1000).
	NICModel string
	// CacheDir is internal/qemuroot's cache: qemuroot.DefaultCacheDir().
	CacheDir string
	// InstallTimeout bounds one node's install, ISO boot to reboot: 20 min.
	InstallTimeout time.Duration
	// BootTimeout bounds a boot from disk to the ready line: 15 min.
	BootTimeout time.Duration
	// KeepOnFailure leaves the VMs of a failed `up` running (the state
	// directory and the namespace are always left for inspection).
	KeepOnFailure bool
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
}

// Lab is a two-node lab, up or not.
type Lab struct {
	cfg Config

	mu sync.Mutex
	st *State
	// children are the QEMUs this process started, by pid: closed when
	// the process has exited and been reaped.
	children map[int]chan struct{}
}

// New returns the lab of cfg; nothing is touched until a method runs.
func New(cfg Config) (*Lab, error) {
	if cfg.RepoRoot == "" {
		cfg.RepoRoot = "."
	}
	var err error
	if cfg.RepoRoot, err = filepath.Abs(cfg.RepoRoot); err != nil {
		return nil, err
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(cfg.RepoRoot, "out", "lab")
	}
	if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		return nil, err
	}
	if cfg.Namespace == "" {
		cfg.Namespace = Namespace
	}
	if !strings.HasPrefix(cfg.Namespace, NamespacePrefix) {
		return nil, fmt.Errorf("lab: namespace %q does not start with %q", cfg.Namespace, NamespacePrefix)
	}
	if cfg.Firmware == "" {
		cfg.Firmware = SeaBIOS
	}
	if cfg.Firmware != SeaBIOS && cfg.Firmware != OVMF {
		return nil, fmt.Errorf("lab: firmware %q: use %s or %s", cfg.Firmware, SeaBIOS, OVMF)
	}
	if cfg.Machine == "" {
		cfg.Machine = "q35"
	}
	switch cfg.NICModel {
	case "", "virtio", VirtioNet:
		cfg.NICModel = VirtioNet
	case E1000:
	default:
		return nil, fmt.Errorf("lab: NIC model %q: use virtio or e1000", cfg.NICModel)
	}
	if cfg.InstallTimeout == 0 {
		cfg.InstallTimeout = 20 * time.Minute
	}
	if cfg.BootTimeout == 0 {
		cfg.BootTimeout = 15 * time.Minute
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Lab{cfg: cfg, children: map[int]chan struct{}{}}, nil
}

// Config is the lab's configuration with its defaults filled in.
func (l *Lab) Config() Config { return l.cfg }

func (l *Lab) logf(format string, args ...any) { l.cfg.Logf(format, args...) }

// FindISO returns the newest out/lockstep-*.iso under repoRoot.
func FindISO(repoRoot string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(repoRoot, "out", "lockstep-*.iso"))
	if len(m) == 0 {
		return "", fmt.Errorf("lab: no ISO at %s: `make iso` builds it (or pass -iso)", filepath.Join(repoRoot, "out", "lockstep-*.iso"))
	}
	sort.Slice(m, func(i, j int) bool {
		a, _ := os.Stat(m[i])
		b, _ := os.Stat(m[j])
		return a.ModTime().After(b.ModTime())
	})
	return m[0], nil
}

// ErrUp: a lab (or what is left of one) is there already.
var ErrUp = errors.New("lab: a lab is already up")

// errNotUp: there is no lab to act on.
var errNotUp = errors.New("lab: no lab is up")

// requireRoot: namespaces, bridges and taps need root.
func requireRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("lab: needs root (it creates a network namespace, bridges and taps)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("lab: %w (apt-get install iproute2)", err)
	}
	return nil
}

// Up makes the lab: the namespace and its network, the disks and answer
// sticks, then installs node0 ("Create new system") and node1 ("Replace PM,
// join system") from the ISO in parallel, boots both from their disks and
// waits until the system is formed (SystemFormed). It refuses when a lab is
// already there. A failed Up stops its VMs (unless KeepOnFailure) and
// leaves the rest for inspection; Down removes it.
func (l *Lab) Up(ctx context.Context) (err error) {
	start := time.Now()
	if err := requireRoot(); err != nil {
		return err
	}
	ns, dir := l.cfg.Namespace, l.cfg.StateDir
	switch {
	case NamespaceExists(ns):
		return fmt.Errorf("%w: namespace %s exists (`lockstep-lab status` shows the lab, `lockstep-lab down` removes it)", ErrUp, ns)
	case exists(dir):
		return fmt.Errorf("%w, or a failed one is left: %s exists (`lockstep-lab down` removes it)", ErrUp, dir)
	}
	iso := l.cfg.ISO
	if iso == "" {
		if iso, err = FindISO(l.cfg.RepoRoot); err != nil {
			return err
		}
	}
	if iso, err = filepath.Abs(iso); err != nil {
		return err
	}
	if _, err := os.Stat(iso); err != nil {
		return fmt.Errorf("lab: ISO: %w", err)
	}
	ans := map[string][]byte{}
	for _, n := range Nodes {
		if ans[n.Name], err = Answers(l.cfg.RepoRoot, n); err != nil {
			return err
		}
		if q := NodeFiles(dir, n).QMP; len(q) >= 108 {
			return fmt.Errorf("lab: the QMP socket path %s is longer than a unix socket allows: use a shorter state directory", q)
		}
	}
	root, err := qemuroot.Ensure(ctx, l.cfg.CacheDir, l.cfg.Logf)
	if err != nil {
		return err
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	defer func() {
		if err == nil {
			return
		}
		if !l.cfg.KeepOnFailure {
			l.stopAll()
		}
		err = fmt.Errorf("%w\nthe lab is left as it is for inspection (%s); `lockstep-lab down` removes it", err, dir)
	}()

	st := &State{
		Namespace: ns, ISO: iso, QEMU: root.Bin("qemu-system-x86_64"), QEMUVersion: root.Manifest.QEMUVersion,
		Machine: l.cfg.Machine, NICModel: l.cfg.NICModel, Firmware: l.cfg.Firmware,
		CreatedAt: time.Now().UTC().Truncate(time.Second), Nodes: map[string]*NodeState{},
	}
	for _, n := range Nodes {
		nst := &NodeState{Phase: PhaseOff}
		if nst.FirmwareArgs, err = l.prepareNode(root, n, ans[n.Name]); err != nil {
			return err
		}
		st.Nodes[n.Name] = nst
	}
	l.mu.Lock()
	l.st = st
	err = l.saveLocked()
	l.mu.Unlock()
	if err != nil {
		return err
	}
	l.logf("QEMU %s (%s), %s, %s, %s NICs; ISO %s", st.QEMUVersion, root.Dir, st.Machine, st.Firmware, st.NICModel, iso)

	if err := setupNetwork(ctx, ns); err != nil {
		return err
	}
	l.logf("network: namespace %s with bridges %s; the lab host is %s on ibiz", ns, segmentNames(), HostIP)

	if err := l.buildTools(ctx); err != nil {
		return err
	}
	secret, err := l.startWitness()
	if err != nil {
		return err
	}
	// node0 first: node1's answers pin the CA that node0 creates, as an
	// operator's would after reading it off node0's screen.
	n0, n1 := Nodes[0], Nodes[1]
	if err := l.writeAnswers(n0, Extra{WitnessSecret: secret}); err != nil {
		return err
	}
	if err := l.installAndBoot(ctx, n0); err != nil {
		return err
	}
	fp, err := l.waitSystemLine(ctx, l.cfg.BootTimeout)
	if err != nil {
		return err
	}
	l.logf("node0: system %s founded, CA fingerprint %s", SystemName, fp)
	if err := l.writeAnswers(n1, Extra{Fingerprint: fp}); err != nil {
		return err
	}
	if err := l.installAndBoot(ctx, n1); err != nil {
		return err
	}
	if err := l.WaitSystemFormed(ctx, l.cfg.BootTimeout); err != nil {
		return err
	}
	l.mu.Lock()
	l.st.UpSeconds = time.Since(start).Seconds()
	err = l.saveLocked()
	l.mu.Unlock()
	return err
}

func segmentNames() string {
	var s []string
	for _, seg := range Segments {
		s = append(s, seg.Name)
	}
	return strings.Join(s, ", ")
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// writeAnswers writes the node's answer file and stick with what the lab
// has learned.
func (l *Lab) writeAnswers(n Node, x Extra) error {
	ans, err := AnswersWith(l.cfg.RepoRoot, n, x)
	if err != nil {
		return err
	}
	f := NodeFiles(l.cfg.StateDir, n)
	if err := os.WriteFile(f.Answers, ans, 0o600); err != nil {
		return err
	}
	if _, err := esp.Build(f.Stick, StickLabel, []esp.File{{Path: answers.StickPath, Data: ans}}, time.Unix(0, 0)); err != nil {
		return fmt.Errorf("lab: %s answer stick: %w", n.Name, err)
	}
	return nil
}

// prepareNode writes the node's empty disks, its answer file and stick and,
// for OVMF, its variable store.
func (l *Lab) prepareNode(root *qemuroot.Root, n Node, ans []byte) ([]string, error) {
	f := NodeFiles(l.cfg.StateDir, n)
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		path string
		size int64
	}{{f.System, SystemDiskBytes}, {f.Data, DataDiskBytes}} {
		if err := emptyDisk(d.path, d.size); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(f.Answers, ans, 0o600); err != nil {
		return nil, err
	}
	if _, err := esp.Build(f.Stick, StickLabel, []esp.File{{Path: answers.StickPath, Data: ans}}, time.Unix(0, 0)); err != nil {
		return nil, fmt.Errorf("lab: %s answer stick: %w", n.Name, err)
	}
	if l.cfg.Firmware == OVMF {
		return root.PflashArgs(f.Dir)
	}
	return nil, nil
}

// emptyDisk makes path an empty sparse raw disk of size bytes.
func emptyDisk(path string, size int64) error {
	_ = os.Remove(path)
	fd, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer fd.Close()
	return fd.Truncate(size)
}

// installAndBoot installs the node from the ISO, then boots it from its
// disk and waits for its agent's ready line.
func (l *Lab) installAndBoot(ctx context.Context, n Node) error {
	t0 := time.Now()
	l.logf("%s: installing (%s) from the ISO", n.Name, n.Action)
	if err := l.install(ctx, n); err != nil {
		return err
	}
	installed := time.Since(t0)
	l.logf("%s: installed and rebooted after %v; booting from its disk", n.Name, installed.Round(time.Second))
	t1 := time.Now()
	if err := l.start(n, false); err != nil {
		return err
	}
	line, err := l.WaitReady(ctx, n.Name, l.cfg.BootTimeout)
	if err != nil {
		return err
	}
	l.logf("%s: ready after %v (install %v + first boot %v): %s", n.Name, time.Since(t0).Round(time.Second),
		installed.Round(time.Second), time.Since(t1).Round(time.Second), line)
	return nil
}

// install runs the unattended install: QEMU boots the ISO with the answer
// stick under -no-reboot, so it exits when the installer reboots.
func (l *Lab) install(ctx context.Context, n Node) error {
	if err := l.start(n, true); err != nil {
		return err
	}
	f := NodeFiles(l.cfg.StateDir, n)
	l.mu.Lock()
	pid, mark := l.st.Nodes[n.Name].PID, l.st.Nodes[n.Name].ConsoleMark
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, l.cfg.InstallTimeout)
	defer cancel()
	// Wait for QEMU to exit; a stopped or failed install waits for a key
	// instead, so watch for that on the console too.
	found, werr := waitConsole(ctx, f.Console, mark, func() bool { return running(pid) }, installFailed, installStopped, installBadAnswers)
	out, _ := readFrom(f.Console, mark)
	switch {
	case werr == nil:
		l.powerOff(n)
		return fmt.Errorf("lab: %s: the install failed (%q on its console)\n--- %s (tail) ---\n%s", n.Name, found, f.Console, Tail(out, 4000))
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		l.powerOff(n)
		return fmt.Errorf("lab: %s: the install did not finish within %v\n--- %s (tail) ---\n%s", n.Name, l.cfg.InstallTimeout, f.Console, Tail(out, 4000))
	case ctx.Err() != nil:
		l.powerOff(n)
		return fmt.Errorf("lab: %s: install stopped: %w", n.Name, ctx.Err())
	}
	l.reap(pid, time.Now().Add(10*time.Second))
	l.mu.Lock()
	ns := l.st.Nodes[n.Name]
	ns.Phase, ns.PID = PhaseOff, 0
	if strings.Contains(out, installDone) {
		ns.Installed = true
	}
	_ = l.saveLocked()
	l.mu.Unlock()
	if !strings.Contains(out, installDone) {
		return fmt.Errorf("lab: %s: QEMU exited during the install, without %q\n--- %s (tail) ---\n%s\n--- %s ---\n%s",
			n.Name, installDone, f.Console, Tail(out, 4000), f.QEMULog, Tail(readAll(f.QEMULog), 2000))
	}
	return nil
}

func readAll(p string) string { s, _ := readFrom(p, 0); return s }

func (l *Lab) saveLocked() error { return saveState(l.cfg.StateDir, l.st) }

// spec is the node's VM, installing or from its disk.
func (l *Lab) spec(n Node, install bool) VMSpec {
	return VMSpec{
		Namespace: l.st.Namespace, Node: n, Files: NodeFiles(l.cfg.StateDir, n),
		Machine: l.st.Machine, NICModel: l.st.NICModel, FirmwareArgs: l.st.Nodes[n.Name].FirmwareArgs,
		Install: install, ISO: l.st.ISO,
	}
}

// start starts the node's QEMU in the lab namespace, in a session of its
// own (it outlives the lockstep-lab command that started it), and records
// its pid and where its boot starts in the console log.
func (l *Lab) start(n Node, install bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ns := l.st.Nodes[n.Name]
	if ns.PID != 0 && isNodeQEMU(ns.PID, l.st.Namespace, l.cfg.StateDir, n) {
		return fmt.Errorf("lab: %s is on already (QEMU pid %d)", n.Name, ns.PID)
	}
	f := NodeFiles(l.cfg.StateDir, n)
	_ = os.Remove(f.QMP)
	argv := l.spec(n, install).Argv(l.st.QEMU)
	qlog, err := os.OpenFile(f.QEMULog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	mark := fileSize(f.Console)
	what := "from its disk"
	if install {
		what = "from the ISO, with the answer stick"
	}
	fmt.Fprintf(qlog, "--- %s: %s starts %s:\n%s\n", time.Now().UTC().Format(time.RFC3339), n.Name, what, strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = qlog, qlog
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		qlog.Close()
		return fmt.Errorf("lab: %s: start QEMU: %w", n.Name, err)
	}
	qlog.Close()
	pid := cmd.Process.Pid
	done := make(chan struct{})
	l.children[pid] = done
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	ns.PID, ns.StartedAt, ns.ConsoleMark = pid, time.Now().UTC(), mark
	ns.Phase = PhaseOn
	if install {
		ns.Phase = PhaseInstalling
	}
	if err := os.WriteFile(f.PID, fmt.Appendf(nil, "%d\n", pid), 0o644); err != nil {
		return err
	}
	return l.saveLocked()
}

// reap waits (until deadline) for a QEMU this process started to be
// reaped, so that it leaves no zombie.
func (l *Lab) reap(pid int, deadline time.Time) {
	l.mu.Lock()
	done, ok := l.children[pid]
	l.mu.Unlock()
	if !ok {
		return
	}
	select {
	case <-done:
		l.mu.Lock()
		delete(l.children, pid)
		l.mu.Unlock()
	case <-time.After(time.Until(deadline)):
	}
}

// load reads the state file of a lab that is up.
func (l *Lab) load() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st != nil {
		return nil
	}
	st, err := loadState(l.cfg.StateDir)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%w: no %s (`lockstep-lab up` makes one)", errNotUp, filepath.Join(l.cfg.StateDir, stateFile))
		}
		return err
	}
	l.st = st
	return nil
}

// act runs a command that changes the lab: the lab must be up, and the
// lab's lock is held meanwhile.
func (l *Lab) act(f func() error) error {
	if err := requireRoot(); err != nil {
		return err
	}
	if err := l.load(); err != nil {
		return err
	}
	unlock, err := lockDir(l.cfg.StateDir)
	if err != nil {
		return err
	}
	defer unlock()
	// Another lockstep-lab command may have changed the lab since.
	st, err := loadState(l.cfg.StateDir)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.st = st
	l.mu.Unlock()
	return f()
}

// powerOff kills the node's QEMU if it runs (a power cut) and waits for it.
func (l *Lab) powerOff(n Node) (bool, error) {
	l.mu.Lock()
	ns := l.st.Nodes[n.Name]
	pid := ns.PID
	l.mu.Unlock()
	was := pid != 0 && isNodeQEMU(pid, l.st.Namespace, l.cfg.StateDir, n)
	if was {
		if err := killAndWait([]int{pid}, 15*time.Second, l.reap); err != nil {
			return true, err
		}
		if err := l.waitReleased(n, 10*time.Second); err != nil {
			return true, err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ns.Phase, ns.PID = PhaseOff, 0
	_ = os.Remove(NodeFiles(l.cfg.StateDir, n).PID)
	return was, l.saveLocked()
}

// waitReleased waits until a killed QEMU has let go of the node's files:
// no lock left on its disk images and no carrier on its taps. QEMU polls
// them through io_uring, whose teardown closes them after the process is
// gone (a few hundred milliseconds under load); a power-on before that
// would find the images still locked.
func (l *Lab) waitReleased(n Node, timeout time.Duration) error {
	f := NodeFiles(l.cfg.StateDir, n)
	deadline := time.Now().Add(timeout)
	for {
		var held []string
		for _, p := range []string{f.System, f.Data} {
			if fileLocked(p) {
				held = append(held, filepath.Base(p)+" locked")
			}
		}
		if taps, err := Taps(context.Background(), l.st.Namespace); err == nil {
			for _, t := range taps {
				if t.Node == n.Name && t.Carrier {
					held = append(held, t.Name+" attached")
				}
			}
		}
		if len(held) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: %s: %s, %v after its QEMU was killed", n.Name, strings.Join(held, ", "), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopAll powers off every node (a failed Up).
func (l *Lab) stopAll() {
	l.mu.Lock()
	none := l.st == nil
	l.mu.Unlock()
	if none {
		return
	}
	for _, n := range Nodes {
		if _, err := l.powerOff(n); err != nil {
			l.logf("%s: %v", n.Name, err)
		}
	}
}

// PowerOff cuts the node's power: SIGKILL to its QEMU.
func (l *Lab) PowerOff(node string) error {
	n, err := NodeByName(node)
	if err != nil {
		return err
	}
	return l.act(func() error {
		was, err := l.powerOff(n)
		if err == nil && !was {
			l.logf("%s was off already", n.Name)
		}
		return err
	})
}

// PowerOn starts the node from its disk (no CD, no answer stick). Use
// WaitReady to wait for its agent.
func (l *Lab) PowerOn(node string) error {
	n, err := NodeByName(node)
	if err != nil {
		return err
	}
	return l.act(func() error { return l.start(n, false) })
}

// ReplaceDisk powers the node off and replaces its system disk ("system")
// or data disk ("data") with an empty one of the same size. The node stays
// off; powered on with an empty system disk it finds nothing to boot.
func (l *Lab) ReplaceDisk(node, which string) error {
	n, err := NodeByName(node)
	if err != nil {
		return err
	}
	f := NodeFiles(l.cfg.StateDir, n)
	path, size := f.System, int64(SystemDiskBytes)
	switch which {
	case "", "system":
	case "data":
		path, size = f.Data, DataDiskBytes
	default:
		return fmt.Errorf("lab: disk %q: use system or data", which)
	}
	return l.act(func() error {
		if _, err := l.powerOff(n); err != nil {
			return err
		}
		if err := emptyDisk(path, size); err != nil {
			return err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if path == f.System {
			l.st.Nodes[n.Name].Installed = false
		}
		return l.saveLocked()
	})
}

// Cut cuts a link (see LinkTargets): its taps go down, so no frame passes
// in either direction. The node's NIC keeps its carrier, as behind a switch.
func (l *Lab) Cut(link string) error { return l.setLink(link, false) }

// Restore puts a cut link back.
func (l *Lab) Restore(link string) error { return l.setLink(link, true) }

func (l *Lab) setLink(link string, up bool) error {
	return l.act(func() error {
		cmds, err := LinkCommands(l.st.Namespace, link, up)
		if err != nil {
			return err
		}
		for _, c := range cmds {
			if err := ipCmd(context.Background(), c...); err != nil {
				return err
			}
		}
		return nil
	})
}

// WaitReady waits until the node's agent has printed its ready line since
// QEMU last started, and returns the line.
func (l *Lab) WaitReady(ctx context.Context, node string, timeout time.Duration) (string, error) {
	n, err := NodeByName(node)
	if err != nil {
		return "", err
	}
	if err := l.load(); err != nil {
		return "", err
	}
	l.mu.Lock()
	ns := *l.st.Nodes[n.Name]
	l.mu.Unlock()
	if ns.Phase != PhaseOn {
		return "", fmt.Errorf("lab: %s is %s", n.Name, ns.Phase)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	f := NodeFiles(l.cfg.StateDir, n)
	stop := l.watchBootStall(ctx, n, f)
	_, err = waitConsole(ctx, f.Console, ns.ConsoleMark, func() bool { return running(ns.PID) }, ReadyPrefix(n))
	stop()
	if err != nil {
		return "", fmt.Errorf("lab: %s: %w", n.Name, err)
	}
	out, _ := readFrom(f.Console, ns.ConsoleMark)
	return readyLine(out, n), nil
}

// WaitRebooted waits until node, asked to reboot, prints its ready line
// after the console offset mark, resetting it if the boot hangs (as
// WaitReady does).
func (l *Lab) WaitRebooted(ctx context.Context, node string, mark int64, timeout time.Duration) error {
	n, err := NodeByName(node)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	f := NodeFiles(l.cfg.StateDir, n)
	stop := l.watchBootStall(ctx, n, f)
	defer stop()
	if _, err := waitConsole(ctx, f.Console, mark, nil, ReadyPrefix(n)); err != nil {
		return fmt.Errorf("lab: %s: %w", n.Name, err)
	}
	return nil
}

// readyLine is the node's whole ready line in console output.
func readyLine(out string, n Node) string {
	i := strings.LastIndex(out, ReadyPrefix(n))
	if i < 0 {
		return ""
	}
	line := out[i:]
	if j := strings.IndexAny(line, "\r\n"); j >= 0 {
		line = line[:j]
	}
	return line
}

// Observation is what the lab sees of the system at one moment: each
// node's QEMU and its serial console since QEMU last started.
type Observation struct {
	Nodes map[string]NodeObservation
}

// NodeObservation is one node in an Observation.
type NodeObservation struct {
	Running bool
	Console string // the console log since QEMU last started
}

// SystemFormed is the lab's one definition of "the system is formed",
// judged from an Observation; WaitSystemFormed, Status and the tests all
// use it: both nodes run, each one's agent has most recently reported its
// peer joined (not lost), and one node holds the system IP.
func SystemFormed(o Observation) (bool, string) {
	var missing []string
	for i, n := range Nodes {
		no, ok := o.Nodes[n.Name]
		switch {
		case !ok || !no.Running:
			missing = append(missing, n.Name+" is off")
			continue
		case !strings.Contains(no.Console, ReadyPrefix(n)):
			missing = append(missing, n.Name+" is not ready")
			continue
		}
		member := fmt.Sprintf("%snode%d ", memberLine, i)
		joined := strings.LastIndex(no.Console, member+"peer-joined")
		if joined < 0 || strings.LastIndex(no.Console, member+"peer-lost") > joined {
			missing = append(missing, n.Name+" does not see its peer")
		}
	}
	holder := SystemIPHolder(o)
	if len(missing) == 0 && holder == "" {
		missing = append(missing, "no node holds the system IP")
	}
	if len(missing) > 0 {
		return false, strings.Join(missing, ", ")
	}
	return true, "both nodes see each other; " + holder + " holds the system IP"
}

// SystemIPHolder is the running node whose console last said it holds the
// system IP (and has not released it since), "" if none.
func SystemIPHolder(o Observation) string {
	for i, n := range Nodes {
		no := o.Nodes[n.Name]
		if !no.Running {
			continue
		}
		held := strings.LastIndex(no.Console, fmt.Sprintf("%sheld node%d", systemIPLine, i))
		if held >= 0 && strings.LastIndex(no.Console, fmt.Sprintf("%sreleased node%d", systemIPLine, i)) < held {
			return n.Name
		}
	}
	return ""
}

// Observe takes an Observation of the lab.
func (l *Lab) Observe() (Observation, error) {
	if err := l.load(); err != nil {
		return Observation{}, err
	}
	o := Observation{Nodes: map[string]NodeObservation{}}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range Nodes {
		ns := l.st.Nodes[n.Name]
		no := NodeObservation{Running: ns.Phase == PhaseOn && isNodeQEMU(ns.PID, l.st.Namespace, l.cfg.StateDir, n)}
		if no.Running {
			no.Console, _ = readFrom(NodeFiles(l.cfg.StateDir, n).Console, ns.ConsoleMark)
		}
		o.Nodes[n.Name] = no
	}
	return o, nil
}

// WaitSystemFormed waits until SystemFormed holds.
func (l *Lab) WaitSystemFormed(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		o, err := l.Observe()
		if err != nil {
			return err
		}
		ok, why := SystemFormed(o)
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: the system did not form within %v: %s", timeout, why)
		case <-time.After(consolePoll):
		}
	}
}

// Exec runs argv inside the lab's namespace (ip netns exec) with the given
// standard streams, and returns its exit code.
func (l *Lab) Exec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(argv) == 0 {
		return 0, errors.New("lab: exec: no command")
	}
	if err := requireRoot(); err != nil {
		return 0, err
	}
	if !NamespaceExists(l.cfg.Namespace) {
		return 0, fmt.Errorf("%w: no namespace %s", errNotUp, l.cfg.Namespace)
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.cfg.Namespace}, argv...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, err
}

// Ping pings addr from the lab host namespace.
func (l *Lab) Ping(ctx context.Context, addr netip.Addr) (time.Duration, error) {
	return Ping(ctx, l.cfg.Namespace, addr)
}

// Taps reports the lab's taps.
func (l *Lab) Taps(ctx context.Context) ([]TapState, error) { return Taps(ctx, l.cfg.Namespace) }

// Down removes the lab: it kills the QEMUs of the lab (by the state file's
// pids and by their command lines) and every other process inside the
// lab's namespace (what `exec` left running), deletes the namespace with
// its bridges and taps, and removes the state directory. It needs no state
// file and works on a half-made lab; with no lab it does nothing.
func (l *Lab) Down(ctx context.Context) error {
	if err := requireRoot(); err != nil {
		return err
	}
	ns, dir := l.cfg.Namespace, l.cfg.StateDir
	set := map[int]bool{}
	if st, err := loadState(dir); err == nil {
		for _, n := range Nodes {
			if s := st.Nodes[n.Name]; s != nil && s.PID != 0 && isNodeQEMU(s.PID, ns, dir, n) {
				set[s.PID] = true
			}
		}
	}
	for _, ps := range LabQEMUs(ns, dir) {
		for _, p := range ps {
			set[p] = true
		}
	}
	if NamespaceExists(ns) {
		if ino, err := namespaceInode(ns); err == nil {
			for _, p := range processesIn(ino) {
				if p != os.Getpid() {
					set[p] = true
				}
			}
		}
	}
	var pids []int
	for p := range set {
		pids = append(pids, p)
	}
	sort.Ints(pids)
	if len(pids) > 0 {
		l.logf("killing %d process(es) of the lab: %v", len(pids), pids)
		if err := killAndWait(pids, 15*time.Second, l.reap); err != nil {
			return err
		}
	}
	if NamespaceExists(ns) {
		if err := deleteNamespace(ns); err != nil {
			return err
		}
		l.logf("deleted namespace %s (its bridges and taps with it)", ns)
	}
	if exists(dir) {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		l.logf("removed %s", dir)
	}
	l.mu.Lock()
	l.st = nil
	l.mu.Unlock()
	return nil
}

// bootStall is how long a booting node's console may stay silent before
// the lab takes its boot for hung; a boot prints something every few
// seconds and is ready within about a minute.
const bootStall = 150 * time.Second

// watchBootStall resets a node whose boot hangs, at most twice. TCG runs
// the node's vCPUs as threads on a loaded two-core host, and now and
// then a node's kernel spins early in its boot for good: every vCPU busy,
// the console silent (seen once at "vgaarb: loaded", 2 s into the kernel,
// the CPUs' instruction pointers unchanged over seconds). That is the
// emulator, not a state a real server reaches, so the lab resets the node
// and says so instead of failing the run on it.
func (l *Lab) watchBootStall(ctx context.Context, n Node, f Files) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		size, since, resets := fileSize(f.Console), time.Now(), 0
		for resets < 2 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
			if s := fileSize(f.Console); s != size {
				size, since = s, time.Now()
				continue
			}
			if time.Since(since) < bootStall {
				continue
			}
			tail, _ := readFrom(f.Console, max(0, size-300))
			l.logf("%s: boot hung (console silent for %v after %q); resetting it (TCG quirk, see watchBootStall)",
				n.Name, bootStall, strings.TrimSpace(Tail(tail, 200)))
			if err := resetVM(ctx, f.QMP); err != nil {
				l.logf("%s: reset: %v", n.Name, err)
				return
			}
			resets++
			since = time.Now()
		}
	}()
	return func() { cancel(); <-done }
}

// resetVM presses the VM's reset button over QMP.
func resetVM(ctx context.Context, sock string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := qmp.Dial(ctx, sock)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Execute(ctx, "system_reset", nil, nil)
}
