package tui

import (
	"reflect"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// TestCreatePath walks every screen of "Create new system" and checks the
// answers the engine and the caller get.
func TestCreatePath(t *testing.T) {
	eng := &fakeEngine{events: okEvents(), gateAt: 3, gate: make(chan struct{})}
	h := start(t, "create", testConfig(eng, passChecks))

	h.golden("01-menu")
	h.keys(kEnter)
	h.golden("02-checks")
	h.keys(kEnter)
	h.golden("03-network")
	h.keys(kEnter)
	h.golden("04-addresses")

	h.typ("node0")
	h.keys(kTab, kTab) // DHCP stays off
	h.typ("192.0.2.10")
	h.keys(kTab)
	h.typ("255.255.255.0")
	h.keys(kTab)
	h.typ("192.0.2.1")
	h.keys(kTab)
	h.typ("192.0.2.53, 192.0.2.54")
	h.keys(kTab, kTab) // no NTP
	h.typ("lockstep1")
	h.keys(kTab)
	h.typ("192.0.2.20")
	h.keys(kTab)
	h.typ("correct horse battery")
	h.keys(kTab)
	h.typ("correct horse battery")
	h.keys(kTab)
	h.golden("05-addresses-filled")
	h.keys(kEnter)
	h.expect("Witness 1")
	h.keys(kTab, kTab, kTab, kTab, kEnter) // no witness: all optional

	h.golden("06-disk")
	h.keys(kDown, kSpace, kUp, kEnter)
	h.golden("07-confirm")
	h.keys(kEnter) // nothing typed: refused
	h.expect(`Type "erase" to start the installation`)
	h.typ("erase")
	h.keys(kEnter)

	h.waitFor("45%")
	h.golden("08-progress")
	close(eng.gate)
	h.waitFor("Installation complete.")
	h.golden("09-done")
	h.keys(kEnter)

	res := h.result()
	want := answers.Answers{
		Action:   answers.Create,
		Hostname: "node0",
		System:   answers.System{Name: "lockstep1", IP: "192.0.2.20"},
		Network: answers.Network{
			Priv0: "52:54:00:00:10:01",
			Ibiz0: "52:54:00:00:00:01",
			Node:  answers.Address{IP: "192.0.2.10", Netmask: "255.255.255.0", Gateway: "192.0.2.1"},
			DNS:   []string{"192.0.2.53", "192.0.2.54"},
		},
		Disk: answers.Disk{
			System:       "wwn-0x61866da0aaaa0001",
			StorageGroup: []string{"wwn-0x61866da0aaaa0002"},
			ConfirmErase: true,
		},
		Admin: answers.Admin{Password: "correct horse battery"},
	}
	if res.Kind != Install || res.Err != nil {
		t.Fatalf("result %v, %v; want install, no error", res.Kind, res.Err)
	}
	if !reflect.DeepEqual(res.Answers, want) {
		t.Fatalf("answers:\n got %+v\nwant %+v", res.Answers, want)
	}
	runs := eng.runs()
	if len(runs) != 1 || !reflect.DeepEqual(runs[0], want) {
		t.Fatalf("engine runs %+v; want one with %+v", runs, want)
	}
	if errs := answers.Validate(&res.Answers, testHardware); errs != nil {
		t.Fatalf("the answers do not validate: %v", errs)
	}
}
