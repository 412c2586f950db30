package coldplug

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Alias is one "alias PATTERN MODULE" line of modules.alias.
type Alias struct {
	Pattern string
	Module  string
}

// Softdep holds the soft dependencies of one module, as in modules.softdep
// ("softdep MODULE pre: a b post: c"). Names may be module names or aliases.
type Softdep struct {
	Pre, Post []string
}

// lines calls fn for every non-blank, non-comment line of r, trimmed,
// with its 1-based line number.
func lines(r io.Reader, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	return sc.Err()
}

// ParseAliases parses modules.alias ("alias PATTERN MODULE" lines; blank
// lines and '#' comments are ignored). Aliases keep file order.
func ParseAliases(r io.Reader) ([]Alias, error) {
	var out []Alias
	err := lines(r, func(n int, line string) error {
		rest, ok := strings.CutPrefix(line, "alias")
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
			return fmt.Errorf("modules.alias line %d: not an alias line: %q", n, line)
		}
		rest = strings.TrimSpace(rest)
		i := strings.LastIndexAny(rest, " \t")
		if i < 0 {
			return fmt.Errorf("modules.alias line %d: want \"alias PATTERN MODULE\": %q", n, line)
		}
		out = append(out, Alias{
			Pattern: strings.TrimSpace(rest[:i]),
			Module:  ModuleName(rest[i+1:]),
		})
		return nil
	})
	return out, err
}

// ParseDep parses modules.dep ("path: dep1 dep2 ..."). The map is keyed by
// the module path exactly as written (relative to the modules directory);
// the values are the paths of all its dependencies in depmod order (a
// dependency comes after every module that needs it, so loading them from
// last to first is a valid order).
func ParseDep(r io.Reader) (map[string][]string, error) {
	out := map[string][]string{}
	err := lines(r, func(n int, line string) error {
		path, deps, ok := strings.Cut(line, ":")
		path = strings.TrimSpace(path)
		if !ok || path == "" {
			return fmt.Errorf("modules.dep line %d: want \"path: deps...\": %q", n, line)
		}
		if _, dup := out[path]; dup {
			return fmt.Errorf("modules.dep line %d: duplicate entry for %s", n, path)
		}
		out[path] = strings.Fields(deps)
		return nil
	})
	return out, err
}

// ParseSoftdep parses modules.softdep ("softdep MODULE pre: a b post: c";
// several lines for one module accumulate). As in kmod, names before the
// first "pre:" or "post:" are ignored.
func ParseSoftdep(r io.Reader) (map[string]Softdep, error) {
	out := map[string]Softdep{}
	err := lines(r, func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "softdep" {
			return fmt.Errorf("modules.softdep line %d: want \"softdep MODULE pre: ... post: ...\": %q", n, line)
		}
		name := ModuleName(f[1])
		sd := out[name]
		pre, post := ParseSoftdepValue(strings.Join(f[2:], " "))
		sd.Pre = append(sd.Pre, pre...)
		sd.Post = append(sd.Post, post...)
		out[name] = sd
		return nil
	})
	return out, err
}

// ParseSoftdepValue splits a softdep value ("pre: a b post: c") into its
// pre and post names. Names before the first "pre:"/"post:" are ignored,
// as kmod does.
func ParseSoftdepValue(v string) (pre, post []string) {
	var cur *[]string
	for _, tok := range strings.Fields(v) {
		switch tok {
		case "pre:":
			cur = &pre
		case "post:":
			cur = &post
		default:
			if cur != nil {
				*cur = append(*cur, tok)
			}
		}
	}
	return pre, post
}

// parseBuiltin parses modules.builtin (one module path per line) into a
// set of module names.
func parseBuiltin(r io.Reader) (map[string]bool, error) {
	out := map[string]bool{}
	err := lines(r, func(_ int, line string) error {
		out[ModuleName(line)] = true
		return nil
	})
	return out, err
}
