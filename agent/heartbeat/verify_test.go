package heartbeat

import (
	"errors"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

func peerMsg(link string, boot, seq uint64, sent time.Time) Message {
	return Message{System: "sys-1234", From: membership.Node1, Link: link, Boot: boot, Seq: seq, Sent: sent, State: membership.StateSecondary}
}

func TestVerifierRules(t *testing.T) {
	v := &Verifier{System: "sys-1234", Self: membership.Node0, MaxAge: 2 * time.Second, MaxFuture: time.Second}
	now := t0
	check := func(m Message, link string, want error) {
		t.Helper()
		err := v.Check(m, link, now)
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("%s boot=%d seq=%d sent=%v: %v, want %v", link, m.Boot, m.Seq, m.Sent.Sub(now), err, want)
		}
	}

	other := peerMsg("priv0", 1, 1, now)
	other.System = "sys-9999"
	check(other, "priv0", ErrWrongSystem)
	self := peerMsg("priv0", 1, 1, now)
	self.From = membership.Node0
	check(self, "priv0", ErrNotPeer)
	check(peerMsg("priv0", 1, 1, now), "alink0", ErrWrongLink)
	check(peerMsg("priv0", 1, 1, now.Add(-3*time.Second)), "priv0", ErrStale)
	check(peerMsg("priv0", 1, 1, now.Add(2*time.Second)), "priv0", ErrFuture)

	// Failed checks left no window behind: seq 5 is the first.
	check(peerMsg("priv0", 1, 5, now.Add(-time.Second)), "priv0", nil)
	check(peerMsg("priv0", 1, 5, now), "priv0", ErrReplay)
	check(peerMsg("priv0", 1, 6, now), "priv0", nil)
	check(peerMsg("priv0", 1, 4, now), "priv0", nil) // late but unseen: within the window
	check(peerMsg("priv0", 1, 4, now), "priv0", ErrReplay)

	// The same heartbeat arrives on every link: each link has its window.
	check(peerMsg("alink0", 1, 5, now), "alink0", nil)
	check(peerMsg("alink0", 1, 6, now), "alink0", nil)

	// A jump beyond the window forgets the bitmap; what falls out of it is old.
	check(peerMsg("priv0", 1, 100, now), "priv0", nil)
	check(peerMsg("priv0", 1, 100-ReplayWindow, now), "priv0", ErrReplay)
	check(peerMsg("priv0", 1, 100-ReplayWindow+1, now), "priv0", nil)
	check(peerMsg("priv0", 1, 99, now), "priv0", nil)

	// A new boot restarts the sequence; the old boot is over for good.
	check(peerMsg("priv0", 2, 1, now), "priv0", nil)
	check(peerMsg("priv0", 1, 101, now), "priv0", ErrOldBoot)
	check(peerMsg("priv0", 2, 1, now), "priv0", ErrReplay)
	check(peerMsg("priv0", 2, 2, now), "priv0", nil)
	// alink0 still knows boot 1 only; a new boot on it is accepted too.
	check(peerMsg("alink0", 2, 1, now), "alink0", nil)
}

func TestVerifierDefaults(t *testing.T) {
	v := &Verifier{System: "sys-1234", Self: membership.Node0}
	if err := v.Check(peerMsg("priv0", 1, 1, t0.Add(-DefaultMaxAge+time.Millisecond)), "priv0", t0); err != nil {
		t.Errorf("just inside the default age: %v", err)
	}
	if err := v.Check(peerMsg("priv0", 1, 2, t0.Add(-DefaultMaxAge-time.Millisecond)), "priv0", t0); !errors.Is(err, ErrStale) {
		t.Errorf("just outside the default age: %v", err)
	}
	if err := v.Check(peerMsg("priv0", 1, 3, t0.Add(DefaultMaxFuture+time.Millisecond)), "priv0", t0); !errors.Is(err, ErrFuture) {
		t.Errorf("just outside the default future: %v", err)
	}
}

func TestWindowEveryOrder(t *testing.T) {
	// Any permutation of the last ReplayWindow numbers is accepted once.
	w := window{boot: 1, top: 200, seen: 1}
	for s := uint64(200 - ReplayWindow + 1); s < 200; s += 2 {
		if err := w.accept(1, s); err != nil {
			t.Fatalf("seq %d: %v", s, err)
		}
	}
	for s := uint64(200 - ReplayWindow + 1); s <= 200; s++ {
		err := w.accept(1, s)
		seen := (s-(200-ReplayWindow+1))%2 == 0 || s == 200
		if seen != (err != nil) {
			t.Fatalf("seq %d: %v (seen before: %v)", s, err, seen)
		}
	}
}
