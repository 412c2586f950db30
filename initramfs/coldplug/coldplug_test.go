package coldplug

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const fixtureDep = `kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/scsi/scsi_mod.ko:
kernel/drivers/ata/libata.ko: kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/ata/libahci.ko: kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/ata/ahci.ko: kernel/drivers/ata/libahci.ko kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/scsi/sd_mod.ko: kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/cdrom/cdrom.ko:
kernel/drivers/scsi/sr_mod.ko: kernel/drivers/cdrom/cdrom.ko kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/bad/badmod.ko:
kernel/drivers/bad/needsbad.ko: kernel/drivers/bad/badmod.ko
kernel/fs/fat/fat.ko:
kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko
kernel/fs/isofs/isofs.ko: kernel/drivers/cdrom/cdrom.ko
kernel/crypto/crc32c_generic.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/misc/evilmod.ko:
kernel/drivers/misc/post_helper.ko:
`

const fixtureAlias = `# Aliases extracted from modules themselves.
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias virtio:d00000002v* virtio_blk
alias pci:v*d*sv*sd*bc01sc06i01* ahci
alias pci:v00008086d00002922sv*sd*bc*sc*i* ahci
alias scsi:t-0x00* sd_mod
alias scsi:t-0x05* sr_mod
alias pci:v0000DEADd*sv*sd*bc*sc*i* badmod
alias pci:v0000DEADd0000BEEFsv*sd*bc*sc*i* needsbad
alias fs-vfat vfat
alias crypto-crc32c crc32c_generic
alias evil:* evilmod
alias pci:v0000F00Dd*sv*sd*bc*sc*i* notshipped
`

const fixtureSoftdep = `# Soft dependencies extracted from modules themselves.
softdep jbd2 pre: crypto-crc32c
softdep virtio_blk pre: no_such_softdep
softdep isofs post: post_helper
`

// fixture is a fake /sys and modules directory.
type fixture struct {
	sys, mods string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{sys: filepath.Join(dir, "sys"), mods: filepath.Join(dir, "lib/modules/6.1.0-test")}
	for name, content := range map[string]string{
		"modules.dep":     fixtureDep,
		"modules.alias":   fixtureAlias,
		"modules.softdep": fixtureSoftdep,
		"modules.builtin": "kernel/drivers/block/loop.ko\n",
	} {
		f.write(t, filepath.Join(f.mods, name), content)
	}
	// Devices present at boot.
	f.device(t, "devices/pci0000:00/0000:00:01.0", "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00") // virtio-blk PCI
	f.device(t, "devices/pci0000:00/0000:00:1f.2", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01") // AHCI
	f.device(t, "devices/pci0000:00/0000:00:1f.3", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01") // a second one
	f.device(t, "devices/pci0000:00/0000:00:02.0", "pci:v0000DEADd0000BEEFsv00000000sd00000000bc00sc00i00") // odd device
	f.device(t, "devices/pci0000:00/0000:00:03.0", "pci:v0000F00Dd00000001sv00000000sd00000000bc00sc00i00") // module not shipped
	f.device(t, "devices/platform/serial8250", "platform:serial8250")                                       // no module
	// A modalias reachable only through a symlink must not be read.
	f.device(t, "class/evil/thing", "evil:1")
	if err := os.Symlink("../../class/evil", filepath.Join(f.sys, "devices/virtual")); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Error(err)
		return
	}
	if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
		t.Error(err)
	}
}

func (f *fixture) device(t *testing.T, dir, modalias string) {
	f.write(t, filepath.Join(f.sys, dir, "modalias"), modalias)
}

// fakeLoader records loads, fails for the modules in fail, and runs the
// hook of a module after loading it (to create the devices its driver
// would find).
type fakeLoader struct {
	t     *testing.T
	mods  string
	mu    sync.Mutex
	order []string
	fail  map[string]bool
	hooks map[string]func()
}

func (l *fakeLoader) Load(path, params string) error {
	rel, err := filepath.Rel(l.mods, path)
	if err != nil || strings.HasPrefix(rel, "..") || !strings.HasSuffix(path, ".ko") {
		l.t.Errorf("Load(%q): not a module file under %s", path, l.mods)
	}
	name := ModuleName(path)
	l.mu.Lock()
	defer l.mu.Unlock()
	if slices.Contains(l.order, name) {
		l.t.Errorf("%s loaded twice", name)
	}
	if l.fail[name] {
		return fmt.Errorf("finit_module %s: exec format error", path)
	}
	l.order = append(l.order, name)
	if h := l.hooks[name]; h != nil {
		h()
	}
	return nil
}

func (l *fakeLoader) loads() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.order)
}

func newColdplug(t *testing.T, f *fixture, l *fakeLoader) (*Coldplug, *[]string) {
	var logs []string
	var mu sync.Mutex
	return &Coldplug{
		SysRoot:    f.sys,
		ModulesDir: f.mods,
		Loader:     l,
		Log: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			logs = append(logs, fmt.Sprintf(format, args...))
			t.Logf(format, args...)
		},
	}, &logs
}

// assertDepsFirst checks that every module is loaded after the modules it
// depends on (per fixtureDep).
func assertDepsFirst(t *testing.T, order []string) {
	t.Helper()
	dep, err := ParseDep(strings.NewReader(fixtureDep))
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range order {
		pos[m] = i
	}
	for p, deps := range dep {
		m := ModuleName(p)
		i, ok := pos[m]
		if !ok {
			continue
		}
		for _, d := range deps {
			if j, ok := pos[ModuleName(d)]; !ok || j > i {
				t.Errorf("%s loaded before its dependency %s: %v", m, ModuleName(d), order)
			}
		}
	}
}

func TestRun(t *testing.T) {
	f := newFixture(t)
	l := &fakeLoader{t: t, mods: f.mods, fail: map[string]bool{"badmod": true}}
	l.hooks = map[string]func(){
		// The virtio PCI driver finds a virtio block device at once.
		"virtio_pci": func() {
			f.device(t, "devices/pci0000:00/0000:00:01.0/virtio0", "virtio:d00000002v00001AF4")
		},
		// The AHCI driver probes its ports asynchronously: disks show up
		// a little later.
		"ahci": func() {
			time.AfterFunc(150*time.Millisecond, func() {
				f.device(t, "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0", "scsi:t-0x00")
				f.device(t, "devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0", "scsi:t-0x05")
			})
		},
	}
	c, logs := newColdplug(t, f, l)
	const settle = 500 * time.Millisecond
	start := time.Now()
	loaded, err := c.Run(context.Background(), settle)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if elapsed < settle || elapsed > 5*time.Second {
		t.Errorf("Run took %v, want settle (%v) after the last load and no more than a few seconds", elapsed, settle)
	}
	if !slices.Equal(loaded, l.loads()) {
		t.Errorf("Run returned %v, loader saw %v", loaded, l.loads())
	}
	// Round one is deterministic (modaliases are handled in sorted order).
	first := []string{"virtio", "virtio_ring", "virtio_pci", "scsi_mod", "libata", "libahci", "ahci"}
	if len(loaded) < len(first) || !slices.Equal(loaded[:len(first)], first) {
		t.Errorf("first round loaded %v, want %v", loaded, first)
	}
	want := append(slices.Clone(first), "virtio_blk", "sd_mod", "cdrom", "sr_mod")
	if got, w := slices.Sorted(slices.Values(loaded)), slices.Sorted(slices.Values(want)); !slices.Equal(got, w) {
		t.Errorf("loaded %v, want (in some order) %v", loaded, want)
	}
	assertDepsFirst(t, loaded)
	// badmod failed (and needsbad was skipped) without stopping Run;
	// evilmod (behind a symlink) was never considered.
	for _, m := range []string{"badmod", "needsbad", "evilmod"} {
		if slices.Contains(loaded, m) {
			t.Errorf("%s should not be loaded", m)
		}
	}
	joined := strings.Join(*logs, "\n")
	for _, s := range []string{"badmod", "exec format error", "needsbad: skipped, dependency badmod failed", "notshipped"} {
		if !strings.Contains(joined, s) {
			t.Errorf("log does not mention %q", s)
		}
	}

	// A second Run finds nothing new to load and does not reload.
	loaded, err = c.Run(context.Background(), 0)
	if err != nil || len(loaded) != 0 {
		t.Errorf("second Run = %v, %v; want nothing", loaded, err)
	}
}

func TestRunSettlesWithoutModules(t *testing.T) {
	f := newFixture(t)
	// Only devices without a module.
	os.RemoveAll(filepath.Join(f.sys, "devices/pci0000:00"))
	l := &fakeLoader{t: t, mods: f.mods}
	c, _ := newColdplug(t, f, l)
	start := time.Now()
	loaded, err := c.Run(context.Background(), 200*time.Millisecond)
	if err != nil || len(loaded) != 0 {
		t.Errorf("Run = %v, %v", loaded, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("Run took %v, want about the settle time", d)
	}
	// settle 0: one scan round with nothing new is enough.
	start = time.Now()
	if _, err := c.Run(context.Background(), 0); err != nil {
		t.Error(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run with settle 0 took %v", d)
	}
}

func TestRunContextEnds(t *testing.T) {
	f := newFixture(t)
	l := &fakeLoader{t: t, mods: f.mods}
	c, _ := newColdplug(t, f, l)
	// A device tree that never settles: a new device every 30ms.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(30 * time.Millisecond):
				f.device(t, fmt.Sprintf("devices/platform/flappy.%d", i), fmt.Sprintf("platform:flappy%d", i))
			}
		}
	}()
	defer func() { close(stop); <-done }()
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	start := time.Now()
	loaded, err := c.Run(ctx, 200*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run error = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run took %v after the context ended", d)
	}
	// What was found before the deadline was still loaded.
	if !slices.Contains(loaded, "ahci") {
		t.Errorf("loaded = %v, want the boot devices' modules", loaded)
	}
}

func TestLoadNamed(t *testing.T) {
	f := newFixture(t)
	l := &fakeLoader{t: t, mods: f.mods, fail: map[string]bool{"badmod": true}}
	c, _ := newColdplug(t, f, l)
	// loop is built in: nothing to load, no error. isofs pulls cdrom
	// before it and its softdep post module after it; jbd2 its softdep
	// pre module (an alias) first.
	if err := c.LoadNamed("vfat", "isofs", "loop", "jbd2"); err != nil {
		t.Fatal(err)
	}
	want := []string{"fat", "vfat", "cdrom", "isofs", "post_helper", "crc32c_generic", "jbd2"}
	if got := l.loads(); !slices.Equal(got, want) {
		t.Errorf("loads = %v, want %v", got, want)
	}
	// By alias; already loaded modules are not loaded again.
	if err := c.LoadNamed("fs-vfat", "fat", "sr_mod"); err != nil {
		t.Fatal(err)
	}
	want = append(want, "scsi_mod", "sr_mod")
	if got := l.loads(); !slices.Equal(got, want) {
		t.Errorf("loads = %v, want %v", got, want)
	}
	// Errors name what failed; the others are still loaded.
	err := c.LoadNamed("nosuch", "needsbad", "sd_mod")
	if err == nil || !strings.Contains(err.Error(), "nosuch") || !strings.Contains(err.Error(), "needsbad") {
		t.Errorf("err = %v", err)
	}
	if !slices.Contains(l.loads(), "sd_mod") {
		t.Error("sd_mod not loaded after an earlier failure")
	}
}

func TestSetupErrors(t *testing.T) {
	f := newFixture(t)
	l := &fakeLoader{t: t, mods: f.mods}
	if _, err := (&Coldplug{SysRoot: f.sys, ModulesDir: f.mods}).Run(context.Background(), 0); err == nil {
		t.Error("no Loader: no error")
	}
	if err := (&Coldplug{SysRoot: f.sys, ModulesDir: t.TempDir(), Loader: l}).LoadNamed("vfat"); err == nil || !strings.Contains(err.Error(), "modules.dep") {
		t.Errorf("no modules.dep: err = %v", err)
	}
	if _, err := (&Coldplug{SysRoot: t.TempDir(), ModulesDir: f.mods, Loader: l}).Run(context.Background(), 0); err == nil {
		t.Error("no SysRoot/devices: no error")
	}
	bad := t.TempDir()
	f.write(t, filepath.Join(bad, "modules.dep"), fixtureDep)
	f.write(t, filepath.Join(bad, "modules.alias"), "alias broken\n")
	if err := (&Coldplug{SysRoot: f.sys, ModulesDir: bad, Loader: l}).LoadNamed("vfat"); err == nil || !strings.Contains(err.Error(), "modules.alias") {
		t.Errorf("bad modules.alias: err = %v", err)
	}
	if len(l.loads()) != 0 {
		t.Errorf("loaded %v", l.loads())
	}
}
