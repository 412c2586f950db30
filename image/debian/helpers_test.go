package debian

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

// tarEntry describes one member of a test tarball.
type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func makeTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if e.typ == tar.TypeDir {
				mode = 0o755
			}
		}
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: mode, Linkname: e.link,
			Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0), Format: tar.FormatGNU}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// makeAr writes an ar archive the way dpkg-deb does (space-padded names,
// members padded to even length with "\n").
func makeAr(members ...[2]string) []byte {
	var buf bytes.Buffer
	buf.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&buf, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m[0], 1700000000, 0, 0, "100644", len(m[1]))
		buf.WriteString(m[1])
		if len(m[1])%2 == 1 {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

// makeDeb builds a .deb whose data.tar.xz holds the given entries.
func makeDeb(t *testing.T, data []tarEntry) []byte {
	t.Helper()
	control := makeTar(t, []tarEntry{
		{name: "./", typ: tar.TypeDir},
		{name: "./control", typ: tar.TypeReg, body: "Package: hello\nVersion: 1.0-1\n"},
	})
	return makeAr(
		[2]string{"debian-binary", "2.0\n"},
		[2]string{"control.tar.xz", string(xzBytes(t, control))},
		[2]string{"data.tar.xz", string(xzBytes(t, makeTar(t, data)))},
	)
}

// helloData is the payload of the test package: a file, a dir and a symlink.
var helloData = []tarEntry{
	{name: "./", typ: tar.TypeDir},
	{name: "./usr/", typ: tar.TypeDir},
	{name: "./usr/share/", typ: tar.TypeDir},
	{name: "./usr/share/hello/", typ: tar.TypeDir},
	{name: "./usr/share/hello/greeting.txt", typ: tar.TypeReg, body: "hello, world\n"},
	{name: "./usr/share/hello/link.txt", typ: tar.TypeSymlink, link: "greeting.txt"},
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fakeSig is what fakeVerifier accepts as a "signature".
const fakeSig = "-----FAKE SIGNATURE-----\n"

type fakeVerifier struct{}

func (fakeVerifier) Verify(signed []byte) ([]byte, error) {
	clear, ok := bytes.CutPrefix(signed, []byte(fakeSig))
	if !ok {
		return nil, errors.New("fake: BAD signature")
	}
	return clear, nil
}

// archive is a fake Debian mirror served by httptest.
type archive struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	files    map[string][]byte // URL path -> body
	requests []string
}

func newArchive(t *testing.T) *archive {
	a := &archive{t: t, files: map[string][]byte{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.requests = append(a.requests, r.URL.Path)
		b, ok := a.files[r.URL.Path]
		a.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *archive) set(path string, b []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.files[path] = b
}

func (a *archive) reqs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.requests...)
}

func (a *archive) resetRequests() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests = nil
}

// pkg is one Packages stanza of the fake archive.
type pkg struct {
	name, version, arch string
	deb                 []byte
}

// addSuite publishes a suite with one component. extra is appended to the
// Release fields (e.g. "Valid-Until: ..."); the Packages.xz body can be
// replaced after the fact to simulate a corrupt mirror.
func (a *archive) addSuite(suite, component string, pkgs []pkg, extra string) (packagesXZ []byte) {
	var stanzas strings.Builder
	for _, p := range pkgs {
		arch := p.arch
		if arch == "" {
			arch = "amd64"
		}
		fn := fmt.Sprintf("pool/%s/%c/%s/%s_%s_%s.deb", component, p.name[0], p.name, p.name, strings.ReplaceAll(p.version, ":", "%3a"), arch)
		fmt.Fprintf(&stanzas, "Package: %s\nVersion: %s\nArchitecture: %s\nDescription: test package\n multi-line description\n .\n more\nFilename: %s\nSize: %d\nSHA256: %s\n\n",
			p.name, p.version, arch, fn, len(p.deb), sha(p.deb))
		a.set("/"+fn, p.deb)
	}
	packagesXZ = xzBytes(a.t, []byte(stanzas.String()))
	idx := component + "/binary-amd64/Packages.xz"
	a.set("/dists/"+suite+"/"+idx, packagesXZ)
	release := fmt.Sprintf("Origin: Test\nSuite: %s\nCodename: %s\nArchitectures: all amd64\nComponents: %s\n%sSHA256:\n %s %d %s\n",
		suite, suite, component, extra, sha(packagesXZ), len(packagesXZ), idx)
	a.set("/dists/"+suite+"/InRelease", []byte(fakeSig+release))
	return packagesXZ
}

func (a *archive) resolver(t *testing.T, suites ...string) *Resolver {
	var srcs []Source
	for _, s := range suites {
		srcs = append(srcs, Source{Mirror: a.srv.URL + "/", Suite: s, Components: []string{"main"}})
	}
	return &Resolver{
		Sources:  srcs,
		Arch:     "amd64",
		CacheDir: t.TempDir(),
		Verifier: fakeVerifier{},
		Progress: t.Logf,
	}
}
