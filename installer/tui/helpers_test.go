package tui

import (
	"context"
	"flag"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/checks"
	"github.com/lockstep-ft/lockstep/installer/engine"
	"github.com/lockstep-ft/lockstep/installer/probe"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Goldens are plain text: no colour, whatever the terminal running
	// the tests supports.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

const gib = int64(1) << 30

type checkResult = checks.Result

// A machine with the seed's recommended 2x1G+2x10G layout, two RAID
// volumes and the install medium on USB.
var (
	testNICs = []probe.NIC{
		{Name: "eno1", MAC: "52:54:00:00:00:01", Driver: "igb", Speed: 1000, Link: true},
		{Name: "eno2", MAC: "52:54:00:00:00:02", Driver: "igb", Speed: 1000, Link: false},
		{Name: "ens1f0", MAC: "52:54:00:00:10:01", Driver: "ixgbe", Speed: 10000, Link: true},
		{Name: "ens1f1", MAC: "52:54:00:00:10:02", Driver: "ixgbe", Speed: 10000, Link: false},
	}
	testDisks = []probe.Disk{
		{Name: "sda", SizeBytes: 446 * gib, Vendor: "DELL", Model: "PERC H730P Mini", Controller: "megaraid_sas", Driver: "megaraid_sas", Logical: true, RAIDLevel: "1"},
		{Name: "sdb", SizeBytes: 1788 * gib, Vendor: "DELL", Model: "PERC H730P Mini", Controller: "megaraid_sas", Driver: "megaraid_sas", Logical: true, RAIDLevel: "10"},
		{Name: "sdc", SizeBytes: 14 * gib, Vendor: "SanDisk", Model: "Cruzer Blade", Controller: "usb-storage", Driver: "usb-storage", Removable: true},
	}
	testHardware = answers.Hardware{
		NICs: []answers.NIC{
			{Name: "eno1", MAC: "52:54:00:00:00:01"},
			{Name: "eno2", MAC: "52:54:00:00:00:02"},
			{Name: "ens1f0", MAC: "52:54:00:00:10:01"},
			{Name: "ens1f1", MAC: "52:54:00:00:10:02"},
		},
		Disks: []answers.DiskInfo{
			{ID: "wwn-0x61866da0aaaa0001", Name: "sda", SizeBytes: 446 * gib},
			{ID: "wwn-0x61866da0aaaa0002", Name: "sdb", SizeBytes: 1788 * gib},
			{ID: "usb-SanDisk_Cruzer_Blade_4C5300011", Name: "sdc", SizeBytes: 14 * gib, BootMedium: true},
		},
	}
	passChecks = []checks.Result{
		{ID: "virt", Title: "Virtualization (VT-x/AMD-V)", Status: checks.Pass, Detail: "VT-x enabled"},
		{ID: "nx", Title: "NX/XD", Status: checks.Pass, Detail: "enabled"},
		{ID: "cpu", Title: "CPU model", Status: checks.Pass, Detail: "Intel Xeon Gold 6230"},
		{ID: "disk:sda", Title: "Logical disk sda", Status: checks.Pass, Detail: "RAID 1, 446.0 GiB, optimal"},
	}
	warnChecks = []checks.Result{
		{ID: "virt", Title: "Virtualization (VT-x/AMD-V)", Status: checks.Pass, Detail: "VT-x enabled"},
		{ID: "power", Title: "Power management", Status: checks.Warn, Detail: "the CPU governor is powersave",
			Fix: "In the BIOS set System Profile to Performance (maximum performance)."},
		{ID: "disk:sdb", Title: "Logical disk sdb", Status: checks.Pass, Detail: "RAID 10, 1.7 TiB, optimal"},
	}
	failChecks = []checks.Result{
		{ID: "virt", Title: "Virtualization (VT-x/AMD-V)", Status: checks.Fail, Detail: "the CPU has VT-x but the BIOS disabled it",
			Fix: "In the BIOS enable Intel Virtualization Technology (Processor Settings), then reboot."},
		{ID: "nx", Title: "NX/XD", Status: checks.Pass, Detail: "enabled"},
		{ID: "power", Title: "Power management", Status: checks.Warn, Detail: "the CPU governor is powersave",
			Fix: "In the BIOS set System Profile to Performance (maximum performance)."},
	}
)

// fakeEngine emits its events, waiting on gate (when set) before the event
// at index gateAt; it records the answers it was given.
type fakeEngine struct {
	events []engine.Event
	gateAt int
	gate   chan struct{}
	err    error

	mu  sync.Mutex
	got []answers.Answers
}

func (f *fakeEngine) Run(ctx context.Context, a answers.Answers, emit func(engine.Event)) error {
	f.mu.Lock()
	f.got = append(f.got, a)
	f.mu.Unlock()
	for i, ev := range f.events {
		if f.gate != nil && i == f.gateAt {
			select {
			case <-f.gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		emit(ev)
	}
	return f.err
}

func (f *fakeEngine) runs() []answers.Answers {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]answers.Answers(nil), f.got...)
}

func okEvents() []engine.Event {
	return []engine.Event{
		{Step: "partition", Title: "Partitioning the disks", Percent: 5, Level: engine.Info, Message: "GPT on wwn-0x61866da0aaaa0001: ESP, system A, system B, state, storage"},
		{Step: "image", Title: "Writing the system image", Percent: 20, Level: engine.Info, Message: "system A: 0.4 of 1.9 GiB"},
		{Step: "image", Title: "Writing the system image", Percent: 45, Level: engine.Info, Message: "system A: 1.1 of 1.9 GiB"},
		{Step: "image", Title: "Writing the system image", Percent: 60, Level: engine.Warn, Message: "slow disk: 38 MB/s"},
		{Step: "bootloader", Title: "Installing the bootloader", Percent: 80, Level: engine.Info, Message: "EFI/BOOT/BOOTX64.EFI installed"},
		{Step: "config", Title: "Writing the node configuration", Percent: 95, Level: engine.Info, Message: "node config written"},
		{Step: "done", Title: "Installation complete", Percent: 100, Level: engine.Info, Done: true},
	}
}

func testConfig(eng engine.Engine, rs []checks.Result) Config {
	return Config{
		Hardware: testHardware,
		NICs:     testNICs,
		Disks:    testDisks,
		Checks:   rs,
		Version:  "0.1.0",
		Engine:   eng,
	}
}

// Keys.
var (
	kEnter     = tea.KeyMsg{Type: tea.KeyEnter}
	kTab       = tea.KeyMsg{Type: tea.KeyTab}
	kShiftTab  = tea.KeyMsg{Type: tea.KeyShiftTab}
	kUp        = tea.KeyMsg{Type: tea.KeyUp}
	kDown      = tea.KeyMsg{Type: tea.KeyDown}
	kLeft      = tea.KeyMsg{Type: tea.KeyLeft}
	kRight     = tea.KeyMsg{Type: tea.KeyRight}
	kSpace     = tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	kEsc       = tea.KeyMsg{Type: tea.KeyEsc}
	kCtrlC     = tea.KeyMsg{Type: tea.KeyCtrlC}
	kBackspace = tea.KeyMsg{Type: tea.KeyBackspace}
)

// harness drives a Model in a real bubbletea program (teatest) and takes
// snapshots of whole screens.
type harness struct {
	t    *testing.T
	tm   *teatest.TestModel
	name string
}

func start(t *testing.T, name string, cfg Config) *harness {
	t.Helper()
	tm := teatest.NewTestModel(t, New(cfg), teatest.WithInitialTermSize(80, 24))
	return &harness{t: t, tm: tm, name: name}
}

func (h *harness) keys(ks ...tea.KeyMsg) {
	for _, k := range ks {
		h.tm.Send(k)
	}
}

func (h *harness) typ(s string) { h.tm.Type(s) }

// view is the screen after every key sent so far.
func (h *harness) view() string {
	h.t.Helper()
	reply := make(chan string, 1)
	h.tm.Send(snapshotMsg{reply: reply})
	select {
	case v := <-reply:
		checkSize(h.t, v)
		return v
	case <-time.After(5 * time.Second):
		h.t.Fatal("no view: the program has ended or hangs")
	}
	return ""
}

// waitFor polls the view until it contains s.
func (h *harness) waitFor(s string) string {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v := h.view()
		if strings.Contains(v, s) {
			return v
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %q; screen:\n%s", s, v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// golden compares the current screen with testdata/<name>-<step>.golden.
func (h *harness) golden(step string) string {
	h.t.Helper()
	v := h.view()
	compareGolden(h.t, h.name+"-"+step, v)
	return v
}

// expect checks that the screen contains every string.
func (h *harness) expect(ss ...string) {
	h.t.Helper()
	v := h.view()
	for _, s := range ss {
		if !strings.Contains(v, s) {
			h.t.Fatalf("screen lacks %q:\n%s", s, v)
		}
	}
}

// result waits for the program to end and returns its Result.
func (h *harness) result() Result {
	h.t.Helper()
	m := h.tm.FinalModel(h.t, teatest.WithFinalTimeout(5*time.Second))
	return m.(*Model).Result()
}

// namedTB gives golden.RequireEqual a flat file name.
type namedTB struct {
	testing.TB
	name string
}

func (n namedTB) Name() string { return n.name }

func compareGolden(t *testing.T, name, v string) {
	t.Helper()
	checkSize(t, v)
	golden.RequireEqual(namedTB{TB: t, name: name}, []byte(v+"\n"))
}

// checkSize fails unless v fits 80x24.
func checkSize(t *testing.T, v string) {
	t.Helper()
	lines := strings.Split(v, "\n")
	if len(lines) > defaultHeight {
		t.Fatalf("view has %d lines, more than %d:\n%s", len(lines), defaultHeight, v)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > defaultWidth {
			t.Fatalf("line %d is %d cells wide, more than %d: %q", i+1, w, defaultWidth, l)
		}
	}
}
