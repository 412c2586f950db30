package witness

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var secret = []byte("0123456789abcdef-test-secret")

func nonce(b byte) []byte { return bytes.Repeat([]byte{b}, nonceLen) }

func TestWireRoundTripAndTampering(t *testing.T) {
	pkt, err := sealRequest(secret, vote(1, 7), t0, nonce(1))
	if err != nil {
		t.Fatal(err)
	}
	req, ts, n, err := openRequest(secret, pkt)
	if err != nil || req != vote(1, 7) || !ts.Equal(t0) || n != strings.Repeat("01", nonceLen) {
		t.Fatalf("round trip: %+v %v %q %v", req, ts, n, err)
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		key  []byte
		want error
	}{
		{"wrong secret", pkt, []byte("another-secret-of-16"), ErrBadMAC},
		{"flipped body byte", flip(pkt, len(pkt)-3), secret, ErrBadMAC},
		{"flipped MAC byte", flip(pkt, 10), secret, ErrBadMAC},
		{"truncated", pkt[:20], secret, ErrMalformed},
		{"not ours", []byte("GET / HTTP/1.0\r\n\r\n-------------------------------"), secret, ErrMalformed},
	} {
		if _, _, _, err := openRequest(tc.key, tc.pkt); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	// A request cannot pass for a reply (the direction is in the MAC).
	if _, _, err := openReply(secret, pkt); !errors.Is(err, ErrBadMAC) {
		t.Errorf("request accepted as reply: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func TestServerRejectsStaleAndReplayed(t *testing.T) {
	now := t0
	s := &Server{Ledger: NewLedger(10*sec, State{}, nil), Secret: secret, Now: func() time.Time { return now }, NotBefore: t0.Add(-time.Minute)}
	send := func(ts time.Time, n byte) error {
		pkt, err := sealRequest(secret, vote(0, 1), ts, nonce(n))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Handle(pkt, nil)
		return err
	}
	for _, tc := range []struct {
		name  string
		ts    time.Time
		nonce byte
		want  string // "" accepted
	}{
		{"fresh", t0, 1, ""},
		{"replayed nonce", t0, 1, "replayed"},
		{"too old", t0.Add(-31 * sec), 2, "stale request"},
		{"from the future", t0.Add(31 * sec), 3, "stale request"},
		{"before the witness started", t0.Add(-61 * sec), 4, "stale request"},
		{"slightly skewed", t0.Add(-5 * sec), 5, ""},
	} {
		err := send(tc.ts, tc.nonce)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	s.NotBefore = t0
	if err := send(t0.Add(-sec), 6); err == nil || !strings.Contains(err.Error(), "before the witness started") {
		t.Errorf("pre-restart request: %v", err)
	}
}

// startServer serves on 127.0.0.1 only and stops with the test.
func startServer(t *testing.T, l *Ledger) (string, func() []Decision) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var decisions []Decision
	s := &Server{Ledger: l, Secret: secret, OnDecision: func(d Decision) {
		mu.Lock()
		decisions = append(decisions, d)
		mu.Unlock()
	}}
	done := make(chan error, 1)
	go func() { done <- s.Serve(pc) }()
	t.Cleanup(func() {
		pc.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return pc.LocalAddr().String(), func() []Decision {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(decisions)
	}
}

func TestClientServerLoopback(t *testing.T) {
	addr, decisions := startServer(t, NewLedger(10*sec, State{}, nil))
	ctx := context.Background()
	c0 := &Client{Addr: addr, Secret: secret, Timeout: 2 * sec}
	c1 := &Client{Addr: addr, Secret: secret, Timeout: 2 * sec}
	for _, tc := range []struct {
		c      *Client
		req    Request
		result Result
		reason Reason
	}{
		{c0, Request{Kind: KindProbe, System: "sys-1"}, Pong, ""},
		{c0, vote(0, 1), Granted, ""},
		{c1, vote(1, 2), Refused, ReasonHeld},
		{c0, Request{Kind: KindRelease, System: "sys-1", Node: 0}, Released, ""},
		{c1, vote(1, 2), Granted, ""},
	} {
		rep, err := tc.c.Do(ctx, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Result != tc.result || rep.Reason != tc.reason {
			t.Fatalf("%+v: %s, want %s %s", tc.req, rep, tc.result, tc.reason)
		}
	}
	if n := len(decisions()); n != 5 {
		t.Errorf("%d decisions reported, want 5", n)
	}
}

func TestClientWrongSecretGetsNoAnswer(t *testing.T) {
	addr, decisions := startServer(t, NewLedger(10*sec, State{}, nil))
	c := &Client{Addr: addr, Secret: []byte("a-different-secret!!"), Timeout: 150 * time.Millisecond}
	_, err := c.Do(context.Background(), vote(0, 1))
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("err = %v, want no answer", err)
	}
	if len(decisions()) != 0 {
		t.Fatal("an unauthenticated request was decided")
	}
}

func TestClientValidates(t *testing.T) {
	c := &Client{Addr: "127.0.0.1:9", Secret: []byte("short")}
	if _, err := c.Do(context.Background(), vote(0, 1)); err == nil || !strings.Contains(err.Error(), "need at least 16") {
		t.Fatalf("err = %v", err)
	}
	c.Secret = secret
	if _, err := c.Do(context.Background(), Request{Kind: KindVote, System: "s"}); err == nil || !strings.Contains(err.Error(), "term 0") {
		t.Fatalf("err = %v", err)
	}
}
