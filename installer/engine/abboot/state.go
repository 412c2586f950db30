// Package abboot is the A/B boot state of an installed node (SPEC H1, H2,
// I7): which of the two system slots GRUB boots, the try-once boot of a
// freshly written slot and the automatic return to the previous slot when
// it never comes up healthy.
//
// The state is a GRUB environment block (Encode/Decode) on the ESP, read
// and written both by GRUB (load_env/save_env, in the script GrubConfig
// generates) and by Linux (the installer and the agent, through this
// package). The rules are a pure state machine here, with no I/O; the GRUB
// script implements the same rules, and the tests run the generated script
// in grub-emu against BootChoice.
//
// Variables of the block:
//
//	active=a|b|        the slot that is known to work ("" before the first install finished)
//	next=a|b|          a slot to try once instead of active ("" for none)
//	tries=N            trial boots of next left (0..MaxTries)
//	a_state, b_state   empty | installing | good | bad
//	a_version, b_version
//
// Rules, as GRUB evaluates them at every boot (BootChoice):
//
//  1. If next names a good slot and tries > 0: decrement tries, save the
//     block, then boot next. The save comes first, so a slot that hangs or
//     resets before it is healthy is not booted again; if the save fails,
//     next is not booted at all.
//  2. If next names a good slot and tries is used up: that slot booted and
//     never reached MarkGood, so it is marked bad; next is cleared. A next
//     naming a slot that is not good is just cleared.
//  3. Otherwise boot active if it is good,
//  4. else any good slot (A first): e.g. an operator marked the active
//     slot bad and the previous system is still on the other one,
//  5. else no slot: GRUB prints the slot states and exits, handing the
//     machine back to the firmware, which tries its next boot device.
//
// And on the Linux side:
//
//   - BeginInstall(s): s becomes "installing" (never booted); refused for
//     the active good slot (upgrades write the other one) and while a trial
//     boot is in progress.
//   - FinishInstall(s, version, tryOnce): after the image is written and
//     verified, s becomes good; with tryOnce it is booted once (next=s,
//     tries=1) with the active slot as fallback, without it becomes active.
//   - MarkGood(s): the running system s is healthy: active=s; the trial is
//     over.
//   - MarkBad(s): s must not be booted.
//
// Writing the block from Linux: in place (open the existing 1024-byte file
// read-write, write at offset 0, fsync), never by rename: GRUB writes it in
// place too, and all the state's variables fit in the first 512 bytes (the
// rest is '#' padding that never changes), so every change is a one-sector
// write that a power cut cannot tear.
//
// A first install (SPEC I7, nothing half-written bootable) goes:
//
//  1. layout.Write: the MBR gets an INT 18h stub instead of boot code and
//     the ESP and slot heads are wiped, so neither firmware finds anything
//     to boot on the disk;
//  2. format the ESP, write grub.cfg (GrubConfig) and the block of
//     New().BeginInstall(A): A is "installing";
//  3. write the image to system-a and verify it;
//  4. install GRUB for BIOS (MBR + bios partition) and UEFI (including the
//     fallback EFI/BOOT/BOOTX64.EFI);
//  5. commit: write the block of FinishInstall(A, version, false).
//
// Killed before 4, the disk has no boot loader at all. Killed between 4
// and 5, GRUB starts, finds no good slot (rule 5) and exits to the firmware,
// which tries its next boot device (the install medium, PXE). Step 5 is one
// sector write, so the install is either committed or not.
package abboot

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Slot names a system slot: A (partition system-a) or B (system-b).
type Slot string

// The slots.
const (
	A Slot = "a"
	B Slot = "b"
)

// Slots lists the slots in the order GRUB prefers them when neither is
// active.
var Slots = []Slot{A, B}

// Valid reports whether s is A or B.
func (s Slot) Valid() bool { return s == A || s == B }

// Other returns the other slot.
func (s Slot) Other() Slot {
	if s == A {
		return B
	}
	return A
}

// Upper is the slot's name as shown to people: "A", "B".
func (s Slot) Upper() string { return strings.ToUpper(string(s)) }

func checkSlot(s Slot) error {
	if !s.Valid() {
		return fmt.Errorf("abboot: unknown slot %q (want a or b)", string(s))
	}
	return nil
}

// SlotState is the state of one slot.
type SlotState string

// Slot states.
const (
	// Empty: nothing was ever written (the state of both slots after
	// partitioning).
	Empty SlotState = "empty"
	// Installing: an image is being written; never booted. An install that
	// dies leaves the slot in this state.
	Installing SlotState = "installing"
	// Good: a complete, verified image; bootable.
	Good SlotState = "good"
	// Bad: must not be booted (its trial boot failed, or marked bad).
	Bad SlotState = "bad"
)

// MaxTries is the largest tries value: GRUB script has no arithmetic, so
// the generated configuration decrements through a chain of comparisons.
const MaxTries = 3

// TryOnceTries is the tries value FinishInstall sets for a try-once slot.
const TryOnceTries = 1

// Environment block variable names.
const (
	KeyActive   = "active"
	KeyNext     = "next"
	KeyTries    = "tries"
	KeyAState   = "a_state"
	KeyBState   = "b_state"
	KeyAVersion = "a_version"
	KeyBVersion = "b_version"
)

// Keys lists the variables of the boot state (GRUB's load_env whitelist).
var Keys = []string{KeyActive, KeyNext, KeyTries, KeyAState, KeyBState, KeyAVersion, KeyBVersion}

// SlotInfo is what the block says about one slot.
type SlotInfo struct {
	State   SlotState
	Version string // the image version written there; "" when unknown
}

// State is the whole boot state.
type State struct {
	Active Slot // "" until the first install finished
	Next   Slot // try-once slot, "" for none
	Tries  int  // trial boots of Next left
	A, B   SlotInfo
}

// New is the state of a freshly partitioned disk: nothing active, both
// slots empty. GRUB boots nothing from it.
func New() State {
	return State{A: SlotInfo{State: Empty}, B: SlotInfo{State: Empty}}
}

// Slot returns what the state says about slot s.
func (st State) Slot(s Slot) SlotInfo {
	if s == B {
		return st.B
	}
	return st.A
}

func (st *State) slot(s Slot) *SlotInfo {
	if s == B {
		return &st.B
	}
	return &st.A
}

// String is a one-line summary for logs: "active=a next=b tries=1 a=good(1.0) b=good(1.1)".
func (st State) String() string {
	f := func(s Slot) string {
		i := st.Slot(s)
		if i.Version == "" {
			return fmt.Sprintf("%s=%s", s, i.State)
		}
		return fmt.Sprintf("%s=%s(%s)", s, i.State, i.Version)
	}
	return fmt.Sprintf("active=%s next=%s tries=%d %s %s", st.Active, st.Next, st.Tries, f(A), f(B))
}

// validVersion keeps versions to characters that are safe in a GRUB menu
// title and on the kernel command line, and short enough for the block.
func validVersion(v string) bool {
	if len(v) > 64 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._+~-", c)) {
			return false
		}
	}
	return true
}

// Validate checks every field's domain.
func (st State) Validate() error {
	for _, s := range []Slot{st.Active, st.Next} {
		if s != "" && !s.Valid() {
			return fmt.Errorf("abboot: unknown slot %q", string(s))
		}
	}
	if st.Tries < 0 || st.Tries > MaxTries {
		return fmt.Errorf("abboot: tries %d outside 0..%d", st.Tries, MaxTries)
	}
	for _, s := range Slots {
		i := st.Slot(s)
		switch i.State {
		case Empty, Installing, Good, Bad:
		default:
			return fmt.Errorf("abboot: slot %s: unknown state %q", s, i.State)
		}
		if !validVersion(i.Version) {
			return fmt.Errorf("abboot: slot %s: invalid version %q", s, i.Version)
		}
	}
	return nil
}

// Env returns the state as GRUB environment variables (all of Keys).
func (st State) Env() map[string]string {
	return map[string]string{
		KeyActive:   string(st.Active),
		KeyNext:     string(st.Next),
		KeyTries:    strconv.Itoa(st.Tries),
		KeyAState:   string(st.A.State),
		KeyBState:   string(st.B.State),
		KeyAVersion: st.A.Version,
		KeyBVersion: st.B.Version,
	}
}

// FromEnv reads the state from GRUB environment variables. Missing
// variables read as GRUB sees them: empty (a missing slot state is Empty,
// missing tries is 0). Other variables are ignored. Values outside their
// domain are an error: the caller must not act on a corrupted block.
func FromEnv(env map[string]string) (State, error) {
	st := State{
		Active: Slot(env[KeyActive]),
		Next:   Slot(env[KeyNext]),
		A:      SlotInfo{State: SlotState(env[KeyAState]), Version: env[KeyAVersion]},
		B:      SlotInfo{State: SlotState(env[KeyBState]), Version: env[KeyBVersion]},
	}
	for _, i := range []*SlotInfo{&st.A, &st.B} {
		if i.State == "" {
			i.State = Empty
		}
	}
	if t := env[KeyTries]; t != "" {
		// Canonical decimal only: GRUB matches the text ("1", not "01").
		n, err := strconv.Atoi(t)
		if err != nil || strconv.Itoa(n) != t {
			return State{}, fmt.Errorf("abboot: tries %q is not a number", t)
		}
		st.Tries = n
	}
	if err := st.Validate(); err != nil {
		return State{}, err
	}
	return st, nil
}

// Marshal returns the state as a 1024-byte GRUB environment block.
func (st State) Marshal() ([]byte, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return Encode(st.Env())
}

// Parse reads the state from a GRUB environment block.
func Parse(block []byte) (State, error) {
	env, err := Decode(block)
	if err != nil {
		return State{}, err
	}
	return FromEnv(env)
}

// Update returns block with the state's variables replaced and every other
// variable (an operator's, or GRUB's own such as saved_entry) kept. Long
// extra variables can push the state past the first sector (see the
// package comment on torn writes); Marshal never does.
func Update(block []byte, st State) ([]byte, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	env, err := Decode(block)
	if err != nil {
		return nil, err
	}
	for k, v := range st.Env() {
		env[k] = v
	}
	return Encode(env)
}

// ErrNoBootableSlot is matched (errors.Is) by a *NoSlotError.
var ErrNoBootableSlot = errors.New("no bootable system slot")

// NoSlotError is BootChoice's answer when no slot can be booted; its
// message says what each slot is, e.g. "no bootable system slot: slot a is
// installing, slot b is empty".
type NoSlotError struct{ State State }

func (e *NoSlotError) Error() string {
	parts := make([]string, 0, 2)
	for _, s := range Slots {
		i := e.State.Slot(s)
		p := fmt.Sprintf("slot %s is %s", s, i.State)
		if i.Version != "" {
			p += fmt.Sprintf(" (version %s)", i.Version)
		}
		parts = append(parts, p)
	}
	return ErrNoBootableSlot.Error() + ": " + strings.Join(parts, ", ")
}

// Is makes errors.Is(err, ErrNoBootableSlot) true.
func (e *NoSlotError) Is(target error) bool { return target == ErrNoBootableSlot }

// trialLeft reports whether a trial boot of Next is left, exactly as the
// GRUB script decides it: only tries 1..MaxTries count (the script cannot
// compare numbers, it matches each value), anything else is used up.
func (st State) trialLeft() bool { return st.Tries >= 1 && st.Tries <= MaxTries }

// BootChoice is what GRUB does at boot: the slot it boots and the state it
// saves (rules 1-5 of the package comment). With no bootable slot it
// returns "" and a *NoSlotError; the returned state is still what GRUB
// saves (a used-up trial slot is marked bad even then). BootChoice assumes
// GRUB's save_env works; when it does not, GRUB does not boot the trial
// slot (rule 1) and saves nothing.
func BootChoice(st State) (Slot, State, error) {
	if st.Next.Valid() {
		n := st.slot(st.Next)
		if n.State == Good && st.trialLeft() {
			st.Tries--
			return st.Next, st, nil
		}
		if n.State == Good {
			n.State = Bad // booted on its last trial and never marked good
		}
		st.Next, st.Tries = "", 0
	}
	if st.Active.Valid() && st.Slot(st.Active).State == Good {
		return st.Active, st, nil
	}
	for _, s := range Slots {
		if st.Slot(s).State == Good {
			return s, st, nil
		}
	}
	return "", st, &NoSlotError{State: st}
}

// ErrActiveSlot is returned by BeginInstall for the active good slot.
var ErrActiveSlot = errors.New("abboot: the active system slot cannot be overwritten")

// ErrTrialInProgress is returned by BeginInstall while a trial boot is in
// progress (next is set and its tries are used up: the trial slot is running
// now, or it failed and the next boot will mark it bad).
var ErrTrialInProgress = errors.New("abboot: a trial boot is in progress")

// BeginInstall marks slot s "installing" before its image is written: from
// now until FinishInstall, GRUB never boots it, so an install killed
// halfway leaves nothing half-written bootable.
func (st State) BeginInstall(s Slot) (State, error) {
	if err := checkSlot(s); err != nil {
		return st, err
	}
	if st.Next.Valid() && !st.trialLeft() {
		return st, fmt.Errorf("%w: slot %s has booted once and has not been marked good or bad yet", ErrTrialInProgress, st.Next)
	}
	if s == st.Active && st.Slot(s).State == Good {
		return st, fmt.Errorf("%w: slot %s is active; an upgrade writes slot %s", ErrActiveSlot, s, s.Other())
	}
	*st.slot(s) = SlotInfo{State: Installing}
	if st.Next == s { // a pending trial of the old contents is cancelled
		st.Next, st.Tries = "", 0
	}
	return st, nil
}

// FinishInstall marks slot s good with its version once the image is
// written and verified. With tryOnce, s is booted once at the next boot and
// becomes active only when the system there calls MarkGood; the active slot
// must be good and the other one, to fall back to. Without tryOnce, s
// becomes active at once (a first install, which has nothing to fall back
// to).
func (st State) FinishInstall(s Slot, version string, tryOnce bool) (State, error) {
	if err := checkSlot(s); err != nil {
		return st, err
	}
	if version == "" || !validVersion(version) {
		return st, fmt.Errorf("abboot: invalid version %q (1-64 of A-Z a-z 0-9 . _ + ~ -)", version)
	}
	if got := st.Slot(s).State; got != Installing {
		return st, fmt.Errorf("abboot: slot %s is %s, not installing: call BeginInstall before writing the image", s, got)
	}
	if tryOnce && (st.Active != s.Other() || st.Slot(s.Other()).State != Good) {
		return st, fmt.Errorf("abboot: a try-once boot of slot %s needs slot %s to be the active, good system to fall back to (state: %s)", s, s.Other(), st)
	}
	*st.slot(s) = SlotInfo{State: Good, Version: version}
	if tryOnce {
		st.Next, st.Tries = s, TryOnceTries
	} else {
		st.Active, st.Next, st.Tries = s, "", 0
	}
	return st, nil
}

// MarkGood records that the system running from slot s is healthy: s
// becomes active. If s was the trial slot the trial is over. If another
// slot's trial boot was used up (GRUB fell back to s because the trial
// slot's kernel could not be loaded), that slot is marked bad now, as GRUB
// would at the next boot. A trial that has not been booted yet (tries
// left) stays pending: the agent of the old system may report healthy
// between FinishInstall and the reboot.
func (st State) MarkGood(s Slot) (State, error) {
	if err := checkSlot(s); err != nil {
		return st, err
	}
	if got := st.Slot(s).State; got != Good {
		return st, fmt.Errorf("abboot: slot %s is %s and cannot be marked good", s, got)
	}
	switch {
	case st.Next == s:
		st.Next, st.Tries = "", 0
	case st.Next.Valid() && !st.trialLeft():
		if n := st.slot(st.Next); n.State == Good {
			n.State = Bad
		}
		st.Next, st.Tries = "", 0
	}
	st.Active = s
	return st, nil
}

// MarkBad records that slot s must not be booted (the agent found the
// system there unusable). A pending trial of s is cancelled. If s is the
// active slot, GRUB boots the other slot if it is good, else nothing.
func (st State) MarkBad(s Slot) (State, error) {
	if err := checkSlot(s); err != nil {
		return st, err
	}
	st.slot(s).State = Bad
	if st.Next == s {
		st.Next, st.Tries = "", 0
	}
	return st, nil
}
