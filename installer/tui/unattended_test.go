package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

func validAnswers() answers.Answers {
	return answers.Answers{
		Action:   answers.Create,
		Hostname: "node0",
		System:   answers.System{Name: "lockstep1", IP: "192.0.2.20"},
		Network: answers.Network{
			Priv0: "52:54:00:00:10:01",
			Ibiz0: "52:54:00:00:00:01",
			Node:  answers.Address{IP: "192.0.2.10", Netmask: "255.255.255.0", Gateway: "192.0.2.1"},
		},
		Disk:  answers.Disk{System: "wwn-0x61866da0aaaa0001", ConfirmErase: true},
		Admin: answers.Admin{Password: "correct horse battery"},
	}
}

// TestUnattended: no key is needed until the end; progress is shown.
func TestUnattended(t *testing.T) {
	eng := &fakeEngine{events: okEvents(), gateAt: 3, gate: make(chan struct{})}
	cfg := testConfig(eng, warnChecks)
	ans := validAnswers()
	ans.AcceptWarnings = true
	cfg.Unattended = &ans
	h := start(t, "unattended", cfg)
	h.waitFor("45%")
	h.golden("01-progress")
	close(eng.gate)
	h.waitFor("Installation complete.")
	h.keys(kEnter)
	res := h.result()
	if res.Kind != Install || res.Answers.Hostname != "node0" {
		t.Fatalf("result %v %+v", res.Kind, res.Answers)
	}
	if runs := eng.runs(); len(runs) != 1 || runs[0].Hostname != "node0" {
		t.Fatalf("engine runs: %+v", runs)
	}
}

// TestUnattendedStops: warnings without accept_warnings, a failed check or
// invalid answers stop before the engine runs.
func TestUnattendedStops(t *testing.T) {
	for _, tc := range []struct {
		name   string
		checks []checkResult
		edit   func(*answers.Answers)
		want   string
	}{
		{"warn", warnChecks, func(*answers.Answers) {}, "accept_warnings: true"},
		{"fail", failChecks, func(a *answers.Answers) { a.AcceptWarnings = true }, "A check FAILED"},
		{"invalid", passChecks, func(a *answers.Answers) { a.Network.Node.Gateway = "198.51.100.1" }, "network.node.gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := &fakeEngine{events: okEvents()}
			cfg := testConfig(eng, tc.checks)
			ans := validAnswers()
			tc.edit(&ans)
			cfg.Unattended = &ans
			h := start(t, "unattended-stop-"+tc.name, cfg)
			v := h.golden("01")
			if !strings.Contains(v, tc.want) {
				t.Fatalf("screen lacks %q:\n%s", tc.want, v)
			}
			time.Sleep(50 * time.Millisecond)
			if n := len(eng.runs()); n != 0 {
				t.Fatalf("the engine ran %d times", n)
			}
			h.keys(kEnter)
			if res := h.result(); res.Kind != Reboot {
				t.Fatalf("result %v, want reboot", res.Kind)
			}
		})
	}
}

// TestUnattendedRebootsByItself: nobody is at an unattended install's
// console, so success ends in a reboot without a key.
func TestUnattendedRebootsByItself(t *testing.T) {
	old := UnattendedRebootDelay
	UnattendedRebootDelay = 200 * time.Millisecond
	defer func() { UnattendedRebootDelay = old }()
	eng := &fakeEngine{events: okEvents()}
	cfg := testConfig(eng, passChecks)
	ans := validAnswers()
	cfg.Unattended = &ans
	h := start(t, "unattended-reboot", cfg)
	h.waitFor("Rebooting into the installed system")
	if res := h.result(); res.Kind != Install {
		t.Fatalf("result %v, want install (reboot)", res.Kind)
	}
}
