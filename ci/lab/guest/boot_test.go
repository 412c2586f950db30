package guest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/ci/lab/guest/seqlog"
)

// TestBootTwice builds the guest ISO and boots it twice on one disk under
// QEMU (TCG: no KVM needed), killing the first boot as a power cut would:
// the second boot must find on the disk at least the last sequence number
// the first one printed, under a new boot id. The first boot also runs until
// it has printed a throughput burst, and its SEQ lines carry latencies.
func TestBootTwice(t *testing.T) {
	if os.Getenv("LOCKSTEP_GUEST_TESTS") != "1" {
		t.Skip("set LOCKSTEP_GUEST_TESTS=1 to build the test guest ISO and boot it under QEMU (about a minute)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	iso, err := BuildWith(ctx, Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(iso)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest ISO %s: %.1f MiB, ready in %v", iso, float64(st.Size())/(1<<20), time.Since(start).Round(time.Millisecond))

	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// As large as the lab's volumes: the bursts write from 8 to 24 MiB.
	if err := os.Truncate(disk, 64<<20); err != nil {
		t.Fatal(err)
	}

	first := boot(t, ctx, iso, disk, filepath.Join(dir, "first.log"), 5, 1)
	if !first.HasLast || first.Last != 0 {
		t.Errorf("first boot on an empty disk: LAST %d (printed: %v)", first.Last, first.HasLast)
	}
	if len(first.Writes) != first.Seqs || first.Bursts[0].MiBps <= 0 {
		t.Errorf("first boot: %d SEQ lines, %d with a latency; bursts %v", first.Seqs, len(first.Writes), first.Bursts)
	}
	second := boot(t, ctx, iso, disk, filepath.Join(dir, "second.log"), 3, 0)
	if !second.HasLast || second.Last < first.Seq {
		t.Errorf("second boot found seq %d on the disk (printed: %v), but the first boot acknowledged %d", second.Last, second.HasLast, first.Seq)
	}
	if second.ID == first.ID {
		t.Errorf("both boots have boot id %s", first.ID)
	}

	// The disk itself: its newest record is the second boot's, at least as
	// new as its last SEQ line.
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	last, ok, err := seqlog.Scan(f)
	if err != nil || !ok {
		t.Fatalf("scanning the disk: %v (found a record: %v)", err, ok)
	}
	id, _ := seqlog.ParseBootID(second.ID)
	if last.Seq < second.Seq || last.BootID != id {
		t.Errorf("disk's newest record: seq %d of boot %x; the second boot (%s) printed SEQ %d", last.Seq, last.BootID, second.ID, second.Seq)
	}
}

// boot runs the guest until it has printed seqs SEQ lines and bursts BURST
// lines, kills QEMU and returns what the console showed.
func boot(t *testing.T, ctx context.Context, iso, disk, log string, seqs, bursts int) *seqlog.Boot {
	t.Helper()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-M", "q35", "-m", "256",
		"-display", "none", "-monitor", "none", "-nic", "none", "-no-reboot",
		"-serial", "file:"+log, "-cdrom", iso, "-boot", "d",
		"-drive", "file="+disk+",if=virtio,format=raw,cache=none")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	// Power off at once: no flush beyond what the guest waited for.
	kill := func() { cmd.Process.Kill(); <-exited }
	defer kill()

	var firstSeq time.Duration
	deadline := time.After(120 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("%s: QEMU exited after %v: %v %s\n%s", filepath.Base(log), time.Since(start), waitErr, stderr.String(), tail(log))
		case <-deadline:
			t.Fatalf("%s: %d SEQ and %d BURST lines not seen in 120 s\n%s", filepath.Base(log), seqs, bursts, tail(log))
		case <-time.After(100 * time.Millisecond):
		}
		b, _ := os.ReadFile(log)
		cur := seqlog.ParseConsole(b).Current()
		if cur == nil || cur.Seqs == 0 {
			continue
		}
		if firstSeq == 0 {
			firstSeq = time.Since(start)
		}
		if cur.Seqs >= seqs && len(cur.Bursts) >= bursts {
			break
		}
	}
	kill()
	b, _ := os.ReadFile(log)
	c := seqlog.ParseConsole(b)
	if len(c.Boots) != 1 {
		t.Fatalf("%s: %d boots on one console\n%s", filepath.Base(log), len(c.Boots), tail(log))
	}
	cur := c.Current()
	if len(cur.Errors) > 0 {
		t.Errorf("%s: errors: %q", filepath.Base(log), cur.Errors)
	}
	var lat time.Duration
	if len(cur.Writes) > 0 {
		lat = cur.Writes[len(cur.Writes)-1].Latency
	}
	t.Logf("%s: boot %s: first SEQ after %v; killed after %v at SEQ %d (LAST was %d); last write %v, bursts %v",
		filepath.Base(log), cur.Short(), firstSeq.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), cur.Seq, cur.Last, lat, cur.Bursts)
	return cur
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
