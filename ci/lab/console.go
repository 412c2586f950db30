package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// consolePoll is how often a console log is read while waiting.
var consolePoll = 250 * time.Millisecond

// fileSize is the size of path, 0 when it does not exist.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// readFrom reads path from byte offset mark to its end.
func readFrom(path string, mark int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return "", nil
		}
		return "", err
	}
	defer f.Close()
	if _, err := f.Seek(mark, io.SeekStart); err != nil {
		return "", err
	}
	b, err := io.ReadAll(f)
	return string(b), err
}

// waitConsole waits until the console log at path holds one of want after
// byte offset mark. It gives up when ctx ends or when alive (if set)
// reports that QEMU is gone and the log, read once more, still lacks it.
// It returns the string that was found.
func waitConsole(ctx context.Context, path string, mark int64, alive func() bool, want ...string) (string, error) {
	for {
		gone := alive != nil && !alive()
		out, err := readFrom(path, mark)
		if err != nil {
			return "", err
		}
		for _, w := range want {
			if strings.Contains(out, w) {
				return w, nil
			}
		}
		if gone {
			return "", fmt.Errorf("QEMU exited before printing %q\n--- %s (tail) ---\n%s", want[0], path, Tail(out, 3000))
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%q not seen on the serial console: %w\n--- %s (tail) ---\n%s", want[0], ctx.Err(), path, Tail(out, 3000))
		case <-time.After(consolePoll):
		}
	}
}

// Tail is the last n bytes of s, from a line start when there is one.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return s
}
