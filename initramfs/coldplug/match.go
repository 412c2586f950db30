package coldplug

import "strings"

// Match returns the modules whose alias pattern matches modalias, in the
// order of aliases (file order), each module at most once.
//
// Matching follows kmod: patterns are fnmatch(3) patterns without flags
// ('*' also matches '/', '?' matches one byte, '[...]' is a bracket
// expression with '!' or '^' negation and ranges, '\' escapes the next
// byte), and '-' and '_' are equivalent outside bracket expressions,
// because kmod normalises both the alias and the pattern that way.
func Match(aliases []Alias, modalias string) []string {
	s := normalizeAlias(modalias)
	var out []string
	seen := map[string]bool{}
	for _, a := range aliases {
		if seen[a.Module] {
			continue
		}
		if fnmatch(a.Pattern, s) {
			seen[a.Module] = true
			out = append(out, a.Module)
		}
	}
	return out
}

// normalizeAlias replaces '-' by '_' outside bracket expressions, as kmod's
// alias_normalize does. An unbalanced bracket leaves the rest unchanged.
func normalizeAlias(s string) string {
	if !strings.Contains(s, "-") {
		return s
	}
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '-':
			b[i] = '_'
		case '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return string(b)
			}
			i += j
		}
	}
	return string(b)
}

// ModuleName returns the kernel module name for a module file path:
// the base name without ".ko" and any compression suffix, with '-'
// replaced by '_' ("kernel/drivers/usb/storage/usb-storage.ko.xz" ->
// "usb_storage"). A bare name is normalised the same way.
func ModuleName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		path = path[i+1:]
	}
	for _, suf := range []string{".xz", ".zst", ".gz"} {
		path = strings.TrimSuffix(path, suf)
	}
	path = strings.TrimSuffix(path, ".ko")
	return strings.ReplaceAll(path, "-", "_")
}

// fnmatch reports whether s matches pattern, with fnmatch(3) semantics
// and flags 0, except that a literal '-' in the pattern (outside
// brackets) matches '_' (s is expected to be normalised).
func fnmatch(pattern, s string) bool {
	p, i := 0, 0
	// Backtracking point for the most recent '*'.
	starP, starI := -1, 0
	for {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				for p < len(pattern) && pattern[p] == '*' {
					p++
				}
				if p == len(pattern) {
					return true
				}
				starP, starI = p, i
				continue
			case '?':
				if i < len(s) {
					p++
					i++
					continue
				}
			case '[':
				if i < len(s) {
					ok, n, valid := matchBracket(pattern[p:], s[i])
					if !valid {
						// No closing bracket: '[' is literal.
						if s[i] == '[' {
							p++
							i++
							continue
						}
					} else if ok {
						p += n
						i++
						continue
					}
				}
			case '\\':
				if p+1 < len(pattern) {
					if i < len(s) && s[i] == pattern[p+1] {
						p += 2
						i++
						continue
					}
				} else if i < len(s) && s[i] == '\\' {
					p++
					i++
					continue
				}
			default:
				if c == '-' {
					c = '_'
				}
				if i < len(s) && s[i] == c {
					p++
					i++
					continue
				}
			}
		} else if i == len(s) {
			return true
		}
		// Mismatch: let the last '*' absorb one more byte.
		if starP < 0 || starI >= len(s) {
			return false
		}
		starI++
		p, i = starP, starI
	}
}

// matchBracket matches c against the bracket expression at the start of
// pat (pat[0] == '['). It returns whether c matches, the length of the
// expression, and whether the expression is well formed.
func matchBracket(pat string, c byte) (match bool, n int, valid bool) {
	j := 1
	negate := false
	if j < len(pat) && (pat[j] == '!' || pat[j] == '^') {
		negate = true
		j++
	}
	first := true
	for {
		if j >= len(pat) {
			return false, 0, false
		}
		lo := pat[j]
		if lo == ']' && !first {
			j++
			break
		}
		first = false
		if lo == '\\' && j+1 < len(pat) {
			j++
			lo = pat[j]
		}
		j++
		hi := lo
		if j+1 < len(pat) && pat[j] == '-' && pat[j+1] != ']' {
			hi = pat[j+1]
			j += 2
			if hi == '\\' && j < len(pat) {
				hi = pat[j]
				j++
			}
		}
		if lo <= c && c <= hi {
			match = true
		}
	}
	return match != negate, j, true
}
