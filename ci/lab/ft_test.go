package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/ci/lab/guest"
	"github.com/lockstep-ft/lockstep/ci/lab/guest/seqlog"
)

// The lab's FT VM (issue 7): the test guest again, under QEMU COLO with its
// active side on node0 and its secondary on node1, answering TCP echo on
// the business network at FTGuestIP.
const (
	ftVM     = "ft1"
	ftVCD    = "lsguest-ft.iso"
	ftVolume = "root:64M"
)

// TestLabFT: an FT VM in a lab of its own (so that its verdict and the HA
// test's stay apart): protected with its active side on node0, it must
// survive node0's power cut with no reboot and no connection lost, be
// protected again when node0 returns, move back to node0 on `node workon
// node1` the same way, and keep every acknowledged write.
//
// Its verdict rests on reading the guest's console (a counter and the
// records it fsync'd, ci/lab/seqlog): a line cut by a killed QEMU or by a
// kernel message is no record, and only the boot id tells a reboot.
func TestLabFT(t *testing.T) {
	t0 := time.Now()
	l, logf := newTestLab(t, "-f", "labft-")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	if err := l.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	waitNodes(t, l, "", "after up", func(ns []apiNode) string { return allHealthy(ns) })
	logf("lab up")
	makeBizNet(t, l, logf)
	e := startFTVM(t, l, logf)
	defer e.Close()
	ftFailover(t, l, e, logf)
	ftWorkon(t, l, e, logf)
	ftRestartKeepsWrites(t, l, logf)
	logf("total %v", time.Since(t0).Round(time.Second))
}

// apiFT is an FT VM's protection as the API shows it.
type apiFT struct {
	State       string `json:"state"`
	Reason      string `json:"reason"`
	SecondaryOn string `json:"secondary_on"`
}

// ftView is the part of an FT VM the lab checks.
type ftView struct {
	State     string `json:"state"`
	RunningOn string `json:"running_on"`
	FT        *apiFT `json:"ft"`
}

func getFTVM(t *testing.T, l *Lab) (ftView, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var v ftView
	out, err := l.CLI(ctx, "", "--json", "vm", "info", ftVM)
	if err != nil {
		return v, fmt.Errorf("vm info %s: %v: %s", ftVM, err, out)
	}
	return v, json.Unmarshal(out, &v)
}

// waitFT waits until the FT VM runs on node with its secondary on the
// other node, protected.
func waitFT(t *testing.T, l *Lab, when, node string, timeout time.Duration) ftView {
	t.Helper()
	why := "not asked yet"
	var v ftView
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		var err error
		if v, err = getFTVM(t, l); err != nil {
			why = err.Error()
			continue
		}
		switch other := map[string]string{"node0": "node1", "node1": "node0"}[node]; {
		case v.State != "running" || v.RunningOn != node:
			why = fmt.Sprintf("%s on %q", v.State, v.RunningOn)
		case v.FT == nil:
			why = "no FT status"
		case v.FT.State != "protected" || v.FT.SecondaryOn != other:
			why = fmt.Sprintf("FT %s (secondary on %q): %s", v.FT.State, v.FT.SecondaryOn, v.FT.Reason)
		default:
			return v
		}
	}
	t.Fatalf("%s: the FT VM is not protected on %s within %v: %s", when, node, timeout, why)
	return v
}

// ftConsole waits for the FT VM's console to show a boot that check accepts.
func ftConsole(t *testing.T, l *Lab, when string, timeout time.Duration, check func(*seqlog.Boot) string) *seqlog.Boot {
	t.Helper()
	why := "not read yet"
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		c, err := guestConsole(l, ftVM)
		switch {
		case err != nil:
			why = err.Error()
		case c.Current() == nil:
			why = "no boot on the console"
		default:
			if why = check(c.Current()); why == "" {
				return c.Current()
			}
		}
	}
	// What the verdict needs to be understood: the console's end (the
	// kernel's complaints too) and the VM as the API shows it.
	t.Fatalf("%s: the FT VM's console: %s\n--- its end:\n%s\n--- vm info:\n%s", when, why, consoleEnd(l, ftVM, 3000), vmInfo(l, ftVM))
	return nil
}

// startFTVM creates the FT VM on node0 (business network biz exists, made
// by startHAVM) and waits until it is protected, its guest writing and
// answering; it returns the echo connection, opened while protected.
func startFTVM(t *testing.T, l *Lab, logf func(string, ...any)) *Echo {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	iso, err := guest.BuildWith(ctx, guest.Options{Cmdline: guest.Cmdline + " lsguest.ip=" + FTGuestIP + "/24"})
	if err != nil {
		t.Fatalf("test guest: %v", err)
	}
	if out, err := l.CLI(ctx, "", "vcd", "upload", iso, "--name", ftVCD); err != nil {
		t.Fatalf("vcd upload: %v\n%s", err, out)
	}
	if out, err := l.CLI(ctx, "", "vm", "create", ftVM, "--mode", "ft", "--vcpus", "1", "--memory", "256M",
		"--volume", ftVolume, "--cd", ftVCD, "--nic", bizNet, "--node", "node0"); err != nil {
		t.Fatalf("vm create %s: %v\n%s", ftVM, err, out)
	}
	start := time.Now()
	if out, err := l.CLI(ctx, "", "vm", "start", ftVM); err != nil {
		t.Fatalf("vm start %s: %v\n%s", ftVM, err, out)
	}
	b := ftConsole(t, l, "FT VM started", 5*time.Minute, func(b *seqlog.Boot) string {
		if b.Net == nil || b.Seqs < 10 {
			return fmt.Sprintf("guest %s: NET %v, %d SEQ", b.Short(), b.Net, b.Seqs)
		}
		return ""
	})
	logf("FT VM %s runs on node0: guest %s up %v after vm start (SEQ %d)", ftVM, b.Short(), time.Since(start).Round(time.Second), b.Seq)
	v := waitFT(t, l, "FT VM protection", "node0", 10*time.Minute)
	logf("FT VM %s protected %v after vm start (secondary on %s)", ftVM, time.Since(start).Round(time.Second), v.FT.SecondaryOn)
	var e *Echo
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(2 * time.Second) {
		if e, err = l.DialGuest(FTGuestIP, 5*time.Second); err == nil {
			if _, err = e.Check(10 * time.Second); err == nil {
				break
			}
			e.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no echo from the FT VM's guest at %s within 2 minutes: %v", FTGuestIP, err)
		}
	}
	for i := range 3 {
		rtt, err := e.Check(30 * time.Second)
		if err != nil {
			t.Fatalf("echo %d under COLO: %v", i, err)
		}
		logf("FT VM echo %d under COLO: %v", i, rtt.Round(time.Millisecond))
		time.Sleep(time.Second)
	}
	return e
}

// ftFailover powers node0 (the FT VM's active side) off: node1's secondary
// must take the guest over with no reboot, the connection opened before
// the loss must still answer, and node0's return must bring the VM back
// under protection by itself.
func ftFailover(t *testing.T, l *Lab, e *Echo, logf func(string, ...any)) {
	before := ftConsole(t, l, "FT VM before node0's loss", time.Minute, func(*seqlog.Boot) string { return "" })
	off := time.Now()
	if err := l.PowerOff("node0"); err != nil {
		t.Fatalf("power-off node0: %v", err)
	}
	// The echo first: the client sees the service come back while the
	// membership still settles.
	var gap time.Duration
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, err := e.Check(10 * time.Second); err == nil {
			gap = time.Since(off)
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the FT VM's echo connection opened before node0's loss did not answer within 2 minutes: %v", err)
		}
	}
	logf("FT VM: the echo connection opened before node0's power cut answered again %v after it", gap.Round(10*time.Millisecond))
	after := ftMovedTo(t, l, "node1", "node0's loss", before)
	logf("FT VM on node1: guest %s SEQ %d, TICK %d (before node0's loss: guest %s SEQ %d, TICK %d)",
		after.Short(), after.Seq, after.Tick, before.Short(), before.Seq, before.Tick)
	if _, err := e.Check(10 * time.Second); err != nil {
		t.Errorf("the FT VM's echo connection after the failover: %v", err)
	}

	start := time.Now()
	if err := l.PowerOn("node0"); err != nil {
		t.Fatalf("power-on node0: %v", err)
	}
	if _, err := l.WaitReady(context.Background(), "node0", 15*time.Minute); err != nil {
		t.Fatalf("node0 after power-on: %v", err)
	}
	waitNodes(t, l, "", "node0 back (FT)", func(ns []apiNode) string { return allHealthy(ns) })
	waitFT(t, l, "FT VM after node0's return", "node1", 10*time.Minute)
	logf("FT VM protected again (secondary on node0) %v after node0's power-on", time.Since(start).Round(time.Second))
	// node1's alert history tells the administrator both steps.
	for code, text := range map[string]string{
		"vm.takeover":  ftVM + " of node0 (lost) run here now",
		"vm.protected": "FT VM " + ftVM + " is protected: it runs on node1, its secondary on node0",
	} {
		if !hasAlert(t, l, code, text) {
			t.Errorf("no %s alert saying %q", code, text)
		}
	}
	b := ftConsole(t, l, "FT VM protected again", time.Minute, func(b *seqlog.Boot) string { return "" })
	if b.Short() != before.Short() {
		t.Errorf("the FT VM's guest rebooted when it was protected again: guest %s, was %s", b.Short(), before.Short())
	}
	if _, err := e.Check(30 * time.Second); err != nil {
		t.Errorf("the FT VM's echo connection after re-protection: %v", err)
	}
}

// ftMovedTo waits until the FT VM runs on node after what (a loss, a
// move), and checks that its guest went on: the boot before it (no
// reboot), no error, SEQ 10 beyond before's.
func ftMovedTo(t *testing.T, l *Lab, node, what string, before *seqlog.Boot) *seqlog.Boot {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(2 * time.Second) {
		v, err := getFTVM(t, l)
		if err == nil && v.State == "running" && v.RunningOn == node {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the FT VM does not run on %s 2 minutes after %s: %+v %v", node, what, v, err)
		}
	}
	after := ftConsole(t, l, "FT VM on "+node+" after "+what, 2*time.Minute, func(b *seqlog.Boot) string {
		if b.Seq < before.Seq+10 {
			return fmt.Sprintf("guest %s at SEQ %d (SEQ %d before %s)", b.Short(), b.Seq, before.Seq, what)
		}
		return ""
	})
	// The boot id tells a reboot: every boot draws a new one. (A LAST
	// line does not: a secondary that joined before the guest's init
	// printed BOOT and LAST has them in its console too.)
	if after.Short() != before.Short() {
		t.Errorf("the FT VM's guest rebooted at %s: guest %s, was %s", what, after.Short(), before.Short())
	}
	if len(after.Errors) > 0 {
		t.Errorf("FT VM guest errors after %s: %q", what, after.Errors)
	}
	return after
}

// ftWorkon puts node1, which runs the protected FT VM, into maintenance:
// the VM moves to node0 by a controlled failover to its secondary there,
// the same boot going on and the connection still answering; after
// workoff the VM is protected again, its secondary now on node1.
func ftWorkon(t *testing.T, l *Lab, e *Echo, logf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	before := ftConsole(t, l, "FT VM before workon node1", time.Minute, func(*seqlog.Boot) string { return "" })
	start := time.Now()
	if out, err := l.CLI(ctx, "", "node", "workon", "node1"); err != nil {
		t.Fatalf("node workon node1: %v\n%s", err, out)
	}
	moved := time.Since(start)
	if rtt, err := e.Check(time.Minute); err != nil {
		t.Errorf("the FT VM's echo connection after workon node1: %v", err)
	} else {
		logf("workon node1: FT VM handed over in %v; the echo connection answers (%v)", moved.Round(100*time.Millisecond), rtt.Round(time.Millisecond))
	}
	after := ftMovedTo(t, l, "node0", "workon node1", before)
	logf("workon node1: FT VM on node0, guest %s SEQ %d (before: guest %s SEQ %d)", after.Short(), after.Seq, before.Short(), before.Seq)
	if out, err := l.CLI(ctx, "", "node", "workoff", "node1"); err != nil {
		t.Errorf("node workoff node1: %v\n%s", err, out)
	}
	waitNodes(t, l, "", "workoff node1 (FT)", func(ns []apiNode) string { return allHealthy(ns) })
	start = time.Now()
	waitFT(t, l, "FT VM after workoff node1", "node0", 10*time.Minute)
	logf("FT VM protected again (secondary on node1) %v after workoff node1", time.Since(start).Round(time.Second))
}

// ftRestartKeepsWrites powers the FT VM off and starts it again: the new
// boot must find on its disk every record the old one acknowledged, across
// the failovers and re-protections it went through.
func ftRestartKeepsWrites(t *testing.T, l *Lab, logf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	v, err := getFTVM(t, l)
	if err != nil {
		t.Fatal(err)
	}
	ranOn, err := NodeByName(v.RunningOn)
	if err != nil {
		t.Fatalf("the FT VM runs on %q: %v", v.RunningOn, err)
	}
	before := ftConsole(t, l, "FT VM before its restart", time.Minute, func(*seqlog.Boot) string { return "" })
	if out, err := l.CLI(ctx, "", "vm", "poweroff", ftVM); err != nil {
		t.Fatalf("vm poweroff %s: %v\n%s", ftVM, err, out)
	}
	// The last record acknowledged is on the console of the node that ran
	// the active side, by now: the guest is gone. Asked of another node, a
	// stopped VM's console is that node's own, and the secondary's is
	// what it ran ahead of the last checkpoint: records that were never
	// acknowledged. (Should the console no longer be readable, the earlier
	// reading is a lower bound.)
	last := before
	if out, err := l.CLI(ctx, ranOn.Addr, "vm", "console", ftVM, "--bytes", "1048576"); err == nil {
		if c := seqlog.ParseConsole(out).Current(); c != nil && c.Short() == before.Short() {
			last = c
		}
	}
	if out, err := l.CLI(ctx, "", "vm", "start", ftVM); err != nil {
		t.Fatalf("vm start %s: %v\n%s", ftVM, err, out)
	}
	b := ftConsole(t, l, "FT VM restarted", 5*time.Minute, func(b *seqlog.Boot) string {
		if b.Short() == before.Short() || !b.HasLast {
			return fmt.Sprintf("guest %s, LAST printed: %v (%d TICK, %d SEQ lines)", b.Short(), b.HasLast, b.Ticks, b.Seqs)
		}
		return ""
	})
	logf("FT VM restarted: guest %s found LAST %d; the previous boot %s acknowledged up to SEQ %d", b.Short(), b.Last, before.Short(), last.Seq)
	if b.Last < last.Seq {
		t.Errorf("acknowledged writes lost: the FT VM's new boot found SEQ %d on its disk, the previous boot printed SEQ %d", b.Last, last.Seq)
	}
}
