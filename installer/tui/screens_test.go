package tui

import (
	"context"
	"errors"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/lockstep-ft/lockstep/installer/engine"
)

// TestFailedCheckBlocks: a FAIL offers only Back and Reboot; Enter never
// reaches the network screen.
func TestFailedCheckBlocks(t *testing.T) {
	eng := &fakeEngine{events: okEvents()}
	h := start(t, "failcheck", testConfig(eng, failChecks))
	h.keys(kEnter)
	v := h.golden("01-checks")
	if strings.Contains(v, btnContinue) {
		t.Fatalf("a blocked checks screen offers to continue:\n%s", v)
	}
	h.keys(kEnter) // Back
	h.expect("What should this machine do?")
	h.keys(kEnter, kRight, kRight, kEnter) // Back again: the buttons wrap around
	h.expect("What should this machine do?")
	h.keys(kEnter, kRight, kEnter) // Reboot
	if res := h.result(); res.Kind != Reboot || len(eng.runs()) != 0 {
		t.Fatalf("result %v, engine runs %d; want reboot, none", res.Kind, len(eng.runs()))
	}
}

// TestBadIP: leaving the node IP field shows the validator's message under it.
func TestBadIP(t *testing.T) {
	h := start(t, "badip", testConfig(&fakeEngine{}, passChecks))
	h.keys(kEnter, kEnter, kEnter) // menu, checks, network
	h.typ("node0")
	h.keys(kTab, kTab)
	h.typ("192.0.2.300")
	h.keys(kTab)
	v := h.golden("01-addresses")
	if !strings.Contains(v, `! "192.0.2.300" is not an IPv4 address: 300 is out of`) || !strings.Contains(v, "range 0-255") {
		t.Fatalf("no validator message under the IP:\n%s", v)
	}
	// Next stays on the screen and reports every field at once.
	h.keys(kTab, kTab, kTab, kTab, kTab, kTab, kTab, kTab, kEnter)
	v = h.golden("02-next")
	if !strings.Contains(v, "> Node IP") {
		t.Fatalf("focus is not on the first wrong field:\n%s", v)
	}
	// Fixing the IP clears its message when the field is left.
	for range 3 {
		h.keys(kBackspace)
	}
	h.typ("30/24")
	h.keys(kTab)
	if v := h.view(); strings.Contains(v, "192.0.2.300") || strings.Contains(v, "out of range") {
		t.Fatalf("the message stays after the fix:\n%s", v)
	}
}

// TestCtrlCDoesNotQuit: Ctrl-C asks; Cancel and Esc go back; Power off ends.
func TestCtrlCDoesNotQuit(t *testing.T) {
	h := start(t, "ctrlc", testConfig(&fakeEngine{}, passChecks))
	h.keys(kEnter, kCtrlC)
	h.golden("01-dialog")
	h.keys(kEnter) // Cancel has the focus
	h.expect("BIOS and RAID checks", "All checks passed.")
	h.keys(kCtrlC, kCtrlC, kEsc) // a second Ctrl-C does nothing either
	h.expect("All checks passed.")
	h.keys(kCtrlC, kLeft, kEnter)
	if res := h.result(); res.Kind != PowerOff {
		t.Fatalf("result %v, want poweroff", res.Kind)
	}
}

// TestZeroWindowSize: serial consoles report 0x0; the TUI draws 80x24.
func TestZeroWindowSize(t *testing.T) {
	h := start(t, "zero", testConfig(&fakeEngine{}, failChecks))
	h.tm.Send(tea.WindowSizeMsg{Width: 0, Height: 0})
	for _, step := range [][]tea.KeyMsg{nil, {kEnter}} {
		h.keys(step...)
		v := h.view()
		if n := len(strings.Split(v, "\n")); n != defaultHeight {
			t.Fatalf("view has %d lines, want %d:\n%s", n, defaultHeight, v)
		}
	}
	h.golden("01-checks") // long fixes wrap inside 80 columns
}

// TestLabAndScrolling: lab banner, many NICs and disks: still 80x24, lists scroll.
func TestLabAndScrolling(t *testing.T) {
	cfg := testConfig(&fakeEngine{}, passChecks)
	cfg.Lab = true
	for i := range 20 {
		cfg.NICs = append(cfg.NICs, testNICs[0])
		cfg.NICs[len(cfg.NICs)-1].Name = "eth" + string(rune('a'+i))
		cfg.NICs[len(cfg.NICs)-1].MAC = "52:54:00:00:20:" + string(rune('a'+i%6)) + string(rune('0'+i%10))
	}
	cfg.Hardware.NICs = nil // derived from cfg.NICs
	h := start(t, "lab", cfg)
	h.expect(LabBanner)
	h.keys(kEnter, kEnter)
	for range 18 {
		h.keys(kDown)
	}
	v := h.golden("01-network")
	if !strings.Contains(v, moreAbove) || !strings.Contains(v, moreBelow) {
		t.Fatalf("a long NIC list does not scroll:\n%s", v)
	}
}

// TestEngineFailure: an error event shows the error and the log path.
func TestEngineFailure(t *testing.T) {
	evs := okEvents()[:2]
	evs = append(evs, engine.Event{Step: "image", Title: "Writing the system image", Percent: 30, Level: engine.Error,
		Message: "write wwn-0x61866da0aaaa0001: input/output error", Done: true})
	eng := &fakeEngine{events: evs, err: errors.New("image: input/output error")}
	cfg := testConfig(eng, passChecks)
	ans := validAnswers()
	cfg.Unattended = &ans
	h := start(t, "enginefail", cfg)
	h.waitFor("Log: " + LogPath)
	h.golden("01-failed")
	h.keys(kRight, kRight, kEnter) // Rescue shell, to read the log
	res := h.result()
	if res.Kind != Rescue || res.Err == nil || !strings.Contains(res.Err.Error(), "input/output error") {
		t.Fatalf("result %v, %v", res.Kind, res.Err)
	}
}

// TestLeaveDuringInstall: Ctrl-C while the engine runs warns, and leaving
// cancels the engine and waits for it before the TUI ends.
func TestLeaveDuringInstall(t *testing.T) {
	eng := &fakeEngine{events: okEvents(), gateAt: 3, gate: make(chan struct{})}
	cfg := testConfig(eng, passChecks)
	ans := validAnswers()
	cfg.Unattended = &ans
	h := start(t, "leave", cfg)
	h.waitFor("45%")
	h.keys(kCtrlC)
	h.golden("01-dialog-running")
	h.keys(kLeft, kLeft, kEnter) // Reboot
	res := h.result()
	if res.Kind != Reboot || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("result %v, %v; want reboot after the engine stopped with context.Canceled", res.Kind, res.Err)
	}
}
