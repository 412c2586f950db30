package debian

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// release is the parsed, already signature-verified Release text of a suite.
type release struct {
	fields map[string]string
	sha256 map[string]indexFile // keyed by path relative to dists/<suite>/
}

// indexFile is one entry of the Release file's SHA256 list.
type indexFile struct {
	Path   string
	SHA256 string
	Size   int64
}

func parseRelease(text []byte) (*release, error) {
	p := newParagraphReader(bytes.NewReader(text))
	fields, err := p.next(nil)
	if err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, fmt.Errorf("empty Release file")
	}
	rel := &release{fields: fields, sha256: map[string]indexFile{}}
	list, ok := fields["SHA256"]
	if !ok {
		// MD5Sum/SHA1 alone are not trustworthy; apt refuses them too.
		return nil, fmt.Errorf("Release file has no SHA256 field")
	}
	for line := range strings.SplitSeq(list, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("Release SHA256 line %q: want \"hash size path\"", line)
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("Release SHA256 line %q: bad size", line)
		}
		if !isSHA256(f[0]) {
			return nil, fmt.Errorf("Release SHA256 line %q: bad hash", line)
		}
		rel.sha256[f[2]] = indexFile{Path: f[2], SHA256: strings.ToLower(f[0]), Size: size}
	}
	return rel, nil
}

// check guards against a correctly signed but wrong Release: a mirror could
// serve another suite's file (e.g. an old release) or a stale copy.
func (rel *release) check(suite string, now time.Time) error {
	if rel.fields["Suite"] != suite && rel.fields["Codename"] != suite {
		return fmt.Errorf("Release is for suite %q (codename %q), not %q",
			rel.fields["Suite"], rel.fields["Codename"], suite)
	}
	if v := rel.fields["Valid-Until"]; v != "" {
		until, err := parseReleaseDate(v)
		if err != nil {
			return fmt.Errorf("Release Valid-Until %q: %v", v, err)
		}
		if now.After(until) {
			return fmt.Errorf("Release expired at %s (Valid-Until); the mirror is stale", v)
		}
	}
	return nil
}

// packagesIndex picks the Packages file of one component to download,
// preferring xz (what the archive is optimised for) and falling back to gzip.
func (rel *release) packagesIndex(suite, component, arch string) (indexFile, error) {
	if comps := strings.Fields(rel.fields["Components"]); len(comps) > 0 && !slices.Contains(comps, component) {
		return indexFile{}, fmt.Errorf("component %q is not in %s (components: %s)", component, suite, strings.Join(comps, ", "))
	}
	if archs := strings.Fields(rel.fields["Architectures"]); len(archs) > 0 && !slices.Contains(archs, arch) {
		return indexFile{}, fmt.Errorf("architecture %q is not in %s (architectures: %s)", arch, suite, strings.Join(archs, ", "))
	}
	base := component + "/binary-" + arch + "/Packages"
	for _, ext := range []string{".xz", ".gz"} {
		if f, ok := rel.sha256[base+ext]; ok {
			return f, nil
		}
	}
	return indexFile{}, fmt.Errorf("Release of %s lists no %s.xz", suite, base)
}

// byHash reports whether the mirror serves indexes under by-hash/ paths, which
// do not change while the mirror is being updated.
func (rel *release) byHash() bool {
	return strings.EqualFold(rel.fields["Acquire-By-Hash"], "yes")
}

func parseReleaseDate(s string) (time.Time, error) {
	// Debian writes RFC 1123 dates with "UTC" (sometimes "+0000").
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised date")
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// paragraphReader reads deb822 paragraphs ("Field: value" lines, indented
// continuation lines, paragraphs separated by blank lines), the format of
// both Release and Packages files.
type paragraphReader struct {
	r    *bufio.Reader
	line int
}

func newParagraphReader(r io.Reader) *paragraphReader {
	return &paragraphReader{r: bufio.NewReaderSize(r, 1<<16)}
}

// next returns the next paragraph, or nil at end of input. Continuation lines
// are joined to the field value with "\n". Field names are case-sensitive as
// written by the archive tools (Package, Version, SHA256, ...).
//
// If skip is not nil it is called for every field as it is read; when it
// returns true the rest of the paragraph is discarded unparsed and reading
// continues with the next one. This keeps scanning a 60 MB Packages file for
// a handful of names cheap.
func (p *paragraphReader) next(skip func(field, value string) bool) (map[string]string, error) {
	var fields map[string]string
	var last string
	skipping := false
	for {
		line, err := p.r.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, err
		}
		if line == "" && err == io.EOF {
			return fields, nil
		}
		p.line++
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.TrimSpace(line) == "":
			if skipping {
				skipping = false
			} else if fields != nil {
				return fields, nil
			}
		case skipping:
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("line %d: continuation line without a field", p.line)
			}
			fields[last] += "\n" + strings.TrimSpace(line)
		case line[0] == '#':
			// comment (allowed by deb822; absent from archive files)
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("line %d: %q is not a \"Field: value\" line", p.line, line)
			}
			value = strings.TrimSpace(value)
			if skip != nil && skip(name, value) {
				fields, last, skipping = nil, "", true
				continue
			}
			if fields == nil {
				fields = map[string]string{}
			}
			last = name
			fields[name] = value
		}
		if err == io.EOF {
			return fields, nil
		}
	}
}
