// Package console is the node's local status screen: a plain-text block on
// the VGA console (tty1) and, when it changes, on the serial console (IPMI
// SOL), so that whoever stands at the machine sees what the node is doing
// and why it is not (SPEC I10: usable at 80x24, over a serial line).
package console

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Width is the screen width the block fits in.
const Width = 80

// Status is what the screen shows. Empty fields show as "-".
type Status struct {
	Hostname   string
	Action     string // the install action: create, replace, recover
	SystemName string
	SystemIP   string   // configured
	NodeAddrs  []string // read back from ibiz0
	AddrMode   string   // "static" or "DHCP"
	Ibiz0      string   // link state
	Priv0      string   // link state
	ALinks     []Link   // the A-Links and their link states
	State      string   // system state, e.g. "waiting for peer"
	Lab        bool
	Slot       string // running system slot, "a" or "b"
	Version    string // running system version
	Errors     []string
}

// Link is a named link's state.
type Link struct{ Name, State string }

var roles = map[string]string{
	"create":  "create (node0 of a new system)",
	"replace": "replace (joins, data initialized)",
	"recover": "recover (rejoins, data preserved)",
}

// Render is the status block: lines of at most Width columns, each ending
// in a newline.
func Render(s Status) string {
	var b strings.Builder
	title := "Lockstep node status"
	b.WriteString(title + "\n" + strings.Repeat("=", len(title)) + "\n")
	role := s.Action
	if r, ok := roles[role]; ok {
		role = r
	}
	addrs := strings.Join(s.NodeAddrs, ", ")
	if s.Ibiz0 != "" || s.AddrMode != "" {
		if addrs == "" {
			addrs = "no address"
		}
		if s.AddrMode != "" {
			addrs += " (" + s.AddrMode + ")"
		}
		if s.Ibiz0 != "" {
			addrs += ", link " + s.Ibiz0
		}
	}
	boot := "-"
	if s.Slot != "" || s.Version != "" {
		boot = fmt.Sprintf("slot %s, version %s", dash(strings.ToUpper(s.Slot)), dash(s.Version))
	}
	lab := "no"
	if s.Lab {
		lab = "yes (VT-x check overridden at install: test lab only)"
	}
	rows := [][2]string{
		{"Node", s.Hostname},
		{"Role", role},
		{"System", s.SystemName},
		{"System IP", s.SystemIP},
		{"ibiz0", addrs},
		{"priv0", s.Priv0},
	}
	for _, l := range s.ALinks {
		rows = append(rows, [2]string{l.Name, l.State})
	}
	rows = append(rows, [][2]string{
		{"State", s.State},
		{"Boot", boot},
		{"Lab mode", lab},
	}...)
	for _, f := range rows {
		field(&b, f[0], dash(f[1]))
	}
	if len(s.Errors) > 0 {
		b.WriteString("\nErrors:\n")
		for _, e := range s.Errors {
			wrap(&b, "  - ", "    ", e)
		}
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

const labelWidth = 13

func field(b *strings.Builder, label, value string) {
	pad := strings.Repeat(" ", labelWidth)
	wrap(b, "  "+label+pad[:labelWidth-2-len(label)], pad, value)
}

// wrap writes text after first, breaking at spaces before Width and
// indenting the following lines with rest. Words longer than a line (paths,
// MAC lists) are cut.
func wrap(b *strings.Builder, first, rest, text string) {
	prefix := first
	line := ""
	flush := func() {
		b.WriteString(strings.TrimRight(prefix+line, " ") + "\n")
		prefix, line = rest, ""
	}
	for _, w := range strings.Fields(text) {
		for len(prefix)+len(w) > Width { // longer than a whole line
			if line != "" {
				flush()
			}
			n := Width - len(prefix)
			line = w[:n]
			w = w[n:]
			flush()
		}
		switch {
		case line == "":
			line = w
		case len(prefix)+len(line)+1+len(w) <= Width:
			line += " " + w
		default:
			flush()
			line = w
		}
	}
	if line != "" || prefix == first {
		flush()
	}
}

// Clear homes the cursor and clears a terminal.
const Clear = "\033[H\033[2J"

// Console writes the status to the screens.
type Console struct {
	TTY    io.Writer // redrawn on every Show; nil for none
	Serial io.Writer // the block as plain lines when it changed; nil for none
	last   string
	// mu: the status loop and the membership's event lines write at once.
	mu sync.Mutex
}

// Show draws s. Write errors are returned, and the serial console is not
// retried for the same block: a missing UART must not flood the journal.
func (c *Console) Show(s Status) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	block := Render(s)
	var errs []error
	if c.TTY != nil {
		if _, err := io.WriteString(c.TTY, Clear+block); err != nil {
			errs = append(errs, fmt.Errorf("console: %w", err))
		}
	}
	if c.Serial != nil && block != c.last {
		if _, err := io.WriteString(c.Serial, "\n"+block); err != nil {
			errs = append(errs, fmt.Errorf("serial console: %w", err))
		}
	}
	c.last = block
	return errors.Join(errs...)
}

// Println writes one line to the serial console.
func (c *Console) Println(line string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Serial == nil {
		return nil
	}
	_, err := io.WriteString(c.Serial, line+"\n")
	return err
}

// Terminal is a console device opened for writing.
type Terminal struct {
	path string
	f    *os.File
}

// OpenTerminal opens a console device such as /dev/tty1 or /dev/ttyS0.
// O_NOCTTY: the agent is a session leader under systemd, and a console
// that became its controlling terminal could hang it up (SIGHUP) when a
// getty takes the line. O_NONBLOCK: opening a serial line must not wait for
// a carrier, and it makes writes pollable so they can time out.
func OpenTerminal(path string) (*Terminal, error) {
	f, err := openTerminal(path)
	if err != nil {
		return nil, err
	}
	return &Terminal{path: path, f: f}, nil
}

func openTerminal(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
}

// Write writes p, giving up after a few seconds: a serial line held by flow
// control must not stall the agent. A getty starting on the same line calls
// vhangup(), after which every descriptor opened before fails with EIO:
// on any error but the timeout the device is opened again and the write
// retried once.
func (t *Terminal) Write(p []byte) (int, error) {
	n, err := t.write(p)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return n, err
	}
	f, oerr := openTerminal(t.path)
	if oerr != nil {
		return n, err
	}
	t.f.Close()
	t.f = f
	return t.write(p)
}

func (t *Terminal) write(p []byte) (int, error) {
	_ = t.f.SetWriteDeadline(time.Now().Add(3 * time.Second))
	return t.f.Write(p)
}

// Close closes the device.
func (t *Terminal) Close() error { return t.f.Close() }
