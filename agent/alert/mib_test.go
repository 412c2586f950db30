package alert

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// mibDef is one assignment of LOCKSTEP-MIB: "name KIND ... ::= { parent n }".
type mibDef struct {
	kind   string // "OBJECT IDENTIFIER", "OBJECT-TYPE", "NOTIFICATION-TYPE", ...
	parent string
	n      int
	body   string // between the kind and "::="
}

var (
	mibStrings     = regexp.MustCompile(`"[^"]*"`)
	mibComments    = regexp.MustCompile(`--[^\n]*`)
	mibAssignments = regexp.MustCompile(`(?s)\b([a-z][A-Za-z0-9-]*)\s+(OBJECT IDENTIFIER|OBJECT-TYPE|NOTIFICATION-TYPE|MODULE-IDENTITY|MODULE-COMPLIANCE|OBJECT-GROUP|NOTIFICATION-GROUP)\b(.*?)::=\s*\{\s*([a-z][A-Za-z0-9-]*)\s+(\d+)\s*\}`)
	mibBraces      = regexp.MustCompile(`(?s)\{([^}]*)\}`)
)

// parseMIB finds the assignments of a MIB module's text, after its
// IMPORTS, without its quoted texts and comments (which may hold
// anything).
func parseMIB(t *testing.T, text string) map[string]mibDef {
	t.Helper()
	text = mibStrings.ReplaceAllString(text, `""`)
	text = mibComments.ReplaceAllString(text, "")
	if i := strings.Index(text, "IMPORTS"); i >= 0 {
		end := strings.IndexByte(text[i:], ';')
		if end < 0 {
			t.Fatalf("IMPORTS has no end")
		}
		text = text[i+end+1:]
	}
	defs := map[string]mibDef{}
	for _, g := range mibAssignments.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(g[5])
		if _, dup := defs[g[1]]; dup {
			t.Errorf("MIB: %s is defined twice", g[1])
		}
		defs[g[1]] = mibDef{kind: g[2], parent: g[4], n: n, body: g[3]}
	}
	return defs
}

// mibOID resolves name through its parents to enterprises.
func mibOID(defs map[string]mibDef, name string) (string, error) {
	var arcs []string
	for seen := 0; name != "enterprises"; seen++ {
		d, ok := defs[name]
		if !ok || seen > 20 {
			return "", fmt.Errorf("%s does not lead to enterprises", name)
		}
		arcs = append([]string{strconv.Itoa(d.n)}, arcs...)
		name = d.parent
	}
	return "1.3.6.1.4.1." + strings.Join(arcs, "."), nil
}

// clause is the list in braces after keyword in a definition's body.
func clause(body, keyword string) []string {
	i := strings.Index(body, keyword)
	if i < 0 {
		return nil
	}
	g := mibBraces.FindStringSubmatch(body[i:])
	if g == nil {
		return nil
	}
	var names []string
	for _, f := range strings.Split(g[1], ",") {
		names = append(names, strings.TrimSpace(f))
	}
	return names
}

func TestMIBMatchesCode(t *testing.T) {
	file, err := os.ReadFile("LOCKSTEP-MIB.txt")
	if err != nil {
		t.Fatal(err)
	}
	if MIB != string(file) || !strings.HasPrefix(MIB, "LOCKSTEP-MIB DEFINITIONS ::= BEGIN") || !strings.HasSuffix(MIB, "END\n") {
		t.Fatalf("MIB is not LOCKSTEP-MIB.txt, or not a whole module")
	}
	defs := parseMIB(t, MIB)
	oid := func(name string) string {
		o, err := mibOID(defs, name)
		if err != nil {
			t.Error(err)
		}
		return o
	}

	for name, want := range map[string]string{
		"lockstep":        oidLockstep,
		"lsNotifications": oidNotifications,
		"lsAlert":         oidAlert,
		"lsTestAlert":     oidTestAlert,
		"lsObjects":       oidObjects,
	} {
		if got := oid(name); got != want {
			t.Errorf("MIB: %s is %s, the code's %s", name, got, want)
		}
	}
	if d := defs["lockstep"]; d.kind != "MODULE-IDENTITY" || d.parent != "enterprises" {
		t.Errorf("MIB: lockstep is %s under %s", d.kind, d.parent)
	}
	if oidAlert != oidNotifications+".0."+strconv.Itoa(specificAlert) || oidTestAlert != oidNotifications+".0."+strconv.Itoa(specificTestAlert) {
		t.Errorf("the v1 specific-trap numbers do not map to the notifications (RFC 3584)")
	}

	// The objects: the same set, OIDs, types.
	var objectNames, want []string
	for name, d := range defs {
		if d.kind == "OBJECT-TYPE" {
			objectNames = append(objectNames, name)
		}
	}
	for _, o := range trapObjects {
		want = append(want, o.name)
	}
	slices.Sort(objectNames)
	if sorted := slices.Sorted(slices.Values(want)); !slices.Equal(objectNames, sorted) {
		t.Errorf("MIB objects %v, the code's %v", objectNames, sorted)
	}
	syntaxType := map[string]gosnmp.Asn1BER{
		"Unsigned32":      gosnmp.Gauge32,
		"DisplayString":   gosnmp.OctetString,
		"SnmpAdminString": gosnmp.OctetString,
		"INTEGER":         gosnmp.Integer,
		"TruthValue":      gosnmp.Integer,
	}
	syntaxRe := regexp.MustCompile(`SYNTAX\s+([A-Za-z0-9]+)`)
	for _, o := range trapObjects {
		d, ok := defs[o.name]
		if !ok {
			continue
		}
		if got := oid(o.name); got != o.oid {
			t.Errorf("MIB: %s is %s, the code's %s", o.name, got, o.oid)
		}
		if !regexp.MustCompile(`MAX-ACCESS\s+accessible-for-notify\b`).MatchString(d.body) {
			t.Errorf("MIB: %s is not accessible-for-notify", o.name)
		}
		g := syntaxRe.FindStringSubmatch(d.body)
		if g == nil {
			t.Errorf("MIB: %s has no SYNTAX", o.name)
			continue
		}
		if typ, ok := syntaxType[g[1]]; !ok || typ != o.typ {
			t.Errorf("MIB: %s has SYNTAX %s, the code sends %v", o.name, g[1], o.typ)
		}
	}

	// lsAlertSeverity's values are severityValue's.
	enum := regexp.MustCompile(`^([a-z]+)\((\d+)\)$`)
	values := clause(defs["lsAlertSeverity"].body, "INTEGER")
	if len(values) != len(api.Severities) {
		t.Errorf("MIB: lsAlertSeverity has values %v, api the severities %v", values, api.Severities)
	}
	for _, v := range values {
		e := enum.FindStringSubmatch(v)
		if e == nil {
			t.Errorf("MIB: lsAlertSeverity value %q", v)
			continue
		}
		if n, _ := strconv.Atoi(e[2]); severityValue(e[1]) != n || api.SeverityRank(e[1]) < 0 {
			t.Errorf("MIB: lsAlertSeverity %s(%s); the code sends %d", e[1], e[2], severityValue(e[1]))
		}
	}

	// The notifications carry the objects in the code's order.
	for _, n := range []string{"lsAlert", "lsTestAlert"} {
		if d := defs[n]; d.kind != "NOTIFICATION-TYPE" || !slices.Equal(clause(d.body, "OBJECTS"), want) {
			t.Errorf("MIB: %s is %s with OBJECTS %v, the code sends %v", n, d.kind, clause(d.body, "OBJECTS"), want)
		}
	}
	// The conformance groups hold all of them.
	if got := clause(defs["lsAlertObjectGroup"].body, "OBJECTS"); !slices.Equal(slices.Sorted(slices.Values(got)), objectNames) {
		t.Errorf("MIB: lsAlertObjectGroup has %v", got)
	}
	if got := clause(defs["lsAlertNotificationGroup"].body, "NOTIFICATIONS"); !slices.Equal(got, []string{"lsAlert", "lsTestAlert"}) {
		t.Errorf("MIB: lsAlertNotificationGroup has %v", got)
	}
	if got := clause(defs["lsCompliance"].body, "MANDATORY-GROUPS"); !slices.Equal(got, []string{"lsAlertObjectGroup", "lsAlertNotificationGroup"}) {
		t.Errorf("MIB: lsCompliance's MANDATORY-GROUPS %v", got)
	}

	// No two definitions share an OID, and every one resolves.
	seen := map[string]string{}
	for name := range defs {
		o := oid(name)
		if other, dup := seen[o]; dup {
			t.Errorf("MIB: %s and %s are both %s", name, other, o)
		}
		seen[o] = name
	}
}
