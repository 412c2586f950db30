package qemuroot

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	s := DefaultSpec()
	k := s.Key("1.3.5")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(k) {
		t.Fatalf("key %q is not 32 hex digits", k)
	}
	if s.Key("1.3.5") != k {
		t.Fatal("the key is not deterministic")
	}
	reordered := DefaultSpec()
	slices.Reverse(reordered.Packages)
	slices.Reverse(reordered.BackportsSources)
	slices.Reverse(reordered.PathExclude)
	if reordered.Key("1.3.5") != k {
		t.Error("the order of the package lists changed the key")
	}
	changes := map[string]func(*Spec){
		"package":    func(s *Spec) { s.Packages = append(s.Packages, "qemu-block-extra") },
		"pin":        func(s *Spec) { s.BackportsSources = []string{"qemu"} },
		"suite":      func(s *Spec) { s.Suite = "forky" },
		"backports":  func(s *Spec) { s.Backports = "trixie-proposed-updates" },
		"mirror":     func(s *Spec) { s.Mirror = "http://example.org/debian" },
		"components": func(s *Spec) { s.Components = []string{"main", "contrib"} },
		"variant":    func(s *Spec) { s.Variant = "minbase" },
		"exclude":    func(s *Spec) { s.PathExclude = s.PathExclude[1:] },
		"version":    func(s *Spec) { s.Version = "11.2" },
	}
	seen := map[string]string{k: "default"}
	for name, change := range changes {
		s := DefaultSpec()
		change(&s)
		kk := s.Key("1.3.5")
		if other, ok := seen[kk]; ok {
			t.Errorf("changing the %s gives the key of %s", name, other)
		}
		seen[kk] = name
	}
	if s.Key("1.3.6") == k {
		t.Error("the mmdebstrap version does not change the key")
	}
}

func TestPreferences(t *testing.T) {
	want := "Package: src:qemu src:seabios\nPin: release n=trixie-backports\nPin-Priority: 990\n"
	if got := DefaultSpec().preferences(); got != want {
		t.Fatalf("preferences:\n%s\nwant:\n%s", got, want)
	}
	s := DefaultSpec()
	s.BackportsSources = nil
	if s.preferences() != "" {
		t.Fatal("no pins must write no preferences file")
	}
}

func TestMmdebstrapArgs(t *testing.T) {
	args := DefaultSpec().mmdebstrapArgs("/c/.build-x/root")
	for _, want := range []string{
		"--mode=root",
		"--variant=apt",
		"--format=directory",
		"--architectures=amd64",
		"--keyring=/usr/share/keyrings/debian-archive-keyring.gpg",
		"--include=qemu-system-x86,qemu-utils,ovmf,seabios,ipxe-qemu",
		"--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-include=/usr/share/doc/*/copyright",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("mmdebstrap args lack %q: %q", want, args)
		}
	}
	tail := args[len(args)-4:]
	wantTail := []string{"trixie", "/c/.build-x/root",
		"deb http://deb.debian.org/debian trixie main",
		"deb http://deb.debian.org/debian trixie-backports main"}
	if !slices.Equal(tail, wantTail) {
		t.Errorf("mmdebstrap args end in %q, want %q", tail, wantTail)
	}
	var hook string
	for _, a := range args {
		if h, ok := strings.CutPrefix(a, "--setup-hook="); ok {
			hook = h
		}
	}
	// The hook is shell: run it on a scratch directory and read the file back.
	dir := t.TempDir()
	if out, err := exec.Command("sh", "-c", hook, "sh", dir).CombinedOutput(); err != nil {
		t.Fatalf("setup hook %q: %v\n%s", hook, err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "etc/apt/preferences.d/lockstep-backports"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != DefaultSpec().preferences() {
		t.Errorf("the setup hook wrote %q", got)
	}
}

func TestCommand(t *testing.T) {
	r := &Root{Dir: "/c/qemuroot/k"}
	ctx := context.Background()
	cmd := r.Command(ctx, "-machine", "q35", "-serial", "stdio")
	want := []string{
		"/c/qemuroot/k/root/lib64/ld-linux-x86-64.so.2",
		"--inhibit-cache",
		"--library-path", "/c/qemuroot/k/root/usr/lib/x86_64-linux-gnu:/c/qemuroot/k/root/lib/x86_64-linux-gnu",
		"--argv0", "qemu-system-x86_64",
		"/c/qemuroot/k/root/usr/bin/qemu-system-x86_64",
		"-L", "/c/qemuroot/k/root/usr/share/qemu",
		"-L", "/c/qemuroot/k/root/usr/share/seabios",
		"-machine", "q35", "-serial", "stdio",
	}
	if cmd.Path != want[0] || !slices.Equal(cmd.Args, want) {
		t.Errorf("Command:\n%q %q\nwant\n%q", cmd.Path, cmd.Args, want)
	}
	for _, env := range []string{
		"QEMU_MODULE_DIR=/c/qemuroot/k/root/usr/lib/x86_64-linux-gnu/qemu",
		"LOCPATH=/c/qemuroot/k/root/usr/lib/locale",
		"GCONV_PATH=/c/qemuroot/k/root/usr/lib/x86_64-linux-gnu/gconv",
	} {
		if !slices.Contains(cmd.Env, env) {
			t.Errorf("Command's environment lacks %s", env)
		}
	}
	img := r.Img(ctx, "info", "/d/disk.qcow2")
	if slices.Contains(img.Args, "-L") {
		t.Errorf("qemu-img got -L: %q", img.Args)
	}
	if n := len(img.Args); img.Args[n-3] != "/c/qemuroot/k/root/usr/bin/qemu-img" || img.Args[n-1] != "/d/disk.qcow2" {
		t.Errorf("Img: %q", img.Args)
	}
	if got := r.OVMFCode(); got != "/c/qemuroot/k/root/usr/share/OVMF/OVMF_CODE_4M.fd" {
		t.Errorf("OVMFCode = %s", got)
	}
	if got := r.OVMFVars(); got != "/c/qemuroot/k/root/usr/share/OVMF/OVMF_VARS_4M.fd" {
		t.Errorf("OVMFVars = %s", got)
	}
	if got := r.Bin("qemu-img"); got != "/c/qemuroot/k/bin/qemu-img" {
		t.Errorf("Bin = %s", got)
	}
}

// fakeTree makes a cache entry whose "loader" is a shell script that prints
// its arguments and QEMU's variables, one per line.
func fakeTree(t *testing.T) *Root {
	t.Helper()
	dir := t.TempDir()
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	r := &Root{Dir: dir}
	for _, d := range []string{"lib64", "usr/bin", "usr/share/OVMF", "bin"} {
		if err := os.MkdirAll(filepath.Join(r.Tree(), d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	loader := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n" +
		"echo \"QEMU_MODULE_DIR=$QEMU_MODULE_DIR\"\necho \"LOCPATH=$LOCPATH\"\necho \"GCONV_PATH=$GCONV_PATH\"\n"
	if err := os.WriteFile(r.Loader(), []byte(loader), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range Wrapped {
		if err := os.WriteFile(r.Bin(name), []byte(wrapperScript(name)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// The wrapper scripts run what Command and Img run.
func TestWrapperMatchesCommand(t *testing.T) {
	r := fakeTree(t)
	ctx := context.Background()
	args := []string{"-name", "two words", "-append", `console=ttyS0 "quoted" $HOME`, ""}
	for _, name := range Wrapped {
		cmd := r.Tool(ctx, name, args...)
		viaTool, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s via Tool: %v", name, err)
		}
		// Through a symbolic link, as from a directory on $PATH.
		link := filepath.Join(t.TempDir(), name)
		if err := os.Symlink(r.Bin(name), link); err != nil {
			t.Fatal(err)
		}
		viaWrapper, err := exec.Command(link, args...).Output()
		if err != nil {
			t.Fatalf("%s via its wrapper: %v", name, err)
		}
		if string(viaWrapper) != string(viaTool) {
			t.Errorf("%s: the wrapper ran\n%s\nTool ran\n%s", name, viaWrapper, viaTool)
		}
	}
}

func TestPflashArgs(t *testing.T) {
	r := fakeTree(t)
	if err := os.WriteFile(r.OVMFVars(), []byte("vars template"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args, err := r.PflashArgs(dir)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "OVMF_VARS_4M.fd")
	want := []string{
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + r.OVMFCode(),
		"-drive", "if=pflash,format=raw,unit=1,file=" + copyPath,
	}
	if !slices.Equal(args, want) {
		t.Errorf("PflashArgs = %q, want %q", args, want)
	}
	if b, _ := os.ReadFile(copyPath); string(b) != "vars template" {
		t.Errorf("the variable store copy holds %q", b)
	}
}

// fakeMmdebstrap is an mmdebstrap that reports a version and fails if run.
func fakeMmdebstrap(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "mmdebstrap")
	script := "#!/bin/sh\necho 'E: fake mmdebstrap, no build here' >&2\nexit 1\nour $VERSION = '0.0-test';\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEnsureReusesCompleteEntry(t *testing.T) {
	b := &builder{spec: DefaultSpec(), mmdebstrap: fakeMmdebstrap(t)}
	cache := t.TempDir()
	key := b.spec.Key("0.0-test")
	dir := filepath.Join(cache, subdir, key)
	if err := os.MkdirAll(filepath.Join(dir, "root"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := Manifest{Key: key, QEMUVersion: "11.1.3", Packages: map[string]string{"qemu-system-x86": "1:11.1.3+ds-1~bpo13+1"}}
	mb, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(dir, manifestName), mb, 0o644)
	os.WriteFile(filepath.Join(dir, completeName), []byte(key+"\n"), 0o644)

	start := time.Now()
	r, err := b.ensure(context.Background(), cache)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a cached Ensure took %v", d)
	}
	if r.Dir != dir || r.Manifest.QEMUVersion != "11.1.3" {
		t.Errorf("Ensure = %+v", r)
	}
}

func TestEnsureIncompleteEntryIsRebuilt(t *testing.T) {
	var said []string
	b := &builder{spec: DefaultSpec(), mmdebstrap: fakeMmdebstrap(t),
		progress: func(f string, a ...any) { said = append(said, f) }}
	cache := t.TempDir()
	key := b.spec.Key("0.0-test")
	dir := filepath.Join(cache, subdir, key)
	// A build that died after its rename would have its marker; this entry
	// has none, and a crashed build's temp directory lies next to it.
	if err := os.MkdirAll(filepath.Join(dir, "root"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, manifestName), []byte("{}"), 0o644)
	os.MkdirAll(filepath.Join(cache, subdir, tmpPrefix+key+"-123", "root"), 0o755)

	_, err := b.ensure(context.Background(), cache)
	if err == nil {
		t.Fatal("Ensure used an entry without its complete marker")
	}
	if os.Geteuid() != 0 {
		if !strings.Contains(err.Error(), "needs root") {
			t.Errorf("as non-root: %v", err)
		}
		return
	}
	if !strings.Contains(err.Error(), "fake mmdebstrap") {
		t.Errorf("the error does not carry mmdebstrap's output: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(cache, subdir, "*"))
	for _, l := range left {
		if !strings.HasSuffix(l, ".lock") {
			t.Errorf("left behind: %s", l)
		}
	}
}

func TestParseVersion(t *testing.T) {
	out := "QEMU emulator version 11.1.3 (Debian 1:11.1.3+ds-1~bpo13+1)\nCopyright (c) 2003-2026 Fabrice Bellard and the QEMU Project developers\n"
	v, line, err := parseVersion(out)
	if err != nil || v != "11.1.3" || line != "QEMU emulator version 11.1.3 (Debian 1:11.1.3+ds-1~bpo13+1)" {
		t.Errorf("parseVersion = %q, %q, %v", v, line, err)
	}
	if _, _, err := parseVersion("qemu-system-x86_64: error while loading shared libraries"); err == nil {
		t.Error("no version must be an error")
	}
}

func TestParseStatus(t *testing.T) {
	status := "Package: qemu-system-x86\nStatus: install ok installed\nVersion: 1:11.1.3+ds-1~bpo13+1\n\n" +
		"Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n" +
		"Package: seabios\nStatus: install ok installed\nArchitecture: all\nVersion: 1.17.0-1~bpo13+1\n"
	got := parseStatus([]byte(status))
	want := map[string]string{"qemu-system-x86": "1:11.1.3+ds-1~bpo13+1", "seabios": "1.17.0-1~bpo13+1"}
	if len(got) != len(want) || got["qemu-system-x86"] != want["qemu-system-x86"] || got["seabios"] != want["seabios"] {
		t.Errorf("parseStatus = %v", got)
	}
}

func TestMountsIn(t *testing.T) {
	mi := "22 1 254:0 / / rw - ext4 /dev/vda rw\n" +
		"30 22 0:5 / /c/qemuroot/.build-k-1/root/dev rw - devtmpfs udev rw\n" +
		"31 22 0:6 / /c/qemuroot/.build-k-1/root/my\\040dir rw - tmpfs tmpfs rw\n" +
		"32 22 0:7 / /c/qemuroot/.build-k-10 rw - tmpfs tmpfs rw\n"
	got := mountsIn([]byte(mi), "/c/qemuroot/.build-k-1")
	want := []string{"/c/qemuroot/.build-k-1/root/dev", "/c/qemuroot/.build-k-1/root/my dir"}
	if !slices.Equal(got, want) {
		t.Errorf("mountsIn = %q, want %q", got, want)
	}
}
