package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/ci/lab/guest"
	"github.com/lockstep-ft/lockstep/ci/lab/guest/seqlog"
)

// The lab's HA VM (issue 6): the test guest (ci/lab/guest) booted from a
// VCD, writing fsync'd sequence numbers to its mirrored volume.
const (
	haVM     = "ha1"
	guestVCD = "lsguest.iso"
	// bizNet is the business network on the lab's biz segment; the HA
	// VM's guest serves TCP echo on it at GuestIP.
	bizNet = "biz"
)

// guestEcho connects to the HA VM's echo service from the lab host's side
// of the business segment and checks one round trip, retrying for up to
// within (the guest may still be booting, the bridges still learning).
func guestEcho(t *testing.T, l *Lab, within time.Duration) *Echo {
	t.Helper()
	var err error
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		var e *Echo
		if e, err = l.DialGuest(GuestIP, 5*time.Second); err != nil {
			continue
		}
		if _, err = e.Check(10 * time.Second); err == nil {
			return e
		}
		e.Close()
	}
	t.Fatalf("no echo from the HA VM's guest at %s:%d on the business network within %v: %v", GuestIP, GuestEchoPort, within, err)
	return nil
}

// apiVM is the part of the API's VM the lab checks.
type apiVM struct {
	Name      string       `json:"name"`
	State     string       `json:"state"`
	RunningOn string       `json:"running_on"`
	Volumes   []volumeView `json:"volume_status"`
}

func getVM(t *testing.T, l *Lab, name string) (apiVM, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var v apiVM
	out, err := l.CLI(ctx, "", "--json", "vm", "info", name)
	if err != nil {
		return v, fmt.Errorf("vm info %s: %v: %s", name, err, out)
	}
	return v, json.Unmarshal(out, &v)
}

// waitVM waits until check finds nothing wrong with the VM.
func waitVM(t *testing.T, l *Lab, name, when string, timeout time.Duration, check func(apiVM) string) apiVM {
	t.Helper()
	why := "not asked yet"
	var v apiVM
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		var err error
		if v, err = getVM(t, l, name); err != nil {
			why = err.Error()
			continue
		}
		if why = check(v); why == "" {
			return v
		}
	}
	t.Fatalf("%s: %s", when, why)
	return v
}

// guestConsole is the VM's serial console as the system shows it.
func guestConsole(l *Lab, name string) (*seqlog.Console, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := l.CLI(ctx, "", "vm", "console", name, "--bytes", "1048576")
	if err != nil {
		return nil, fmt.Errorf("vm console %s: %v: %s", name, err, out)
	}
	return seqlog.ParseConsole(out), nil
}

// consoleEnd is the last n bytes of a VM's console as the API gives it,
// for a failure's message: what the guest printed says why it stalled.
func consoleEnd(l *Lab, name string, n int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := l.CLI(ctx, "", "vm", "console", name, "--bytes", fmt.Sprint(n))
	if err != nil {
		return fmt.Sprintf("(vm console: %v: %s)", err, out)
	}
	return string(out)
}

// vmInfo is `vm info` of a VM, for a failure's message.
func vmInfo(l *Lab, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := l.CLI(ctx, "", "vm", "info", name)
	if err != nil {
		return fmt.Sprintf("(vm info: %v: %s)", err, out)
	}
	return string(out)
}

// startHAVM makes the business network on the biz segment, uploads the
// test guest (its address on that network in its boot command line),
// creates the HA VM on node0 with a NIC there and waits until its guest
// has acknowledged a few writes and answers on the network.
func startHAVM(t *testing.T, l *Lab, logf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	iso, err := guest.BuildWith(ctx, guest.Options{Cmdline: guest.Cmdline + " lsguest.ip=" + GuestIP + "/24"})
	if err != nil {
		t.Fatalf("test guest: %v", err)
	}
	makeBizNet(t, l, logf)
	if out, err := l.CLI(ctx, "", "vcd", "upload", iso, "--name", guestVCD); err != nil {
		t.Fatalf("vcd upload: %v\n%s", err, out)
	}
	if out, err := l.CLI(ctx, "", "vm", "create", haVM, "--mode", "ha", "--vcpus", "1", "--memory", "256M",
		"--volume", "root:64M", "--cd", guestVCD, "--nic", bizNet, "--node", "node0"); err != nil {
		t.Fatalf("vm create: %v\n%s", err, out)
	}
	start := time.Now()
	if out, err := l.CLI(ctx, "", "vm", "start", haVM); err != nil {
		t.Fatalf("vm start: %v\n%s", err, out)
	}
	waitVM(t, l, haVM, "HA VM started", 5*time.Minute, func(v apiVM) string {
		if v.State != "running" || v.RunningOn != "node0" {
			return fmt.Sprintf("%s on %q", v.State, v.RunningOn)
		}
		if len(v.Volumes) != 1 || v.Volumes[0].Sync != "in-sync" {
			return fmt.Sprintf("volumes %+v", v.Volumes)
		}
		return ""
	})
	var c *seqlog.Console
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(2 * time.Second) {
		if c, err = guestConsole(l, haVM); err == nil && c.Current() != nil && c.Current().Seqs >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the HA VM's guest acknowledged no 10 writes in 5 minutes (%v); its console ends:\n%s\nvm info:\n%s",
				err, consoleEnd(l, haVM, 4000), vmInfo(l, haVM))
		}
	}
	b := c.Current()
	logf("HA VM %s runs on node0: guest %s wrote up to SEQ %d, %v after vm start", haVM, b.Short(), b.Seq, time.Since(start).Round(time.Second))
	e := guestEcho(t, l, 2*time.Minute)
	e.Close()
	if c, err = guestConsole(l, haVM); err != nil || c.Current() == nil || c.Current().Net == nil {
		t.Fatalf("the guest answers but printed no NET line (%v)", err)
	}
	logf("HA VM %s answers on business network %s: %s %s MAC %s", haVM, bizNet, c.Current().Net.Interface, c.Current().Net.Addr, c.Current().Net.MAC)
}

// makeBizNet makes the business network on the lab's biz segment and waits
// until both nodes have its bridge.
func makeBizNet(t *testing.T, l *Lab, logf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := l.CLI(ctx, "", "network", "create", bizNet,
		"--port", "node0="+Nodes[0].NICMAC("biz0"), "--port", "node1="+Nodes[1].NICMAC("biz0")); err != nil {
		t.Fatalf("network create: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Second) {
		var list struct {
			Networks []struct {
				Name  string            `json:"name"`
				State map[string]string `json:"state"`
			} `json:"networks"`
		}
		out, err := l.CLI(ctx, "", "--json", "network", "list")
		if err == nil {
			err = json.Unmarshal(out, &list)
		}
		if err == nil && len(list.Networks) == 1 && list.Networks[0].State["node0"] == "ok" && list.Networks[0].State["node1"] == "ok" {
			logf("business network %s: bridges ok on both nodes", bizNet)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("business network %s not ok on both nodes within a minute: %v\n%s", bizNet, err, out)
		}
	}
}

// lastSeqUntil reads the guest's console as fast as the API answers until
// stop is closed, and returns the highest SEQ seen with its boot: every
// one of them was acknowledged by the disk before it was printed.
func lastSeqUntil(l *Lab, stop <-chan struct{}) (seq uint64, boot string) {
	for {
		if c, err := guestConsole(l, haVM); err == nil && c.Current() != nil && c.Current().Seq > seq {
			seq, boot = c.Current().Seq, c.Current().Short()
		}
		select {
		case <-stop:
			return seq, boot
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkHAFailover: node0 (running the VM) has lost its power; node1 must
// restart the VM, whose guest must find every write it acknowledged.
func checkHAFailover(t *testing.T, l *Lab, off time.Time, lastSeq uint64, lastBoot string, logf func(string, ...any)) {
	waitVM(t, l, haVM, "HA VM after node0's loss", 5*time.Minute, func(v apiVM) string {
		if v.State != "running" || v.RunningOn != "node1" {
			return fmt.Sprintf("%s on %q", v.State, v.RunningOn)
		}
		return ""
	})
	var c *seqlog.Console
	var err error
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(time.Second) {
		if c, err = guestConsole(l, haVM); err == nil && c.Current() != nil && c.Current().HasLast && c.Current().Seqs > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the HA VM's guest on node1 printed no LAST and SEQ in 5 minutes (%v): %+v", err, c)
		}
	}
	b := c.Current()
	logf("HA VM restarted on node1 (guest %s, %v after the power cut): LAST %d, last SEQ printed on node0 before the cut %d (guest %s)",
		b.Short(), time.Since(off).Round(time.Second), b.Last, lastSeq, lastBoot)
	if b.Short() == lastBoot {
		t.Errorf("the guest on node1 has node0's boot id %s: not restarted?", lastBoot)
	}
	if b.Last < lastSeq {
		t.Errorf("acknowledged writes lost: the guest on node1 found SEQ %d on its disk, node0's printed %d", b.Last, lastSeq)
	}
	if len(b.Errors) > 0 {
		t.Errorf("guest errors on node1: %q", b.Errors)
	}
	// The same address and MAC, now behind node1's bridge.
	e := guestEcho(t, l, 2*time.Minute)
	e.Close()
	logf("HA VM answers on business network %s from node1, %v after the power cut", bizNet, time.Since(off).Round(time.Second))
}

// checkResync: node0 is back; the volume must resync (only what changed
// while it was away) and be UpToDate on both nodes.
func checkResync(t *testing.T, l *Lab, logf func(string, ...any)) {
	vol := waitInSync(t, l, "volume resync after node0's return")
	logf("volume %s UpToDate on both nodes after node0's return; %d bytes resynced (of a %d MiB volume)", vol.Name, vol.ResyncedBytes, 64)
	if vol.ResyncedBytes <= 0 || vol.ResyncedBytes >= 64<<20 {
		t.Errorf("resynced %d bytes: want some, and fewer than the whole 64 MiB volume", vol.ResyncedBytes)
	}
}

// checkRecoverResync: node0 was re-installed keeping its data; the volume
// must come back by a partial resync, not a full copy.
func checkRecoverResync(t *testing.T, l *Lab, logf func(string, ...any)) {
	vol := waitInSync(t, l, "volume resync onto the recovered node0")
	logf("volume %s UpToDate on the recovered node0; %d bytes resynced (of a %d MiB volume)", vol.Name, vol.ResyncedBytes, 64)
	if vol.ResyncedBytes <= 0 || vol.ResyncedBytes >= 64<<20 {
		t.Errorf("resynced %d bytes onto the recovered node0: want only what changed, fewer than the whole 64 MiB volume (its data was kept)", vol.ResyncedBytes)
	}
}

// checkFullResync: node0 was replaced (empty disks); the volume must come
// back to it whole.
func checkFullResync(t *testing.T, l *Lab, logf func(string, ...any)) {
	vol := waitInSync(t, l, "volume resync onto the replaced node0")
	logf("volume %s UpToDate on the replaced node0; %d bytes resynced (a full copy)", vol.Name, vol.ResyncedBytes)
	if vol.ResyncedBytes < 64<<20 {
		t.Errorf("resynced %d bytes onto an empty node: want the whole volume (64 MiB and DRBD's metadata)", vol.ResyncedBytes)
	}
}

type volumeView = struct {
	Name          string            `json:"name"`
	Disks         map[string]string `json:"disks"`
	Sync          string            `json:"sync"`
	ResyncedBytes int64             `json:"resynced_bytes"`
}

// waitInSync waits until the HA VM's volume is UpToDate on both nodes,
// the VM still running on node1.
func waitInSync(t *testing.T, l *Lab, when string) volumeView {
	v := waitVM(t, l, haVM, when, 10*time.Minute, func(v apiVM) string {
		if len(v.Volumes) != 1 {
			return fmt.Sprintf("volumes %+v", v.Volumes)
		}
		vol := v.Volumes[0]
		if vol.Sync != "in-sync" || vol.Disks["node0"] != "UpToDate" || vol.Disks["node1"] != "UpToDate" {
			return fmt.Sprintf("volume %s: %s %v", vol.Name, vol.Sync, vol.Disks)
		}
		return ""
	})
	if strings.TrimSpace(v.RunningOn) != "node1" {
		t.Errorf("the VM is on %q, want node1", v.RunningOn)
	}
	return v.Volumes[0]
}

// checkWorkon puts the node running the HA VM into maintenance: the VM
// must move to the other node by live migration, its guest going on with
// the same boot and counter; workoff brings the node back.
func checkWorkon(t *testing.T, l *Lab, from, to string, logf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	before, err := guestConsole(l, haVM)
	if err != nil || before.Current() == nil {
		t.Fatalf("console before workon: %v", err)
	}
	b0 := before.Current()
	// A connection opened before the move must carry on after it: the
	// guest keeps its TCP state, the destination announces the MAC.
	echo := guestEcho(t, l, time.Minute)
	defer echo.Close()
	start := time.Now()
	if out, err := l.CLI(ctx, "", "node", "workon", from); err != nil {
		t.Fatalf("node workon %s: %v\n%s", from, err, out)
	}
	waitVM(t, l, haVM, "HA VM after workon "+from, 5*time.Minute, func(v apiVM) string {
		if v.State != "running" || v.RunningOn != to {
			return fmt.Sprintf("%s on %q", v.State, v.RunningOn)
		}
		return ""
	})
	moved := time.Since(start)
	// The destination's console log starts with the migration: its first
	// lines are the same boot's.
	var after *seqlog.Console
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		if after, err = guestConsole(l, haVM); err == nil && after.Current() != nil && after.Current().Ticks > 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TICK from the guest on %s after the migration (%v)", to, err)
		}
	}
	b1 := after.Current()
	logf("workon %s: HA VM moved to %s in %v; guest %s TICK %d before, %s TICK %d after (SEQ %d)",
		from, to, moved.Round(100*time.Millisecond), b0.Short(), b0.Tick, b1.Short(), b1.Tick, b1.Seq)
	if b1.Short() != b0.Short() || b1.HasLast {
		t.Errorf("the guest restarted instead of moving: boot %s (LAST printed: %v), was %s", b1.Short(), b1.HasLast, b0.Short())
	}
	if b1.Tick <= b0.Tick || b1.Seq <= b0.Seq {
		t.Errorf("the guest's counters did not go on: TICK %d -> %d, SEQ %d -> %d", b0.Tick, b1.Tick, b0.Seq, b1.Seq)
	}
	if rtt, err := echo.Check(time.Minute); err != nil {
		t.Errorf("the echo connection opened before the migration to %s: %v", to, err)
	} else {
		logf("workon %s: the echo connection opened before the move answers from %s (%v)", from, to, rtt.Round(time.Millisecond))
	}
	if out, err := l.CLI(ctx, "", "node", "workoff", from); err != nil {
		t.Errorf("node workoff %s: %v\n%s", from, err, out)
	}
	waitNodes(t, l, "", "workoff "+from, func(ns []apiNode) string { return allHealthy(ns) })
}

// guestSeq is the last SEQ the HA VM's guest printed.
func guestSeq(t *testing.T, l *Lab) uint64 {
	t.Helper()
	c, err := guestConsole(l, haVM)
	if err != nil || c.Current() == nil {
		t.Errorf("the HA VM's console: %v", err)
		return 0
	}
	return c.Current().Seq
}
