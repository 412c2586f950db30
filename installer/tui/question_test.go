package tui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/lockstep-ft/lockstep/cluster/pki"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/engine"
)

// testFingerprint is a CA fingerprint as the join shows it: 16 groups of
// four hex digits, 79 cells, wider than the body of an 80-column screen.
var testFingerprint = func() string {
	sum := sha256.Sum256([]byte("lockstep-lab CA"))
	return pki.FormatFingerprint(hex.EncodeToString(sum[:]))
}()

const joinTitle = "Join system lockstep-lab?"

func joinQuestion() engine.Question {
	return engine.Question{
		Title: joinTitle,
		Lines: []string{
			"The node 192.0.2.10 on priv0 belongs to system lockstep-lab.",
			"Its CA certificate fingerprint (SHA-256) is:",
			"",
			"    " + testFingerprint,
			"",
			"Compare it with the fingerprint the existing node prints on its console",
			`("LOCKSTEP SYSTEM ... CA ...") and join only if they are the same.`,
		},
		Yes: "Join",
		No:  "Cancel",
	}
}

var errJoinDeclined = errors.New("the operator did not trust the system's CA")

// askEngine joins as the real engine does: it emits before, asks q and
// waits for the answer (or ctx), then emits after; "no" fails the run.
type askEngine struct {
	before, after []engine.Event
	q             engine.Question

	mu  sync.Mutex
	got []bool
	ch  chan bool // the last run's answer channel
}

func newAskEngine() *askEngine {
	ok := okEvents()
	return &askEngine{before: ok[:1], after: ok[1:], q: joinQuestion()}
}

func (e *askEngine) Run(ctx context.Context, _ answers.Answers, emit func(engine.Event)) error {
	for _, ev := range e.before {
		emit(ev)
	}
	ch := make(chan bool, 1)
	q := e.q
	q.Answer = ch
	e.mu.Lock()
	e.ch = ch
	e.mu.Unlock()
	emit(engine.Event{Step: "join", Title: q.Title, Percent: 10, Level: engine.Info,
		Message: "CA fingerprint " + testFingerprint, Ask: &q})
	select {
	case yes := <-ch:
		e.mu.Lock()
		e.got = append(e.got, yes)
		e.mu.Unlock()
		if !yes {
			emit(engine.Event{Step: "done", Title: "Installation failed", Message: errJoinDeclined.Error(), Level: engine.Error, Done: true})
			return errJoinDeclined
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, ev := range e.after {
		emit(ev)
	}
	return nil
}

// answers are the answers received, and whether the TUI sent a second one.
func (e *askEngine) answers() (got []bool, extra bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]bool(nil), e.got...), e.ch != nil && len(e.ch) > 0
}

func (e *askEngine) wantAnswers(t *testing.T, want ...bool) {
	t.Helper()
	got, extra := e.answers()
	if extra || len(got) != len(want) {
		t.Fatalf("engine answers %v (a second send: %v), want %v", got, extra, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("engine answers %v, want %v", got, want)
		}
	}
}

func replaceAnswers() answers.Answers {
	return answers.Answers{
		Action:   answers.Replace,
		Hostname: "node1",
		Network: answers.Network{
			Priv0: "52:54:00:00:10:01",
			Ibiz0: "52:54:00:00:00:01",
			Node:  answers.Address{DHCP: true},
		},
		Disk: answers.Disk{System: "wwn-0x61866da0aaaa0001", ConfirmErase: true},
	}
}

func unattendedJoin(eng engine.Engine) Config {
	cfg := testConfig(eng, passChecks)
	ans := replaceAnswers()
	cfg.Unattended = &ans
	return cfg
}

// TestQuestionJoin: "Replace PM" asks whether to trust the system's CA;
// choosing Join lets the install go on to the end.
func TestQuestionJoin(t *testing.T) {
	eng := newAskEngine()
	h := start(t, "question", testConfig(eng, passChecks))
	h.keys(kDown, kEnter) // Replace PM
	h.keys(kEnter)        // checks pass
	h.keys(kEnter)        // recommended NICs
	h.typ("node1")
	h.keys(kTab, kSpace, kTab, kTab, kTab, kEnter) // DHCP
	h.keys(kEnter)                                 // system disk sda
	h.typ("erase")
	h.keys(kEnter)

	h.waitFor(joinTitle)
	v := h.golden("01-ask")
	for _, half := range []string{testFingerprint[:39], testFingerprint[40:]} {
		if !strings.Contains(v, "\n      "+half+"\n") {
			t.Fatalf("the fingerprint is not shown as two rows of 8 groups (%q):\n%s", half, v)
		}
	}
	if !strings.Contains(v, ">[ Cancel ]<") {
		t.Fatalf("the focus is not on Cancel:\n%s", v)
	}
	h.keys(kLeft)
	h.expect(">[ Join ]<")
	h.keys(kEnter)
	h.waitFor("Installation complete.")
	h.golden("02-done")
	h.keys(kEnter)
	if res := h.result(); res.Kind != Install || res.Err != nil || res.Answers.Action != answers.Replace {
		t.Fatalf("result %v, %v, %+v; want a replace install", res.Kind, res.Err, res.Answers)
	}
	eng.wantAnswers(t, true)
}

// TestQuestionEnterDeclines: Enter with the focus where it starts does not
// trust the CA; the install fails and says why.
func TestQuestionEnterDeclines(t *testing.T) {
	eng := newAskEngine()
	h := start(t, "question-decline", unattendedJoin(eng))
	h.waitFor(joinTitle)
	h.keys(kEnter)
	h.waitFor("Installation FAILED")
	h.expect(errJoinDeclined.Error(), "Answered: Cancel")
	eng.wantAnswers(t, false)
	h.keys(kRight, kEnter) // Power off
	if res := h.result(); res.Kind != PowerOff || !strings.Contains(res.Err.Error(), errJoinDeclined.Error()) {
		t.Fatalf("result %v, %v", res.Kind, res.Err)
	}
}

// TestQuestionKeys: y and n answer at once; Left/Right/Tab/Shift-Tab move
// the focus and Enter answers with the button that has it.
func TestQuestionKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []tea.KeyMsg
		typ  string
		want bool
	}{
		{name: "y", typ: "y", want: true},
		{name: "Y", typ: "Y", want: true},
		{name: "n", typ: "n", want: false},
		{name: "left", keys: []tea.KeyMsg{kLeft, kEnter}, want: true},
		{name: "right", keys: []tea.KeyMsg{kRight, kRight, kEnter}, want: false},
		{name: "tab", keys: []tea.KeyMsg{kTab, kEnter}, want: true},
		{name: "shifttab", keys: []tea.KeyMsg{kShiftTab, kEnter}, want: true},
		{name: "other", typ: "xq ", keys: []tea.KeyMsg{kDown, kUp, kEsc, kEnter}, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := newAskEngine()
			h := start(t, "question-keys-"+tc.name, unattendedJoin(eng))
			h.waitFor(joinTitle)
			h.typ(tc.typ)
			h.keys(tc.keys...)
			if tc.want {
				h.waitFor("Installation complete.")
			} else {
				h.waitFor("Installation FAILED")
			}
			eng.wantAnswers(t, tc.want)
			h.expect("Answered: " + map[bool]string{true: "Join", false: "Cancel"}[tc.want])
			h.keys(kEnter)
			h.result()
		})
	}
}

// TestQuestionUnattended: an unattended install that did not pin the
// fingerprint still asks, and says that it waits.
func TestQuestionUnattended(t *testing.T) {
	eng := newAskEngine()
	h := start(t, "question-unattended", unattendedJoin(eng))
	h.waitFor(joinTitle)
	time.Sleep(50 * time.Millisecond) // nothing answers by itself
	h.golden("01-ask")
	if got, _ := eng.answers(); len(got) != 0 {
		t.Fatalf("answered without a key: %v", got)
	}
	h.typ("y")
	h.waitFor("Rebooting into the installed system")
	h.keys(kEnter)
	if res := h.result(); res.Kind != Install {
		t.Fatalf("result %v", res.Kind)
	}
	eng.wantAnswers(t, true)
}

// TestQuestionLeave: leaving the installer while a question waits stops the
// engine and answers no, so an engine waiting on Answer alone stops too.
func TestQuestionLeave(t *testing.T) {
	eng := newAskEngine()
	h := start(t, "question-leave", unattendedJoin(eng))
	h.waitFor(joinTitle)
	h.keys(kCtrlC)
	h.expect("Leave the installer?")
	h.keys(kEsc)
	h.expect(joinTitle, ">[ Cancel ]<")
	h.keys(kCtrlC)
	h.typ("r")
	if res := h.result(); res.Kind != Reboot {
		t.Fatalf("result %v, want reboot", res.Kind)
	}
	// The engine saw ctx end or read the answer, whichever came first.
	eng.mu.Lock()
	got, left := eng.got, len(eng.ch)
	if left == 1 {
		got = append(got, <-eng.ch)
	}
	eng.mu.Unlock()
	if len(got) != 1 || got[0] {
		t.Fatalf("answers sent %v, want one false", got)
	}
}

// TestQuestionQueue: a question asked while another waits is shown after
// it, and progress events keep being drawn underneath.
func TestQuestionQueue(t *testing.T) {
	a := newApp(context.Background(), unattendedJoin(nil))
	a.prog.run = &engineRun{ch: make(chan tea.Msg, 1), cancel: func() {}}
	ch1, ch2 := make(chan bool, 1), make(chan bool, 1)
	q1, q2 := joinQuestion(), engine.Question{Title: "Second?", Answer: ch2}
	q1.Answer = ch1
	a.update(eventMsg{ev: engine.Event{Title: q1.Title, Ask: &q1}})
	a.update(eventMsg{ev: engine.Event{Title: q2.Title, Ask: &q2}})
	a.update(eventMsg{ev: engine.Event{Title: "Copying", Percent: 42}})
	if v := a.view(80, 24, ""); !strings.Contains(v, joinTitle) || !strings.Contains(v, ">[ Cancel ]<") {
		t.Fatalf("first question not shown:\n%s", v)
	}
	a.update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{'y'}})
	v := a.view(80, 24, "")
	if !strings.Contains(v, "Second?") || !strings.Contains(v, ">[ No ]<") || !strings.Contains(v, "y: Yes  n: No") {
		t.Fatalf("second question (default labels) not shown:\n%s", v)
	}
	a.update(kEnter)
	if v := a.view(80, 24, ""); !strings.Contains(v, "42%") || !strings.Contains(v, "Answered: No") {
		t.Fatalf("progress not back:\n%s", v)
	}
	if len(ch1) != 1 || !<-ch1 || len(ch2) != 1 || <-ch2 {
		t.Fatal("wrong answers")
	}
	a.update(kEnter) // no question left: nothing more is sent
	if len(ch1)+len(ch2) != 0 {
		t.Fatal("a question was answered twice")
	}
}

// TestQuestionLongText: text taller than the screen scrolls and the buttons
// stay visible.
func TestQuestionLongText(t *testing.T) {
	a := newApp(context.Background(), unattendedJoin(nil))
	a.prog.run = &engineRun{ch: make(chan tea.Msg, 1), cancel: func() {}}
	q := joinQuestion()
	for i := range 30 {
		q.Lines = append(q.Lines, strings.Repeat("word ", i))
	}
	q.Answer = make(chan bool, 1)
	a.update(eventMsg{ev: engine.Event{Title: q.Title, Ask: &q}})
	v := a.view(80, 24, "")
	checkSize(t, v)
	if !strings.Contains(v, ">[ Cancel ]<") || !strings.Contains(v, strings.TrimSpace(moreBelow)) {
		t.Fatalf("no buttons or no scroll mark:\n%s", v)
	}
	for range 60 {
		a.update(kDown)
	}
	v = a.view(80, 24, "")
	checkSize(t, v)
	if !strings.Contains(v, ">[ Cancel ]<") || !strings.Contains(v, strings.TrimSpace(moreAbove)) || strings.Contains(v, strings.TrimSpace(moreBelow)) {
		t.Fatalf("scrolled to the end:\n%s", v)
	}
}

func TestFitLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		w    int
		want []string
	}{
		{"short", 77, []string{"short"}},
		{testFingerprint, 79, []string{testFingerprint}},
		{testFingerprint, 77, []string{testFingerprint[:39], testFingerprint[40:]}},
		{"    " + testFingerprint, 77, []string{"    " + testFingerprint[:39], "    " + testFingerprint[40:]}},
		{testFingerprint, 30, []string{testFingerprint[:29], testFingerprint[30:59], testFingerprint[60:]}},
	} {
		got := fitLine(tc.in, tc.w)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("fitLine(%q, %d) = %q, want %q", tc.in, tc.w, got, tc.want)
		}
		for _, l := range got {
			if ansi.StringWidth(l) > tc.w {
				t.Errorf("fitLine(%q, %d): %q is too wide", tc.in, tc.w, l)
			}
		}
	}
}

// TestMultiConsoleQuestion: the question shows on every console; the first
// console with a key becomes the one that answers, the other says where to
// answer and ignores its keys, and both go back to the progress.
func TestMultiConsoleQuestion(t *testing.T) {
	in0r, in0w := io.Pipe()
	in1r, in1w := io.Pipe()
	defer in0w.Close()
	defer in1w.Close()
	out0, out1 := &syncBuffer{}, &syncBuffer{}
	consoles := []Console{{Name: "tty0", In: in0r, Out: out0}, {Name: "ttyS0", In: in1r, Out: out1}}
	eng := newAskEngine()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sh := newShared(ctx, func() { cancel(errConsolesGone) }, unattendedJoin(eng), consoles)
	type ret struct {
		res Result
		err error
	}
	done := make(chan ret, 1)
	go func() {
		res, err := sh.run()
		done <- ret{res, err}
	}()

	eventually(t, "the question on both consoles", func() bool {
		return strings.Contains(out0.String(), joinTitle) && strings.Contains(out1.String(), joinTitle)
	})
	for i := range sh.models {
		if v := sh.models[i].View(); strings.Contains(v, "In use on") || !strings.Contains(v, ">[ Cancel ]<") {
			t.Fatalf("console %d before any key:\n%s", i, v)
		}
	}

	if _, err := io.WriteString(in1w, "\x1b[D"); err != nil { // Left on ttyS0: focus on Join
		t.Fatal(err)
	}
	eventually(t, "ttyS0 active", func() bool { return sh.activeConsole() == 1 })
	eventually(t, "the note on tty0", func() bool {
		return strings.Contains(sh.models[0].View(), "In use on ttyS0 - answer there")
	})
	v0 := sh.models[0].View()
	checkSize(t, v0)
	compareGolden(t, "multi-02-question-readonly", v0)

	// tty0 cannot answer: its y is ignored.
	if _, err := io.WriteString(in0w, "y"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got, _ := eng.answers(); len(got) != 0 {
		t.Fatalf("a read-only console answered: %v", got)
	}

	if _, err := io.WriteString(in1w, "\r"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "progress back on both consoles", func() bool {
		return strings.Contains(sh.models[0].View(), "Installation complete.") &&
			strings.Contains(sh.models[1].View(), "Installation complete.")
	})
	if v := sh.models[0].View(); !strings.Contains(v, "In use on ttyS0 - this console shows progress only") {
		t.Fatalf("tty0 after the answer:\n%s", v)
	}
	eng.wantAnswers(t, true)

	if _, err := io.WriteString(in1w, "\r"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.res.Kind != Install {
			t.Fatalf("Run = %v, %v; want install", r.res.Kind, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}
