package colo

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/ft"
	"github.com/lockstep-ft/lockstep/ci/lab/guest/seqlog"
)

// TestCOLOFailover is the proof of FT mode: the test guest (kernel and
// initramfs: a SEQ record fsync'd to /dev/vda every 100 ms, printed with
// its boot id, and a TCP echo) boots simplex on its primary QEMU 11.1, is
// protected by a secondary with a 1 s checkpoint delay (its disk copied
// first), both on one bridge in a network namespace of the test's own.
// The primary QEMU is SIGKILLed; FailoverSecondaryOn, with the secondary's
// own monitor only, resumes the secondary. Then the guest must go on
// where it was: the same boot (no BOOT line), SEQ lines past the last one
// the primary printed with none missing, and the echo connection opened
// before Protect still echoing.
func TestCOLOFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	withHealthyPair(t, ctx, func(t *testing.T, r *rig) { r.failoverSecondary(false) })
}

// TestCOLOFailoverPrimary is the other half: the secondary QEMU is
// SIGKILLed and FailoverPrimaryOn lets the primary run alone; its guest
// goes on without a gap in its records and the echo connection answers.
func TestCOLOFailoverPrimary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	withHealthyPair(t, ctx, func(t *testing.T, r *rig) { r.failoverPrimary(false) })
}

// TestCOLOReprotect protects one running guest three times, with the
// roles moving between the nodes (through the Pair, which swaps its Spec
// when the secondary takes over): after the secondary on node B is lost,
// a new secondary on B protects the primary on A again; after the primary
// on A is lost, B runs the guest and a new secondary on A protects it;
// then B is lost and A runs the guest again. The guest never reboots, its
// records never miss one, the echo connection opened before the first
// Protect answers throughout.
func TestCOLOReprotect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	withHealthyPair(t, ctx, func(t *testing.T, r *rig) {
		r.failoverPrimary(true)
		r.protectInStep("RE-PROTECT 1: the primary on node A, a new secondary on node B")
		r.failoverSecondary(true)
		if got := r.pair.Spec(); got.Primary != r.spec.Secondary || got.Link.PrimaryHost != r.spec.Link.SecondaryHost {
			t.Fatalf("after the secondary took over, the pair's spec is not swapped: %+v", got)
		}
		r.protectInStep("RE-PROTECT 2: the former secondary on node B as primary, a new secondary on node A")
		r.failoverSecondary(false)
	})
}

// withHealthyPair runs body on a guest booted simplex and protected,
// after a soak in which the secondary kept in step (see soak: under TCG a
// secondary can fall out of step; it fails the test here, with the reason).
func withHealthyPair(t *testing.T, ctx context.Context, body func(t *testing.T, r *rig)) {
	gate(t)
	r := newRig(t, ctx, rigOptions{})
	r.protectInStep("PROTECT: the primary on node A, its secondary on node B")
	body(t, r)
}

// protectInStep protects the guest with a new secondary and soaks the
// pair. A secondary that falls out of step is an artefact of TCG (see
// soak: FT VMs run under KVM), not of the code under test: it is dropped
// as a lost secondary would be (the primary's failover) and a new one
// protects the guest, at most three times.
func (r *rig) protectInStep(what string) {
	for attempt := 1; ; attempt++ {
		r.t.Log(what)
		r.protect()
		why := r.soak()
		if why == "" {
			return
		}
		if attempt == 3 {
			r.fail("QEMU (TCG): three new secondaries in a row out of step; the last: %s", why)
		}
		r.t.Logf("QEMU (TCG): the new secondary is out of step (%s): dropping it, and protecting again", why)
		r.kill(r.sec)
		if err := r.pair.FailoverPrimary(r.ctx); err != nil {
			r.fail("dropping the secondary that is out of step: %v", err)
		}
		r.sec = nil
	}
}

// failoverResult is what a failover showed.
type failoverResult struct {
	killed     time.Time     // when the lost side's QEMU was SIGKILLed
	failedOver time.Duration // from the kill until the failover sequence returned
	gap        time.Duration // from the kill until the rig's echo connection answered
	lastSeq    uint64        // the last SEQ the guest printed before the kill
	after      []seqLine     // the survivor's SEQ lines after the kill
	continues  bool          // checkContinues found nothing wrong
}

// failoverSecondary SIGKILLs the primary and fails over to the secondary,
// through the pair (viaPair) or with the secondary's own monitor only, as
// its node's agent would; the secondary is the primary afterwards.
func (r *rig) failoverSecondary(viaPair bool) failoverResult {
	t, ctx := r.t, r.ctx

	// The primary's console is complete once it is dead: every SEQ
	// printed before the kill is in it.
	secBefore := r.completeConsole(r.sec)
	killed := r.kill(r.pri)
	priCon := seqlog.ParseConsole(r.console(r.pri))
	before := priCon.Current()
	if len(priCon.Boots) != 1 || before.Short() != r.boot.Short() {
		r.fail("the primary's console shows %d boots (last %q), want the one boot %s", len(priCon.Boots), before.ID, r.boot.ID)
	}
	lastSeq := before.Seq

	// The client keeps using the same connection; its first message after
	// the kill is answered once the secondary has taken over.
	echoed := make(chan error, 1)
	go func() { echoed <- roundTrip(r.conn, []byte("after the kill\n"), killed.Add(60*time.Second)) }()

	var err error
	if viaPair {
		err = r.pair.FailoverSecondary(ctx)
	} else {
		err = ft.FailoverSecondaryOn(ctx, r.sec.QMP(), ft.Options{Logf: t.Logf})
	}
	if err != nil {
		r.fail("secondary failover: %v", err)
	}
	failedOver := time.Since(killed)
	t.Logf("failover done %v after the kill: %v", failedOver.Round(time.Millisecond), r.pair.State())
	if st := r.pair.State(); st.Mode != ft.Simplex {
		t.Errorf("state after failover: %v, want simplex", st)
	}
	if err := <-echoed; err != nil {
		r.fail("the echo connection opened before the kill: %v", err)
	}
	gap := time.Since(killed)
	r.echoAfter()
	r.checkRunning(r.sec)

	// The guest's records go on in the same boot, from where the primary
	// left off, on the secondary's console.
	after := r.seqsAfter(r.sec, len(secBefore), lastSeq)
	continues := checkContinues(t, lastSeq, r.boot.Short(), parseSeqs(secBefore), after)
	if l := kernelTrouble(r.console(r.sec)[len(secBefore):]); l != "" {
		t.Errorf("the guest's kernel failed after the failover: %q", l)
	}
	if !t.Failed() {
		t.Logf("GAP: the old connection echoed again %v after the kill (failover took %v)", gap.Round(time.Millisecond), failedOver.Round(time.Millisecond))
		t.Logf("SEQ: the primary printed up to %d (boot %s); after the kill the secondary printed %d..%d, same boot, no BOOT line",
			lastSeq, r.boot.Short(), after[0].seq, after[len(after)-1].seq)
	}
	logLatencies(t, before)
	// What it printed as a secondary ran ahead of the checkpoints and was
	// thrown away by the next one (a TCG secondary may even have oopsed
	// there, see soak): as the primary, its console counts from the
	// take-over.
	if l := kernelTrouble(secBefore); l != "" {
		t.Logf("the new primary's console as a secondary (speculative, before the take-over) shows a guest kernel failure: %q", l)
	}
	r.start[r.sec] += len(secBefore)
	r.pri, r.sec = r.sec, nil
	return failoverResult{killed, failedOver, gap, lastSeq, after, continues}
}

// failoverPrimary SIGKILLs the secondary and lets the primary run alone,
// through the pair or with the primary's own monitor only.
func (r *rig) failoverPrimary(viaPair bool) {
	t, ctx := r.t, r.ctx

	priBefore := r.completeConsole(r.pri)
	lastSeq := seqlog.ParseConsole(priBefore).Current().Seq
	killed := r.kill(r.sec)
	echoed := make(chan error, 1)
	go func() { echoed <- roundTrip(r.conn, []byte("after the kill\n"), killed.Add(60*time.Second)) }()

	var err error
	if viaPair {
		err = r.pair.FailoverPrimary(ctx)
	} else {
		err = ft.FailoverPrimaryOn(ctx, r.pri.QMP(), ft.Options{Logf: t.Logf})
	}
	if err != nil {
		r.fail("primary failover: %v", err)
	}
	failedOver := time.Since(killed)
	t.Logf("failover done %v after the kill: %v", failedOver.Round(time.Millisecond), r.pair.State())
	if err := <-echoed; err != nil {
		r.fail("the echo connection opened before the kill: %v", err)
	}
	gap := time.Since(killed)
	r.echoAfter()
	r.checkRunning(r.pri)

	// The primary's own records never roll back: its whole console is one
	// run of SEQ numbers of one boot.
	after := r.seqsAfter(r.pri, len(priBefore), lastSeq)
	con := r.console(r.pri)
	if l := kernelTrouble(con); l != "" {
		t.Errorf("the guest's kernel failed: %q", l)
	}
	all := parseSeqs(con)
	checkContinues(t, lastSeq, r.boot.Short(), all[:len(parseSeqs(priBefore))], after)
	for i := 1; i < len(all); i++ {
		if all[i].id == "BOOT "+r.boot.ID {
			continue
		}
		if all[i].id != r.boot.Short() || all[i-1].id == r.boot.Short() && all[i].seq != all[i-1].seq+1 {
			t.Errorf("the primary's console: %v after %v", all[i], all[i-1])
		}
	}
	if !t.Failed() {
		t.Logf("GAP: the old connection echoed again %v after the kill (failover took %v)", gap.Round(time.Millisecond), failedOver.Round(time.Millisecond))
		t.Logf("SEQ: the primary printed up to %d before the kill and %d..%d after it, same boot",
			lastSeq, after[0].seq, after[len(after)-1].seq)
	}
	r.sec = nil
}

// echoAfter checks that the connection keeps echoing after the failover.
func (r *rig) echoAfter() {
	r.t.Helper()
	for i := range 3 {
		if err := roundTrip(r.conn, fmt.Appendf(nil, "after the failover %d\n", i), time.Now().Add(30*time.Second)); err != nil {
			r.fail("echo after the failover: %v", err)
		}
	}
}

// checkRunning checks that the survivor runs, out of COLO.
func (r *rig) checkRunning(p *ft.Process) {
	r.t.Helper()
	st, err := p.QMP().QueryStatus(r.ctx)
	if err != nil || !st.Running {
		r.fail("the survivor after failover: %+v, %v", st, err)
	}
	colo, err := p.QMP().QueryColoStatus(r.ctx)
	if err != nil || colo.Mode != "none" {
		r.fail("the survivor after failover: COLO %+v, %v", colo, err)
	}
	r.t.Logf("the survivor (started as %s) after failover: run state %q, COLO %+v", p.Role, st.Status, colo)
}

// seqsAfter waits (30 s at most) until p's console, from offset on (from
// p's start), shows ten records past lastSeq, and returns its SEQ and BOOT
// lines from there.
func (r *rig) seqsAfter(p *ft.Process, offset int, lastSeq uint64) []seqLine {
	var after []seqLine
	deadline := time.Now().Add(30 * time.Second)
	for {
		after = parseSeqs(r.console(p)[offset:])
		if n := len(after); n > 0 && after[n-1].seq > lastSeq+10 || time.Now().After(deadline) {
			return after
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// seqLine is a SEQ line: record n of the boot with this short id.
type seqLine struct {
	seq uint64
	id  string
}

// parseSeqs lists the SEQ lines of a console log in order; a BOOT line is
// listed with seq 0 and id "BOOT <id>".
func parseSeqs(log []byte) []seqLine {
	var out []seqLine
	for _, line := range strings.Split(string(log), "\n") {
		i := strings.Index(line, seqlog.Prefix)
		if i < 0 {
			continue
		}
		f := strings.Fields(line[i+len(seqlog.Prefix):])
		switch {
		case len(f) >= 2 && f[0] == "BOOT":
			out = append(out, seqLine{0, "BOOT " + f[1]})
		case len(f) >= 3 && f[0] == "SEQ":
			if n, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				out = append(out, seqLine{n, f[2]})
			}
		}
	}
	return out
}

// checkContinues checks the secondary's console after the kill: no BOOT
// line, only the primary's boot, SEQ numbers one after the other, up past
// the primary's last one, and none missing between: the first after the
// kill follows the primary's last, or the secondary printed those in
// between before the kill (it runs ahead of the last checkpoint). It
// reports whether all was well.
func checkContinues(t *testing.T, lastSeq uint64, short string, secBefore, after []seqLine) bool {
	t.Helper()
	ok := true
	errorf := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		ok = false
	}
	if len(after) == 0 {
		errorf("the secondary printed no SEQ line after the kill")
		return ok
	}
	for i, l := range after {
		if strings.HasPrefix(l.id, "BOOT ") {
			errorf("the guest booted again on the secondary: %s", l.id)
			return ok
		}
		if l.id != short {
			errorf("SEQ %d after the kill has boot %s, want %s", l.seq, l.id, short)
			return ok
		}
		if i > 0 && l.seq != after[i-1].seq+1 {
			errorf("SEQ after the kill jumps from %d to %d", after[i-1].seq, l.seq)
		}
	}
	if got := after[len(after)-1].seq; got <= lastSeq {
		errorf("the secondary's SEQ reached %d, not past the primary's last %d", got, lastSeq)
	}
	for n := lastSeq + 1; n < after[0].seq; n++ {
		if !slices.Contains(secBefore, seqLine{n, short}) {
			errorf("SEQ %d is missing: the primary's last was %d, the secondary's first after the kill %d", n, lastSeq, after[0].seq)
		}
	}
	return ok
}

// logLatencies logs the spread of the records' write+fsync latencies under
// COLO (each write goes to the local image and over NBD to the peer).
func logLatencies(t *testing.T, b *seqlog.Boot) {
	var ls []time.Duration
	for _, w := range b.Writes {
		ls = append(ls, w.Latency)
	}
	if len(ls) == 0 {
		return
	}
	ls = sorted(ls)
	t.Logf("record write+fsync under COLO (%d): median %v, p90 %v, max %v", len(ls),
		quantile(ls, 0.5), quantile(ls, 0.9), ls[len(ls)-1])
}
