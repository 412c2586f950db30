package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// TestColourFits: with colours on (a VGA console), styled lines still fit
// 80 cells: truncation and wrapping count cells, not bytes.
func TestColourFits(t *testing.T) {
	lipgloss.SetColorProfile(termenv.ANSI)
	defer lipgloss.SetColorProfile(termenv.Ascii)
	cfg := testConfig(&fakeEngine{}, failChecks)
	cfg.Lab = true
	m := New(cfg)
	m.Update(tea.WindowSizeMsg{})
	steps := []tea.KeyMsg{kEnter, kRight, kEsc, kDown, kEnter}
	if v := m.View(); !strings.Contains(v, "\x1b[") {
		t.Fatalf("no colour codes with the ANSI profile:\n%q", v)
	}
	for _, k := range steps {
		m.Update(k)
		checkSize(t, m.View())
	}
	cfg.Checks = passChecks
	m = New(cfg)
	for _, k := range []tea.KeyMsg{kEnter, kEnter, kEnter, kTab, kTab} {
		m.Update(k)
		checkSize(t, m.View())
	}
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("192.0.2.300")})
	m.Update(kTab)
	checkSize(t, m.View())
	for _, k := range []tea.KeyMsg{kTab, kTab, kTab, kTab, kTab, kTab, kTab, kTab, kEnter} {
		m.Update(k)
		checkSize(t, m.View())
	}
}
