package debian

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// maxInRelease bounds the unverified download; trixie's is about 140 KiB.
const maxInRelease = 32 << 20

// Resolve finds each pin's exact Name and Version in the signed indexes of
// r.Sources and returns Locked entries in the order of pins. Every pin that
// cannot be resolved is reported, joined into one error.
//
// Only the sources that some pin may use are downloaded. When a pin has no
// Suite, sources are searched in order and the first match wins.
func (r *Resolver) Resolve(ctx context.Context, pins []Pin) ([]Locked, error) {
	if len(r.Sources) == 0 {
		return nil, errors.New("debian: no sources configured")
	}
	if r.Arch == "" {
		return nil, errors.New("debian: no architecture configured (Resolver.Arch)")
	}

	// Which sources each pin may come from, and which names we look for.
	var errs []error
	searched := make([][]int, len(pins))
	needed := make([]bool, len(r.Sources))
	want := map[string]bool{}
	for i, p := range pins {
		if p.Name == "" || p.Version == "" {
			errs = append(errs, fmt.Errorf("debian: pin %d: name and version are required (got %q %q)", i, p.Name, p.Version))
			continue
		}
		for j, s := range r.Sources {
			if p.Suite == "" || p.Suite == s.Suite {
				searched[i] = append(searched[i], j)
				needed[j] = true
			}
		}
		if len(searched[i]) == 0 {
			errs = append(errs, fmt.Errorf("debian: package %q: suite %q is not one of the configured sources (%s)", p.Name, p.Suite, r.suiteList(nil)))
			continue
		}
		want[p.Name] = true
	}
	if len(want) == 0 {
		return nil, errors.Join(errs...)
	}

	indexes := make([]map[string][]candidate, len(r.Sources))
	for j, s := range r.Sources {
		if !needed[j] {
			continue
		}
		idx, err := r.loadSource(ctx, s, want)
		if err != nil {
			return nil, err // affects every pin; no point in listing them
		}
		indexes[j] = idx
	}

	locked := make([]Locked, len(pins))
	for i, p := range pins {
		if len(searched[i]) == 0 {
			continue // already reported
		}
		l, err := r.find(p, searched[i], indexes)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		locked[i] = l
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return locked, nil
}

// find looks p up in the given sources, in order.
func (r *Resolver) find(p Pin, sources []int, indexes []map[string][]candidate) (Locked, error) {
	var others []candidate
	for _, j := range sources {
		for _, c := range indexes[j][p.Name] {
			if c.Version == p.Version {
				return Locked{
					Name: c.Name, Version: c.Version,
					Suite: c.Suite, Component: c.Component,
					Filename: c.Filename, SHA256: c.SHA256, Size: c.Size,
				}, nil
			}
			others = append(others, c)
		}
	}
	where := r.suiteList(sources)
	if len(sources) > 1 {
		where = "any source (" + where + ")"
	}
	if len(others) == 0 {
		return Locked{}, fmt.Errorf("debian: package %q not found in %s", p.Name, where)
	}
	// Newest first, as a human scanning for the right pin wants.
	slices.SortStableFunc(others, func(a, b candidate) int { return CompareVersions(b.Version, a.Version) })
	var avail []string
	for _, c := range others {
		v := c.Version
		if len(sources) > 1 {
			v += " in " + c.Suite
		}
		if !slices.Contains(avail, v) {
			avail = append(avail, v)
		}
	}
	return Locked{}, fmt.Errorf("debian: package %q version %q not found in %s (available: %s)",
		p.Name, p.Version, where, strings.Join(avail, ", "))
}

// suiteList names the given sources (all if idx is nil), for error messages.
func (r *Resolver) suiteList(idx []int) string {
	var names []string
	for j, s := range r.Sources {
		if idx == nil || slices.Contains(idx, j) {
			names = append(names, s.Suite)
		}
	}
	return strings.Join(names, ", ")
}

// loadSource downloads and verifies one suite's InRelease and Packages
// indexes and returns the candidates for the wanted package names.
func (r *Resolver) loadSource(ctx context.Context, s Source, want map[string]bool) (map[string][]candidate, error) {
	mirror := strings.TrimRight(s.Mirror, "/")
	base := mirror + "/dists/" + s.Suite
	url := base + "/InRelease"
	signed, err := r.fetchSmall(ctx, url, maxInRelease)
	if err != nil {
		return nil, fmt.Errorf("debian: suite %s: %w", s.Suite, err)
	}
	// From here on only the verified cleartext is used: bytes outside the
	// signed block of InRelease are not trustworthy.
	clear, err := r.verifier().Verify(signed)
	if err != nil {
		return nil, fmt.Errorf("debian: signature check of %s for suite %s failed (%s): %w", url, s.Suite, r.verifierName(), err)
	}
	rel, err := parseRelease(clear)
	if err != nil {
		return nil, fmt.Errorf("debian: %s: %w", url, err)
	}
	if err := rel.check(s.Suite, time.Now()); err != nil {
		return nil, fmt.Errorf("debian: %s: %w", url, err)
	}

	comps := s.Components
	if len(comps) == 0 {
		comps = []string{"main"}
	}
	out := map[string][]candidate{}
	for _, comp := range comps {
		f, err := rel.packagesIndex(s.Suite, comp, r.Arch)
		if err != nil {
			return nil, fmt.Errorf("debian: %w", err)
		}
		file, err := r.index(ctx, base, rel, f)
		if err != nil {
			return nil, fmt.Errorf("debian: %s %s: %w", s.Suite, f.Path, err)
		}
		found, err := readPackages(file, f.Path, want)
		if err != nil {
			return nil, fmt.Errorf("debian: %s %s: %w", s.Suite, f.Path, err)
		}
		for name, cs := range found {
			for _, c := range cs {
				// binary-<arch> also lists Architecture: all packages.
				if c.Arch != r.Arch && c.Arch != "all" {
					continue
				}
				c.Suite, c.Component = s.Suite, comp
				out[name] = append(out[name], c)
			}
		}
	}
	return out, nil
}

// index returns the cached path of a verified index file, downloading it if
// needed. Files are cached by content hash, so a warm cache only costs the
// InRelease download and the new Release decides whether anything changed.
func (r *Resolver) index(ctx context.Context, base string, rel *release, f indexFile) (string, error) {
	dir, err := r.cacheDir()
	if err != nil {
		return "", err
	}
	dest := filepath.Join(dir, "indexes", f.SHA256)
	if ok, err := r.cached(dest, f.SHA256, f.Size); err != nil {
		return "", err
	} else if ok {
		return dest, nil
	}
	if rel.byHash() {
		// by-hash URLs stay valid while the mirror swaps in a new Release,
		// so they avoid a hash mismatch during mirror pushes.
		url := base + "/" + path.Dir(f.Path) + "/by-hash/SHA256/" + f.SHA256
		err := r.download(ctx, url, dest, f.SHA256, f.Size)
		if err == nil {
			return dest, nil
		}
		var he *HTTPError
		if !errors.As(err, &he) || he.StatusCode != 404 {
			return "", err
		}
	}
	if err := r.download(ctx, base+"/"+f.Path, dest, f.SHA256, f.Size); err != nil {
		return "", err
	}
	return dest, nil
}
