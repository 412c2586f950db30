package witness

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

const sec = time.Second

func vote(node uint8, term uint64) Request {
	return Request{Kind: KindVote, System: "sys-1", Node: node, Term: term, Lease: 3 * sec}
}

func TestLedgerRules(t *testing.T) {
	l := NewLedger(10*sec, State{}, nil)
	for _, st := range []struct {
		name   string
		at     time.Duration
		req    Request
		result Result
		reason Reason
		term   uint64
	}{
		{"probe of an unknown system", 0, Request{Kind: KindProbe, System: "sys-1"}, Pong, "", 0},
		{"first vote is granted", 0, vote(0, 1), Granted, "", 1},
		{"the other node is refused while the lease runs", sec, vote(1, 2), Refused, ReasonHeld, 1},
		{"the holder renews", 2 * sec, vote(0, 1), Granted, "", 1},
		{"still held after the renewal", 4 * sec, vote(1, 5), Refused, ReasonHeld, 1},
		{"a term already granted is never granted to the other node", 6 * sec, vote(1, 1), Refused, ReasonTermUsed, 1},
		{"a higher term after expiry is granted", 6 * sec, vote(1, 2), Granted, "", 2},
		{"a stale term is refused", 7 * sec, vote(0, 1), Refused, ReasonStaleTerm, 2},
		{"term 0 is invalid", 7 * sec, vote(0, 0), Refused, ReasonInvalid, 0},
		{"the holder releases", 7 * sec, Request{Kind: KindRelease, System: "sys-1", Node: 1}, Released, "", 2},
		{"after a release the other node gets a higher term at once", 7 * sec, vote(0, 3), Granted, "", 3},
		{"a release by the non-holder does nothing", 7 * sec, Request{Kind: KindRelease, System: "sys-1", Node: 1}, Released, "", 3},
		{"and the lease is still held", 7 * sec, vote(1, 4), Refused, ReasonHeld, 3},
		{"another system is independent", 7 * sec, Request{Kind: KindVote, System: "sys-2", Node: 1, Term: 1, Lease: sec}, Granted, "", 1},
	} {
		rep := l.Decide(t0.Add(st.at), st.req)
		if rep.Result != st.result || rep.Reason != st.reason || rep.Term != st.term {
			t.Fatalf("%s: got %s, want %s (%s) term=%d", st.name, rep, st.result, st.reason, st.term)
		}
	}
}

func TestLedgerCapsTheLease(t *testing.T) {
	l := NewLedger(2*sec, State{}, nil)
	req := vote(0, 1)
	req.Lease = time.Hour
	if rep := l.Decide(t0, req); rep.Lease != 2*sec {
		t.Fatalf("lease %v, want the 2s cap", rep.Lease)
	}
	if rec, _ := l.Record("sys-1"); !rec.Expires.Equal(t0.Add(2 * sec)) {
		t.Fatalf("record expires %v", rec.Expires)
	}
}

func TestLedgerQuarantine(t *testing.T) {
	l := NewLedger(5*sec, State{}, nil)
	l.QuarantineUntil(t0.Add(5 * sec))
	if rep := l.Decide(t0.Add(4*sec), vote(0, 1)); rep.Reason != ReasonQuarantine {
		t.Fatalf("during quarantine: %s", rep)
	}
	if rep := l.Decide(t0.Add(5*sec), vote(0, 1)); rep.Result != Granted {
		t.Fatalf("after quarantine: %s", rep)
	}
}

type failingStore struct{}

func (failingStore) Save(State) error { return errors.New("disk full") }

func TestLedgerGrantsNothingItCannotRecord(t *testing.T) {
	l := NewLedger(5*sec, State{}, failingStore{})
	if rep := l.Decide(t0, vote(0, 1)); rep.Result != Refused || rep.Reason != ReasonStore {
		t.Fatalf("got %s", rep)
	}
	if _, ok := l.Record("sys-1"); ok {
		t.Fatal("an unrecorded grant was remembered")
	}
}

// TestRestartDoesNotGrantTwice: a witness restarted from its state file
// refuses the other node within the lease and the term it granted.
func TestRestartDoesNotGrantTwice(t *testing.T) {
	store := FileStore{Path: filepath.Join(t.TempDir(), "state.json")}
	if _, found, err := store.Load(); err != nil || found {
		t.Fatalf("missing file: found=%v err=%v", found, err)
	}
	first := NewLedger(10*sec, State{}, store)
	if rep := first.Decide(t0, vote(0, 5)); rep.Result != Granted {
		t.Fatal(rep)
	}
	st, found, err := store.Load()
	if err != nil || !found {
		t.Fatalf("load: %v %v", found, err)
	}
	second := NewLedger(10*sec, st, store)
	if rep := second.Decide(t0.Add(sec), vote(1, 6)); rep.Reason != ReasonHeld {
		t.Errorf("within the lease: %s", rep)
	}
	if rep := second.Decide(t0.Add(20*sec), vote(1, 5)); rep.Reason != ReasonTermUsed {
		t.Errorf("same term after the lease: %s", rep)
	}
}

func TestFileStoreCorrupt(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(p, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := FileStore{Path: p}.Load()
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("err = %v", err)
	}
}

func TestFileStoreUnwritable(t *testing.T) {
	err := FileStore{Path: filepath.Join(t.TempDir(), "missing-dir", "state.json")}.Save(State{})
	if err == nil || !strings.Contains(err.Error(), "save witness state") {
		t.Fatalf("err = %v", err)
	}
}

func TestRequestValidate(t *testing.T) {
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Kind: "steal", System: "s"}, `unknown request kind "steal"`},
		{Request{Kind: KindProbe}, "system id is empty"},
		{Request{Kind: KindProbe, System: strings.Repeat("x", 200)}, "at most 128"},
		{Request{Kind: KindProbe, System: "s", Node: 2}, "node 2 is neither"},
		{Request{Kind: KindVote, System: "s", Lease: sec}, "term 0"},
		{Request{Kind: KindVote, System: "s", Term: 1}, "lease of 0s"},
	} {
		if err := tc.req.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.req, err, tc.want)
		}
	}
}
