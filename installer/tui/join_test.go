package tui

import (
	"reflect"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// TestReplacePath joins a system with "Replace PM": warnings need "Continue
// anyway", the system name, IP and administrator are not asked, DHCP is used.
func TestReplacePath(t *testing.T) {
	eng := &fakeEngine{events: okEvents()}
	h := start(t, "replace", testConfig(eng, warnChecks))

	h.keys(kDown, kEnter)
	h.golden("01-checks-warn")
	h.keys(kEnter) // "Back" has the focus: back to the menu
	h.expect("What should this machine do?")
	h.keys(kEnter)
	h.keys(kRight, kEnter) // Continue anyway

	// Swap the roles: priv0 on the second 10G port, ibiz0 on the second 1G.
	h.keys(kDown, kSpace) // cursor ens1f0 -> ens1f1: priv0
	h.keys(kRight, kUp, kUp, kSpace)
	h.golden("02-network")
	h.keys(kEnter)
	h.golden("03-addresses")
	h.typ("node1")
	h.keys(kTab, kSpace) // DHCP
	h.keys(kTab)         // straight to DNS: the static fields are skipped
	h.typ("192.0.2.53")
	h.keys(kTab, kTab)
	h.golden("04-addresses-dhcp")
	h.keys(kEnter)
	h.keys(kEnter) // system disk sda
	h.golden("05-confirm")
	h.typ("erase")
	h.keys(kEnter)
	h.waitFor("Installation complete.")
	h.keys(kEnter)

	res := h.result()
	want := answers.Answers{
		Action:         answers.Replace,
		AcceptWarnings: true,
		Hostname:       "node1",
		Network: answers.Network{
			Priv0: "52:54:00:00:10:02",
			Ibiz0: "52:54:00:00:00:02",
			Node:  answers.Address{DHCP: true},
			DNS:   []string{"192.0.2.53"},
		},
		Disk: answers.Disk{System: "wwn-0x61866da0aaaa0001", ConfirmErase: true},
	}
	if res.Kind != Install || !reflect.DeepEqual(res.Answers, want) {
		t.Fatalf("result %v %+v\nwant install %+v", res.Kind, res.Answers, want)
	}
}

// TestRecoverPath: Recover keeps the data partitions and asks for "keep".
func TestRecoverPath(t *testing.T) {
	eng := &fakeEngine{events: okEvents()}
	h := start(t, "recover", testConfig(eng, passChecks))
	h.keys(kDown, kDown, kEnter)
	h.keys(kEnter) // checks pass
	h.keys(kEnter) // recommended NICs
	h.typ("node1")
	h.keys(kTab, kTab)
	h.typ("192.0.2.11/24")
	h.keys(kTab, kTab, kTab, kTab, kTab, kEnter)
	h.keys(kDown, kSpace, kUp, kEnter)
	h.golden("01-confirm")
	h.typ("erase")
	h.keys(kEnter)
	h.expect(`Type "keep" to start the installation`)
	h.keys(kCtrlC) // the dialog over the confirm screen; Esc closes it
	h.keys(kEsc)
	for range 5 {
		h.keys(kBackspace)
	}
	h.typ("keep")
	h.keys(kEnter)
	h.waitFor("Installation complete.")
	h.keys(kEnter)
	res := h.result()
	a := res.Answers
	if res.Kind != Install || a.Action != answers.Recover || !a.Disk.ConfirmErase ||
		a.Network.Node.IP != "192.0.2.11" || a.Network.Node.Netmask != "255.255.255.0" ||
		!reflect.DeepEqual(a.Disk.StorageGroup, []string{"wwn-0x61866da0aaaa0002"}) {
		t.Fatalf("result %v %+v", res.Kind, a)
	}
}
