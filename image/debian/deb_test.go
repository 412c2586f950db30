package debian

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func writeDeb(t *testing.T, deb []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "test.deb")
	if err := os.WriteFile(p, deb, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// listTree returns "path" for files/dirs and "path -> target" for symlinks.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			rel += " -> " + l
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExtractKeep(t *testing.T) {
	deb := writeDeb(t, makeDeb(t, helloData))
	dest := t.TempDir()
	var seen []string
	keep := func(name string) bool {
		seen = append(seen, name)
		return name == "usr/share/hello/greeting.txt"
	}
	if err := Extract(deb, dest, keep); err != nil {
		t.Fatal(err)
	}
	// Names are normalised: no "./", no trailing "/", no root entry.
	wantSeen := []string{"usr", "usr/share", "usr/share/hello", "usr/share/hello/greeting.txt", "usr/share/hello/link.txt"}
	if !slices.Equal(seen, wantSeen) {
		t.Errorf("keep saw %q, want %q", seen, wantSeen)
	}
	want := []string{"usr", "usr/share", "usr/share/hello", "usr/share/hello/greeting.txt"}
	if got := listTree(t, dest); !slices.Equal(got, want) {
		t.Errorf("extracted %q, want %q", got, want)
	}
}

func TestExtractHardlinkAndModes(t *testing.T) {
	deb := writeDeb(t, makeDeb(t, []tarEntry{
		{name: "./bin/", typ: tar.TypeDir},
		{name: "./bin/tool", typ: tar.TypeReg, body: "#!/bin/sh\n", mode: 0o4755},
		{name: "./bin/alias", typ: tar.TypeLink, link: "./bin/tool"},
		{name: "./ro/", typ: tar.TypeDir, mode: 0o555},
		{name: "./ro/file", typ: tar.TypeReg, body: "x", mode: 0o444},
	}))
	dest := t.TempDir()
	if err := Extract(deb, dest, nil); err != nil {
		t.Fatal(err)
	}
	a, err1 := os.Stat(filepath.Join(dest, "bin/tool"))
	b, err2 := os.Stat(filepath.Join(dest, "bin/alias"))
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		t.Errorf("bin/alias is not a hard link of bin/tool: %v %v", err1, err2)
	}
	if a != nil && a.Mode() != fs.ModeSetuid|0o755 {
		t.Errorf("bin/tool mode = %v, want setuid 0755", a.Mode())
	}
	if st, err := os.Stat(filepath.Join(dest, "ro")); err != nil || st.Mode().Perm() != 0o555 {
		t.Errorf("ro mode = %v, %v", st, err)
	}
	if err := os.Chmod(filepath.Join(dest, "ro"), 0o755); err != nil { // let t.TempDir clean up
		t.Fatal(err)
	}

	// A hard link whose target was filtered out is a clear error, not a
	// silently missing file.
	err := Extract(deb, t.TempDir(), func(n string) bool { return n != "bin/tool" })
	if err == nil || !strings.Contains(err.Error(), `target "bin/tool" was not extracted`) {
		t.Errorf("err = %v", err)
	}
}

func TestExtractCompressions(t *testing.T) {
	payload := makeTar(t, helloData)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(payload)
	zw.Close()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	zst := enc.EncodeAll(payload, nil)
	enc.Close()

	for member, body := range map[string][]byte{"data.tar.gz": gz.Bytes(), "data.tar.zst": zst, "data.tar": payload} {
		deb := writeDeb(t, makeAr([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.gz", "x"}, [2]string{member, string(body)}))
		dest := t.TempDir()
		if err := Extract(deb, dest, nil); err != nil {
			t.Errorf("%s: %v", member, err)
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dest, "usr/share/hello/greeting.txt")); err != nil || string(b) != "hello, world\n" {
			t.Errorf("%s: greeting.txt = %q, %v", member, b, err)
		}
	}
}

func TestExtractNotADeb(t *testing.T) {
	for name, b := range map[string][]byte{
		"garbage":    []byte("hello"),
		"no data":    makeAr([2]string{"debian-binary", "2.0\n"}),
		"bad format": makeAr([2]string{"debian-binary", "3.0\n"}, [2]string{"data.tar", ""}),
	} {
		if err := Extract(writeDeb(t, b), t.TempDir(), nil); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	for name, entries := range map[string][]tarEntry{
		"dotdot":        {{name: "../evil", typ: tar.TypeReg, body: "x"}},
		"nested dotdot": {{name: "./usr/../../evil", typ: tar.TypeReg, body: "x"}},
		"absolute":      {{name: "/evil", typ: tar.TypeReg, body: "x"}},
		"symlink dir": {
			{name: "./esc", typ: tar.TypeSymlink, link: "../"},
			{name: "./esc/evil", typ: tar.TypeReg, body: "x"},
		},
		"absolute symlink dir": {
			{name: "./esc", typ: tar.TypeSymlink, link: "OUTSIDE"},
			{name: "./esc/evil", typ: tar.TypeReg, body: "x"},
		},
		"hardlink out": {{name: "./evil", typ: tar.TypeLink, link: "../outside-file"}},
		"symlink then dir": {
			{name: "./esc", typ: tar.TypeSymlink, link: ".."},
			{name: "./esc/evil/", typ: tar.TypeDir},
		},
	} {
		t.Run(name, func(t *testing.T) {
			outer := t.TempDir()
			dest := filepath.Join(outer, "dest")
			if err := os.WriteFile(filepath.Join(outer, "outside-file"), []byte("secret"), 0o644); err != nil {
				t.Fatal(err)
			}
			for i := range entries {
				entries[i].link = strings.ReplaceAll(entries[i].link, "OUTSIDE", outer)
			}
			err := Extract(writeDeb(t, makeDeb(t, entries)), dest, nil)
			if err == nil {
				t.Fatal("escape not refused")
			}
			t.Log(err)
			if got := listTree(t, outer); !slices.Equal(got, []string{"dest", "outside-file"}) &&
				!slices.Equal(got, []string{"dest", "dest/esc -> ../", "outside-file"}) &&
				!slices.Equal(got, []string{"dest", "dest/esc -> ..", "outside-file"}) &&
				!slices.Equal(got, []string{"dest", "dest/esc -> " + outer, "outside-file"}) {
				t.Errorf("files outside dest changed: %q", got)
			}
		})
	}
}

func TestExtractReplacesExistingSymlink(t *testing.T) {
	outer := t.TempDir()
	dest := filepath.Join(outer, "dest")
	os.Mkdir(dest, 0o755)
	victim := filepath.Join(outer, "victim")
	os.WriteFile(victim, []byte("keep me"), 0o644)
	// A symlink left in destDir by an earlier package must be replaced by a
	// file of the same name, not written through.
	if err := os.Symlink(victim, filepath.Join(dest, "f")); err != nil {
		t.Fatal(err)
	}
	deb := writeDeb(t, makeDeb(t, []tarEntry{{name: "./f", typ: tar.TypeReg, body: "new"}}))
	if err := Extract(deb, dest, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Errorf("wrote through symlink: victim = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "f")); string(b) != "new" {
		t.Errorf("f = %q", b)
	}
}

func TestExtractThroughMergedUsrSymlink(t *testing.T) {
	// An image tree with merged /usr ("lib -> usr/lib") must accept packages
	// that still ship files under /lib: relative symlinks inside destDir
	// are followed.
	dest := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dest, "usr/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/lib", filepath.Join(dest, "lib")); err != nil {
		t.Fatal(err)
	}
	deb := writeDeb(t, makeDeb(t, []tarEntry{
		{name: "./lib/", typ: tar.TypeDir},
		{name: "./lib/foo.so", typ: tar.TypeReg, body: "elf"},
	}))
	if err := Extract(deb, dest, nil); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "usr/lib/foo.so")); err != nil || string(b) != "elf" {
		t.Errorf("usr/lib/foo.so = %q, %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(dest, "lib")); err != nil || l != "usr/lib" {
		t.Errorf("lib symlink replaced: %q, %v", l, err)
	}
}
