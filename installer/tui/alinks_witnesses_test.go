package tui

import (
	"reflect"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

const testSecret = "s3cret-witness-key-42"

// fillCreateAddresses fills the addresses screen of "Create new system"
// with valid answers and leaves the focus on Next.
func fillCreateAddresses(h *harness) {
	h.t.Helper()
	h.expect("Host name")
	h.typ("node0")
	h.keys(kTab, kTab)
	h.typ("192.0.2.10/24")
	h.keys(kTab, kTab, kTab, kTab, kTab) // no gateway, DNS, NTP
	h.typ("lockstep1")
	h.keys(kTab)
	h.typ("192.0.2.20")
	h.keys(kTab)
	h.typ("correct horse battery")
	h.keys(kTab)
	h.typ("correct horse battery")
	h.keys(kTab)
}

// TestCreateALinkAndWitness marks an A-Link (first on priv0's NIC, which the
// validator refuses) and enters a witness with its secret.
func TestCreateALinkAndWitness(t *testing.T) {
	eng := &fakeEngine{events: okEvents()}
	h := start(t, "alinkwitness", testConfig(eng, passChecks))
	h.keys(kEnter, kEnter) // menu, checks

	// The cursor starts on priv0 (ens1f0); "a" marks it as alink0 too.
	h.typ("a")
	h.keys(kDown, kSpace) // the A-Link column has the focus: ens1f1 is alink1
	h.keys(kEnter)
	v := h.golden("01-network-error")
	if !strings.Contains(v, "network.alinks[0]:") || !strings.Contains(v, "an A-Link needs a NIC of") {
		t.Fatalf("no validator message for the A-Link on priv0:\n%s", v)
	}
	h.expect("[A-Link]") // still on the network screen

	h.keys(kUp, kSpace) // unmark ens1f0: ens1f1 moves up to alink0
	v = h.golden("02-network")
	if !strings.Contains(v, "alink0  ens1f1") || strings.Contains(v, "alink1  e") {
		t.Fatalf("ens1f1 is not alink0:\n%s", v)
	}
	h.keys(kEnter)

	fillCreateAddresses(h)
	h.keys(kEnter)
	h.golden("03-witnesses")
	h.typ("192.0.2.5:7500")
	h.keys(kTab, kTab) // no second witness
	h.typ(testSecret)
	h.keys(kTab)
	h.typ(testSecret)
	h.keys(kTab)
	v = h.golden("04-witnesses-filled")
	if strings.Contains(v, testSecret) || strings.Contains(v, "!") {
		t.Fatalf("the secret is shown, or a field has an error:\n%s", v)
	}
	h.keys(kEnter)

	h.expect("Up/Down: disk")
	h.keys(kEnter) // system disk sda
	h.golden("05-confirm")
	h.typ("erase")
	h.keys(kEnter)
	h.waitFor("Installation complete.")
	h.keys(kEnter)

	res := h.result()
	if res.Kind != Install || res.Err != nil {
		t.Fatalf("result %v, %v; want install, no error", res.Kind, res.Err)
	}
	a := res.Answers
	if want := []string{"52:54:00:00:10:02"}; !reflect.DeepEqual(a.Network.ALinks, want) {
		t.Errorf("A-Links %q, want %q", a.Network.ALinks, want)
	}
	if want := []string{"192.0.2.5:7500"}; !reflect.DeepEqual(a.System.Witnesses, want) {
		t.Errorf("witnesses %q, want %q", a.System.Witnesses, want)
	}
	if a.System.WitnessSecret != testSecret {
		t.Errorf("witness secret %q, want %q", a.System.WitnessSecret, testSecret)
	}
	if a.Network.Priv0 != "52:54:00:00:10:01" || a.Network.Ibiz0 != "52:54:00:00:00:01" ||
		a.System.Name != "lockstep1" || a.System.IP != "192.0.2.20" {
		t.Errorf("the other answers changed: %+v", a)
	}
	if errs := answers.Validate(&a, testHardware); errs != nil {
		t.Fatalf("the answers do not validate: %v", errs)
	}
	if runs := eng.runs(); len(runs) != 1 || !reflect.DeepEqual(runs[0], a) {
		t.Fatalf("engine runs %+v; want one with %+v", runs, a)
	}
}

// TestBadWitness: a witness without a port shows the validator's message as
// the field is left, and Next stays on the screen. Going back keeps it, and
// the addresses screen does not let it block its own Next.
func TestBadWitness(t *testing.T) {
	eng := &fakeEngine{events: okEvents()}
	h := start(t, "badwitness", testConfig(eng, passChecks))
	h.keys(kEnter, kEnter, kEnter) // menu, checks, network
	fillCreateAddresses(h)
	h.keys(kEnter)

	h.typ("192.0.2.5")
	h.keys(kTab)
	const msg = `! "192.0.2.5": want host:port of a lockstep-witness, e.g.`
	v := h.golden("01-witness")
	if !strings.Contains(v, msg) || !strings.Contains(v, "192.0.2.5:7500") {
		t.Fatalf("no validator message under the witness:\n%s", v)
	}

	h.keys(kTab, kTab, kTab, kEnter) // Next
	v = h.golden("02-next")
	if !strings.Contains(v, "> Witness 1") || !strings.Contains(v, msg) ||
		!strings.Contains(v, "! required with witnesses") || strings.Contains(v, "Up/Down: disk") {
		t.Fatalf("Next did not stay on the first wrong field:\n%s", v)
	}

	h.keys(kEsc)
	h.expect("Host name")
	h.keys(kEnter) // the focus is still on Next
	h.expect("> Witness 1", "[192.0.2.5 ")

	h.typ(":7500")
	h.keys(kTab, kTab)
	h.typ(testSecret)
	h.keys(kTab)
	h.typ(testSecret + "x")
	h.keys(kTab)
	h.expect("! the two secrets differ")
	h.keys(kEnter) // Next
	h.expect("> Repeat secret")
	h.keys(kBackspace, kTab, kEnter)
	h.expect("Up/Down: disk")
	if len(eng.runs()) != 0 {
		t.Fatal("the engine ran")
	}
}
