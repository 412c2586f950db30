package api

import (
	"testing"
	"time"
)

func TestLimiterIsPerAddress(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := &limiter{max: 2, window: time.Minute, now: func() time.Time { return now }, fails: map[string][]time.Time{}}
	l.fail("192.0.2.1")
	l.fail("192.0.2.1")
	if _, b := l.blocked("192.0.2.1"); !b {
		t.Error("192.0.2.1 not blocked after 2 failures")
	}
	if _, b := l.blocked("192.0.2.2"); b {
		t.Error("192.0.2.2 blocked by 192.0.2.1's failures")
	}
	now = now.Add(time.Minute)
	if _, b := l.blocked("192.0.2.1"); b || len(l.fails) != 0 {
		t.Errorf("still blocked after the window, or not forgotten: %v", l.fails)
	}
}

func TestSessionsAreBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	s := &sessions{idle: time.Hour, max: 2, now: func() time.Time { return now }}
	var toks []string
	for range 3 {
		tok, err := s.create("admin")
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
		now = now.Add(time.Second)
	}
	if _, ok := s.check(toks[0]); ok {
		t.Error("the oldest-used session survived past MaxSessions")
	}
	for _, tok := range toks[1:] {
		if u, ok := s.check(tok); !ok || u != "admin" {
			t.Errorf("session lost: %v %q", ok, u)
		}
	}
}
