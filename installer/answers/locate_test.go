package answers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeSources serves files from maps and records what was asked.
type fakeSources struct {
	cmdline   string
	urls      map[string]string
	medium    map[string]string
	labelled  map[string]string // "LABEL/rel"
	mediumErr error
	asked     []string
}

func (f *fakeSources) Cmdline() string { return f.cmdline }

func (f *fakeSources) Fetch(_ context.Context, url string) ([]byte, error) {
	f.asked = append(f.asked, "fetch "+url)
	if s, ok := f.urls[url]; ok {
		return []byte(s), nil
	}
	return nil, fmt.Errorf("fetch %s: server answered 404 Not Found", url)
}

func (f *fakeSources) ReadMedium(rel string) ([]byte, error) {
	f.asked = append(f.asked, "medium "+rel)
	if f.mediumErr != nil {
		return nil, f.mediumErr
	}
	if s, ok := f.medium[rel]; ok {
		return []byte(s), nil
	}
	return nil, fs.ErrNotExist
}

func (f *fakeSources) ReadLabelled(label, rel string) ([]byte, error) {
	f.asked = append(f.asked, "label "+label+"/"+rel)
	if s, ok := f.labelled[label+"/"+rel]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "mount", Path: "LABEL=" + label, Err: fs.ErrNotExist}
}

func TestLocatePrecedence(t *testing.T) {
	all := func() *fakeSources {
		return &fakeSources{
			cmdline:  `BOOT_IMAGE=/vmlinuz console=ttyS0,115200 lockstep.answers=http://10.0.0.1/a.yaml quiet`,
			urls:     map[string]string{"http://10.0.0.1/a.yaml": "from-url", "file:///run/a.yaml": "from-file"},
			medium:   map[string]string{"lockstep/answers.yaml": "from-medium"},
			labelled: map[string]string{"LOCKSTEP-CFG/answers.yaml": "from-stick"},
		}
	}
	tests := []struct {
		name   string
		change func(f *fakeSources)
		data   string
		origin string
		asked  []string
	}{
		{"kernel argument first", nil, "from-url", "lockstep.answers=http://10.0.0.1/a.yaml", []string{"fetch http://10.0.0.1/a.yaml"}},
		{"file URL", func(f *fakeSources) { f.cmdline = "lockstep.answers=file:///run/a.yaml" }, "from-file", "lockstep.answers=file:///run/a.yaml", []string{"fetch file:///run/a.yaml"}},
		{"quoted kernel argument", func(f *fakeSources) {
			f.cmdline = `quiet "lockstep.answers=http://10.0.0.1/my answers.yaml"`
			f.urls["http://10.0.0.1/my answers.yaml"] = "quoted"
		}, "quoted", "lockstep.answers=http://10.0.0.1/my answers.yaml", []string{"fetch http://10.0.0.1/my answers.yaml"}},
		{"medium second", func(f *fakeSources) { f.cmdline = "quiet" }, "from-medium", "install medium", []string{"medium lockstep/answers.yaml"}},
		{"stick third", func(f *fakeSources) { f.cmdline = ""; f.medium = nil }, "from-stick", "LOCKSTEP-CFG stick", []string{"medium lockstep/answers.yaml", "label LOCKSTEP-CFG/answers.yaml"}},
		{"none: interactive", func(f *fakeSources) { f.cmdline = ""; f.medium = nil; f.labelled = nil }, "", "", []string{"medium lockstep/answers.yaml", "label LOCKSTEP-CFG/answers.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := all()
			if tt.change != nil {
				tt.change(f)
			}
			data, origin, err := Locate(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tt.data || origin != tt.origin {
				t.Errorf("got %q from %q, want %q from %q", data, origin, tt.data, tt.origin)
			}
			if tt.data == "" && data != nil {
				t.Error("no answer file must give nil data")
			}
			if !reflect.DeepEqual(f.asked, tt.asked) {
				t.Errorf("asked %q, want %q", f.asked, tt.asked)
			}
		})
	}
}

func TestLocateErrors(t *testing.T) {
	// A kernel argument that fails is an error, not a fall-through to the medium.
	f := &fakeSources{cmdline: "lockstep.answers=http://10.0.0.1/missing.yaml", medium: map[string]string{"lockstep/answers.yaml": "x"}}
	_, origin, err := Locate(context.Background(), f)
	if err == nil || origin != "lockstep.answers=http://10.0.0.1/missing.yaml" || !strings.Contains(err.Error(), "404 Not Found") {
		t.Fatalf("origin %q err %v", origin, err)
	}
	if len(f.asked) != 1 {
		t.Errorf("fell through after a failed fetch: %q", f.asked)
	}

	for cmd, phrase := range map[string]string{
		"lockstep.answers=ftp://x/a.yaml": `unsupported scheme "ftp"`,
		"lockstep.answers":                "no URL given",
		"lockstep.answers=":               "no URL given",
		"lockstep.answers=/answers.yaml":  "unsupported scheme",
		"lockstep.answers=http:///a.yaml": "without a host",
		"lockstep.answers=file://host/a":  "absolute local path",
	} {
		f := &fakeSources{cmdline: cmd}
		if _, _, err := Locate(context.Background(), f); err == nil || !strings.Contains(err.Error(), phrase) {
			t.Errorf("%s: got %v, want …%s…", cmd, err, phrase)
		}
		if len(f.asked) != 0 {
			t.Errorf("%s: fetched anyway: %q", cmd, f.asked)
		}
	}

	// A medium that cannot be read (not just "no such file") is an error.
	f = &fakeSources{mediumErr: errors.New("I/O error")}
	if _, origin, err := Locate(context.Background(), f); err == nil || origin != "install medium" || !strings.Contains(err.Error(), "I/O error") {
		t.Errorf("medium error: %q %v", origin, err)
	}

	// A password in the URL is not shown in the origin.
	f = &fakeSources{cmdline: "lockstep.answers=https://user:s3cret@h/a.yaml", urls: map[string]string{"https://user:s3cret@h/a.yaml": "x"}}
	if _, origin, err := Locate(context.Background(), f); err != nil || strings.Contains(origin, "s3cret") {
		t.Errorf("origin %q err %v", origin, err)
	}
}

func TestCmdline(t *testing.T) {
	line := `BOOT_IMAGE=/vmlinuz  console=tty0 console=ttyS0,115200n8 "quoted=a b" lockstep.answers="http://h/x y.yaml" lab -- init arg` + "\n"
	want := []string{"BOOT_IMAGE=/vmlinuz", "console=tty0", "console=ttyS0,115200n8", "quoted=a b", "lockstep.answers=http://h/x y.yaml", "lab", "--", "init", "arg"}
	if got := CmdlineArgs(line); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if v, ok := CmdlineValue(line, "lockstep.answers"); !ok || v != "http://h/x y.yaml" {
		t.Errorf("%q %v", v, ok)
	}
	if v, ok := CmdlineValue(line, "console"); !ok || v != "ttyS0,115200n8" {
		t.Errorf("last one wins: %q", v)
	}
	if v, ok := CmdlineValue(line, "lab"); !ok || v != "" {
		t.Errorf("bare key: %q %v", v, ok)
	}
	if _, ok := CmdlineValue(line, "lockstep"); ok {
		t.Error("prefix matched")
	}
	if got := CmdlineArgs(""); got != nil {
		t.Errorf("empty: %q", got)
	}
}

func TestHTTPFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/answers.yaml":
			fmt.Fprint(w, "action: create\n")
		case "/big.yaml":
			w.Write([]byte(strings.Repeat("#", MaxFileBytes+10)))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	data, err := HTTPFetch(ctx, srv.URL+"/answers.yaml")
	if err != nil || string(data) != "action: create\n" {
		t.Fatalf("200: %q %v", data, err)
	}
	_, err = HTTPFetch(ctx, srv.URL+"/missing.yaml")
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/missing.yaml") || !strings.Contains(err.Error(), "404 Not Found") {
		t.Fatalf("404: %v", err)
	}
	if _, err := HTTPFetch(ctx, srv.URL+"/big.yaml"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("big: %v", err)
	}

	// FetchURL: http and file.
	if data, err := FetchURL(ctx, srv.URL+"/answers.yaml"); err != nil || len(data) == 0 {
		t.Fatalf("FetchURL http: %v", err)
	}
	p := filepath.Join(t.TempDir(), "a.yaml")
	if err := os.WriteFile(p, []byte("hostname: n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, err := FetchURL(ctx, "file://"+p); err != nil || string(data) != "hostname: n\n" {
		t.Fatalf("FetchURL file: %q %v", data, err)
	}
	if _, err := FetchURL(ctx, "file:///nonexistent/a.yaml"); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("FetchURL missing file: %v", err)
	}
	if _, err := FetchURL(ctx, "gopher://h/a"); err == nil || !strings.Contains(err.Error(), "unsupported scheme") {
		t.Fatalf("FetchURL scheme: %v", err)
	}

	// A closed server: the error names the URL once, without a password.
	url := srv.URL
	srv.Close()
	withPw := strings.Replace(url, "http://", "http://u:pw123@", 1) + "/a.yaml"
	_, err = HTTPFetch(ctx, withPw)
	if err == nil || strings.Contains(err.Error(), "pw123") || strings.Count(err.Error(), "/a.yaml") != 1 {
		t.Fatalf("closed server: %v", err)
	}

	// A cancelled context stops the fetch.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := HTTPFetch(cctx, url+"/answers.yaml"); err == nil {
		t.Fatal("cancelled context: no error")
	}
}
