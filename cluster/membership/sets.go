package membership

import "slices"

// Resource sets are sorted, duplicate-free string slices: cheap to compare
// and deterministic to print. These helpers never modify their arguments.

func setOf(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return slices.Compact(s)
}

func union(sets ...[]string) []string {
	var all []string
	for _, s := range sets {
		all = append(all, s...)
	}
	return setOf(all)
}

func minus(a []string, drop ...[]string) []string {
	var out []string
	for _, x := range a {
		if !inAny(x, drop) {
			out = append(out, x)
		}
	}
	return out
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func inAny(x string, sets [][]string) bool {
	for _, s := range sets {
		if slices.Contains(s, x) {
			return true
		}
	}
	return false
}
