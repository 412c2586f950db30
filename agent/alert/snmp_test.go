package alert

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// wantVarbinds checks vars against m: the objects of LOCKSTEP-MIB in
// order, as instances .0, with their types and values.
func wantVarbinds(t *testing.T, vars []gosnmp.SnmpPDU, m Message) {
	t.Helper()
	want := []struct {
		oid   string
		typ   gosnmp.Asn1BER
		value any
	}{
		{"1.3.6.1.4.1.58853.2.1.0", gosnmp.Gauge32, uint32(m.Alert.ID)},
		{"1.3.6.1.4.1.58853.2.2.0", gosnmp.OctetString, m.Alert.Time.UTC().Format(time.RFC3339)},
		{"1.3.6.1.4.1.58853.2.3.0", gosnmp.Integer, api.SeverityRank(m.Alert.Severity) + 1},
		{"1.3.6.1.4.1.58853.2.4.0", gosnmp.OctetString, m.Alert.Node},
		{"1.3.6.1.4.1.58853.2.5.0", gosnmp.OctetString, m.Alert.Code},
		{"1.3.6.1.4.1.58853.2.6.0", gosnmp.OctetString, m.Alert.Message},
		{"1.3.6.1.4.1.58853.2.7.0", gosnmp.Integer, map[bool]int{true: 1, false: 2}[m.Alert.Cleared]},
		{"1.3.6.1.4.1.58853.2.8.0", gosnmp.OctetString, m.System},
		{"1.3.6.1.4.1.58853.2.9.0", gosnmp.OctetString, m.SystemID},
	}
	if len(vars) != len(want) {
		t.Fatalf("%d varbinds, want %d: %v", len(vars), len(want), vars)
	}
	for i, w := range want {
		v := vars[i]
		if strings.TrimPrefix(v.Name, ".") != w.oid || v.Type != w.typ || !sameValue(v.Value, w.value) {
			t.Errorf("varbind %d: %s %v %#v, want %s %v %#v", i, v.Name, v.Type, v.Value, w.oid, w.typ, w.value)
		}
	}
}

// sameValue compares a value as built or as gosnmp decodes it ([]byte
// for strings, uint for Gauge32).
func sameValue(got, want any) bool {
	switch g := got.(type) {
	case []byte:
		got = string(g)
	case uint:
		if w, ok := want.(uint32); ok {
			return uint32(g) == w
		}
	}
	return got == want
}

func TestBuildTrapV2c(t *testing.T) {
	m := testMessage()
	tr := buildTrap(gosnmp.Version2c, m, 12345, "")
	if len(tr.Variables) < 2 {
		t.Fatalf("varbinds %v", tr.Variables)
	}
	up, oid := tr.Variables[0], tr.Variables[1]
	if up.Name != "1.3.6.1.2.1.1.3.0" || up.Type != gosnmp.TimeTicks || up.Value != uint32(12345) {
		t.Errorf("first varbind %+v, want sysUpTime.0", up)
	}
	if oid.Name != "1.3.6.1.6.3.1.1.4.1.0" || oid.Type != gosnmp.ObjectIdentifier || oid.Value != "1.3.6.1.4.1.58853.1.0.1" {
		t.Errorf("second varbind %+v, want snmpTrapOID.0 = lsAlert", oid)
	}
	wantVarbinds(t, tr.Variables[2:], m)

	m.Test = true
	if v := buildTrap(gosnmp.Version2c, m, 0, "").Variables[1].Value; v != "1.3.6.1.4.1.58853.1.0.2" {
		t.Errorf("test alert's snmpTrapOID.0 %v, want lsTestAlert", v)
	}
}

func TestBuildTrapV1(t *testing.T) {
	m := testMessage()
	m.Alert.Cleared = true
	tr := buildTrap(gosnmp.Version1, m, 777, "192.0.2.9")
	if tr.Enterprise != "1.3.6.1.4.1.58853.1" || tr.GenericTrap != 6 || tr.SpecificTrap != 1 ||
		tr.AgentAddress != "192.0.2.9" || tr.Timestamp != 777 {
		t.Errorf("v1 header %+v", tr)
	}
	wantVarbinds(t, tr.Variables, m)
	m.Test = true
	if tr := buildTrap(gosnmp.Version1, m, 0, "192.0.2.9"); tr.SpecificTrap != 2 {
		t.Errorf("test alert's specific-trap %d, want 2", tr.SpecificTrap)
	}
}

func TestSeverityValue(t *testing.T) {
	for s, want := range map[string]int{"info": 1, "warning": 2, "error": 3, "critical": 4, "bogus": 4, "": 4} {
		if got := severityValue(s); got != want {
			t.Errorf("severityValue(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestTruncation(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int
	}{
		{strings.Repeat("a", 300), 255},
		{strings.Repeat("ä", 200), 254},      // 2-byte characters
		{strings.Repeat("€", 100), 255},      // 3 bytes each: 85 fit
		{"a" + strings.Repeat("😀", 80), 253}, // 1 + 4*63
		{"short", 5},
	} {
		got := truncateUTF8(c.s, maxText)
		if len(got) != c.want || !utf8.ValidString(got) || !strings.HasPrefix(c.s, got) {
			t.Errorf("truncateUTF8(%.10q…) is %d bytes (valid %v), want %d", c.s, len(got), utf8.ValidString(got), c.want)
		}
	}
	m := testMessage()
	m.Alert.Message = "line one\r\nline two\t" + strings.Repeat("€", 100)
	for _, v := range varbinds(m) {
		s, ok := v.Value.(string)
		if !ok {
			continue
		}
		if len(s) > maxText || !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\t") {
			t.Errorf("%s: %d bytes %q", v.Name, len(s), s)
		}
		if v.Name == objAlertMessage.oid+".0" && !strings.HasPrefix(s, "line one line two €€") {
			t.Errorf("lsAlertMessage %q", s)
		}
	}
}

// TestSendTrapLoopback sends traps to a UDP socket of the test and
// decodes them: the encoding is what the receivers get, and the v1
// agent-addr is the address the trap came from.
func TestSendTrapLoopback(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	m := testMessage()
	m.Alert.Message = "Überhitzung — 90 °C"
	for _, c := range []struct {
		version string
		test    bool
	}{{api.SNMPv2c, false}, {api.SNMPv2c, true}, {api.SNMPv1, false}, {api.SNMPv1, true}, {"", false}} {
		m.Test = c.test
		target := api.SNMPTarget{Host: "127.0.0.1", Port: port, Version: c.version, Community: "s3cret"}
		if err := SendTrap(context.Background(), target, m); err != nil {
			t.Fatalf("%s: %v", c.version, err)
		}
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 65536)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("%s: no trap: %v", c.version, err)
		}
		v := gosnmp.Version2c
		if c.version == api.SNMPv1 {
			v = gosnmp.Version1
		}
		p, err := (&gosnmp.GoSNMP{Version: v}).SnmpDecodePacket(buf[:n])
		if err != nil {
			t.Fatalf("%s: decode: %v", c.version, err)
		}
		if p.Version != v || p.Community != "s3cret" {
			t.Errorf("%s: version %v community %q", c.version, p.Version, p.Community)
		}
		if v == gosnmp.Version1 {
			specific := 1
			if c.test {
				specific = 2
			}
			if p.PDUType != gosnmp.Trap || strings.TrimPrefix(p.Enterprise, ".") != oidNotifications ||
				p.GenericTrap != 6 || p.SpecificTrap != specific {
				t.Errorf("v1 trap %v enterprise %s generic %d specific %d", p.PDUType, p.Enterprise, p.GenericTrap, p.SpecificTrap)
			}
			if fromIP := from.(*net.UDPAddr).IP.String(); p.AgentAddress != fromIP {
				t.Errorf("agent-addr %s, the trap came from %s", p.AgentAddress, fromIP)
			}
			wantVarbinds(t, p.Variables, m)
			continue
		}
		notification := oidAlert
		if c.test {
			notification = oidTestAlert
		}
		if p.PDUType != gosnmp.SNMPv2Trap || len(p.Variables) != 11 ||
			p.Variables[0].Type != gosnmp.TimeTicks ||
			strings.TrimPrefix(p.Variables[1].Value.(string), ".") != notification {
			t.Fatalf("v2c trap %v %+v", p.PDUType, p.Variables)
		}
		wantVarbinds(t, p.Variables[2:], m)
	}
}

func TestSendTrapErrors(t *testing.T) {
	m := testMessage()
	err := SendTrap(context.Background(), api.SNMPTarget{Host: "127.0.0.1", Version: "v3", Community: "x"}, m)
	if err == nil || !strings.Contains(err.Error(), `version "v3"`) {
		t.Errorf("v3: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = SendTrap(ctx, api.SNMPTarget{Host: "127.0.0.1", Port: 9, Version: "v2c", Community: "x"}, m)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "snmp 127.0.0.1:9 v2c: ") {
		t.Errorf("cancelled: %v", err)
	}
}
