package iso

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// go-diskfs (v1.9.4) gives every file a plain ISO9660 8.3 name next to its
// Rock Ridge name. Where several names in a directory shorten to the same 8.3
// name, it renames that "collision group" to BASE<digits>.EXT, but it handles
// the groups in Go map order; when the names two groups may take overlap, the
// winner changes from run to run, and with it the directory order and file
// layout: the image is not reproducible. checkNames refuses exactly those
// trees (naming the files) and leaves every other tree alone; a refused tree
// needs a file or directory renamed.

type shortName struct{ base, ext string }

// shorten mirrors go-diskfs's derivation of the 8.3 name (calculateShortnameExtension).
func shorten(name string) shortName {
	base, ext, _ := strings.Cut(name, ".")
	clean := func(s string, n int) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
		s = b.String()
		if len(s) > n {
			s = s[:n]
		}
		return s
	}
	return shortName{clean(base, 8), clean(ext, 3)}
}

func (s shortName) key() string {
	if s.ext == "" {
		return s.base
	}
	return s.base + "." + s.ext
}

type child struct {
	rel   string
	isDir bool
	short shortName // directories have no extension in go-diskfs's tables
}

// group is a set of siblings sharing one 8.3 name.
type group struct {
	short          shortName
	members        []int // indexes into the directory's children
	dFirst, dFinal int   // digit widths go-diskfs tries first and ends with
}

// pattern is "prefix followed by n digits".
type pattern struct {
	prefix string
	n      int
}

func (p pattern) matches(lit string) bool {
	if len(lit) != len(p.prefix)+p.n || !strings.HasPrefix(lit, p.prefix) {
		return false
	}
	for _, c := range lit[len(p.prefix):] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (p pattern) overlaps(q pattern) bool {
	if len(p.prefix)+p.n != len(q.prefix)+q.n {
		return false
	}
	at := func(x pattern, i int) (byte, bool) { // char, literal?
		if i < len(x.prefix) {
			return x.prefix[i], true
		}
		return 0, false
	}
	for i := 0; i < len(p.prefix)+p.n; i++ {
		a, al := at(p, i)
		b, bl := at(q, i)
		switch {
		case al && bl && a != b:
			return false
		case al && !bl && (a < '0' || a > '9'):
			return false
		case bl && !al && (b < '0' || b > '9'):
			return false
		}
	}
	return true
}

func (g *group) patterns() []pattern {
	var ps []pattern
	for d := g.dFirst; d <= g.dFinal; d++ {
		b := g.short.base
		if len(b) > 8-d {
			b = b[:8-d]
		}
		ps = append(ps, pattern{b, d})
	}
	return ps
}

func checkNames(entries []entry) error {
	dirs := map[string][]child{}
	var order []string
	for _, e := range entries {
		if e.rel == "." {
			continue
		}
		parent := path.Dir(e.rel)
		if _, ok := dirs[parent]; !ok {
			order = append(order, parent)
		}
		s := shorten(path.Base(e.rel))
		if e.mode.IsDir() {
			s.ext = ""
		}
		dirs[parent] = append(dirs[parent], child{rel: e.rel, isDir: e.mode.IsDir(), short: s})
	}
	for _, d := range order {
		groups, err := resolve(d, dirs[d])
		if err != nil {
			return err
		}
		for i, g := range groups {
			for _, h := range groups[i+1:] {
				if g.short.ext != h.short.ext {
					continue
				}
				if interfere(g, h) || interfere(h, g) {
					kids := dirs[d]
					return fmt.Errorf("iso: in /%s, %s and %s shorten to overlapping ISO9660 8.3 names (%s*, %s*) that go-diskfs would assign in random order, so the image would not be reproducible; rename one of them",
						d, kids[g.members[0]].rel, kids[h.members[0]].rel, g.short.key(), h.short.key())
				}
			}
		}
	}
	return nil
}

// interfere tells whether a name g may take could be one h takes or starts with.
func interfere(g, h *group) bool {
	for _, p := range g.patterns() {
		if p.matches(h.short.base) {
			return true
		}
		for _, q := range h.patterns() {
			if p.overlaps(q) {
				return true
			}
		}
	}
	return false
}

// resolve runs go-diskfs's renaming of one directory's collision groups in a
// fixed order, to learn the digit widths each group goes through.
func resolve(dir string, kids []child) ([]*group, error) {
	byKey := map[string]*group{}
	var groups []*group
	for i, k := range kids {
		key := k.short.key()
		g, ok := byKey[key]
		if !ok {
			g = &group{short: k.short}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, i)
	}
	var colliding []*group
	for _, g := range groups {
		if len(g.members) > 1 {
			colliding = append(colliding, g)
		}
	}
	sort.Slice(colliding, func(i, j int) bool { return colliding[i].short.key() < colliding[j].short.key() })
	names := make([]string, len(kids))
	for i, k := range kids {
		names[i] = k.short.key()
	}
	for _, g := range colliding {
		taken := map[string]bool{}
		for _, n := range names {
			taken[n] = true
		}
		g.dFirst = len(strconv.Itoa(len(g.members) - 1))
		resolved := false
		for d := g.dFirst; d < 8 && !resolved; d++ {
			g.dFinal = d
			base := g.short.base
			if len(base) > 8-d {
				base = base[:8-d]
			}
			limit, change := pow10(d), 0
			resolved = true
			for _, m := range g.members {
				found := false
				for change < limit {
					cand := shortName{base + fmt.Sprintf("%0*d", d, change), g.short.ext}.key()
					change++
					if !taken[cand] {
						names[m] = cand
						taken[cand] = true
						found = true
						break
					}
				}
				if !found {
					resolved = false
					break
				}
			}
		}
		if !resolved {
			return nil, fmt.Errorf("iso: too many names in %s shorten to the ISO9660 name %s", dir, g.short.key())
		}
	}
	return colliding, nil
}

func pow10(n int) int {
	p := 1
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}
