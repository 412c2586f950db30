package lab

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/ci/lab/guest/seqlog"
)

func TestHAReport(t *testing.T) {
	s := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	r := HAReport{
		Runs: []HARun{
			{"node0", "node1", s(0.95), s(7.1), s(10.0), s(7.3), s(25.35)},
			{"node1", "node0", s(1.05), s(8.0), s(9.5), s(7.4), s(25.95)},
			{"node0", "node1", s(0.90), s(6.5), s(11.0), s(6.0), s(24.4)},
		},
		Mirrored:    GuestWrites{Writes: 200, Median: 1800 * time.Microsecond, P99: 4 * time.Millisecond, Bursts: []float64{38, 36, 40}},
		Unmirrored:  GuestWrites{Writes: 190, Median: 900 * time.Microsecond, P99: 2100 * time.Microsecond, Bursts: []float64{95}},
		ResyncBytes: 21076377, Resync: s(1.9), Reconnect: s(6.2), ResyncTimed: "the agents' resync lines on the node consoles",
		Link:         []float64{11.5, 12},
		InitialBytes: 256 << 20, Initial: s(25.6),
	}
	var b bytes.Buffer
	WriteHAReport(&b, r)
	out := b.String()
	for _, want := range []string{
		"HA restart after a node loss (lab, 3 runs):\n",
		"run  killed  survivor  detection  agent restart  firmware  guest boot     total\n",
		"1    node0   node1         0.95s          7.10s    10.00s       7.30s    25.35s\n",
		"2    node1   node0         1.05s          8.00s     9.50s       7.40s    25.95s\n",
		"detection      median 0.95s max 1.05s",
		"agent restart  median 7.10s max 8.00s (detection -> the survivor's agent has started the domain; goal <= 15s)\n",
		"firmware       median 10.00s max 11.00s",
		"guest boot     median 7.30s max 7.40s",
		"initial full sync of the new volume: 256.0 MiB in 25.60s = 10.0 MiB/s; A-Link 12.0 MiB/s; ratio 0.83 (goal >= 0.8)\n",
		"total          median 25.35s max 25.95s",
		"mirrored median 1.8 ms p99 4.0 ms (200 writes); unmirrored (alink0 cut) median 0.9 ms p99 2.1 ms (190 writes); ratio 2.00x\n",
		"mirrored 38.0 MiB/s (3); unmirrored 95.0 MiB/s (1); ratio 0.40x\n",
		"resync after the cut: 20.1 MiB in 1.90s = 10.6 MiB/s; A-Link measured 12.0 MiB/s (linktest, max of 11.5, 12.0); ratio 0.88 (goal >= 0.8)\n",
		"it began 6.20s after the link was restored\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	// A run that failed early prints what it has, and nothing it lacks.
	b.Reset()
	WriteHAReport(&b, HAReport{Mirrored: r.Mirrored, Link: r.Link})
	if b.Len() != 0 {
		t.Errorf("partial report: %q", b.String())
	}
	WriteHAReport(&b, HAReport{Runs: r.Runs[:1]})
	if !strings.Contains(b.String(), "(lab, 1 runs)") || strings.Contains(b.String(), "resync") {
		t.Errorf("runs only: %q", b.String())
	}
}

func TestHAWindowWrites(t *testing.T) {
	c := seqlog.ParseConsole([]byte("LSGUEST BOOT 33333333-aaaa-bbbb-cccc-dddddddddddd\n" +
		"LSGUEST SEQ 10 33333333 5000\n" +
		"LSGUEST BURST 10.0 33333333\n" + // ended before the window
		"LSGUEST SEQ 11 33333333 1000\n" +
		"LSGUEST BURST 20.0 33333333\n" + // ended in it, may have begun before
		"LSGUEST SEQ 12 33333333 2000\n" +
		"LSGUEST SEQ 13 33333333 3000\n" +
		"LSGUEST BURST 30.0 33333333\n" +
		"LSGUEST SEQ 14 33333333 4000\n" +
		"LSGUEST BURST 40.0 33333333\n"))
	g := windowWrites(c.Current(), 10)
	if g.Writes != 4 || g.Median != 2500*time.Microsecond || g.P99 != 4*time.Millisecond || !slices.Equal(g.Bursts, []float64{30, 40}) {
		t.Errorf("window after SEQ 10: %+v", g)
	}
	if g := windowWrites(c.Current(), 14); g.Writes != 0 || len(g.Bursts) != 0 {
		t.Errorf("window after SEQ 14: %+v", g)
	}
}

func TestHAP99(t *testing.T) {
	var d []time.Duration
	for i := 200; i >= 1; i-- {
		d = append(d, time.Duration(i))
	}
	if got := p99(d); got != 198 {
		t.Errorf("p99 of 1..200 = %d, want 198", got)
	}
	if got := p99(d[:1]); got != 200 {
		t.Errorf("p99 of one = %d", got)
	}
}

func TestHAResyncLines(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var evs []resyncEvent
	for i, line := range []string{
		"LOCKSTEP VMS storage: lsv1 resync started (SyncSource, 512 KiB out of sync)",   // another VM's
		"LOCKSTEP VMS storage: lsv2 resync started (SyncTarget, 20480 KiB out of sync)", // one node's line
		"LOCKSTEP VMS storage: lsv2 resync started (SyncSource, 20480 KiB out of sync)", // the other's, later
		"LOCKSTEP VMS storage: lsv1 resync done: disk UpToDate, peer UpToDate",
		"LOCKSTEP VMS storage: lsv2 resync done: disk UpToDate, peer UpToDate",
		"LOCKSTEP VMS storage: lsv2 resync done: disk UpToDate, peer UpToDate",
		"LOCKSTEP VMS vm bench-ha: started",
		"[  12.3] drbd lsv2: resync started",
	} {
		e, ok := parseResyncLine(line)
		if ok != (i < 6) {
			t.Fatalf("%q: parsed %v", line, ok)
		}
		if ok {
			e.At = at([]int{100, 200, 250, 300, 2100, 2200}[i])
			evs = append(evs, e)
		}
	}
	if evs[1] != (resyncEvent{Res: "lsv2", KiB: 20480, At: at(200)}) || evs[4] != (resyncEvent{Res: "lsv2", Done: true, At: at(2100)}) {
		t.Errorf("parsed %+v", evs)
	}
	s, e, ok := resyncWindow(evs, 20480<<10)
	if !ok || !s.Equal(at(200)) || !e.Equal(at(2100)) {
		t.Errorf("resyncWindow = %v, %v, %v", s.Sub(t0), e.Sub(t0), ok)
	}
	if _, _, ok := resyncWindow(evs, 1<<20); ok {
		t.Error("a resync of a size nobody printed was found")
	}
	if _, _, ok := resyncWindow(evs[:3], 20480<<10); ok {
		t.Error("a resync without its end was found")
	}
}

func TestHAFirstResync(t *testing.T) {
	t0 := time.Unix(1000, 0)
	evs := []resyncEvent{
		{Res: "lsv1", KiB: 262136, At: t0.Add(100 * time.Millisecond)}, // the other node's start line
		{Res: "lsv1", KiB: 262136, At: t0},
		{Res: "lsv1", Done: true, At: t0.Add(6 * time.Second)},
		{Res: "lsv1", Done: true, At: t0.Add(7 * time.Second)},
	}
	s, e, kib, ok := firstResync(evs)
	if !ok || !s.Equal(t0) || !e.Equal(t0.Add(6*time.Second)) || kib != 262136 {
		t.Errorf("firstResync = %v %v %d %v", s, e, kib, ok)
	}
	if _, _, _, ok := firstResync(evs[:2]); ok {
		t.Error("a resync without its done line was timed")
	}
}
