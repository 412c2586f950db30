package heartbeat

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/cluster/membership"
)

var (
	testKey  = bytes.Repeat([]byte{0x42}, KeySize)
	otherKey = bytes.Repeat([]byte{0x17}, KeySize)
	t0       = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func sampleHeartbeat() membership.Heartbeat {
	return membership.Heartbeat{
		System: "sys-1234", From: membership.Node1, Incarnation: 7, Seq: 42,
		Term: 3, State: membership.StateSecondary, PeerLost: true, Disconnected: false,
		Owned: []string{"vm-a", "vm-b"}, Fenced: []string{"vm-c"},
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	hb := sampleHeartbeat()
	m := FromHeartbeat(hb, "alink0", t0.Add(123456789))
	pkt, err := m.Seal(testKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(testKey, pkt)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Sent.Equal(m.Sent) {
		t.Errorf("sent %v, want %v", got.Sent, m.Sent)
	}
	got.Sent = m.Sent
	if !reflect.DeepEqual(got, m) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, m)
	}
	if back := got.Heartbeat(); !reflect.DeepEqual(back, hb) {
		t.Errorf("heartbeat:\n got %+v\nwant %+v", back, hb)
	}
	again, _ := got.Seal(testKey)
	if !bytes.Equal(again, pkt) {
		t.Error("re-sealing a decoded message changed its bytes (encoding not canonical)")
	}

	// Every flag and state survives.
	for _, st := range []membership.State{membership.StateStopped, membership.StateJoining, membership.StateIsolated, membership.StatePrimary} {
		for _, fl := range [][2]bool{{false, false}, {true, true}, {false, true}} {
			m := Message{System: "s", From: membership.Node0, Link: "priv0", Boot: 1, Seq: 1, Sent: t0, State: st, PeerLost: fl[0], Disconnected: fl[1]}
			pkt, err := m.Seal(testKey)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Open(testKey, pkt)
			if err != nil || got.State != st || got.PeerLost != fl[0] || got.Disconnected != fl[1] {
				t.Errorf("%v %v: got %+v, %v", st, fl, got, err)
			}
		}
	}
}

func TestOpenRejects(t *testing.T) {
	pkt, err := FromHeartbeat(sampleHeartbeat(), "priv0", t0).Seal(testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(otherKey, pkt); !errors.Is(err, ErrBadMAC) {
		t.Errorf("wrong key: %v", err)
	}
	for i := range pkt {
		if i == len(magic) {
			continue // the version byte has its own error, below
		}
		bad := bytes.Clone(pkt)
		bad[i] ^= 0x01
		if _, err := Open(testKey, bad); err == nil {
			t.Fatalf("flipping a bit of byte %d went unnoticed", i)
		}
	}
	v2 := bytes.Clone(pkt)
	v2[len(magic)] = 2
	if _, err := Open(testKey, v2); !errors.Is(err, ErrVersion) {
		t.Errorf("version 2: %v", err)
	}
	if _, err := Open(testKey, pkt[:len(pkt)-1]); err == nil {
		t.Error("truncated datagram accepted")
	}
	if _, err := Open(testKey, append(bytes.Clone(pkt), 0)); err == nil {
		t.Error("datagram with a trailing byte accepted")
	}
	if _, err := Open(testKey, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty: %v", err)
	}
	if _, err := Open(testKey, make([]byte, MaxDatagram+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized: %v", err)
	}
	if _, err := Open(testKey[:16], pkt); err == nil {
		t.Error("short key accepted")
	}
}

// A message that authenticates but breaks a field rule is malformed: the
// MAC proves who wrote it, not that it makes sense.
func TestOpenRejectsSignedNonsense(t *testing.T) {
	good := FromHeartbeat(sampleHeartbeat(), "priv0", t0)
	payload := good.appendPayload(nil)
	cases := map[string]func(b []byte) []byte{
		"unknown flag": func(b []byte) []byte { b[5] |= 0x80; return b },
		"node 2":       func(b []byte) []byte { b[6] = 2; return b },
		"state 9":      func(b []byte) []byte { b[7] = 9; return b },
		"boot 0":       func(b []byte) []byte { copy(b[8:16], make([]byte, 8)); return b },
		"trailing":     func(b []byte) []byte { return append(b, 0) },
		"short list":   func(b []byte) []byte { return b[:len(b)-2] },
		"huge count":   func(b []byte) []byte { b[len(b)-7] = 0xff; return b },
	}
	for name, mutate := range cases {
		b := mutate(bytes.Clone(payload))
		pkt := append(b, mac(testKey, b)...)
		if _, err := Open(testKey, pkt); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
}

func TestSealRefuses(t *testing.T) {
	ok := FromHeartbeat(sampleHeartbeat(), "priv0", t0)
	cases := map[string]func(m *Message){
		"no system":     func(m *Message) { m.System = "" },
		"long system":   func(m *Message) { m.System = strings.Repeat("s", MaxSystemID+1) },
		"no link":       func(m *Message) { m.Link = "" },
		"long link":     func(m *Message) { m.Link = "a-very-long-ifname" },
		"node 2":        func(m *Message) { m.From = 2 },
		"bad state":     func(m *Message) { m.State = 99 },
		"boot 0":        func(m *Message) { m.Boot = 0 },
		"long resource": func(m *Message) { m.Owned = []string{strings.Repeat("r", 256)} },
		"too big": func(m *Message) {
			m.Owned = make([]string, 100)
			for i := range m.Owned {
				m.Owned[i] = strings.Repeat("x", 200)
			}
		},
	}
	for name, mutate := range cases {
		m := ok
		mutate(&m)
		if _, err := m.Seal(testKey); err == nil {
			t.Errorf("%s: sealed", name)
		}
	}
	if _, err := ok.Seal(testKey[:31]); err == nil {
		t.Error("31-byte key accepted")
	}
}

// FuzzOpen feeds arbitrary datagrams to the decoder: it must never panic,
// and whatever it accepts must re-encode to the same bytes. The fuzzer
// cannot forge a MAC, so FuzzParse below explores the field parser.
func FuzzOpen(f *testing.F) {
	for _, link := range []string{"priv0", "alink0"} {
		pkt, err := FromHeartbeat(sampleHeartbeat(), link, t0).Seal(testKey)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pkt)
		f.Add(pkt[:len(pkt)/2])
	}
	f.Add([]byte(magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		m, err := Open(testKey, pkt)
		if err != nil {
			return
		}
		again, err := m.Seal(testKey)
		if err != nil || !bytes.Equal(again, pkt) {
			t.Fatalf("accepted %x but re-sealed %x (%v)", pkt, again, err)
		}
	})
}

// FuzzParse fuzzes the MAC-covered part directly, as a key holder could
// write it.
func FuzzParse(f *testing.F) {
	f.Add(FromHeartbeat(sampleHeartbeat(), "priv0", t0).appendPayload(nil))
	f.Add(Message{System: "s", Link: "l", Boot: 1}.appendPayload(nil))
	f.Add([]byte(magic + "\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parsePayload(b)
		if err != nil {
			return
		}
		if again := m.appendPayload(nil); !bytes.Equal(again, b) {
			t.Fatalf("parsed %x as %+v, which encodes to %x", b, m, again)
		}
		pkt := append(bytes.Clone(b), mac(testKey, b)...)
		if len(pkt) <= MaxDatagram {
			if _, err := Open(testKey, pkt); err != nil {
				t.Fatalf("parsed payload, but Open of the sealed datagram: %v", err)
			}
		}
	})
}
