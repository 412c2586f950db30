// Package coldplug loads, inside the installer initramfs, the kernel
// modules that match the hardware present, in place of udev.
//
// It reads modules.alias, modules.dep, modules.softdep and modules.builtin
// from ModulesDir (as written by package moddep), walks SysRoot/devices for
// "modalias" files and loads every module whose alias matches, dependencies
// first, round after round until no new device appears.
package coldplug

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Loader inserts one module file into the kernel. A module that is
// already loaded must be reported as success.
type Loader interface {
	Load(path, params string) error
}

// PollInterval is the pause between two scans of SysRoot while Run waits
// for devices to settle.
const PollInterval = 100 * time.Millisecond

// Coldplug loads modules for the devices found under SysRoot. Its zero
// state is ready once the exported fields are set; the module indexes are
// read on first use. A Coldplug remembers which modules it has loaded or
// failed to load, across calls to Run and LoadNamed. It is not safe for
// concurrent use.
type Coldplug struct {
	SysRoot    string // "/sys" (tests use a fixture tree)
	ModulesDir string // "/lib/modules/<uname -r>"
	Loader     Loader
	Log        func(format string, args ...any) // may be nil

	ready   bool
	aliases []Alias
	paths   map[string]string   // module name -> path as in modules.dep
	deps    map[string][]string // module path -> dependency paths
	soft    map[string]Softdep
	builtin map[string]bool
	state   map[string]modState
}

type modState int

const (
	stateNone modState = iota
	stateLoading
	stateLoaded
	stateBuiltin
	stateFailed
)

func (c *Coldplug) logf(format string, args ...any) {
	if c.Log != nil {
		c.Log(format, args...)
	}
}

// init reads the module indexes once.
func (c *Coldplug) init() error {
	if c.ready {
		return nil
	}
	if c.Loader == nil {
		return errors.New("coldplug: no Loader")
	}
	if c.ModulesDir == "" {
		return errors.New("coldplug: no ModulesDir")
	}
	read := func(name string, optional bool, parse func(io.Reader) error) error {
		f, err := os.Open(filepath.Join(c.ModulesDir, name))
		if err != nil {
			if optional && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("coldplug: %w", err)
		}
		defer f.Close()
		if err := parse(f); err != nil {
			return fmt.Errorf("coldplug: %s: %w", f.Name(), err)
		}
		return nil
	}
	var aliases []Alias
	deps := map[string][]string{}
	soft := map[string]Softdep{}
	builtin := map[string]bool{}
	err := errors.Join(
		read("modules.dep", false, func(r io.Reader) (err error) { deps, err = ParseDep(r); return }),
		read("modules.alias", false, func(r io.Reader) (err error) { aliases, err = ParseAliases(r); return }),
		read("modules.softdep", true, func(r io.Reader) (err error) { soft, err = ParseSoftdep(r); return }),
		read("modules.builtin", true, func(r io.Reader) (err error) { builtin, err = parseBuiltin(r); return }),
	)
	if err != nil {
		return err
	}
	paths := make(map[string]string, len(deps))
	for p := range deps {
		paths[ModuleName(p)] = p
	}
	c.aliases, c.deps, c.soft, c.builtin, c.paths = aliases, deps, soft, builtin, paths
	if c.state == nil {
		c.state = map[string]modState{}
	}
	c.ready = true
	return nil
}

// Run loads the modules for every device under SysRoot/devices. It scans
// all "modalias" files, loads the modules matching each modalias it has not
// seen before (dependencies and softdep "pre:" modules first, each module at
// most once), and repeats, because loaded bus drivers create new devices.
// It returns when a scan finds no new modalias and at least settle has
// passed since the last successful load (or since Run started), or when ctx
// ends (then with ctx.Err()). A module that fails to load is logged and
// skipped. loaded lists the modules inserted by this call, in load order.
func (c *Coldplug) Run(ctx context.Context, settle time.Duration) (loaded []string, err error) {
	if err := c.init(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	lastLoad := time.Now()
	for round := 1; ; round++ {
		start := time.Now()
		modaliases, err := c.scan()
		if err != nil {
			return loaded, err
		}
		scanTime := time.Since(start)
		fresh := 0
		for _, ma := range modaliases {
			if seen[ma] {
				continue
			}
			seen[ma] = true
			fresh++
			for _, m := range Match(c.aliases, ma) {
				before := len(loaded)
				c.load(m, "modalias "+ma, &loaded)
				if len(loaded) > before {
					lastLoad = time.Now()
				}
			}
			if ctx.Err() != nil {
				return loaded, ctx.Err()
			}
		}
		if fresh > 0 {
			c.logf("coldplug: round %d: %d new modaliases, %d modules loaded so far", round, fresh, len(loaded))
		}
		if fresh == 0 && time.Since(lastLoad) >= settle {
			c.logf("coldplug: settled after %d rounds: %d modaliases, %d modules loaded", round, len(seen), len(loaded))
			return loaded, nil
		}
		// Large machines have large sysfs trees: never spend more than
		// about half the time scanning.
		wait := max(PollInterval, scanTime)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return loaded, ctx.Err()
		case <-t.C:
		}
	}
}

// LoadNamed loads the named modules (module names, or aliases such as
// "fs-vfat"), each with its dependencies first. Built-in modules count as
// loaded. All names are attempted; the error reports every name that could
// not be loaded.
func (c *Coldplug) LoadNamed(names ...string) error {
	if err := c.init(); err != nil {
		return err
	}
	var errs []error
	var loaded []string
	for _, name := range names {
		mods := c.resolve(name)
		if len(mods) == 0 {
			errs = append(errs, fmt.Errorf("coldplug: module %s not found in %s", name, c.ModulesDir))
			continue
		}
		for _, m := range mods {
			if !c.load(m, "requested", &loaded) {
				errs = append(errs, fmt.Errorf("coldplug: module %s failed to load", m))
			}
		}
	}
	return errors.Join(errs...)
}

// resolve maps a module name or alias to module names, as modprobe does:
// a known (loadable or built-in) module name first, otherwise the modules
// whose alias matches.
func (c *Coldplug) resolve(name string) []string {
	n := ModuleName(name)
	if _, ok := c.paths[n]; ok || c.builtin[n] {
		return []string{n}
	}
	return Match(c.aliases, name)
}

// load loads module name with its dependencies and soft dependencies and
// reports whether it is now present. Newly inserted modules are appended
// to loaded.
func (c *Coldplug) load(name, why string, loaded *[]string) bool {
	switch c.state[name] {
	case stateLoaded, stateBuiltin, stateLoading:
		// stateLoading: a softdep cycle; the module is on its way.
		return true
	case stateFailed:
		return false
	}
	if c.builtin[name] {
		c.state[name] = stateBuiltin
		return true
	}
	path, ok := c.paths[name]
	if !ok {
		c.logf("coldplug: %s (%s): not in modules.dep", name, why)
		c.state[name] = stateFailed
		return false
	}
	c.state[name] = stateLoading
	sd := c.soft[name]
	for _, pre := range sd.Pre {
		for _, m := range c.resolve(pre) {
			c.load(m, "softdep of "+name, loaded)
		}
	}
	deps := c.deps[path]
	for i := len(deps) - 1; i >= 0; i-- {
		dep := ModuleName(deps[i])
		if !c.load(dep, "needed by "+name, loaded) {
			c.logf("coldplug: %s: skipped, dependency %s failed", name, dep)
			c.state[name] = stateFailed
			return false
		}
	}
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(c.ModulesDir, path)
	}
	if err := c.Loader.Load(abs, ""); err != nil {
		c.logf("coldplug: %s (%s): %v", name, why, err)
		c.state[name] = stateFailed
		return false
	}
	c.state[name] = stateLoaded
	*loaded = append(*loaded, name)
	c.logf("coldplug: loaded %s (%s)", name, why)
	for _, post := range sd.Post {
		for _, m := range c.resolve(post) {
			c.load(m, "softdep of "+name, loaded)
		}
	}
	return true
}

// scan returns the sorted, distinct contents of every modalias file under
// SysRoot/devices. Symbolic links are not followed; files and directories
// that vanish or cannot be read are skipped.
func (c *Coldplug) scan() ([]string, error) {
	root := filepath.Join(c.SysRoot, "devices")
	if _, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("coldplug: %w", err)
	}
	set := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // raced with removal, or unreadable: skip
		}
		if d.Name() != "modalias" || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			set[s] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("coldplug: scanning %s: %w", root, err)
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}
