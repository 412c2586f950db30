// Package qemu runs QEMU virtual machines for boot tests and the lab, and
// reads their serial console line by line.
package qemu

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Firmware of a VM.
type Firmware int

const (
	SeaBIOS Firmware = iota
	OVMF
	// OVMFSecureBoot is OVMF with Secure Boot enforced and Microsoft's keys
	// enrolled, as on a server shipped with Secure Boot on.
	OVMFSecureBoot
)

func (f Firmware) String() string {
	switch f {
	case OVMF:
		return "ovmf"
	case OVMFSecureBoot:
		return "ovmf-secureboot"
	}
	return "seabios"
}

// Debian's 4 MiB OVMF builds (package ovmf); the Secure Boot pair needs a
// q35 machine with SMM, and its variable store has Microsoft's keys enrolled.
var (
	OVMFCode       = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars       = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	OVMFSecureCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	OVMFSecureVars = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
)

// FirmwareArgs returns the QEMU arguments for a firmware; OVMF gets a private
// copy of the variable store in dir.
func FirmwareArgs(f Firmware, dir string) ([]string, error) {
	if f == SeaBIOS {
		return nil, nil
	}
	code, varsTemplate := OVMFCode, OVMFVars
	var extra []string
	if f == OVMFSecureBoot {
		code, varsTemplate = OVMFSecureCode, OVMFSecureVars
		extra = []string{"-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"}
	}
	vars := filepath.Join(dir, "OVMF_VARS.fd")
	b, err := os.ReadFile(varsTemplate)
	if err != nil {
		return nil, fmt.Errorf("qemu: OVMF variable store: %w (apt-get install ovmf)", err)
	}
	if err := os.WriteFile(vars, b, 0o644); err != nil {
		return nil, err
	}
	return append(extra,
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
	), nil
}

// VM is a running QEMU whose first serial port is captured.
type VM struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	mu   sync.Mutex
	cond *sync.Cond
	buf  strings.Builder
	done bool
	err  error
	log  *os.File
}

// Start runs qemu-system-x86_64 with args plus a captured serial console and
// no display. logPath, when set, receives the serial output as it arrives.
func Start(binary string, args []string, logPath string) (*VM, error) {
	if binary == "" {
		binary = "qemu-system-x86_64"
	}
	full := append([]string{"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot"}, args...)
	cmd := exec.Command(binary, full...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	vm := &VM{cmd: cmd, in: stdin}
	vm.cond = sync.NewCond(&vm.mu)
	if logPath != "" {
		if vm.log, err = os.Create(logPath); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu: start %s: %w", binary, err)
	}
	go vm.read(stdout)
	return vm, nil
}

func (vm *VM) read(r io.Reader) {
	br := bufio.NewReader(r)
	chunk := make([]byte, 4096)
	for {
		n, err := br.Read(chunk)
		if n > 0 {
			vm.mu.Lock()
			vm.buf.Write(chunk[:n])
			if vm.log != nil {
				vm.log.Write(chunk[:n])
			}
			vm.cond.Broadcast()
			vm.mu.Unlock()
		}
		if err != nil {
			break
		}
	}
	werr := vm.cmd.Wait()
	vm.mu.Lock()
	vm.done, vm.err = true, werr
	vm.cond.Broadcast()
	vm.mu.Unlock()
}

// Output is everything the serial console printed so far.
func (vm *VM) Output() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.buf.String()
}

// WaitFor waits until the console output contains s, the VM exits, or ctx ends.
func (vm *VM) WaitFor(ctx context.Context, s string) error { return vm.WaitForAfter(ctx, 0, s) }

// Send types s on the serial console, one key at a time with a short pause:
// a real UART has a small FIFO, and a burst can overrun it under TCG. An
// escape sequence (an arrow key) goes in one write, as a terminal sends it:
// split up, its ESC would arrive alone and read as the Esc key.
func (vm *VM) Send(s string) error {
	for i := 0; i < len(s); {
		n := 1
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			n = 2
			for i+n < len(s) && (s[i+n] < 0x40 || s[i+n] > 0x7e) {
				n++
			}
			n++ // the final byte
		}
		if i+n > len(s) {
			n = len(s) - i
		}
		if _, err := vm.in.Write([]byte(s[i : i+n])); err != nil {
			return err
		}
		i += n
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Mark returns the current length of the console output, for WaitForAfter.
func (vm *VM) Mark() int {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.buf.Len()
}

// WaitForAfter is WaitFor on the output printed after mark.
func (vm *VM) WaitForAfter(ctx context.Context, mark int, s string) error {
	stop := context.AfterFunc(ctx, func() {
		vm.mu.Lock()
		vm.cond.Broadcast()
		vm.mu.Unlock()
	})
	defer stop()
	vm.mu.Lock()
	defer vm.mu.Unlock()
	for {
		if strings.Contains(vm.buf.String()[mark:], s) {
			return nil
		}
		if vm.done {
			return fmt.Errorf("qemu exited (%v) before printing %q", vm.err, s)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%q not seen on the serial console: %w", s, ctx.Err())
		}
		vm.cond.Wait()
	}
}

// Stop kills QEMU and waits for it.
func (vm *VM) Stop() {
	if vm.cmd.Process != nil {
		_ = vm.cmd.Process.Kill()
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		vm.mu.Lock()
		d := vm.done
		vm.mu.Unlock()
		if d {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if vm.log != nil {
		vm.log.Close()
	}
}

// Wait waits until QEMU exits (a guest reboot under -no-reboot, a power
// off) or ctx ends.
func (vm *VM) Wait(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		vm.mu.Lock()
		vm.cond.Broadcast()
		vm.mu.Unlock()
	})
	defer stop()
	vm.mu.Lock()
	defer vm.mu.Unlock()
	for !vm.done {
		if ctx.Err() != nil {
			return fmt.Errorf("qemu still running: %w", ctx.Err())
		}
		vm.cond.Wait()
	}
	return nil
}
