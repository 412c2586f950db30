// Package consoles finds the consoles the kernel was told to use (console= on
// the command line) so the installer shows itself on every one of them: the
// VGA screen and the serial port that IPMI serial-over-LAN users watch.
package consoles

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Active lists the active console names (tty0, ttyS0...) from sysfs.
func Active(sysRoot string) []string {
	b, err := os.ReadFile(filepath.Join(sysRoot, "class", "tty", "console", "active"))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// Set writes every line to all of its consoles.
type Set struct {
	mu    sync.Mutex
	names []string
	ws    []io.Writer
}

// Open opens each named console under devRoot; a console that cannot be
// opened is skipped and reported. With none, it falls back to /dev/console.
func Open(devRoot string, names []string) (*Set, []error) {
	s := &Set{}
	var errs []error
	for _, n := range names {
		f, err := os.OpenFile(filepath.Join(devRoot, n), os.O_WRONLY, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("console %s: %w", n, err))
			continue
		}
		s.names = append(s.names, n)
		s.ws = append(s.ws, f)
	}
	if len(s.ws) == 0 {
		if f, err := os.OpenFile(filepath.Join(devRoot, "console"), os.O_WRONLY, 0); err == nil {
			s.names, s.ws = []string{"console"}, []io.Writer{f}
		}
	}
	return s, errs
}

// New wraps writers (for tests).
func New(names []string, ws ...io.Writer) *Set { return &Set{names: names, ws: ws} }

// Names lists the consoles in use.
func (s *Set) Names() []string { return s.names }

// Printf writes to every console; serial consoles need CR LF, and a VT accepts it.
func (s *Set) Printf(format string, args ...any) {
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", "\r\n")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.ws {
		_, _ = io.WriteString(w, msg)
	}
}

// Write implements io.Writer over every console (for engine output).
func (s *Set) Write(p []byte) (int, error) {
	s.Printf("%s", p)
	return len(p), nil
}
