package debian

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestResolveFetchExtract(t *testing.T) {
	a := newArchive(t)
	deb := makeDeb(t, helloData)
	a.addSuite("trixie", "main", []pkg{
		{name: "hello", version: "1.0-1", deb: deb},
		{name: "other", version: "2:3.0-1", arch: "all", deb: []byte("not used")},
	}, "")
	r := a.resolver(t, "trixie")
	var progress []string
	r.Progress = func(format string, args ...any) { progress = append(progress, format) }

	got, err := r.Resolve(context.Background(), []Pin{{Name: "other", Version: "2:3.0-1"}, {Name: "hello", Version: "1.0-1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := Locked{Name: "hello", Version: "1.0-1", Suite: "trixie", Component: "main",
		Filename: "pool/main/h/hello/hello_1.0-1_amd64.deb", SHA256: sha(deb), Size: int64(len(deb))}
	if len(got) != 2 || got[1] != want || got[0].Name != "other" {
		t.Fatalf("Resolve = %+v\nwant [other, %+v]", got, want)
	}
	if !slices.Contains(progress, "fetching %s (%d KiB)") {
		t.Errorf("no progress reported: %q", progress)
	}

	path, err := r.Fetch(context.Background(), got[1])
	if err != nil {
		t.Fatal(err)
	}
	if wantPath := filepath.Join(r.CacheDir, "debs", sha(deb)+".deb"); path != wantPath {
		t.Errorf("Fetch path = %s, want %s", path, wantPath)
	}
	dest := t.TempDir()
	if err := Extract(path, dest, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dest, "usr/share/hello/greeting.txt"))
	if err != nil || string(b) != "hello, world\n" {
		t.Errorf("greeting.txt = %q, %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(dest, "usr/share/hello/link.txt")); err != nil || l != "greeting.txt" {
		t.Errorf("link.txt -> %q, %v", l, err)
	}
	if st, err := os.Stat(filepath.Join(dest, "usr/share/hello")); err != nil || !st.IsDir() || st.Mode().Perm() != 0o755 {
		t.Errorf("usr/share/hello: %v, %v", st, err)
	}
}

func TestResolveWrongVersionListsAvailable(t *testing.T) {
	a := newArchive(t)
	a.addSuite("trixie", "main", []pkg{
		{name: "linux-image-6.12.117+deb13-amd64", version: "6.12.107-1", deb: []byte("a")},
		{name: "linux-image-6.12.117+deb13-amd64", version: "6.12.117-1", deb: []byte("b")},
	}, "")
	r := a.resolver(t, "trixie")
	_, err := r.Resolve(context.Background(), []Pin{{Name: "linux-image-6.12.117+deb13-amd64", Version: "6.12.999"}})
	want := `debian: package "linux-image-6.12.117+deb13-amd64" version "6.12.999" not found in trixie (available: 6.12.117-1, 6.12.107-1)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestResolveReportsAllFailures(t *testing.T) {
	a := newArchive(t)
	a.addSuite("trixie", "main", []pkg{{name: "hello", version: "1.0-1", deb: []byte("a")}}, "")
	a.addSuite("trixie-backports", "main", []pkg{{name: "hello", version: "1.1-1~bpo13+1", deb: []byte("b")}}, "")
	r := a.resolver(t, "trixie", "trixie-backports")
	_, err := r.Resolve(context.Background(), []Pin{
		{Name: "foo", Version: "1"},
		{Name: "hello", Version: "1.0-1"}, // fine
		{Name: "hello", Version: "9"},
		{Name: "hello", Version: "1.0-1", Suite: "bookworm"},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`debian: package "foo" not found in any source (trixie, trixie-backports)`,
		`debian: package "hello" version "9" not found in any source (trixie, trixie-backports) (available: 1.1-1~bpo13+1 in trixie-backports, 1.0-1 in trixie)`,
		`debian: package "hello": suite "bookworm" is not one of the configured sources (trixie, trixie-backports)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestResolvePinSuite(t *testing.T) {
	a := newArchive(t)
	a.addSuite("trixie", "main", []pkg{{name: "hello", version: "1.0-1", deb: []byte("a")}}, "")
	a.addSuite("trixie-backports", "main", []pkg{{name: "hello", version: "1.1-1~bpo13+1", deb: []byte("b")}}, "")
	r := a.resolver(t, "trixie", "trixie-backports")

	got, err := r.Resolve(context.Background(), []Pin{{Name: "hello", Version: "1.1-1~bpo13+1", Suite: "trixie-backports"}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Suite != "trixie-backports" {
		t.Errorf("Suite = %q", got[0].Suite)
	}
	// A suite-restricted pin downloads only that suite's indexes.
	for _, p := range a.reqs() {
		if strings.Contains(p, "/dists/trixie/") {
			t.Errorf("unneeded request %s", p)
		}
	}
	_, err = r.Resolve(context.Background(), []Pin{{Name: "hello", Version: "1.1-1~bpo13+1", Suite: "trixie"}})
	if err == nil || !strings.Contains(err.Error(), `version "1.1-1~bpo13+1" not found in trixie (available: 1.0-1)`) {
		t.Errorf("err = %v", err)
	}
}

func TestResolvePackagesChecksumMismatch(t *testing.T) {
	a := newArchive(t)
	good := a.addSuite("trixie", "main", []pkg{{name: "hello", version: "1.0-1", deb: []byte("a")}}, "")
	// The mirror serves a different Packages.xz than the signed Release
	// lists: first same size, different content; then a different size.
	bad := append([]byte(nil), good...)
	bad[len(bad)/2] ^= 0xff
	for _, body := range [][]byte{bad, xzBytes(t, []byte("Package: evil\n"))} {
		a.set("/dists/trixie/main/binary-amd64/Packages.xz", body)
		r := a.resolver(t, "trixie")
		_, err := r.Resolve(context.Background(), []Pin{{Name: "hello", Version: "1.0-1"}})
		if err == nil || !strings.Contains(err.Error(), "/dists/trixie/main/binary-amd64/Packages.xz") || !strings.Contains(err.Error(), "mismatch") {
			t.Fatalf("err = %v, want a checksum mismatch naming Packages.xz", err)
		}
		t.Log(err)
		assertEmptyDir(t, filepath.Join(r.CacheDir, "indexes"))
	}
}

func TestResolveBadSignature(t *testing.T) {
	a := newArchive(t)
	a.addSuite("trixie", "main", nil, "")
	a.set("/dists/trixie/InRelease", []byte("Origin: Debian\nSuite: trixie\n")) // unsigned
	r := a.resolver(t, "trixie")
	r.Keyring = "/path/to/keyring.gpg"
	_, err := r.Resolve(context.Background(), []Pin{{Name: "hello", Version: "1.0-1"}})
	if err == nil {
		t.Fatal("no error")
	}
	t.Log(err)
	for _, want := range []string{"signature", "suite trixie", "/path/to/keyring.gpg", "BAD signature"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestResolveWrongOrExpiredRelease(t *testing.T) {
	a := newArchive(t)
	a.addSuite("bookworm", "main", nil, "")
	a.set("/dists/trixie/InRelease", a.files["/dists/bookworm/InRelease"]) // replayed other suite
	a.addSuite("trixie-backports", "main", nil, "Valid-Until: Sat, 01 Jan 2000 00:00:00 UTC\n")

	_, err := a.resolver(t, "trixie").Resolve(context.Background(), []Pin{{Name: "x", Version: "1"}})
	if err == nil || !strings.Contains(err.Error(), `not "trixie"`) {
		t.Errorf("wrong suite: err = %v", err)
	}
	_, err = a.resolver(t, "trixie-backports").Resolve(context.Background(), []Pin{{Name: "x", Version: "1"}})
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired: err = %v", err)
	}
}

func TestResolveHTTPError(t *testing.T) {
	a := newArchive(t)
	r := a.resolver(t, "trixie")
	_, err := r.Resolve(context.Background(), []Pin{{Name: "hello", Version: "1.0-1"}})
	url := a.srv.URL + "/dists/trixie/InRelease" // the trailing "/" of the mirror is not doubled
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), url) {
		t.Fatalf("err = %v, want 404 naming the URL", err)
	}
}

func TestResolveWarmCacheOnlyFetchesInRelease(t *testing.T) {
	a := newArchive(t)
	a.addSuite("trixie", "main", []pkg{{name: "hello", version: "1.0-1", deb: []byte("a")}}, "")
	r := a.resolver(t, "trixie")
	pins := []Pin{{Name: "hello", Version: "1.0-1"}}
	if _, err := r.Resolve(context.Background(), pins); err != nil {
		t.Fatal(err)
	}
	a.resetRequests()
	if _, err := r.Resolve(context.Background(), pins); err != nil {
		t.Fatal(err)
	}
	if got := a.reqs(); !slices.Equal(got, []string{"/dists/trixie/InRelease"}) {
		t.Errorf("warm Resolve requested %q", got)
	}
}

func TestResolveByHash(t *testing.T) {
	a := newArchive(t)
	xzb := a.addSuite("trixie", "main", []pkg{{name: "hello", version: "1.0-1", deb: []byte("a")}}, "Acquire-By-Hash: yes\n")
	// Only the by-hash path has the right content, as during a mirror push.
	a.set("/dists/trixie/main/binary-amd64/by-hash/SHA256/"+sha(xzb), xzb)
	a.set("/dists/trixie/main/binary-amd64/Packages.xz", []byte("newer, not matching"))
	if _, err := a.resolver(t, "trixie").Resolve(context.Background(), []Pin{{Name: "hello", Version: "1.0-1"}}); err != nil {
		t.Fatal(err)
	}
}

func TestFetchChecksumMismatch(t *testing.T) {
	a := newArchive(t)
	deb := makeDeb(t, helloData)
	a.addSuite("trixie", "main", []pkg{{name: "hello", version: "1.0-1", deb: deb}}, "")
	r := a.resolver(t, "trixie")
	locked, err := r.Resolve(context.Background(), []Pin{{Name: "hello", Version: "1.0-1"}})
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), deb...)
	bad[len(bad)-1] ^= 0xff
	a.set("/"+locked[0].Filename, bad)
	_, err = r.Fetch(context.Background(), locked[0])
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch") || !strings.Contains(err.Error(), locked[0].Filename) {
		t.Fatalf("err = %v, want sha256 mismatch naming the file", err)
	}
	t.Log(err)
	assertEmptyDir(t, filepath.Join(r.CacheDir, "debs"))

	// Too long is caught too, without reading everything.
	a.set("/"+locked[0].Filename, append(deb, "trailing"...))
	if _, err = r.Fetch(context.Background(), locked[0]); err == nil || !strings.Contains(err.Error(), "size mismatch") {
		t.Fatalf("err = %v, want size mismatch", err)
	}
	assertEmptyDir(t, filepath.Join(r.CacheDir, "debs"))
}

func TestFetchCache(t *testing.T) {
	a := newArchive(t)
	deb := makeDeb(t, helloData)
	a.addSuite("trixie", "main", []pkg{{name: "hello", version: "1.0-1", deb: deb}}, "")
	r := a.resolver(t, "trixie")
	locked, err := r.Resolve(context.Background(), []Pin{{Name: "hello", Version: "1.0-1"}})
	if err != nil {
		t.Fatal(err)
	}
	path, err := r.Fetch(context.Background(), locked[0])
	if err != nil {
		t.Fatal(err)
	}

	a.resetRequests()
	if _, err := r.Fetch(context.Background(), locked[0]); err != nil {
		t.Fatal(err)
	}
	if got := a.reqs(); len(got) != 0 {
		t.Errorf("second Fetch made requests: %q", got)
	}

	// A corrupt cache entry is replaced, not trusted.
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fetch(context.Background(), locked[0]); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); sha(b) != locked[0].SHA256 {
		t.Error("corrupt cache entry was not replaced")
	}
	if got := a.reqs(); len(got) != 1 {
		t.Errorf("re-download made %d requests, want 1", len(got))
	}
}

func TestFetchRejectsBadLocked(t *testing.T) {
	r := &Resolver{Sources: []Source{{Mirror: "http://127.0.0.1:1", Suite: "trixie"}}, CacheDir: t.TempDir()}
	for _, l := range []Locked{
		{Name: "a", SHA256: "../../etc/passwd", Filename: "pool/a.deb", Size: 1},
		{Name: "a", SHA256: strings.Repeat("0", 64), Filename: "../a.deb", Size: 1},
		{Name: "a", SHA256: strings.Repeat("0", 64), Filename: "pool/a.deb", Size: 0},
	} {
		if _, err := r.Fetch(context.Background(), l); err == nil {
			t.Errorf("Fetch(%+v) succeeded", l)
		}
	}
}

// assertEmptyDir checks that dir holds no files (temporary files included).
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("%s: unexpected leftover %s", dir, e.Name())
	}
}
