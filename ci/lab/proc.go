package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procRoot is /proc; tests point it at a fake tree.
var procRoot = "/proc"

// cmdline is the process's arguments, or nil when it is gone.
func cmdline(pid int) []string {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cmdline"))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// running reports whether pid is a live process (a zombie is not).
func running(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	st := b[i+2]
	return st != 'Z' && st != 'X'
}

// isNodeQEMU reports whether pid is the QEMU this lab runs for the node:
// its command line carries the node's guest name and a file of the lab's
// state directory. A recycled pid never matches.
func isNodeQEMU(pid int, namespace, stateDir string, n Node) bool {
	args := cmdline(pid)
	if args == nil {
		return false
	}
	name, dir := false, false
	for _, a := range args {
		if a == "guest="+GuestName(namespace, n) {
			name = true
		}
		if strings.Contains(a, stateDir+string(filepath.Separator)) {
			dir = true
		}
	}
	return name && dir && running(pid)
}

// pids lists every process.
func pids() []int {
	ents, _ := os.ReadDir(procRoot)
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// LabQEMUs lists the running QEMU processes of the lab with this namespace
// and state directory, by node.
func LabQEMUs(namespace, stateDir string) map[string][]int {
	out := map[string][]int{}
	for _, pid := range pids() {
		for _, n := range Nodes {
			if isNodeQEMU(pid, namespace, stateDir, n) {
				out[n.Name] = append(out[n.Name], pid)
			}
		}
	}
	return out
}

// AnyLabQEMU lists every running process that carries the guest name of a
// lab node of any namespace with the lab's prefix ("guest=lockstep-lab…").
func AnyLabQEMU() []int {
	var out []int
	for _, pid := range pids() {
		for _, a := range cmdline(pid) {
			if strings.HasPrefix(a, "guest="+NamespacePrefix) && running(pid) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// processesIn lists the live processes whose network namespace has inode ino.
func processesIn(ino uint64) []int {
	want := fmt.Sprintf("net:[%d]", ino)
	var out []int
	for _, pid := range pids() {
		l, err := os.Readlink(filepath.Join(procRoot, strconv.Itoa(pid), "ns", "net"))
		if err == nil && l == want && running(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// killAndWait sends SIGKILL to every pid and waits until none runs.
// reap, when set, is told about each pid first (the lab reaps the QEMUs
// it started itself, so they leave no zombie).
func killAndWait(pids []int, timeout time.Duration, reap func(pid int, deadline time.Time)) error {
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
			return fmt.Errorf("lab: kill %d: %w", pid, err)
		}
	}
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		if reap != nil {
			reap(pid, deadline)
		}
		for running(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("lab: process %d still runs %v after SIGKILL", pid, timeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// locksPath is /proc/locks; tests point it at a fake file.
var locksPath = "/proc/locks"

// fileLocked reports whether any lock (QEMU takes OFD locks on its disk
// images) is held on the file at path.
func fileLocked(path string) bool {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return false
	}
	b, err := os.ReadFile(locksPath)
	if err != nil {
		return false
	}
	return locked(b, fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino))
}

// locked reports whether /proc/locks content holds a lock on the file
// "maj:min:inode" (hex, hex, decimal as /proc/locks writes them).
func locked(procLocks []byte, id string) bool {
	for _, line := range strings.Split(string(procLocks), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == "->" { // a waiter
			f = append(f[:1], f[2:]...)
		}
		if len(f) >= 6 && f[5] == id {
			return true
		}
	}
	return false
}
