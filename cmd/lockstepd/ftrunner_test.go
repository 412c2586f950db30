package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/cluster/membership"
)

// protected starts web on h's node and waits until it is protected.
func (h *ftHarness) protected(t *testing.T) *fakeActive {
	t.Helper()
	if err := h.r.Start(context.Background(), h.recs["web"]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "protected", func() bool {
		st, _ := h.r.FTStatus("web")
		return st.State == api.FTProtected
	})
	return h.eng.active(0)
}

func TestFTStartRunsTheActiveSideThenProtectsWithThePeer(t *testing.T) {
	h := newFTHarness(t, 0)
	h.protected(t)
	want := []string{"start-active web", "console web /work/active web/console.log", "claim web",
		"peer start-secondary web", "protect web 169.254.100.2:20004"}
	if got := h.log.all(); !slices.Equal(got, want) {
		t.Errorf("calls %q\nwant  %q", got, want)
	}
	if got := h.r.Running(); !slices.Equal(got, []string{"web"}) {
		t.Errorf("running %q", got)
	}
	if st, _ := h.r.FTStatus("web"); st.SecondaryOn != "node1" {
		t.Errorf("status %+v: want the secondary on node1", st)
	}
}

func TestFTStartWaitsForThePeerBeforeProtecting(t *testing.T) {
	h := newFTHarness(t, 0)
	h.setStatus(func(s *membership.Status) { s.Connected, s.PeerLost = false, true })
	if err := h.r.Start(context.Background(), h.recs["web"]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if n := h.log.count("peer "); n != 0 {
		t.Fatalf("asked the absent peer: %q", h.log.all())
	}
	st, _ := h.r.FTStatus("web")
	if st.State != api.FTSimplex || !strings.Contains(st.Reason, "node1 is not connected") {
		t.Errorf("status %+v", st)
	}
	h.setStatus(func(s *membership.Status) { s.Connected, s.PeerLost = true, false })
	eventually(t, "protected once the peer is back", func() bool { return h.log.has("protect web 169.254.100.2:20004") })
}

func TestFTFailedProtectionIsRetriedAfterTheBackoff(t *testing.T) {
	h := newFTHarness(t, 0)
	h.peer.startErr = errors.New("no room")
	if err := h.r.Start(context.Background(), h.recs["web"]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a second attempt", func() bool { return h.log.count("peer start-secondary") >= 2 })
	if h.log.count("peer stop-secondary") == 0 {
		t.Errorf("a failed attempt left its secondary: %q", h.log.all())
	}
	if st, _ := h.r.FTStatus("web"); st.State != api.FTSimplex || !strings.Contains(st.Reason, "no room") {
		t.Errorf("status %+v: want simplex with the reason", st)
	}
}

func TestFTLostSecondaryContinuesAloneAtOnceThenReprotects(t *testing.T) {
	h := newFTHarness(t, 0)
	a := h.protected(t)
	a.loseSecondary()
	eventually(t, "continue-alone", func() bool { return h.log.has("continue-alone web") })
	lines := h.log.all()
	i := slices.Index(lines, "continue-alone web")
	if j := slices.Index(lines, "peer stop-secondary web"); j >= 0 && j < i {
		t.Errorf("the secondary was stopped before the failover here: %q", lines)
	}
	eventually(t, "protection again", func() bool { return h.log.count("protect web") == 2 })
	want := []string{"info vm.protected: FT VM web is protected: it runs on node0, its secondary on node1",
		"error vm.unprotected: FT VM web runs unprotected on node0: the secondary on node1 was lost; protecting again in 20ms",
		"info vm.protected: FT VM web is protected: it runs on node0, its secondary on node1"}
	eventually(t, "alerts", func() bool { return len(h.raised()) == 3 })
	if got := h.raised(); !slices.Equal(got, want) {
		t.Errorf("alerts %q\nwant   %q", got, want)
	}
}

func TestFTPeerLossContinuesAloneOnlyOnThePrimary(t *testing.T) {
	h := newFTHarness(t, 0)
	h.protected(t)
	// Fenced side of a partition: the membership is about to release the
	// VM; its output must stay held.
	h.setStatus(func(s *membership.Status) { s.Connected, s.PeerLost, s.State = false, true, membership.StateIsolated })
	time.Sleep(20 * time.Millisecond)
	if h.log.has("continue-alone web") {
		t.Fatalf("continued alone without holding the system: %q", h.log.all())
	}
	h.setStatus(func(s *membership.Status) { s.State = membership.StatePrimary })
	eventually(t, "continue-alone", func() bool { return h.log.has("continue-alone web") })
}

func TestFTTakeOverFailsOverTheSecondaryHere(t *testing.T) {
	h := newFTHarness(t, 1)
	h.recs["web"] = ftRecord("web", "node0") // node0 ran it
	if _, err := h.r.StartSecondary(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if len(h.r.Running()) != 0 {
		t.Fatalf("a secondary counts as running: %q", h.r.Running())
	}
	h.setStatus(func(s *membership.Status) { s.Connected, s.PeerLost = false, true })
	if err := h.r.Start(context.Background(), h.recs["web"]); err != nil {
		t.Fatal(err)
	}
	if h.log.has("start-active web") || !h.log.has("take-over web") {
		t.Errorf("calls %q: want a failover, no cold start", h.log.all())
	}
	if !h.log.has("claim web") || !h.log.has("console web /work/secondary web/console.log") {
		t.Errorf("calls %q: want the current copy claimed and the secondary's console shown", h.log.all())
	}
	if !slices.Equal(h.r.Running(), []string{"web"}) {
		t.Errorf("running %q", h.r.Running())
	}
}

func TestFTTakeOverWithoutASecondaryColdStarts(t *testing.T) {
	h := newFTHarness(t, 1)
	h.setStatus(func(s *membership.Status) { s.Connected, s.PeerLost = false, true })
	if err := h.r.Start(context.Background(), h.recs["web"]); err != nil {
		t.Fatal(err)
	}
	if !h.log.has("start-active web") {
		t.Errorf("calls %q", h.log.all())
	}
}

func TestFTColdStartNeedsTheCurrentCopy(t *testing.T) {
	h := newFTHarness(t, 1)
	h.recs["web"] = ftRecord("web", "node0")
	h.setStatus(func(s *membership.Status) { s.Connected, s.PeerLost = false, true })
	err := h.r.Start(context.Background(), h.recs["web"])
	if err == nil || !strings.Contains(err.Error(), "only node0 has the current data") {
		t.Fatalf("err %v", err)
	}
	if h.log.has("start-active web") {
		t.Errorf("started from a stale copy: %q", h.log.all())
	}
}

func TestFTSecondaryWithoutCheckpointIsStoppedNotResumed(t *testing.T) {
	h := newFTHarness(t, 1)
	if _, err := h.r.StartSecondary(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	h.eng.secondaries[0].noCheckpoint = true
	h.setStatus(func(s *membership.Status) { s.Connected, s.PeerLost = false, true })
	if err := h.r.Start(context.Background(), h.recs["web"]); err != nil {
		t.Fatal(err)
	}
	want := []string{"start-secondary web", "take-over web", "kill secondary web", "start-active web"}
	if got := h.log.all()[:4]; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func TestFTStartWithTheSecondaryHereButThePeerAliveDoesNotResumeIt(t *testing.T) {
	h := newFTHarness(t, 1)
	if _, err := h.r.StartSecondary(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if err := h.r.Start(context.Background(), h.recs["web"]); err != nil {
		t.Fatal(err)
	}
	if h.log.has("take-over web") || !h.log.has("kill secondary web") {
		t.Errorf("calls %q", h.log.all())
	}
}

func TestFTShutdownPowersDownThenStopsTheSecondary(t *testing.T) {
	h := newFTHarness(t, 0)
	h.protected(t)
	if err := h.r.Shutdown(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the secondary stopped", func() bool { return h.log.has("peer stop-secondary web") })
	lines := h.log.all()
	if slices.Index(lines, "powerdown web") > slices.Index(lines, "peer stop-secondary web") || h.log.has("continue-alone web") {
		t.Errorf("calls %q", lines)
	}
	eventually(t, "not running", func() bool { return len(h.r.Running()) == 0 })
}

func TestFTDestroyKillsBothSides(t *testing.T) {
	h := newFTHarness(t, 0)
	h.protected(t)
	h.r.Final("web") // the operator's power-off
	if err := h.r.Destroy(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if !h.log.has("kill active web") || !h.log.has("peer stop-secondary web") || len(h.r.Running()) != 0 {
		t.Errorf("calls %q running %q", h.log.all(), h.r.Running())
	}
}

func TestFTReleaseLeavesThePeersSecondaryToTakeOver(t *testing.T) {
	h := newFTHarness(t, 0)
	h.protected(t)
	if err := h.r.Destroy(context.Background(), "web"); err != nil { // the membership's release
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if h.log.has("peer stop-secondary web") {
		t.Errorf("a release stopped the secondary that must take over: %q", h.log.all())
	}
}

func TestFTMigrateIsAControlledFailover(t *testing.T) {
	h := newFTHarness(t, 0)
	h.peer.startErr = errors.New("not yet")
	if err := h.r.Start(context.Background(), h.recs["web"]); err != nil {
		t.Fatal(err)
	}
	if err := h.r.Migrate(context.Background(), "web"); err == nil || !strings.Contains(err.Error(), "needs a protected pair") {
		t.Fatalf("migrating an unprotected VM: %v", err)
	}
	if h.log.has("kill active web") {
		t.Fatalf("a refused move killed the VM: %q", h.log.all())
	}
	h.Destroy(t)

	h = newFTHarness(t, 0)
	h.protected(t)
	if err := h.r.Migrate(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	lines := h.log.all()
	if k, o := slices.Index(lines, "kill active web"), slices.Index(lines, "peer take-over web"); k < 0 || o < k {
		t.Errorf("calls %q: want the kill here, then the take-over there", lines)
	}
	time.Sleep(10 * time.Millisecond)
	if h.log.has("peer stop-secondary web") || h.log.has("continue-alone web") || len(h.r.Running()) != 0 {
		t.Errorf("calls %q running %q", h.log.all(), h.r.Running())
	}
}

func TestFTCrashOfTheProtectedActiveSideFailsOverToTheSecondary(t *testing.T) {
	h := newFTHarness(t, 0)
	a := h.protected(t)
	a.exit(errors.New("signal: segmentation fault"))
	eventually(t, "the secondary's take-over", func() bool { return h.log.has("peer take-over web") })
	lines := h.log.all()
	if m := slices.Index(lines, "move web"); m < 0 || m > slices.Index(lines, "peer take-over web") {
		t.Errorf("calls %q: want the move (which announces the VM on the peer) to drive the take-over", lines)
	}
	eventually(t, "the crashed side forgotten", func() bool { return len(h.r.Running()) == 0 })
	if h.log.has("peer stop-secondary web") {
		t.Errorf("calls %q: the secondary that took over was stopped", h.log.all())
	}
}

func TestFTCrashSeenFirstAsALostSecondaryStillFailsOver(t *testing.T) {
	h := newFTHarness(t, 0)
	a := h.protected(t)
	// COLO breaks before QEMU's exit is seen: the failover on this side
	// fails, since its QEMU is dying.
	a.continueErr = errors.New("qmp: connection reset")
	a.loseSecondary()
	eventually(t, "continue-alone tried", func() bool { return h.log.has("continue-alone web") })
	a.exit(errors.New("signal: aborted"))
	eventually(t, "the secondary's take-over", func() bool { return h.log.has("peer take-over web") })
}

func TestFTNoFailoverWhenNotACrashOfAProtectedPair(t *testing.T) {
	for _, c := range []struct {
		name string
		do   func(t *testing.T, h *ftHarness)
	}{
		{"crash before protection", func(t *testing.T, h *ftHarness) {
			h.peer.startErr = errors.New("not yet")
			if err := h.r.Start(context.Background(), h.recs["web"]); err != nil {
				t.Fatal(err)
			}
			eventually(t, "a protection attempt", func() bool { return h.log.has("peer start-secondary web") })
			h.eng.active(0).exit(errors.New("signal: segmentation fault"))
		}},
		{"crash after the secondary was lost", func(t *testing.T, h *ftHarness) {
			a := h.protected(t)
			a.loseSecondary()
			eventually(t, "alone", func() bool { return h.log.has("peer stop-secondary web") })
			a.exit(errors.New("signal: segmentation fault"))
		}},
		{"release by the membership", func(t *testing.T, h *ftHarness) {
			h.protected(t)
			if err := h.r.Destroy(context.Background(), "web"); err != nil {
				t.Fatal(err)
			}
		}},
		{"guest powered off", func(t *testing.T, h *ftHarness) {
			if err := h.protected(t).Powerdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
		{"crash with the peer gone", func(t *testing.T, h *ftHarness) {
			a := h.protected(t)
			h.setStatus(func(s *membership.Status) { s.Connected = false })
			a.exit(errors.New("signal: segmentation fault"))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newFTHarness(t, 0)
			c.do(t, h)
			eventually(t, "the active side forgotten", func() bool { return len(h.r.Running()) == 0 })
			time.Sleep(20 * time.Millisecond)
			if h.log.has("move web") || h.log.has("peer take-over web") {
				t.Errorf("calls %q: a take-over by the secondary", h.log.all())
			}
		})
	}
}

func (h *ftHarness) Destroy(t *testing.T) {
	for _, n := range h.r.Running() {
		h.r.Destroy(context.Background(), n)
	}
}

func TestFTTakeOverHereOnThePeersRequest(t *testing.T) {
	h := newFTHarness(t, 1)
	if err := h.r.TakeOverHere(context.Background(), "web"); err == nil {
		t.Fatal("a take-over without a secondary succeeded")
	}
	if _, err := h.r.StartSecondary(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if err := h.r.TakeOverHere(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.r.Running(), []string{"web"}) || !h.log.has("claim web") {
		t.Errorf("calls %q running %q", h.log.all(), h.r.Running())
	}
	// The new active side protects itself with node0 as its secondary.
	eventually(t, "protection from node1", func() bool { return h.log.has("peer start-secondary web") })
}

func TestFTOrphanedSecondaryIsStoppedWhileThePeerStaysConnected(t *testing.T) {
	h := newFTHarness(t, 1)
	if _, err := h.r.StartSecondary(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	close(h.eng.secondaries[0].detached)
	eventually(t, "the orphan killed", func() bool { return h.log.has("kill secondary web") })
	h.setStatus(func(s *membership.Status) { s.Connected, s.PeerLost = false, true })
	if err := h.r.Start(context.Background(), h.recs["web"]); err != nil {
		t.Fatal(err)
	}
	if h.log.has("take-over web") {
		t.Errorf("resumed an orphan: %q", h.log.all())
	}

	// Detached while the peer is gone: kept for the take-over.
	h = newFTHarness(t, 1)
	h.setStatus(func(s *membership.Status) { s.Connected, s.PeerLost = false, true })
	if _, err := h.r.StartSecondary(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	close(h.eng.secondaries[0].detached)
	time.Sleep(50 * time.Millisecond)
	if h.log.has("kill secondary web") {
		t.Fatalf("killed the secondary a take-over needs: %q", h.log.all())
	}
}

func TestFTSecondaryRefusedWhereTheVMIsActive(t *testing.T) {
	h := newFTHarness(t, 0)
	h.protected(t)
	if _, err := h.r.StartSecondary(context.Background(), "web"); !errors.Is(err, errFTActiveHere) {
		t.Errorf("err %v", err)
	}
	if _, err := h.r.StartSecondary(context.Background(), "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("err %v", err)
	}
}

// The work directories of deleted FT VMs (and of VMs that are HA now) go,
// once nothing of theirs runs here; those of FT VMs, and of a secondary
// still running for a VM this node no longer knows, stay.
func TestFTWorkDirsOfDeletedVMsAreSwept(t *testing.T) {
	s := testVMService(t, node1Links())
	h := newFTHarness(t, 1)
	s.ft = h.r
	ha1 := ftRecord("was-ft", "")
	ha1.Spec.Mode = api.ModeHA
	tab := &ha.Table{Generation: 3, VMs: map[string]*ha.Record{"web": ftRecord("web", ""), "was-ft": ha1}}
	if _, err := s.mgr.SetTable(context.Background(), tab, true); err != nil {
		t.Fatal(err)
	}
	if _, err := h.r.StartSecondary(context.Background(), "web"); err != nil { // h's own table has web
		t.Fatal(err)
	}
	delete(tab.VMs, "web") // deleted on the primary while its secondary here still runs
	tab.Generation++
	if _, err := s.mgr.SetTable(context.Background(), tab, true); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"web", "was-ft", "gone"} {
		if err := os.MkdirAll(filepath.Join(s.ftWorkDir(n), "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.sweepFTDirs()
	for n, want := range map[string]bool{"web": true, "was-ft": false, "gone": false} {
		if _, err := os.Stat(s.ftWorkDir(n)); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", n, err == nil, want)
		}
	}
	if err := h.r.StopSecondary(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	s.sweepFTDirs()
	if _, err := os.Stat(s.ftWorkDir("web")); err == nil {
		t.Errorf("web's directory kept after its secondary stopped")
	}
}
