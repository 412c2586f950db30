package moddep

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Header lines depmod writes at the top of its text indexes.
const (
	aliasHeader   = "# Aliases extracted from modules themselves.\n"
	softdepHeader = "# Soft dependencies extracted from modules themselves.\n"
)

// WriteTree writes the modules, decompressed, to dst/lib/modules/<kver>/<Path>
// together with modules.dep, modules.alias and modules.softdep for exactly
// these modules, in depmod's text formats, modules.order for them (so that
// depmod run on the result orders its output the same way), and copies of
// modules.builtin and modules.builtin.modinfo from the source tree when it
// has them. Every
// dependency ("depends=") of a module must be in mods (see Closure). Lines
// follow modules.order (then Path), so the output is byte-for-byte
// deterministic. Files are mode 0644, directories 0755.
func (ix *Index) WriteTree(dst string, mods []*Module) error {
	mods, err := ix.outputOrder(mods)
	if err != nil {
		return err
	}
	dep, err := ix.depFile(mods)
	if err != nil {
		return err
	}
	base := filepath.Join(dst, "lib", "modules", ix.KernelVersion)
	for _, m := range mods {
		data, err := readModuleFile(m.Source)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(base, filepath.FromSlash(m.Path)), data); err != nil {
			return err
		}
	}
	var order bytes.Buffer
	for _, m := range mods {
		order.WriteString(m.Path + "\n")
	}
	files := map[string][]byte{
		"modules.order":   order.Bytes(),
		"modules.dep":     dep,
		"modules.alias":   aliasFile(mods),
		"modules.softdep": softdepFile(mods),
	}
	for _, name := range []string{"modules.builtin", "modules.builtin.modinfo"} {
		if ix.root == "" {
			break
		}
		b, err := os.ReadFile(filepath.Join(ix.root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("moddep: %w", err)
		}
		files[name] = b
	}
	for _, name := range sortedKeys(files) {
		if err := writeFile(filepath.Join(base, name), files[name]); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("moddep: %w", err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		return fmt.Errorf("moddep: %w", err)
	}
	// WriteFile's mode is subject to the umask and ignored for an existing
	// file.
	if err := os.Chmod(name, 0o644); err != nil {
		return fmt.Errorf("moddep: %w", err)
	}
	return nil
}

// outputOrder returns mods without duplicates in depmod's output order:
// modules.order first, then by Path.
func (ix *Index) outputOrder(mods []*Module) ([]*Module, error) {
	byName := map[string]*Module{}
	out := make([]*Module, 0, len(mods))
	for _, m := range mods {
		if old, ok := byName[m.Name]; ok {
			if old != m && old.Path != m.Path {
				return nil, fmt.Errorf("moddep: module %s given twice (%s, %s)", m.Name, old.Path, m.Path)
			}
			continue
		}
		if m.Builtin {
			return nil, fmt.Errorf("moddep: %s is built into the kernel, not a module file", m.Name)
		}
		byName[m.Name] = m
		out = append(out, m)
	}
	rank := func(m *Module) int {
		if r, ok := ix.order[m.Path]; ok {
			return r
		}
		return len(ix.order)
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank(out[i]), rank(out[j])
		if ri != rj {
			return ri < rj
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

// depFile returns modules.dep for mods, in the given order: one line
// "path: dep dep ..." per module listing all its direct and indirect
// dependencies in load-reverse order, as depmod does (each dependency
// comes after every listed module that needs it, the most basic last; a
// loader inserts them from last to first). Dependencies on built-in
// modules are dropped; any other dependency must be in mods.
func (ix *Index) depFile(mods []*Module) ([]byte, error) {
	idx := make(map[string]int, len(mods))
	for i, m := range mods {
		idx[m.Name] = i
	}
	// Direct dependencies, by index, in "depends=" order.
	direct := make([][]int, len(mods))
	users := make([]int, len(mods))
	var missing []string
	for i, m := range mods {
		seen := map[int]bool{}
		for _, d := range m.Depends {
			j, ok := idx[d]
			if !ok {
				if _, builtin := ix.Builtin[d]; !builtin {
					missing = append(missing, fmt.Sprintf("%s (needed by %s)", d, m.Name))
				}
				continue
			}
			if !seen[j] {
				seen[j] = true
				direct[i] = append(direct[i], j)
				users[j]++
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("moddep: dependencies not in the module set: %s", strings.Join(missing, ", "))
	}

	// Topological order as depmod computes it: modules nobody needs first,
	// taken from a stack seeded in output order.
	sortIdx := make([]int, len(mods))
	var stack []int
	for i := range mods {
		if users[i] == 0 {
			stack = append(stack, i)
		}
	}
	n := 0
	for len(stack) > 0 {
		src := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		sortIdx[src] = n
		n++
		for _, d := range direct[src] {
			users[d]--
			if users[d] == 0 {
				stack = append(stack, d)
			}
		}
	}
	if n < len(mods) {
		var cyc []string
		for i, u := range users {
			if u > 0 {
				cyc = append(cyc, mods[i].Name)
			}
		}
		return nil, fmt.Errorf("moddep: dependency cycle among %s", strings.Join(cyc, ", "))
	}

	var buf bytes.Buffer
	for i, m := range mods {
		all := map[int]bool{}
		var walk func(int)
		walk = func(k int) {
			for _, d := range direct[k] {
				if !all[d] {
					all[d] = true
					walk(d)
				}
			}
		}
		walk(i)
		deps := make([]int, 0, len(all))
		for d := range all {
			deps = append(deps, d)
		}
		sort.Slice(deps, func(a, b int) bool { return sortIdx[deps[a]] < sortIdx[deps[b]] })
		buf.WriteString(m.Path)
		buf.WriteByte(':')
		for _, d := range deps {
			buf.WriteByte(' ')
			buf.WriteString(mods[d].Path)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// aliasFile returns modules.alias for mods, in the given order: a header
// line, then "alias PATTERN MODULE" for each alias of each module.
func aliasFile(mods []*Module) []byte {
	var buf bytes.Buffer
	buf.WriteString(aliasHeader)
	for _, m := range mods {
		for _, a := range m.Aliases {
			fmt.Fprintf(&buf, "alias %s %s\n", a, m.Name)
		}
	}
	return buf.Bytes()
}

// softdepFile returns modules.softdep for mods, in the given order: a
// header line, then "softdep MODULE VALUE" for each "softdep=" entry of each
// module, as depmod writes it. For a Module not made by Scan the line is
// built from SoftPre and SoftPost.
func softdepFile(mods []*Module) []byte {
	var buf bytes.Buffer
	buf.WriteString(softdepHeader)
	for _, m := range mods {
		if m.softdeps != nil {
			for _, v := range m.softdeps {
				fmt.Fprintf(&buf, "softdep %s %s\n", m.Name, v)
			}
			continue
		}
		if len(m.SoftPre) == 0 && len(m.SoftPost) == 0 {
			continue
		}
		buf.WriteString("softdep ")
		buf.WriteString(m.Name)
		if len(m.SoftPre) > 0 {
			buf.WriteString(" pre: ")
			buf.WriteString(strings.Join(m.SoftPre, " "))
		}
		if len(m.SoftPost) > 0 {
			buf.WriteString(" post: ")
			buf.WriteString(strings.Join(m.SoftPost, " "))
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
