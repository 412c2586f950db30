package qemu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// QMPSocket returns the QEMU arguments for a QMP control socket at path.
func QMPSocket(path string) []string {
	return []string{"-qmp", "unix:" + path + ",server=on,wait=off"}
}

// QMPCommand runs one command on a QMP socket (a fresh connection each time:
// tests issue few commands, and a short-lived connection survives QEMU restarts).
func QMPCommand(socket, command string, args map[string]any) (json.RawMessage, error) {
	var conn net.Conn
	var err error
	for i := 0; i < 50; i++ {
		if conn, err = net.Dial("unix", socket); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("qmp: connect %s: %w", socket, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadBytes('\n'); err != nil { // greeting
		return nil, fmt.Errorf("qmp: greeting: %w", err)
	}
	send := func(cmd string, a map[string]any) (json.RawMessage, error) {
		req := map[string]any{"execute": cmd}
		if a != nil {
			req["arguments"] = a
		}
		b, _ := json.Marshal(req)
		if _, err := conn.Write(append(b, '\n')); err != nil {
			return nil, err
		}
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return nil, err
			}
			var resp struct {
				Return json.RawMessage `json:"return"`
				Error  *struct {
					Class, Desc string
				} `json:"error"`
				Event string `json:"event"`
			}
			if err := json.Unmarshal(line, &resp); err != nil {
				return nil, err
			}
			if resp.Event != "" {
				continue
			}
			if resp.Error != nil {
				return nil, fmt.Errorf("qmp %s: %s: %s", cmd, resp.Error.Class, resp.Error.Desc)
			}
			return resp.Return, nil
		}
	}
	if _, err := send("qmp_capabilities", nil); err != nil {
		return nil, err
	}
	return send(command, args)
}

// VGAText reads the VGA text-mode memory (0xB8000-0xBFFFF: a character byte
// and an attribute byte per cell, 80 columns) as lines. Linux's vgacon scrolls
// by moving the display start within that 32 KiB window, so the visible
// screen is somewhere inside it; the whole window is returned.
func VGAText(socket, scratchDir string) (string, error) {
	dump := filepath.Join(scratchDir, "vga-text.bin")
	if _, err := QMPCommand(socket, "pmemsave", map[string]any{"val": 0xb8000, "size": 0x8000, "filename": dump}); err != nil {
		return "", err
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	for row := 0; row < len(b)/160; row++ {
		line := make([]byte, 0, 80)
		for col := 0; col < 80; col++ {
			c := b[(row*80+col)*2]
			if c < 0x20 || c > 0x7e {
				c = ' '
			}
			line = append(line, c)
		}
		sb.WriteString(strings.TrimRight(string(line), " "))
		sb.WriteByte('\n')
	}
	return sb.String(), nil
}
