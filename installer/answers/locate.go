package answers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Where an unattended install finds its answer file, in order of precedence.
const (
	// CmdlineKey is the kernel argument: lockstep.answers=<url> with an
	// http://, https:// or file:///path URL.
	CmdlineKey = "lockstep.answers"
	// MediumPath is the answer file's path on the install medium.
	MediumPath = "lockstep/answers.yaml"
	// StickLabel and StickPath: answers.yaml at the root of a filesystem
	// labelled LOCKSTEP-CFG (a second USB stick or virtual medium).
	StickLabel = "LOCKSTEP-CFG"
	StickPath  = "answers.yaml"

	// Origins returned by Locate (the kernel argument's origin is
	// CmdlineKey + "=" + the URL).
	OriginMedium = "install medium"
	OriginStick  = "LOCKSTEP-CFG stick"

	// FetchTimeout bounds one HTTP fetch of an answer file.
	FetchTimeout = 30 * time.Second
)

// Sources gives Locate access to the machine; tests fake it, so they need
// neither root nor a network.
type Sources interface {
	// Cmdline returns the kernel command line (/proc/cmdline).
	Cmdline() string
	// Fetch gets an http://, https:// or file:// URL (production: FetchURL).
	Fetch(ctx context.Context, url string) ([]byte, error)
	// ReadMedium reads a file, by path relative to its root, on the mounted
	// install medium; an error matching fs.ErrNotExist means "no such file".
	ReadMedium(rel string) ([]byte, error)
	// ReadLabelled reads a file on the filesystem with that label (production
	// mounts it read-only); an error matching fs.ErrNotExist means there is
	// no such filesystem or no such file on it.
	ReadLabelled(label, rel string) ([]byte, error)
}

// Locate finds the answer file of an unattended install, in this order:
//  1. the URL in kernel argument lockstep.answers=<url> (http, https, file);
//  2. lockstep/answers.yaml on the install medium;
//  3. answers.yaml on a filesystem labelled LOCKSTEP-CFG.
//
// It returns the file's contents and where it came from ("lockstep.answers=
// http://…", "install medium", "LOCKSTEP-CFG stick"), or (nil, "", nil)
// when there is no answer file: the install is interactive. A kernel argument
// that cannot be fetched is an error, not a fall-through: the operator asked
// for that file. A medium or stick that exists but cannot be read is an
// error too.
func Locate(ctx context.Context, s Sources) (data []byte, origin string, err error) {
	if u, ok := CmdlineValue(s.Cmdline(), CmdlineKey); ok {
		origin = CmdlineKey + "=" + redactURL(u)
		if err := checkAnswerURL(u); err != nil {
			return nil, origin, fmt.Errorf("%s: %w", origin, err)
		}
		data, err := s.Fetch(ctx, u)
		if err != nil {
			return nil, origin, fmt.Errorf("%s: %w", origin, err)
		}
		return data, origin, nil
	}
	data, err = s.ReadMedium(MediumPath)
	switch {
	case err == nil:
		return data, OriginMedium, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, OriginMedium, fmt.Errorf("%s: read %s: %w", OriginMedium, MediumPath, err)
	}
	data, err = s.ReadLabelled(StickLabel, StickPath)
	switch {
	case err == nil:
		return data, OriginStick, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, OriginStick, fmt.Errorf("%s: read %s: %w", OriginStick, StickPath, err)
	}
	return nil, "", nil
}

// checkAnswerURL accepts http://host/..., https://host/... and file:///path.
func checkAnswerURL(raw string) error {
	if raw == "" {
		return errors.New("no URL given: use lockstep.answers=http://server/answers.yaml (or https://, file:///path)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("%s URL without a host", u.Scheme)
		}
	case "file":
		if u.Host != "" && u.Host != "localhost" || u.Path == "" {
			return errors.New("a file URL needs an absolute local path: file:///path/answers.yaml")
		}
	default:
		return fmt.Errorf("unsupported scheme %q: use http://, https:// or file:///path", u.Scheme)
	}
	return nil
}

// redactURL hides a password in a URL's user information.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// CmdlineArgs splits a kernel command line the way the kernel does: at white
// space outside double quotes. Quotes around a whole argument or around a
// value ("key=\"a b\"") are removed.
func CmdlineArgs(cmdline string) []string {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	flush := func() {
		if have {
			args = append(args, unquoteArg(cur.String()))
		}
		cur.Reset()
		have = false
	}
	for _, r := range cmdline {
		switch {
		case r == '"':
			inQuote = !inQuote
			cur.WriteRune(r)
			have = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n' || r == '\r'):
			flush()
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	flush()
	return args
}

func unquoteArg(a string) string {
	if strings.HasPrefix(a, `"`) {
		a = strings.TrimSuffix(a[1:], `"`)
	}
	if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(v, `"`) {
		a = k + "=" + strings.TrimSuffix(v[1:], `"`)
	}
	return a
}

// CmdlineValue returns the value of key=value on the kernel command line
// (the last one when repeated). A bare "key" returns ("", true).
func CmdlineValue(cmdline, key string) (string, bool) {
	val, found := "", false
	for _, a := range CmdlineArgs(cmdline) {
		k, v, _ := strings.Cut(a, "=")
		if k == key {
			val, found = v, true
		}
	}
	return val, found
}

// FetchURL gets an answer file by URL: file:///path from the local
// filesystem, http:// and https:// with HTTPFetch. It is the production
// Sources.Fetch.
func FetchURL(ctx context.Context, raw string) ([]byte, error) {
	if err := checkAnswerURL(raw); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", redactURL(raw), err)
	}
	u, _ := url.Parse(raw)
	if u.Scheme != "file" {
		return HTTPFetch(ctx, raw)
	}
	f, err := os.Open(u.Path)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", raw, err)
	}
	defer f.Close()
	return readLimited(f, raw)
}

var httpClient = &http.Client{Timeout: FetchTimeout}

// HTTPFetch gets url with an HTTP GET (30 s timeout). Errors name the URL
// (its password hidden) and, for an answer other than 200, the HTTP status.
func HTTPFetch(ctx context.Context, rawURL string) ([]byte, error) {
	shown := redactURL(rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", shown, err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL
		}
		return nil, fmt.Errorf("fetch %s: %w", shown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: server answered %s", shown, resp.Status)
	}
	return readLimited(resp.Body, shown)
}

func readLimited(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("fetch %s: larger than %d bytes; this is not an answer file", name, MaxFileBytes)
	}
	return data, nil
}
