package guest

import (
	"context"
	"fmt"
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
	ctx := guestTest(t, "the test guest ISO")
	start := time.Now()
	iso, err := BuildWith(ctx, Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest ISO %s: %.1f MiB, ready in %v", iso, sizeMiB(t, iso), time.Since(start).Round(time.Millisecond))

	dir := t.TempDir()
	disk := blankDisk(t, dir)

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
	q := startQEMU(t, exec.CommandContext(ctx, "qemu-system-x86_64",
		guestArgs(log, disk, "-nic", "none", "-cdrom", iso, "-boot", "d")...), log)
	defer q.kill()

	var firstSeq time.Duration
	q.waitConsole(t, fmt.Sprintf("%d SEQ and %d BURST lines", seqs, bursts), func(cur *seqlog.Boot) bool {
		if cur == nil || cur.Seqs == 0 {
			return false
		}
		if firstSeq == 0 {
			firstSeq = time.Since(q.start)
		}
		return cur.Seqs >= seqs && len(cur.Bursts) >= bursts
	})
	q.kill()
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
		filepath.Base(log), cur.Short(), firstSeq.Round(time.Millisecond), time.Since(q.start).Round(time.Millisecond), cur.Seq, cur.Last, lat, cur.Bursts)
	return cur
}

// guestTest skips t unless LOCKSTEP_GUEST_TESTS=1 asks for the tests that
// build what and boot it under QEMU, and returns a context that ends after
// 10 minutes or with t.
func guestTest(t *testing.T, what string) context.Context {
	t.Helper()
	if os.Getenv("LOCKSTEP_GUEST_TESTS") != "1" {
		t.Skip("set LOCKSTEP_GUEST_TESTS=1 to build " + what + " and boot it under QEMU (about a minute)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// sizeMiB is the size of the file at path in MiB.
func sizeMiB(t *testing.T, path string) float64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return float64(st.Size()) / (1 << 20)
}

// blankDisk is dir/disk.raw, empty and as large as the lab's volumes (the
// bursts write from 8 to 24 MiB).
func blankDisk(t *testing.T, dir string) string {
	t.Helper()
	disk := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 64<<20); err != nil {
		t.Fatal(err)
	}
	return disk
}

// guestArgs are QEMU's arguments for a guest under TCG with its console in
// the file log and disk as its virtio disk; extra says how it boots and
// what NIC it has.
func guestArgs(log, disk string, extra ...string) []string {
	args := []string{"-accel", "tcg", "-M", "q35", "-m", "256",
		"-display", "none", "-monitor", "none", "-no-reboot", "-serial", "file:" + log}
	args = append(args, extra...)
	return append(args, "-drive", "file="+disk+",if=virtio,format=raw,cache=none")
}

// qemu is a QEMU that startQEMU started, its console in the file log.
type qemu struct {
	cmd     *exec.Cmd
	log     string
	start   time.Time
	stderr  strings.Builder
	exited  chan struct{} // closed once cmd has exited; then waitErr is set
	waitErr error
}

// startQEMU starts cmd, a QEMU whose console goes to the file log.
func startQEMU(t *testing.T, cmd *exec.Cmd, log string) *qemu {
	t.Helper()
	q := &qemu{cmd: cmd, log: log, exited: make(chan struct{})}
	cmd.Stderr = &q.stderr
	q.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { q.waitErr = cmd.Wait(); close(q.exited) }()
	return q
}

// kill powers QEMU off at once (no flush beyond what the guest waited for)
// and waits for it to exit. It may be called again.
func (q *qemu) kill() {
	q.cmd.Process.Kill()
	<-q.exited
}

// waitConsole reads the console every 100 ms until done says yes to the
// current boot (nil before the first) and returns it; it fails the test if
// QEMU exits first or if what is not seen in 120 s.
func (q *qemu) waitConsole(t *testing.T, what string, done func(*seqlog.Boot) bool) *seqlog.Boot {
	t.Helper()
	deadline := time.After(120 * time.Second)
	for {
		select {
		case <-q.exited:
			t.Fatalf("%s: QEMU exited after %v: %v %s\n%s", filepath.Base(q.log), time.Since(q.start), q.waitErr, q.stderr.String(), tail(q.log))
		case <-deadline:
			t.Fatalf("%s: %s not seen in 120 s\n%s", filepath.Base(q.log), what, tail(q.log))
		case <-time.After(100 * time.Millisecond):
		}
		b, _ := os.ReadFile(q.log)
		if cur := seqlog.ParseConsole(b).Current(); done(cur) {
			return cur
		}
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
