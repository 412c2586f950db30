package moddep

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/lockstep-ft/lockstep/initramfs/coldplug"
)

// Select returns the sorted names of the modules matching any of the
// patterns. A pattern containing '/' is a glob on Module.Path
// ("kernel/drivers/ata/*"), where '*', '?' and '[...]' do not cross '/'
// and a "**" path element matches any number of directories
// ("kernel/drivers/net/ethernet/intel/**"). A pattern without '/' is a
// module name, also a glob ("virtio_net", "usb-storage", "virtio_*"),
// '-' and '_' being equivalent. Built-in modules match too (Closure
// accepts and then drops them). The error names every pattern that matched
// nothing or is malformed.
func (ix *Index) Select(patterns ...string) ([]string, error) {
	set := map[string]bool{}
	var bad []string
	for _, pat := range patterns {
		n := 0
		for _, mods := range []map[string]*Module{ix.Modules, ix.Builtin} {
			for _, m := range mods {
				ok, err := selectMatch(pat, m)
				if err != nil {
					return nil, fmt.Errorf("moddep: pattern %q: %w", pat, err)
				}
				if ok {
					set[m.Name] = true
					n++
				}
			}
		}
		if n == 0 {
			bad = append(bad, pat)
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("moddep: no module matches %s", strings.Join(quoteAll(bad), ", "))
	}
	return sortedKeys(set), nil
}

func selectMatch(pat string, m *Module) (bool, error) {
	if !strings.Contains(pat, "/") {
		return path.Match(normalizeName(pat), m.Name)
	}
	return globPath(strings.Split(pat, "/"), strings.Split(m.Path, "/"))
}

// normalizeName turns '-' into '_' outside bracket expressions.
func normalizeName(pat string) string {
	b := []byte(pat)
	depth := false
	for i, c := range b {
		switch {
		case c == '[':
			depth = true
		case c == ']':
			depth = false
		case c == '-' && !depth:
			b[i] = '_'
		}
	}
	return string(b)
}

// globPath matches path elements against pattern elements; a "**"
// element matches zero or more path elements.
func globPath(pat, elems []string) (bool, error) {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for len(pat) > 0 && pat[0] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 0 {
				return true, nil
			}
			for i := range elems {
				if ok, err := globPath(pat, elems[i:]); ok || err != nil {
					return ok, err
				}
			}
			return false, nil
		}
		if len(elems) == 0 {
			return false, nil
		}
		ok, err := path.Match(pat[0], elems[0])
		if !ok || err != nil {
			return false, err
		}
		pat, elems = pat[1:], elems[1:]
	}
	return len(elems) == 0, nil
}

// Closure returns the named modules with everything they need: their
// "depends=" modules and the softdep pre/post modules present in the index
// (softdep names may be aliases, as for modprobe), recursively. Built-in
// modules are accepted and left out. The result is sorted by Path. The
// error names any requested module or dependency that is missing.
func (ix *Index) Closure(names ...string) ([]*Module, error) {
	set := map[string]*Module{}
	var missing []string
	var visit func(name, neededBy string)
	visit = func(name, neededBy string) {
		name = Name(name)
		if _, done := set[name]; done {
			return
		}
		m, ok := ix.Modules[name]
		if !ok {
			if _, builtin := ix.Builtin[name]; !builtin {
				if neededBy == "" {
					missing = append(missing, fmt.Sprintf("module %s not found", name))
				} else {
					missing = append(missing, fmt.Sprintf("module %s (needed by %s) not found", name, neededBy))
				}
			}
			return
		}
		set[name] = m
		for _, d := range m.Depends {
			visit(d, name)
		}
		for _, s := range append(append([]string(nil), m.SoftPre...), m.SoftPost...) {
			for _, r := range ix.resolveSoft(s) {
				visit(r, name)
			}
		}
	}
	for _, n := range names {
		visit(n, "")
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("moddep: %s", strings.Join(missing, "; "))
	}
	out := make([]*Module, 0, len(set))
	for _, m := range set {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// resolveSoft maps a softdep name to loadable module names: the module of
// that name, else (unless a built-in module provides it) the modules with a
// matching alias. Names that resolve to nothing are ignored, as modprobe
// ignores missing soft dependencies.
func (ix *Index) resolveSoft(s string) []string {
	n := Name(s)
	if _, ok := ix.Modules[n]; ok {
		return []string{n}
	}
	if _, ok := ix.Builtin[n]; ok {
		return nil
	}
	for _, name := range sortedKeys(ix.Builtin) {
		if len(coldplug.Match(aliasesOf(ix.Builtin[name]), s)) > 0 {
			return nil
		}
	}
	var out []string
	for _, name := range sortedKeys(ix.Modules) {
		if len(coldplug.Match(aliasesOf(ix.Modules[name]), s)) > 0 {
			out = append(out, name)
		}
	}
	return out
}

func aliasesOf(m *Module) []coldplug.Alias {
	out := make([]coldplug.Alias, len(m.Aliases))
	for i, a := range m.Aliases {
		out[i] = coldplug.Alias{Pattern: a, Module: m.Name}
	}
	return out
}

// Firmware returns the sorted union of the firmware files the modules
// declare.
func (ix *Index) Firmware(mods []*Module) []string {
	set := map[string]bool{}
	for _, m := range mods {
		for _, f := range m.Firmware {
			set[f] = true
		}
	}
	return sortedKeys(set)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}
