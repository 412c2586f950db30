package alert

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// The OIDs of LOCKSTEP-MIB (LOCKSTEP-MIB.txt, which must say the same;
// the tests compare them).
const (
	// oidLockstep is the Lockstep enterprise (enterprises.58853). The
	// number is a placeholder until the project registers one with IANA;
	// changing it means changing the MIB's MODULE-IDENTITY too.
	oidLockstep = "1.3.6.1.4.1.58853"

	// oidNotifications is lsNotifications, the SNMPv1 enterprise of the
	// traps. Its child 0 holds the notifications, so that RFC 3584's
	// mapping between v1 and v2 turns enterprise + specific trap n into
	// lsNotifications.0.n and back.
	oidNotifications = oidLockstep + ".1"
	oidAlert         = oidNotifications + ".0.1" // lsAlert
	oidTestAlert     = oidNotifications + ".0.2" // lsTestAlert

	oidObjects = oidLockstep + ".2" // lsObjects

	oidSysUpTime   = "1.3.6.1.2.1.1.3.0"     // SNMPv2-MIB::sysUpTime.0
	oidSnmpTrapOID = "1.3.6.1.6.3.1.1.4.1.0" // SNMPv2-MIB::snmpTrapOID.0
)

// The SNMPv1 specific-trap numbers: the last arc of the notifications.
const (
	specificAlert     = 1
	specificTestAlert = 2
)

// maxText is the longest string a variable carries: the SIZE of
// SnmpAdminString and DisplayString.
const maxText = 255

// trapTimeout bounds a send when ctx has no earlier deadline; only name
// resolution can take that long, a trap itself is one datagram.
const trapTimeout = 10 * time.Second

// started stands in for the agent's start, whose uptime sysUpTime.0 and
// the v1 time-stamp carry.
var started = time.Now()

// object is one variable of the traps: its name in LOCKSTEP-MIB, its
// OID (of the object; a varbind names its instance, OID.0) and the
// encoding of its SYNTAX.
type object struct {
	name string
	oid  string
	typ  gosnmp.Asn1BER
}

// The variables every trap carries, in the order of the notifications'
// OBJECTS clause. Unsigned32 is encoded as Gauge32 (RFC 2578 7.1.11).
var (
	objAlertID       = object{"lsAlertId", oidObjects + ".1", gosnmp.Gauge32}
	objAlertTime     = object{"lsAlertTime", oidObjects + ".2", gosnmp.OctetString}
	objAlertSeverity = object{"lsAlertSeverity", oidObjects + ".3", gosnmp.Integer}
	objAlertNode     = object{"lsAlertNode", oidObjects + ".4", gosnmp.OctetString}
	objAlertCode     = object{"lsAlertCode", oidObjects + ".5", gosnmp.OctetString}
	objAlertMessage  = object{"lsAlertMessage", oidObjects + ".6", gosnmp.OctetString}
	objAlertCleared  = object{"lsAlertCleared", oidObjects + ".7", gosnmp.Integer}
	objSystemName    = object{"lsSystemName", oidObjects + ".8", gosnmp.OctetString}
	objSystemID      = object{"lsSystemId", oidObjects + ".9", gosnmp.OctetString}

	trapObjects = []object{objAlertID, objAlertTime, objAlertSeverity, objAlertNode, objAlertCode,
		objAlertMessage, objAlertCleared, objSystemName, objSystemID}
)

// TruthValue (SNMPv2-TC).
const (
	truthTrue  = 1
	truthFalse = 2
)

// severityValue is lsAlertSeverity's value: info(1) to critical(4). A
// severity this package does not know goes as critical, so an alert is
// never played down.
func severityValue(s string) int {
	if r := api.SeverityRank(s); r >= 0 {
		return r + 1
	}
	return len(api.Severities)
}

// varbinds are m's values of trapObjects.
func varbinds(m Message) []gosnmp.SnmpPDU {
	a := m.Alert
	cleared := truthFalse
	if a.Cleared {
		cleared = truthTrue
	}
	text := func(s string) string { return truncateUTF8(oneLine(s), maxText) }
	values := map[string]any{
		// Unsigned32 holds the low 32 bits: the history's ids stay below
		// that for the life of a system.
		objAlertID.name:       uint32(a.ID),
		objAlertTime.name:     a.Time.UTC().Format(time.RFC3339),
		objAlertSeverity.name: severityValue(a.Severity),
		objAlertNode.name:     text(a.Node),
		objAlertCode.name:     text(a.Code),
		objAlertMessage.name:  text(a.Message),
		objAlertCleared.name:  cleared,
		objSystemName.name:    text(m.System),
		objSystemID.name:      text(m.SystemID),
	}
	pdus := make([]gosnmp.SnmpPDU, len(trapObjects))
	for i, o := range trapObjects {
		pdus[i] = gosnmp.SnmpPDU{Name: o.oid + ".0", Type: o.typ, Value: values[o.name]}
	}
	return pdus
}

// uptime is sysUpTime: hundredths of a second since started, modulo
// 2^32 as TimeTicks wrap.
func uptime(now time.Time) uint32 {
	return uint32(now.Sub(started) / (10 * time.Millisecond))
}

// buildTrap is m as a trap of version v. agent is the v1 agent-addr,
// the address the trap leaves from.
func buildTrap(v gosnmp.SnmpVersion, m Message, ticks uint32, agent string) gosnmp.SnmpTrap {
	notification, specific := oidAlert, specificAlert
	if m.Test {
		notification, specific = oidTestAlert, specificTestAlert
	}
	if v == gosnmp.Version1 {
		return gosnmp.SnmpTrap{
			Variables:    varbinds(m),
			Enterprise:   oidNotifications,
			AgentAddress: agent,
			GenericTrap:  6, // enterpriseSpecific
			SpecificTrap: specific,
			Timestamp:    uint(ticks),
		}
	}
	return gosnmp.SnmpTrap{Variables: append([]gosnmp.SnmpPDU{
		{Name: oidSysUpTime, Type: gosnmp.TimeTicks, Value: ticks},
		{Name: oidSnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: notification},
	}, varbinds(m)...)}
}

// SendTrap sends m as one SNMP trap (v1 or v2c per t.Version; "" is v2c)
// to t: lsAlert, or lsTestAlert for a test, of LOCKSTEP-MIB. A trap is
// one unacknowledged UDP datagram, so an error only says the target did
// not resolve or the datagram could not be sent, never that it did not
// arrive.
func SendTrap(ctx context.Context, t api.SNMPTarget, m Message) error {
	addr := t.Address()
	var v gosnmp.SnmpVersion
	ver := t.Version
	switch ver {
	case api.SNMPv1:
		v = gosnmp.Version1
	case api.SNMPv2c, "":
		v, ver = gosnmp.Version2c, api.SNMPv2c
	default:
		return fmt.Errorf("snmp %s: version %q: use %q or %q", addr, t.Version, api.SNMPv1, api.SNMPv2c)
	}
	fail := func(err error) error { return fmt.Errorf("snmp %s %s: %w", addr, ver, err) }
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return fail(err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(ctx, trapTimeout)
	defer cancel()
	g := &gosnmp.GoSNMP{
		Target:    host,
		Port:      uint16(port),
		Transport: "udp",
		Community: t.Community,
		Version:   v,
		Context:   ctx,
		Timeout:   trapTimeout,
		Retries:   0,
	}
	// Connect resolves the name (with ctx) and connects the UDP socket,
	// which makes the kernel choose the route and so the local address.
	if err := g.Connect(); err != nil {
		return fail(err)
	}
	defer g.Close()
	// agent-addr can only hold IPv4; a trap sent over IPv6 says 0.0.0.0,
	// "unknown", and receivers go by the datagram's source instead.
	agent := "0.0.0.0"
	if ua, ok := g.Conn.LocalAddr().(*net.UDPAddr); ok && ua.IP.To4() != nil {
		agent = ua.IP.To4().String()
	}
	if _, err := g.SendTrap(buildTrap(v, m, uptime(time.Now()), agent)); err != nil {
		return fail(err)
	}
	return nil
}
