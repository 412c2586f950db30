package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Node phases in the state file.
const (
	PhaseInstalling = "installing" // QEMU runs the installer from the ISO
	PhaseOn         = "on"         // QEMU runs the node from its disk
	PhaseOff        = "off"        // no QEMU (powered off, or not started yet)
)

// State is the lab's lab.json: how the lab was made and what runs.
type State struct {
	Namespace   string    `json:"namespace"`
	ISO         string    `json:"iso"`
	QEMU        string    `json:"qemu"` // the qemu-system-x86_64 wrapper of internal/qemuroot
	QEMUVersion string    `json:"qemu_version"`
	Machine     string    `json:"machine"`
	NICModel    string    `json:"nic_model"`
	Firmware    string    `json:"firmware"`
	CreatedAt   time.Time `json:"created_at"`
	// UpSeconds is how long `up` took, once it has finished.
	UpSeconds float64               `json:"up_seconds,omitempty"`
	Nodes     map[string]*NodeState `json:"nodes"`
}

// NodeState is one node's VM.
type NodeState struct {
	Phase string `json:"phase"`
	PID   int    `json:"pid,omitempty"`
	// FirmwareArgs are the node's pflash drives (OVMF), kept for power-on.
	FirmwareArgs []string  `json:"firmware_args,omitempty"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	// ConsoleMark is the console log's size when QEMU last started: the
	// node's current boot is what the log holds after it.
	ConsoleMark int64 `json:"console_mark"`
	Installed   bool  `json:"installed"`
}

const stateFile = "lab.json"

func loadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("lab: %s: %w", filepath.Join(dir, stateFile), err)
	}
	if st.Nodes == nil {
		st.Nodes = map[string]*NodeState{}
	}
	return &st, nil
}

func saveState(dir string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

// errBusy: another lockstep-lab command works on the lab.
var errBusy = errors.New("lab: busy")

// lockDir takes the lab's lock (a file in the state directory) without
// waiting: the commands that change the lab run one at a time. Down takes
// no lock, so it can always stop a lab, also one that is coming up.
func lockDir(dir string) (func(), error) {
	p := filepath.Join(dir, "lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(p)
		f.Close()
		holder := strings.TrimSpace(string(b))
		if holder == "" {
			holder = "?"
		}
		return nil, fmt.Errorf("%w: another lockstep-lab command (pid %s) is working on %s; wait for it, or `lockstep-lab down`", errBusy, holder, dir)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
