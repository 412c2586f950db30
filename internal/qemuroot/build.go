package qemuroot

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/lockstep-ft/lockstep/internal/mountinfo"
)

// The files of a cache entry <cache>/qemuroot/<key>/:
//
//	root/          the Debian tree (mmdebstrap --format=directory)
//	bin/<name>     wrapper scripts (Root.Bin), one per Wrapped program
//	manifest.json  Manifest
//	build.log      mmdebstrap's output
//	complete       the key; written last, before the entry is renamed into place
//
// Next to the entries: <key>.lock (flock, held while building) and
// .build-<key>-* (an entry being built; a crashed build's is removed by the
// next build of that key unless something is still mounted in it). The
// integration test also keeps the kernel it boots there (test-kernel-*).
const (
	subdir       = "qemuroot"
	manifestName = "manifest.json"
	completeName = "complete"
	logName      = "build.log"
	tmpPrefix    = ".build-"
)

// Manifest records what a cache entry holds.
type Manifest struct {
	Key string `json:"key"`
	// QEMUVersion is the version qemu-system-x86_64 --version reports
	// (e.g. "11.1.3"); VersionLine is that output's first line.
	QEMUVersion string `json:"qemu_version"`
	VersionLine string `json:"version_line"`
	// Packages are the tree's installed packages and their versions.
	Packages   map[string]string `json:"packages"`
	Mmdebstrap string            `json:"mmdebstrap"`
	Mirror     string            `json:"mirror"`
	Suites     []string          `json:"suites"`
	Pins       string            `json:"pins"` // the apt_preferences file
	BuiltAt    time.Time         `json:"built_at"`
	BuildTime  string            `json:"build_time"`
	SizeMiB    int64             `json:"size_mib"`
}

// DefaultCacheDir is $LOCKSTEP_CACHE, else ~/.cache/lockstep.
func DefaultCacheDir() string {
	if d := os.Getenv("LOCKSTEP_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".cache"
	}
	return filepath.Join(home, ".cache", "lockstep")
}

// Ensure returns the QEMU tree of DefaultSpec from cacheDir/qemuroot (""
// means DefaultCacheDir), building it first if it is not there: that needs
// root (mmdebstrap --mode=root), the network and a minute or two. progress,
// when set, receives printf-style progress messages.
func Ensure(ctx context.Context, cacheDir string, progress func(string, ...any)) (*Root, error) {
	b := &builder{spec: DefaultSpec(), mmdebstrap: "mmdebstrap", progress: progress}
	return b.ensure(ctx, cacheDir)
}

type builder struct {
	spec       Spec
	mmdebstrap string // the program (name or path)
	progress   func(string, ...any)
}

func (b *builder) say(format string, args ...any) {
	if b.progress != nil {
		b.progress("qemuroot: "+format, args...)
	}
}

var versionVar = regexp.MustCompile(`(?m)^our \$VERSION = '([^']+)';`)

// mmdebstrapVersion reads the version from the mmdebstrap script (a cached
// lookup must stay well under a second; running Perl takes up to one), else
// asks mmdebstrap --version.
func (b *builder) mmdebstrapVersion(ctx context.Context) (string, error) {
	path, err := exec.LookPath(b.mmdebstrap)
	if err != nil {
		return "", fmt.Errorf("qemuroot: %w (apt-get install mmdebstrap)", err)
	}
	if src, err := os.ReadFile(path); err == nil {
		if m := versionVar.FindSubmatch(src); m != nil {
			return string(m[1]), nil
		}
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("qemuroot: %s --version: %w", path, err)
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "mmdebstrap ")
	if !ok || v == "" {
		return "", fmt.Errorf("qemuroot: %s --version printed %q", path, out)
	}
	return v, nil
}

func (b *builder) ensure(ctx context.Context, cacheDir string) (*Root, error) {
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	mv, err := b.mmdebstrapVersion(ctx)
	if err != nil {
		return nil, err
	}
	key := b.spec.Key(mv)
	base := filepath.Join(cacheDir, subdir)
	dir := filepath.Join(base, key)
	if r, err := load(dir, key); err == nil {
		return r, nil
	}

	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("qemuroot: %s is not built yet, and building it needs root (mmdebstrap --mode=root)", dir)
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lock(ctx, filepath.Join(base, key+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another process may have built it while we waited for the lock.
	if r, err := load(dir, key); err == nil {
		return r, nil
	}
	b.cleanStale(base, key, dir)
	return b.build(ctx, base, dir, key, mv)
}

// load returns the complete cache entry dir, or an error.
func load(dir, key string) (*Root, error) {
	c, err := os.ReadFile(filepath.Join(dir, completeName))
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(c)) != key {
		return nil, fmt.Errorf("qemuroot: %s is marked complete for key %q", dir, c)
	}
	mb, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, err
	}
	r := &Root{Dir: dir}
	if err := json.Unmarshal(mb, &r.Manifest); err != nil {
		return nil, fmt.Errorf("qemuroot: %s: %w", filepath.Join(dir, manifestName), err)
	}
	return r, nil
}

// lock takes an exclusive flock on path, waiting until ctx ends.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("qemuroot: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("qemuroot: waiting for another build (%s): %w", path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// cleanStale removes what crashed builds of key left (the lock is held): temp
// entries and an entry without its complete marker. A directory with a mount
// inside (mmdebstrap killed while /dev or /proc was bound into the tree) is
// left alone: removing it would descend into the host's /dev.
func (b *builder) cleanStale(base, key, dir string) {
	stale, _ := filepath.Glob(filepath.Join(base, tmpPrefix+key+"-*"))
	if _, err := os.Stat(dir); err == nil {
		stale = append(stale, dir)
	}
	for _, d := range stale {
		if m := mountsUnder(d); len(m) > 0 {
			b.say("leaving %s: still mounted there: %s (umount them, then remove it)", d, strings.Join(m, ", "))
			continue
		}
		b.say("removing the unfinished build %s", d)
		if err := os.RemoveAll(d); err != nil {
			b.say("removing %s: %v", d, err)
		}
	}
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	return mountsIn(data, dir)
}

func mountsIn(table []byte, dir string) []string {
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	return mountinfo.Under(mountinfo.Parse(table), dir)
}

// build makes the entry in a temp directory next to dir and renames it into
// place.
func (b *builder) build(ctx context.Context, base, dir, key, mmdebstrapVersion string) (*Root, error) {
	start := time.Now()
	tmp, err := os.MkdirTemp(base, tmpPrefix+key+"-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // apt's _apt user downloads into it
		os.Remove(tmp)
		return nil, err
	}
	keep := false
	defer func() {
		if keep {
			return
		}
		if m := mountsUnder(tmp); len(m) > 0 {
			b.say("leaving %s: still mounted there: %s", tmp, strings.Join(m, ", "))
			return
		}
		os.RemoveAll(tmp)
	}()
	r := &Root{Dir: tmp}
	b.say("building QEMU %s from %s into %s (first time only; a minute or two)", b.spec.Version, b.spec.Backports, dir)
	if err := b.mmdebstrapRun(ctx, tmp, r.Tree()); err != nil {
		return nil, err
	}
	// QEMU looks for its compiled-in paths under <dir of /proc/self/exe>/qemu-bundle:
	// the loader's directory, the real one (lib64/ld-linux-x86-64.so.2 is a link).
	ld, err := filepath.EvalSymlinks(r.Loader())
	if err != nil {
		return nil, fmt.Errorf("qemuroot: the tree has no dynamic loader: %w", err)
	}
	tree, err := filepath.EvalSymlinks(r.Tree())
	if err != nil {
		return nil, err
	}
	bundle, err := filepath.Rel(filepath.Dir(ld), tree)
	if err != nil || !strings.HasPrefix(ld, tree+"/") {
		return nil, fmt.Errorf("qemuroot: the tree's loader %s lies outside the tree", ld)
	}
	if err := os.Symlink(bundle, filepath.Join(filepath.Dir(ld), "qemu-bundle")); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(tmp, "bin"), 0o755); err != nil {
		return nil, err
	}
	for _, name := range Wrapped {
		if _, err := os.Stat(filepath.Join(r.Tree(), "usr", "bin", name)); err != nil {
			return nil, fmt.Errorf("qemuroot: the tree lacks %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "bin", name), []byte(wrapperScript(name)), 0o755); err != nil {
			return nil, err
		}
	}

	m := Manifest{
		Key:        key,
		Mmdebstrap: mmdebstrapVersion,
		Mirror:     b.spec.Mirror,
		Suites:     []string{b.spec.Suite, b.spec.Backports},
		Pins:       b.spec.preferences(),
	}
	out, err := r.Command(ctx, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("qemuroot: the built qemu-system-x86_64 does not run: %w\n%s", err, out)
	}
	if m.QEMUVersion, m.VersionLine, err = parseVersion(string(out)); err != nil {
		return nil, err
	}
	if want := b.spec.Version; want != "" && !strings.HasPrefix(m.QEMUVersion+".", want+".") {
		return nil, fmt.Errorf("qemuroot: %s yields QEMU %s, not %s: the archive has moved on; "+
			"check the new release (COLO, nested guests) before changing Spec.Version", b.spec.Backports, m.QEMUVersion, want)
	}
	if out, err := r.Img(ctx, "--version").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("qemuroot: the built qemu-img does not run: %w\n%s", err, out)
	}
	status, err := os.ReadFile(filepath.Join(r.Tree(), "var", "lib", "dpkg", "status"))
	if err != nil {
		return nil, err
	}
	m.Packages = parseStatus(status)
	m.SizeMiB = duMiB(tmp)
	m.BuiltAt = time.Now().UTC().Truncate(time.Second)
	m.BuildTime = time.Since(start).Round(time.Second).String()
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, manifestName), append(mb, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, completeName), []byte(key+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("qemuroot: %w", err)
	}
	keep = true
	b.say("QEMU %s ready in %s (%d MiB, built in %s)", m.QEMUVersion, dir, m.SizeMiB, m.BuildTime)
	return load(dir, key)
}

// mmdebstrapRun builds the tree into target, its output in <tmp>/build.log;
// progress gets mmdebstrap's own "I:"/"W:"/"E:" lines.
func (b *builder) mmdebstrapRun(ctx context.Context, tmp, target string) error {
	scratch := filepath.Join(tmp, "tmp")
	if err := os.Mkdir(scratch, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	logf, err := os.Create(filepath.Join(tmp, logName))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, b.mmdebstrap, b.spec.mmdebstrapArgs(target)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+scratch, "LC_ALL=C.UTF-8")
	// mmdebstrap cleans up (unmounts /dev, /proc, /sys from the tree) on
	// SIGTERM, not on SIGKILL.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Minute
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var tail bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if len(line) > 2 && strings.Contains("IWE", line[:1]) && line[1] == ':' {
				b.say("mmdebstrap: %s", line)
			}
			tail.WriteString(line + "\n")
			if tail.Len() > 8<<10 {
				tail.Next(tail.Len() - 4<<10)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		return fmt.Errorf("qemuroot: mmdebstrap: %w\n%s", err, lastLines(tail.String(), 30))
	}
	return nil
}

var versionLine = regexp.MustCompile(`QEMU emulator version (\d+\.\d+\.\d+)\S*`)

// parseVersion finds the version in qemu-system-x86_64 --version's output.
func parseVersion(out string) (version, line string, err error) {
	for _, l := range strings.Split(out, "\n") {
		if m := versionLine.FindStringSubmatch(l); m != nil {
			return m[1], strings.TrimSpace(l), nil
		}
	}
	return "", "", fmt.Errorf("qemuroot: no version in qemu-system-x86_64 --version output %q", out)
}

// parseStatus maps the installed packages of a dpkg status file to their versions.
func parseStatus(status []byte) map[string]string {
	out := map[string]string{}
	for _, para := range strings.Split(string(status), "\n\n") {
		var name, version string
		installed := false
		for _, l := range strings.Split(para, "\n") {
			switch {
			case strings.HasPrefix(l, "Package: "):
				name = strings.TrimPrefix(l, "Package: ")
			case strings.HasPrefix(l, "Version: "):
				version = strings.TrimPrefix(l, "Version: ")
			case strings.HasPrefix(l, "Status: "):
				installed = strings.HasSuffix(l, " installed")
			}
		}
		if name != "" && installed {
			out[name] = version
		}
	}
	return out
}

// duMiB is the size of the files under dir.
func duMiB(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n >> 20
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
