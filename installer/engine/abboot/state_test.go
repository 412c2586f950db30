package abboot

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// step is one event in a node's life: an installer/agent call, or a boot
// (GRUB's BootChoice), after which the test checks the booted slot.
type step struct {
	op      string // "begin", "finish", "finish-try", "good", "bad", "boot"
	slot    Slot
	version string
	want    Slot   // boot: the slot GRUB boots ("" for none)
	wantErr string // the call fails with an error containing this
}

func run(t *testing.T, st State, steps []step) State {
	t.Helper()
	for i, s := range steps {
		var err error
		var next State
		var booted Slot
		switch s.op {
		case "begin":
			next, err = st.BeginInstall(s.slot)
		case "finish":
			next, err = st.FinishInstall(s.slot, s.version, false)
		case "finish-try":
			next, err = st.FinishInstall(s.slot, s.version, true)
		case "good":
			next, err = st.MarkGood(s.slot)
		case "bad":
			next, err = st.MarkBad(s.slot)
		case "boot":
			booted, next, err = BootChoice(st)
			if booted != s.want {
				t.Fatalf("step %d: booted %q, want %q (state %s)", i, booted, s.want, st)
			}
		default:
			t.Fatalf("step %d: bad op %q", i, s.op)
		}
		if s.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Fatalf("step %d %s %s: err = %v, want %q", i, s.op, s.slot, err, s.wantErr)
			}
			if s.op != "boot" && next != st {
				t.Fatalf("step %d: a refused call changed the state: %s -> %s", i, st, next)
			}
		} else if err != nil {
			t.Fatalf("step %d %s %s: %v (state %s)", i, s.op, s.slot, err, st)
		}
		if err := next.Validate(); err != nil {
			t.Fatalf("step %d: invalid state %s: %v", i, next, err)
		}
		// Every state must survive the block round trip.
		blk, err := next.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if back, err := Parse(blk); err != nil || back != next {
			t.Fatalf("step %d: block round trip %s -> %s, %v", i, next, back, err)
		}
		st = next
	}
	return st
}

// installed is a node after its first install: A active with 1.0.
var installedSteps = []step{
	{op: "begin", slot: A},
	{op: "finish", slot: A, version: "1.0"},
}

// trialSteps is an installed node upgraded to 1.1 on B, its trial boot
// pending. Clipped, as installedSteps (a literal) is, so that each case's
// append makes a copy.
var trialSteps = slices.Clip(append(installedSteps,
	step{op: "begin", slot: B},
	step{op: "finish-try", slot: B, version: "1.1"},
))

func TestStateMachine(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
		final State
	}{{
		name:  "fresh install boots A",
		steps: append(installedSteps, step{op: "boot", want: A}, step{op: "good", slot: A}, step{op: "boot", want: A}),
		final: State{Active: A, A: SlotInfo{Good, "1.0"}, B: SlotInfo{Empty, ""}},
	}, {
		name: "upgrade writes B try-once: boots B once",
		steps: append(installedSteps,
			step{op: "begin", slot: B},
			step{op: "boot", want: A}, // B is being written: still A
			step{op: "finish-try", slot: B, version: "1.1"},
			step{op: "good", slot: A}, // the old system's agent, before the reboot: trial stays pending
			step{op: "boot", want: B},
		),
		final: State{Active: A, Next: B, Tries: 0, A: SlotInfo{Good, "1.0"}, B: SlotInfo{Good, "1.1"}},
	}, {
		name: "B healthy: MarkGood(B) makes B active",
		steps: append(trialSteps,
			step{op: "boot", want: B},
			step{op: "good", slot: B},
			step{op: "boot", want: B},
			step{op: "boot", want: B},
		),
		final: State{Active: B, A: SlotInfo{Good, "1.0"}, B: SlotInfo{Good, "1.1"}},
	}, {
		name: "B never healthy: next boot back on A, B bad",
		steps: append(trialSteps,
			step{op: "boot", want: B}, // hangs, watchdog resets
			step{op: "boot", want: A},
			step{op: "good", slot: A},
			step{op: "boot", want: A},
		),
		final: State{Active: A, A: SlotInfo{Good, "1.0"}, B: SlotInfo{Bad, "1.1"}},
	}, {
		name: "B's kernel cannot be loaded: GRUB falls back to A, MarkGood(A) marks B bad",
		steps: append(trialSteps,
			step{op: "boot", want: B}, // GRUB counts the trial, then its fallback entry boots A
			step{op: "good", slot: A},
			step{op: "boot", want: A},
		),
		final: State{Active: A, A: SlotInfo{Good, "1.0"}, B: SlotInfo{Bad, "1.1"}},
	}, {
		name: "after a failed upgrade, the next upgrade rewrites B",
		steps: append(trialSteps,
			step{op: "boot", want: B},
			step{op: "boot", want: A},
			step{op: "begin", slot: B},
			step{op: "finish-try", slot: B, version: "1.2"},
			step{op: "boot", want: B},
			step{op: "good", slot: B},
		),
		final: State{Active: B, A: SlotInfo{Good, "1.0"}, B: SlotInfo{Good, "1.2"}},
	}, {
		name: "first install killed after BeginInstall: no bootable slot",
		steps: []step{
			{op: "begin", slot: A},
			{op: "boot", want: "", wantErr: "no bootable system slot: slot a is installing, slot b is empty"},
		},
		final: State{A: SlotInfo{Installing, ""}, B: SlotInfo{Empty, ""}},
	}, {
		name: "upgrade killed after BeginInstall: A still boots",
		steps: append(installedSteps,
			step{op: "begin", slot: B},
			step{op: "boot", want: A},
			step{op: "boot", want: A},
		),
		final: State{Active: A, A: SlotInfo{Good, "1.0"}, B: SlotInfo{Installing, ""}},
	}, {
		name: "both slots bad: no slot, clear reason",
		steps: append(trialSteps,
			step{op: "boot", want: B},
			step{op: "boot", want: A},
			step{op: "bad", slot: A},
			step{op: "boot", want: "", wantErr: "no bootable system slot: slot a is bad (version 1.0), slot b is bad (version 1.1)"},
		),
		final: State{Active: A, A: SlotInfo{Bad, "1.0"}, B: SlotInfo{Bad, "1.1"}},
	}, {
		name: "active marked bad: the other good slot boots",
		steps: append(trialSteps,
			step{op: "boot", want: B},
			step{op: "good", slot: B},
			step{op: "bad", slot: B},
			step{op: "boot", want: A},
			step{op: "good", slot: A},
		),
		final: State{Active: A, A: SlotInfo{Good, "1.0"}, B: SlotInfo{Bad, "1.1"}},
	}, {
		name: "refusals",
		steps: append(installedSteps,
			step{op: "begin", slot: A, wantErr: "slot a is active; an upgrade writes slot b"},
			step{op: "finish", slot: B, version: "1.1", wantErr: "slot b is empty, not installing"},
			step{op: "good", slot: B, wantErr: "slot b is empty and cannot be marked good"},
			step{op: "begin", slot: B},
			step{op: "finish-try", slot: B, version: "bad version!", wantErr: "invalid version"},
			step{op: "finish-try", slot: B, version: "", wantErr: "invalid version"},
			step{op: "begin", slot: "c", wantErr: "unknown slot"},
			step{op: "finish-try", slot: B, version: "1.1"},
			step{op: "boot", want: B},
			// B is on its trial boot: nothing is installed until it is judged.
			step{op: "begin", slot: B, wantErr: "trial boot is in progress"},
			step{op: "begin", slot: A, wantErr: "trial boot is in progress"},
			step{op: "good", slot: B},
			step{op: "begin", slot: A},
		),
		final: State{Active: B, A: SlotInfo{Installing, ""}, B: SlotInfo{Good, "1.1"}},
	}, {
		name: "try-once needs a good active slot to fall back to",
		steps: []step{
			{op: "begin", slot: A},
			{op: "finish-try", slot: A, version: "1.0", wantErr: "needs slot b to be the active, good system"},
			{op: "finish", slot: A, version: "1.0"},
		},
		final: State{Active: A, A: SlotInfo{Good, "1.0"}, B: SlotInfo{Empty, ""}},
	}, {
		name: "a pending trial is cancelled by rewriting its slot",
		steps: append(trialSteps,
			step{op: "begin", slot: B},
			step{op: "boot", want: A},
		),
		final: State{Active: A, A: SlotInfo{Good, "1.0"}, B: SlotInfo{Installing, ""}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := run(t, New(), c.steps); got != c.final {
				t.Errorf("final state %s, want %s", got, c.final)
			}
		})
	}
}

// TestBootChoice covers states the API does not produce but an operator
// (grub-editenv) or an interrupted write could: BootChoice, like GRUB, must
// still do something sensible with them.
func TestBootChoice(t *testing.T) {
	good := func(v string) SlotInfo { return SlotInfo{Good, v} }
	cases := []struct {
		name string
		in   State
		want Slot
		out  State
	}{
		{"tries 3", State{Active: A, Next: B, Tries: 3, A: good("1"), B: good("2")}, B,
			State{Active: A, Next: B, Tries: 2, A: good("1"), B: good("2")}},
		{"next is not good: cleared", State{Active: A, Next: B, Tries: 1, A: good("1"), B: SlotInfo{Installing, ""}}, A,
			State{Active: A, A: good("1"), B: SlotInfo{Installing, ""}}},
		{"no active: A first", State{A: good("1"), B: good("2")}, A,
			State{A: good("1"), B: good("2")}},
		{"no active, only B", State{A: SlotInfo{Empty, ""}, B: good("2")}, B,
			State{A: SlotInfo{Empty, ""}, B: good("2")}},
		{"next is the active slot, trial used up: marked bad, B boots", State{Active: A, Next: A, A: good("1"), B: good("2")}, B,
			State{Active: A, A: SlotInfo{Bad, "1"}, B: good("2")}},
		{"tries out of range reads as used up", State{Active: A, Next: B, Tries: 7, A: good("1"), B: good("2")}, A,
			State{Active: A, A: good("1"), B: SlotInfo{Bad, "2"}}},
	}
	for _, c := range cases {
		got, out, err := BootChoice(c.in)
		if err != nil || got != c.want || out != c.out {
			t.Errorf("%s: BootChoice(%s) = %q, %s, %v; want %q, %s", c.name, c.in, got, out, err, c.want, c.out)
		}
	}
	_, _, err := BootChoice(New())
	var ns *NoSlotError
	if !errors.Is(err, ErrNoBootableSlot) || !errors.As(err, &ns) {
		t.Errorf("fresh disk: %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	st, err := FromEnv(map[string]string{})
	if err != nil || st != New() {
		t.Errorf("empty env: %s, %v", st, err)
	}
	st, err = FromEnv(map[string]string{"active": "b", "next": "", "tries": "0", "a_state": "bad", "b_state": "good", "b_version": "2.0", "saved_entry": "x"})
	if err != nil || st != (State{Active: B, A: SlotInfo{Bad, ""}, B: SlotInfo{Good, "2.0"}}) {
		t.Errorf("env: %s, %v", st, err)
	}
	for _, env := range []map[string]string{
		{"active": "c"}, {"next": "A"}, {"tries": "x"}, {"tries": "01"}, {"tries": "-1"}, {"tries": "4"},
		{"a_state": "ok"}, {"b_version": "1 0"}, {"a_version": strings.Repeat("1", 65)},
	} {
		if st, err := FromEnv(env); err == nil {
			t.Errorf("FromEnv(%v) = %s, want an error", env, st)
		}
	}
}

func TestUpdateKeepsOtherVariables(t *testing.T) {
	blk, _ := Encode(map[string]string{"saved_entry": "x", "active": "b"})
	st, _ := New().BeginInstall(A)
	st, _ = st.FinishInstall(A, "1.0", false)
	out, err := Update(blk, st)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := Decode(out)
	if env["saved_entry"] != "x" || env["active"] != "a" || env["a_state"] != "good" {
		t.Errorf("Update: %v", env)
	}
	if _, err := Update([]byte("junk"), st); err == nil {
		t.Error("Update of a non-block: no error")
	}
}

// TestStateFitsOneSector: the largest possible state stays within the first
// 512 bytes of the block, so that every state change is a one-sector write.
func TestStateFitsOneSector(t *testing.T) {
	v := strings.Repeat("9", 64)
	st := State{Active: A, Next: B, Tries: MaxTries, A: SlotInfo{Installing, v}, B: SlotInfo{Installing, v}}
	blk, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Trim(string(blk[512:]), "#") != "" {
		t.Errorf("the state spills into the second sector: %q", blk)
	}
}
