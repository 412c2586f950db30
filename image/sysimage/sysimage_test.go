package sysimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeRunner records commands; Run plays mmdebstrap | mksquashfs by writing
// the meta files and the image where the plan says.
type fakeRunner struct {
	versions map[string]string // tool -> version line; a missing tool is exec.ErrNotFound
	runs     [][]Cmd
	image    []byte // what "mksquashfs" writes
	status   string // the dpkg status "mmdebstrap" copies out
	fail     error  // Run's error, after logging failLines
	lines    []string
}

func newFake() *fakeRunner {
	return &fakeRunner{
		versions: map[string]string{
			"mmdebstrap": "mmdebstrap 1.3.5",
			"apt-get":    "apt 2.6.1 (amd64)",
			"mksquashfs": "mksquashfs version 4.5.1 (2022/03/17)",
		},
		image:  []byte("hsqs fake image"),
		status: testStatus,
	}
}

func (f *fakeRunner) Output(_ context.Context, c Cmd) ([]byte, error) {
	v, ok := f.versions[c.Name]
	if !ok {
		return nil, &exec.Error{Name: c.Name, Err: exec.ErrNotFound}
	}
	return []byte(v + "\ncopyright ...\n"), nil
}

func (f *fakeRunner) Run(_ context.Context, log func(name, line string), cmds ...Cmd) error {
	f.runs = append(f.runs, cmds)
	for _, l := range f.lines {
		name, line, _ := strings.Cut(l, "|")
		log(name, line)
	}
	if f.fail != nil {
		return f.fail
	}
	out := cmds[1].Args[1]
	meta := filepath.Join(filepath.Dir(out), "meta")
	if err := os.WriteFile(filepath.Join(meta, "dpkg-status"), []byte(f.status), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(meta, "deb.debian.org_debian_dists_trixie_InRelease"), []byte(testInRelease), 0o644); err != nil {
		return err
	}
	return os.WriteFile(out, f.image, 0o600)
}

const testStatus = `Package: qemu-system-x86
Status: install ok installed
Architecture: amd64
Version: 1:11.1.3+ds-1~bpo13+1
Description: QEMU
 full system emulation

Package: linux-image-7.3.4+deb13-amd64
Status: install ok installed
Architecture: amd64
Version: 7.3.4-1~bpo13+1

Package: linux-image-amd64
Status: install ok installed
Architecture: amd64
Version: 7.3.4-1~bpo13+1

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 13.8+deb13u1

Package: removed-one
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
`

const testInRelease = `-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Debian
Label: Debian
Suite: stable
Version: 13.8
Codename: trixie
Date: Sat, 21 Nov 2026 09:15:44 UTC
SHA256:
 0123 1 main/binary-amd64/Packages
-----BEGIN PGP SIGNATURE-----

xyz
-----END PGP SIGNATURE-----
`

// testSpec is a full Spec; its keyring and extra file live in dir.
func testSpec(t *testing.T, dir string) Spec {
	t.Helper()
	keyring := filepath.Join(dir, "keyring.gpg")
	agent := filepath.Join(dir, "lockstepd")
	for p, data := range map[string]string{keyring: "keys", agent: "agent v1"} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Spec{
		Version:       "0.1.0",
		Suite:         "trixie",
		Mirror:        "http://deb.debian.org/debian",
		Components:    []string{"main", "non-free-firmware"},
		Backports:     "trixie-backports",
		Keyring:       keyring,
		Packages:      []string{"systemd-sysv", "openssh-server", "lvm2"},
		FromBackports: []string{"linux-image-amd64", "qemu-system-x86=1:11.1.3+ds-1~bpo13+1"},
		BackportsDeps: []string{"src:qemu", "seabios"},
		PathExclude:   []string{"/usr/share/doc/*"},
		Epoch:         time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		Hostname:      "node",
		ExtraFiles:    []File{{Src: agent, Dst: AgentPath, Mode: 0o755}},
		EnableUnits:   []string{"chrony.service"},
		DisableUnits:  []string{"ssh.service", "ssh.socket"},
	}
}

func TestPlanCommandLines(t *testing.T) {
	dir := t.TempDir()
	s := testSpec(t, dir)
	f := newFake()
	b := &Builder{Runner: f, Euid: func() int { return 0 }}
	out := filepath.Join(dir, "out", "system.squashfs")
	if _, err := b.Build(context.Background(), s, out); err != nil {
		t.Fatal(err)
	}
	if len(f.runs) != 1 || len(f.runs[0]) != 2 {
		t.Fatalf("runs: %v", f.runs)
	}
	mm, sq := f.runs[0][0], f.runs[0][1]
	work := filepath.Dir(sq.Args[1])
	if filepath.Dir(work) != filepath.Dir(out) || !strings.HasPrefix(filepath.Base(work), ".sysimage-") {
		t.Errorf("scratch directory %s is not next to %s", work, out)
	}
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Errorf("scratch directory left behind: %v", err)
	}

	wantMM := []string{
		"--mode=root",
		"--variant=minbase",
		"--architectures=amd64",
		"--format=tar",
		"--keyring=" + s.Keyring,
		`--aptopt=Acquire::Languages "none"`,
		"--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-include=/usr/share/doc/*/copyright",
		`--setup-hook=mkdir -p "$1/etc/apt/preferences.d" && printf '%s' 'Package: linux-image-amd64 qemu-system-x86 src:qemu seabios
Pin: release n=trixie-backports
Pin-Priority: 990
' > "$1/etc/apt/preferences.d/lockstep-backports"`,
		`--essential-hook=mkdir -p "$1/etc/initramfs-tools/conf.d" && echo RESUME=none > "$1/etc/initramfs-tools/conf.d/resume"`,
		"--include=systemd-sysv,openssh-server,lvm2",
		"--include=linux-image-amd64,qemu-system-x86=1:11.1.3+ds-1~bpo13+1",
		`--customize-hook=mkdir -p '` + work + `/meta' && cp "$1/var/lib/dpkg/status" '` + work + `/meta'/dpkg-status && ` +
			`for f in "$1"/var/lib/apt/lists/*_InRelease; do if [ -e "$f" ]; then cp "$f" '` + work + `/meta'/; fi; done`,
		`--customize-hook=rm -f "$1/etc/hostname" && echo 'node' > "$1/etc/hostname" && ` +
			`if [ ! -L "$1/etc/resolv.conf" ]; then rm -f "$1/etc/resolv.conf" && : > "$1/etc/resolv.conf"; fi && ` +
			`rm -f "$1/etc/.resolv.conf.systemd-resolved.bak"`,
		`--customize-hook=install -D -m 0755 '` + work + `/files/0' "$1"'/usr/sbin/lockstepd'`,
		`--customize-hook=install -D -m 0644 '` + work + `/files/lockstepd.service' "$1"'/usr/lib/systemd/system/lockstepd.service'`,
		`--customize-hook=install -D -m 0644 '` + work + `/files/sshd-keygen.conf' "$1"'/etc/systemd/system/sshd-keygen.service.d/lockstep.conf'`,
		`--customize-hook=chroot "$1" systemctl enable chrony.service lockstepd.service`,
		`--customize-hook=chroot "$1" systemctl disable ssh.service ssh.socket`,
		`--customize-hook=rm -f "$1"/etc/ssh/ssh_host_* && : > "$1/etc/machine-id" && rm -f "$1/var/lib/dbus/machine-id" && ` +
			`find "$1/var/log" -type f -size +0 -delete && ` +
			`rm -f "$1"/var/lib/dpkg/*-old "$1"/var/cache/debconf/*-old "$1/var/cache/ldconfig/aux-cache" && ` +
			`find "$1/usr" -xdev -depth -type d -name __pycache__ -exec rm -rf {} +`,
		"trixie",
		"-",
		"deb http://deb.debian.org/debian trixie main non-free-firmware",
		"deb http://deb.debian.org/debian trixie-backports main non-free-firmware",
	}
	if mm.Name != "mmdebstrap" {
		t.Errorf("first command %q", mm.Name)
	}
	diffArgs(t, "mmdebstrap", mm.Args, wantMM)
	wantEnv := []string{"SOURCE_DATE_EPOCH=1793491200", "TMPDIR=" + work + "/tmp", "LC_ALL=C.UTF-8"}
	if !reflect.DeepEqual(mm.Env, wantEnv) {
		t.Errorf("mmdebstrap env %q, want %q", mm.Env, wantEnv)
	}

	wantSQ := []string{
		"-", work + "/system.squashfs", "-tar", "-noappend",
		"-comp", "zstd", "-b", "1M",
		"-mkfs-time", "1793491200", "-all-time", "1793491200",
		"-root-mode", "0755", "-root-uid", "0", "-root-gid", "0",
		"-no-progress", "-quiet",
	}
	if sq.Name != "mksquashfs" {
		t.Errorf("second command %q", sq.Name)
	}
	diffArgs(t, "mksquashfs", sq.Args, wantSQ)
	if !reflect.DeepEqual(sq.Env, []string{"SOURCE_DATE_EPOCH"}) {
		t.Errorf("mksquashfs env %q: SOURCE_DATE_EPOCH must be removed (it conflicts with -mkfs-time)", sq.Env)
	}
}

func diffArgs(t *testing.T, name string, got, want []string) {
	t.Helper()
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("%s arg %d:\n got %s\nwant %s", name, i, g, w)
		}
	}
}

func TestPlanMinimal(t *testing.T) {
	// No backports, no extra files, no units, no excludes: none of their options.
	s := Spec{Suite: "trixie", Mirror: "http://m/debian", Keyring: "/k", Packages: []string{"systemd-sysv"},
		Epoch: time.Unix(1, 0)}.withDefaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	cmds := s.plan(keyLayout)
	joined := strings.Join(cmds[0].Args, "\n")
	for _, absent := range []string{"--setup-hook", "--dpkgopt", "systemctl", "install -D", "trixie-backports"} {
		if strings.Contains(joined, absent) {
			t.Errorf("minimal plan has %q:\n%s", absent, joined)
		}
	}
	if got := cmds[0].Args[len(cmds[0].Args)-1]; got != "deb http://m/debian trixie main" {
		t.Errorf("sources line %q", got)
	}
	if !strings.Contains(joined, `echo 'lockstep' > "$1/etc/hostname"`) {
		t.Errorf("default hostname missing:\n%s", joined)
	}
}

func TestPlanUnprivileged(t *testing.T) {
	dir := t.TempDir()
	f := newFake()
	b := &Builder{Runner: f, Euid: func() int { return 1000 }}
	if _, err := b.Build(context.Background(), testSpec(t, dir), filepath.Join(dir, "system.squashfs")); err != nil {
		t.Fatal(err)
	}
	if got := f.runs[0][0].Args[0]; got != "--mode=unshare" {
		t.Errorf("non-root build uses %s, want --mode=unshare", got)
	}
}

func keyOf(t *testing.T, s Spec, versions map[string]string) string {
	t.Helper()
	f := newFake()
	if versions != nil {
		f.versions = versions
	}
	k, err := (&Builder{Runner: f}).Key(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKey(t *testing.T) {
	dir := t.TempDir()
	base := testSpec(t, dir)
	k0 := keyOf(t, base, nil)
	if len(k0) != 32 {
		t.Errorf("key %q", k0)
	}
	if k := keyOf(t, base, nil); k != k0 {
		t.Errorf("key is not stable: %s then %s", k0, k)
	}

	clone := func(s Spec) Spec {
		s.Components = append([]string(nil), s.Components...)
		s.Packages = append([]string(nil), s.Packages...)
		s.FromBackports = append([]string(nil), s.FromBackports...)
		s.BackportsDeps = append([]string(nil), s.BackportsDeps...)
		s.PathExclude = append([]string(nil), s.PathExclude...)
		s.ExtraFiles = append([]File(nil), s.ExtraFiles...)
		s.EnableUnits = append([]string(nil), s.EnableUnits...)
		s.DisableUnits = append([]string(nil), s.DisableUnits...)
		return s
	}
	changes := map[string]func(*Spec){
		"Suite":         func(s *Spec) { s.Suite = "forky" },
		"Mirror":        func(s *Spec) { s.Mirror = "http://other/debian" },
		"Components":    func(s *Spec) { s.Components = []string{"main"} },
		"Backports":     func(s *Spec) { s.Backports = "forky-backports" },
		"Keyring path":  func(s *Spec) { s.Keyring = filepath.Join(dir, "keyring2.gpg") },
		"Arch":          func(s *Spec) { s.Arch = "arm64" },
		"Variant":       func(s *Spec) { s.Variant = "important" },
		"Packages":      func(s *Spec) { s.Packages = append(s.Packages, "chrony") },
		"package pin":   func(s *Spec) { s.Packages[2] = "lvm2=2.03.31-2" },
		"FromBackports": func(s *Spec) { s.FromBackports = s.FromBackports[:1] },
		"BackportsDeps": func(s *Spec) { s.BackportsDeps = append(s.BackportsDeps, "ipxe-qemu") },
		"PathExclude":   func(s *Spec) { s.PathExclude = append(s.PathExclude, "/usr/share/man/*") },
		"Epoch":         func(s *Spec) { s.Epoch = s.Epoch.Add(time.Second) },
		"Hostname":      func(s *Spec) { s.Hostname = "other" },
		"file Dst":      func(s *Spec) { s.ExtraFiles[0].Dst = "/usr/local/sbin/lockstepd" },
		"file Mode":     func(s *Spec) { s.ExtraFiles[0].Mode = 0o700 },
		"more files": func(s *Spec) {
			s.ExtraFiles = append(s.ExtraFiles, File{Src: s.Keyring, Dst: "/etc/lockstep/keyring.gpg"})
		},
		"EnableUnits":  func(s *Spec) { s.EnableUnits = nil },
		"DisableUnits": func(s *Spec) { s.DisableUnits = s.DisableUnits[:1] },
	}
	if err := os.WriteFile(filepath.Join(dir, "keyring2.gpg"), []byte("keys"), 0o644); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{k0: "base"}
	for name, change := range changes {
		s := clone(base)
		change(&s)
		k := keyOf(t, s, nil)
		if prev, dup := seen[k]; dup {
			t.Errorf("changing %s gives the key of %s (%s)", name, prev, k)
		}
		seen[k] = name
	}

	// Contents of the files read from the host.
	if err := os.WriteFile(base.ExtraFiles[0].Src, []byte("agent v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	kAgent := keyOf(t, base, nil)
	if kAgent == k0 {
		t.Error("a new agent binary does not change the key")
	}
	if err := os.WriteFile(base.Keyring, []byte("new keys"), 0o644); err != nil {
		t.Fatal(err)
	}
	kKeyring := keyOf(t, base, nil)
	if kKeyring == kAgent {
		t.Error("a new keyring does not change the key")
	}
	// The same content from elsewhere is the same input.
	moved := filepath.Join(t.TempDir(), "lockstepd-copy")
	if err := os.WriteFile(moved, []byte("agent v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := clone(base)
	s.ExtraFiles[0].Src = moved
	if k := keyOf(t, s, nil); k != kKeyring {
		t.Error("the extra file's host path changes the key; only its content should")
	}
	// The product version is not in the image.
	s = clone(base)
	s.Version = "9.9.9"
	if k := keyOf(t, s, nil); k != kKeyring {
		t.Error("Version changes the key")
	}
	// Defaults spelled out are the same spec.
	s = clone(base)
	s.Arch, s.Variant = "amd64", "minbase"
	if k := keyOf(t, s, nil); k != kKeyring {
		t.Error("explicit defaults change the key")
	}
	// Tool versions.
	for _, tool := range []string{"mmdebstrap", "apt-get", "mksquashfs"} {
		v := newFake().versions
		v[tool] += "+1"
		if k := keyOf(t, base, v); k == kKeyring {
			t.Errorf("a new %s does not change the key", tool)
		}
	}
}

func TestKeyErrors(t *testing.T) {
	dir := t.TempDir()
	s := testSpec(t, dir)
	f := newFake()
	delete(f.versions, "mmdebstrap")
	delete(f.versions, "mksquashfs")
	_, err := (&Builder{Runner: f}).Key(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "mmdebstrap, mksquashfs") || !strings.Contains(err.Error(), "apt-get install mmdebstrap squashfs-tools") {
		t.Errorf("missing tools: %v", err)
	}

	s.ExtraFiles[0].Src = filepath.Join(dir, "nope")
	if _, err := (&Builder{Runner: newFake()}).Key(context.Background(), s); err == nil || !strings.Contains(err.Error(), "/usr/sbin/lockstepd") {
		t.Errorf("missing extra file: %v", err)
	}

	s = testSpec(t, dir)
	s.Keyring = filepath.Join(dir, "no-keyring.gpg")
	if _, err := (&Builder{Runner: newFake()}).Key(context.Background(), s); err == nil || !strings.Contains(err.Error(), "debian-archive-keyring") {
		t.Errorf("missing keyring: %v", err)
	}
}

func TestValidate(t *testing.T) {
	s := Spec{
		Suite: "Trixie!", Mirror: "ftp://x", Backports: "", Keyring: "",
		Packages:      []string{"ok", "bad,name"},
		FromBackports: []string{"qemu-system-x86"},
		BackportsDeps: []string{"src:qemu", "a b"},
		PathExclude:   []string{"usr/share/doc"},
		Hostname:      "Bad_Host",
		ExtraFiles:    []File{{Src: "", Dst: "relative"}, {Src: "x", Dst: "/a/../b"}},
		EnableUnits:   []string{"ssh.service", "nounit"},
		DisableUnits:  []string{"ssh.service"},
	}
	err := s.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`Suite: "Trixie!"`, `Mirror: "ftp://x"`, "Keyring: is required", `"bad,name"`,
		"Backports: is required when FromBackports", `BackportsDeps: "a b"`, `PathExclude: "usr/share/doc"`,
		"Epoch: is required", `Hostname: "Bad_Host"`, "ExtraFiles[0].Src: is required", `ExtraFiles[0].Dst: "relative"`,
		`ExtraFiles[1].Dst: "/a/../b"`, `"nounit" is not a unit name`, `DisableUnits: "ssh.service" is also in EnableUnits`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	s = testSpec(t, t.TempDir())
	s.ExtraFiles = append(s.ExtraFiles, File{Src: "x", Dst: AgentPath})
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("duplicate destination: %v", err)
	}
	s = testSpec(t, t.TempDir())
	s.ExtraFiles[0].Mode = 0o755 | os.ModeSetuid
	if err := s.Validate(); err != nil {
		t.Errorf("setuid mode: %v", err)
	}
	// A bad spec fails before anything runs.
	f := newFake()
	if _, err := (&Builder{Runner: f}).Build(context.Background(), Spec{}, filepath.Join(t.TempDir(), "x.squashfs")); err == nil || len(f.runs) != 0 {
		t.Errorf("empty spec: err %v, runs %d", err, len(f.runs))
	}
}

func TestManifest(t *testing.T) {
	dir := t.TempDir()
	s := testSpec(t, dir)
	f := newFake()
	b := &Builder{Runner: f, Euid: func() int { return 0 }}
	out := filepath.Join(dir, "lockstep", "system.squashfs")
	res, err := b.Build(context.Background(), s, out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest != filepath.Join(dir, "lockstep", "system.manifest.json") {
		t.Errorf("manifest path %s", res.Manifest)
	}
	raw, err := os.ReadFile(res.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	key := keyOf(t, s, nil)
	want := fmt.Sprintf(`{
  "format": 1,
  "version": "0.1.0",
  "key": "%s",
  "epoch": "2026-11-01T00:00:00Z",
  "suite": "trixie",
  "backports": "trixie-backports",
  "mirror": "http://deb.debian.org/debian",
  "archive": [
    {
      "suite": "stable",
      "codename": "trixie",
      "version": "13.8",
      "date": "Sat, 21 Nov 2026 09:15:44 UTC",
      "sha256": "%s"
    }
  ],
  "kernel": "7.3.4+deb13-amd64",
  "image": {
    "file": "system.squashfs",
    "size": 15,
    "sha256": "%s"
  },
  "tools": {
    "apt-get": "apt 2.6.1 (amd64)",
    "mksquashfs": "mksquashfs version 4.5.1 (2022/03/17)",
    "mmdebstrap": "mmdebstrap 1.3.5"
  },
  "packages": [
    {
      "name": "base-files",
      "version": "13.8+deb13u1",
      "arch": "amd64"
    },
    {
      "name": "linux-image-7.3.4+deb13-amd64",
      "version": "7.3.4-1~bpo13+1",
      "arch": "amd64"
    },
    {
      "name": "linux-image-amd64",
      "version": "7.3.4-1~bpo13+1",
      "arch": "amd64"
    },
    {
      "name": "qemu-system-x86",
      "version": "1:11.1.3+ds-1~bpo13+1",
      "arch": "amd64"
    }
  ]
}
`, key, sha([]byte(testInRelease)), sha(f.image))
	if string(raw) != want {
		t.Errorf("manifest:\n%s\nwant:\n%s", raw, want)
	}
	if res.SHA256 != sha(f.image) || res.Size != int64(len(f.image)) || res.Kernel != "7.3.4+deb13-amd64" || res.Key != key || res.Cached {
		t.Errorf("result %+v", res)
	}
	if len(res.Packages) != 4 {
		t.Errorf("packages %v", res.Packages)
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("image: %v %v", st, err)
	}
	m, err := ReadManifest(res.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := m.Package("qemu-system-x86"); !ok || p.Version != "1:11.1.3+ds-1~bpo13+1" {
		t.Errorf("Package lookup: %v %v", p, ok)
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestCache(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	s := testSpec(t, dir)
	f := newFake()
	var lines []string
	b := &Builder{Runner: f, CacheDir: cache, Euid: func() int { return 0 },
		Progress: func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }}
	ctx := context.Background()

	r1, err := b.Build(ctx, s, filepath.Join(dir, "a", "system.squashfs"))
	if err != nil {
		t.Fatal(err)
	}
	key := keyOf(t, s, nil)
	if got, want := CachePath(cache, key), filepath.Join(cache, "sysimage", key+".squashfs"); got != want {
		t.Errorf("CachePath %s, want %s", got, want)
	}
	if b, err := os.ReadFile(CachePath(cache, key)); err != nil || string(b) != string(f.image) {
		t.Fatalf("cached image: %q %v", b, err)
	}
	cm, err := ReadManifest(ManifestPath(CachePath(cache, key)))
	if err != nil || cm.Image.File != key+".squashfs" || cm.Key != key {
		t.Fatalf("cached manifest: %+v %v", cm, err)
	}

	// Warm: nothing runs, the copy is checked, the manifest has this version.
	s.Version = "0.2.0"
	lines = nil
	out2 := filepath.Join(dir, "b", "system.squashfs")
	r2, err := b.Build(ctx, s, out2)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.runs) != 1 || !r2.Cached || r2.SHA256 != r1.SHA256 || r2.Kernel != r1.Kernel || len(r2.Packages) != len(r1.Packages) {
		t.Errorf("warm build: runs %d, result %+v", len(f.runs), r2)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "from the cache") {
		t.Errorf("warm build does not say it used the cache:\n%s", strings.Join(lines, "\n"))
	}
	m2, err := ReadManifest(ManifestPath(out2))
	if err != nil || m2.Version != "0.2.0" || m2.Image.File != "system.squashfs" {
		t.Errorf("warm manifest %+v %v", m2, err)
	}

	// Refresh rebuilds and replaces the cached copy.
	f.image = []byte("hsqs rebuilt")
	rb := *b
	rb.Refresh = true
	r3, err := rb.Build(ctx, s, filepath.Join(dir, "c", "system.squashfs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.runs) != 2 || r3.Cached || r3.SHA256 != sha(f.image) {
		t.Errorf("refresh: runs %d, %+v", len(f.runs), r3)
	}

	// A damaged cached image is rebuilt, not served.
	if err := os.WriteFile(CachePath(cache, key), []byte("hsqs damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	lines = nil
	r4, err := b.Build(ctx, s, filepath.Join(dir, "d", "system.squashfs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.runs) != 3 || r4.Cached || !strings.Contains(strings.Join(lines, "\n"), "cached copy unusable") {
		t.Errorf("damaged cache: runs %d, %+v\n%s", len(f.runs), r4, strings.Join(lines, "\n"))
	}

	// A different spec misses.
	s.Hostname = "other"
	if r, err := b.Build(ctx, s, filepath.Join(dir, "e", "system.squashfs")); err != nil || r.Cached {
		t.Errorf("other spec: %v %+v", err, r)
	}
}

func TestBuildErrors(t *testing.T) {
	mirror := "http://deb.debian.org/debian"
	cases := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"unknown package", []string{
			"mmdebstrap|Reading package lists...",
			"mmdebstrap|E: Unable to locate package qemu-system-x87",
			"mmdebstrap|E: mmdebstrap failed to run",
		}, []string{"package qemu-system-x87 is not in " + mirror + " trixie or trixie-backports"}},
		{"stale pin", []string{
			"mmdebstrap|E: Version '1:11.1.2+ds-1~bpo13+1' for 'qemu-system-x86' was not found",
		}, []string{"package qemu-system-x86: version 1:11.1.2+ds-1~bpo13+1 is not in", "pin is out of date"}},
		{"unmet dependencies", []string{
			"mmdebstrap|The following packages have unmet dependencies:",
			"mmdebstrap| qemu-system-x86 : Depends: qemu-system-common (= 1:11.1.3+ds-1~bpo13+1) but 1:10.0.13+ds-0+deb13u1 is to be installed",
			"mmdebstrap|                   Depends: seabios (> 1.17.0-1~) but 1.16.3-2 is to be installed",
			"mmdebstrap| linux-image-7.3.4+deb13-amd64 : PreDepends: linux-base (>= 4.17~) but 4.12.1 is to be installed",
			"mmdebstrap|E: Unable to correct problems, you have held broken packages.",
		}, []string{
			"qemu-system-x86 needs qemu-system-common (= 1:11.1.3+ds-1~bpo13+1) but 1:10.0.13+ds-0+deb13u1 is to be installed",
			"qemu-system-x86 needs seabios (> 1.17.0-1~)",
			"linux-image-7.3.4+deb13-amd64 needs linux-base (>= 4.17~)",
			"add that dependency to BackportsDeps",
		}},
		{"network", []string{
			"mmdebstrap|I: running apt-get update...",
			"mmdebstrap|E: Failed to fetch http://deb.debian.org/debian/dists/trixie/InRelease  Could not resolve 'deb.debian.org'",
			"mmdebstrap|E: apt-get update -oAPT::Status-Fd=<$fd> -oDpkg::Use-Pty=false failed",
		}, []string{"cannot download from the mirror " + mirror, "Could not resolve 'deb.debian.org'"}},
		{"keyring", []string{
			"mmdebstrap|W: GPG error: http://deb.debian.org/debian trixie InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 762F67A0B2C39DE4",
			"mmdebstrap|E: The repository 'http://deb.debian.org/debian trixie InRelease' is not signed.",
		}, []string{"does not verify with keyring"}},
		{"other", []string{
			"mmdebstrap|I: installing remaining packages inside the chroot...",
			"mmdebstrap|E: something odd",
			"mksquashfs|FATAL ERROR: no space left",
		}, []string{"mmdebstrap: E: something odd", "mksquashfs: FATAL ERROR: no space left"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			f := newFake()
			f.lines = c.lines
			f.fail = errors.New("mmdebstrap: exit status 1")
			out := filepath.Join(dir, "system.squashfs")
			_, err := (&Builder{Runner: f, Euid: func() int { return 0 }}).Build(context.Background(), testSpec(t, dir), out)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("failed build left %s", out)
			}
			left, _ := filepath.Glob(filepath.Join(dir, ".sysimage-*"))
			if len(left) > 0 {
				t.Errorf("scratch left: %v", left)
			}
		})
	}
}

func TestParseDpkgStatus(t *testing.T) {
	pkgs, err := parseDpkgStatus([]byte(testStatus))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{"base-files", "13.8+deb13u1", "amd64"},
		{"linux-image-7.3.4+deb13-amd64", "7.3.4-1~bpo13+1", "amd64"},
		{"linux-image-amd64", "7.3.4-1~bpo13+1", "amd64"},
		{"qemu-system-x86", "1:11.1.3+ds-1~bpo13+1", "amd64"},
	}
	if !reflect.DeepEqual(pkgs, want) {
		t.Errorf("got %v", pkgs)
	}
	if _, err := parseDpkgStatus([]byte("Package: x\nStatus: deinstall ok config-files\n")); err == nil {
		t.Error("no installed package: no error")
	}
}

func TestKernelRelease(t *testing.T) {
	k, err := kernelRelease([]Package{
		{Name: "linux-image-amd64", Version: "7.3.4-1~bpo13+1"},
		{Name: "linux-image-7.2.12+deb13-amd64", Version: "7.2.12-1~bpo13+1"},
		{Name: "linux-image-7.3.4+deb13-amd64", Version: "7.3.4-1~bpo13+1"},
		{Name: "linux-image-7.3.4+deb13-amd64-dbg", Version: "7.3.4-1~bpo13+1"},
	})
	if err != nil || k != "7.3.4+deb13-amd64" {
		t.Errorf("%q %v", k, err)
	}
	if _, err := kernelRelease([]Package{{Name: "linux-image-amd64", Version: "1"}}); err == nil {
		t.Error("no kernel: no error")
	}
}

func TestParseInRelease(t *testing.T) {
	r := parseInRelease([]byte(testInRelease))
	if r.Suite != "stable" || r.Codename != "trixie" || r.Version != "13.8" || r.Date != "Sat, 21 Nov 2026 09:15:44 UTC" || r.SHA256 != sha([]byte(testInRelease)) {
		t.Errorf("%+v", r)
	}
}

func TestManifestPath(t *testing.T) {
	for in, want := range map[string]string{
		"out/lockstep/system.squashfs": "out/lockstep/system.manifest.json",
		"system.img":                   "system.img.manifest.json",
	} {
		if got := ManifestPath(in); got != want {
			t.Errorf("ManifestPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRecipe(t *testing.T) {
	r, err := LoadRecipe("../../recipes/system.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	s, err := r.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if s.Suite != "trixie" || s.Backports != "trixie-backports" || s.Mirror != "http://deb.debian.org/debian" ||
		!reflect.DeepEqual(s.Components, []string{"main", "non-free-firmware"}) || s.Version != r.Version {
		t.Errorf("spec %+v", s)
	}
	for _, p := range []string{"systemd-sysv", "udev", "lvm2", "drbd-utils", "chrony", "openssh-server", "libvirt-daemon-system"} {
		if !s.wants(p) {
			t.Errorf("recipe does not install %s", p)
		}
	}
	for _, p := range []string{"qemu-system-x86", "linux-image-amd64"} {
		found := false
		for _, b := range s.FromBackports {
			found = found || pkgName(b) == p
		}
		if !found {
			t.Errorf("%s is not from backports", p)
		}
	}
	for _, u := range []string{"ssh.service", "ssh.socket"} {
		found := false
		for _, d := range s.DisableUnits {
			found = found || d == u
		}
		if !found {
			t.Errorf("%s is not disabled", u)
		}
	}
	if s.Epoch != time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("epoch %v", s.Epoch)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1800000000")
	if s, err := r.Spec(); err != nil || s.Epoch.Unix() != 1800000000 {
		t.Errorf("SOURCE_DATE_EPOCH: %v %v", s.Epoch, err)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("system:\n  suite: trixie\n  pakages: [x]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRecipe(bad); err == nil || !strings.Contains(err.Error(), "pakages") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestEmbeddedUnits(t *testing.T) {
	unit := string(agentUnit)
	for _, want := range []string{"ExecStart=" + AgentPath, "ExecStopPost=" + AgentPath + " -fence\n", "WantedBy=multi-user.target", "[Service]"} {
		if !strings.Contains(unit, want) {
			t.Errorf("lockstepd.service lacks %q", want)
		}
	}
	if !strings.Contains(string(sshdKeygenDropIn), "ConditionFirstBoot=\n") {
		t.Error("the sshd-keygen drop-in must reset ConditionFirstBoot")
	}
	// Without the agent binary, no unit.
	s := testSpec(t, t.TempDir())
	s.ExtraFiles = nil
	s = s.withDefaults()
	for _, f := range s.staged() {
		if f.Dst == agentUnitPath {
			t.Error("unit installed without the agent")
		}
	}
	for _, u := range s.enable() {
		if u == agentUnitName {
			t.Error("unit enabled without the agent")
		}
	}
}

func TestExecPipeline(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	var got []string
	err := Exec{}.Run(context.Background(), func(name, line string) { got = append(got, name+": "+line) },
		Cmd{Name: "sh", Args: []string{"-c", `printf 'one\ntwo\n'; echo "$GREETING" >&2`}, Env: []string{"GREETING=hi"}},
		Cmd{Name: "tr", Args: []string{"a-z", "A-Z"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"sh: hi": true, "tr: ONE": true, "tr: TWO": true}
	if len(got) != 3 {
		t.Errorf("got %q", got)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected line %q (all: %q)", g, got)
		}
	}
	err = Exec{}.Run(context.Background(), nil,
		Cmd{Name: "sh", Args: []string{"-c", "exit 3"}},
		Cmd{Name: "cat"},
	)
	if err == nil || !strings.Contains(err.Error(), "sh: exit status 3") {
		t.Errorf("failing first command: %v", err)
	}
	if err := (Exec{}).Run(context.Background(), nil, Cmd{Name: "no-such-tool-xyz"}); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("missing tool: %v", err)
	}
}

func TestEnviron(t *testing.T) {
	got := environ([]string{"PATH=/bin", "SOURCE_DATE_EPOCH=5", "TMPDIR=/tmp"}, []string{"SOURCE_DATE_EPOCH", "TMPDIR=/w", "LC_ALL=C"})
	want := []string{"PATH=/bin", "TMPDIR=/w", "LC_ALL=C"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRemoveWork(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "w")
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := removeWork(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("not removed: %v", err)
	}
}

func TestExtraFileModes(t *testing.T) {
	s := testSpec(t, t.TempDir())
	s.ExtraFiles = append(s.ExtraFiles,
		File{Src: s.Keyring, Dst: "/usr/lib/lockstep/helper", Mode: 0o755 | os.ModeSetuid},
		File{Src: s.Keyring, Dst: "/etc/lockstep/it's.conf"}, // default mode, quoted name
	)
	s = s.withDefaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	hooks := strings.Join(s.customizeHooks(keyLayout), "\n")
	for _, want := range []string{
		`install -D -m 4755 '/work/files/1' "$1"'/usr/lib/lockstep/helper'`,
		`install -D -m 0644 '/work/files/2' "$1"'/etc/lockstep/it'\''s.conf'`,
	} {
		if !strings.Contains(hooks, want) {
			t.Errorf("hooks lack %s:\n%s", want, hooks)
		}
	}
}
