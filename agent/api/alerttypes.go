package api

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/mail"
	"slices"
	"strings"
)

// Severities of an alert, least to most severe.
var Severities = []string{"info", "warning", "error", "critical"}

// SeverityRank orders severities: -1 for one that is not in Severities.
func SeverityRank(s string) int { return slices.Index(Severities, s) }

// Email security modes (EmailSettings.Security).
const (
	SecurityNone     = "none"     // plain SMTP: no password may be sent
	SecuritySTARTTLS = "starttls" // STARTTLS required: a server without it fails
	SecurityTLS      = "tls"      // TLS from the first byte (port 465)
)

// SNMP trap versions (SNMPTarget.Version).
const (
	SNMPv1  = "v1"
	SNMPv2c = "v2c"
)

// Limits of the alert settings.
const (
	MaxEmailRecipients = 20
	MaxSNMPTargets     = 10
)

// AlertSettings is where the system sends its alerts (SPEC A12): GET and
// PUT /api/v1/alerts/settings. Every alert is kept in the history; those
// of MinSeverity or worse also go to the email recipients and the SNMP
// trap receivers. The settings are the system's, like its VMs: both nodes
// hold them and each node sends the alerts it raises, so the survivor of a
// node loss still reports it.
type AlertSettings struct {
	// MinSeverity: "info", "warning" (the default), "error", "critical".
	MinSeverity string `json:"min_severity"`
	// Email is nil (or absent) for no email.
	Email *EmailSettings `json:"email,omitempty"`
	SNMP  []SNMPTarget   `json:"snmp"`
}

// EmailSettings is an SMTP server and the recipients.
type EmailSettings struct {
	Server string `json:"server"` // host name or address
	// Port: any; 0 means the usual one for Security (25, 587, 465).
	Port     int    `json:"port"`
	Security string `json:"security"` // SecurityNone, SecuritySTARTTLS, SecurityTLS
	// CA is PEM certificates to trust for the server's, instead of the
	// system's roots (a site's own CA); "" for the system's.
	CA string `json:"ca,omitempty"`
	// Username and Password: SMTP AUTH (PLAIN), only over TLS; "" for none.
	Username string `json:"username,omitempty"`
	// Password is write-only: PUT sets it (absent keeps the stored one,
	// "" removes it); GET never returns it, only PasswordSet.
	Password    *string  `json:"password,omitempty"`
	PasswordSet bool     `json:"password_set"`
	From        string   `json:"from"`
	To          []string `json:"to"`
}

// SNMPTarget is one trap receiver.
type SNMPTarget struct {
	Host      string `json:"host"`
	Port      int    `json:"port"`    // 0 means 162
	Version   string `json:"version"` // SNMPv1 or SNMPv2c
	Community string `json:"community"`
}

// Address is host:port with the default port filled in.
func (t SNMPTarget) Address() string {
	p := t.Port
	if p == 0 {
		p = 162
	}
	return net.JoinHostPort(t.Host, fmt.Sprint(p))
}

// Address is server:port with the default port of Security filled in.
func (e EmailSettings) Address() string {
	p := e.Port
	if p == 0 {
		switch e.Security {
		case SecurityTLS:
			p = 465
		case SecuritySTARTTLS:
			p = 587
		default:
			p = 25
		}
	}
	return net.JoinHostPort(e.Server, fmt.Sprint(p))
}

// Normalize fills in the defaults (severity, security, version).
func (s *AlertSettings) Normalize() {
	if s.MinSeverity == "" {
		s.MinSeverity = "warning"
	}
	if s.Email != nil && s.Email.Security == "" {
		s.Email.Security = SecuritySTARTTLS
	}
	for i := range s.SNMP {
		if s.SNMP[i].Version == "" {
			s.SNMP[i].Version = SNMPv2c
		}
	}
	if s.SNMP == nil {
		s.SNMP = []SNMPTarget{}
	}
}

// Validate says everything that is wrong with s, normalized, and nil if
// nothing is. password is the password the settings would keep (the one
// given, or the stored one).
func (s AlertSettings) Validate(password string) []string {
	var p []string
	if SeverityRank(s.MinSeverity) < 0 {
		p = append(p, fmt.Sprintf("min_severity %q: use one of %s", s.MinSeverity, strings.Join(Severities, ", ")))
	}
	if e := s.Email; e != nil {
		p = append(p, e.validate(password)...)
	}
	if len(s.SNMP) > MaxSNMPTargets {
		p = append(p, fmt.Sprintf("snmp: %d trap receivers; at most %d", len(s.SNMP), MaxSNMPTargets))
	}
	seen := map[string]bool{}
	for i, t := range s.SNMP {
		at := fmt.Sprintf("snmp[%d]", i)
		if !validHost(t.Host) {
			p = append(p, fmt.Sprintf("%s: host %q is not a host name or IP address", at, t.Host))
		}
		if t.Port < 0 || t.Port > 65535 {
			p = append(p, fmt.Sprintf("%s: port %d: use 1 to 65535 (0 for 162)", at, t.Port))
		}
		if t.Version != SNMPv1 && t.Version != SNMPv2c {
			p = append(p, fmt.Sprintf("%s: version %q: use %q or %q", at, t.Version, SNMPv1, SNMPv2c))
		}
		if t.Community == "" || len(t.Community) > 64 || !printable(t.Community) {
			p = append(p, fmt.Sprintf("%s: community: give 1 to 64 printable characters", at))
		}
		key := t.Address() + " " + t.Version
		if seen[key] {
			p = append(p, fmt.Sprintf("%s: %s %s is given twice", at, t.Address(), t.Version))
		}
		seen[key] = true
	}
	return p
}

func (e EmailSettings) validate(password string) []string {
	var p []string
	if !validHost(e.Server) {
		p = append(p, fmt.Sprintf("email: server %q is not a host name or IP address", e.Server))
	}
	if e.Port < 0 || e.Port > 65535 {
		p = append(p, fmt.Sprintf("email: port %d: use 1 to 65535 (0 for the usual one)", e.Port))
	}
	switch e.Security {
	case SecurityNone, SecuritySTARTTLS, SecurityTLS:
	default:
		p = append(p, fmt.Sprintf("email: security %q: use %q, %q or %q", e.Security, SecurityNone, SecuritySTARTTLS, SecurityTLS))
	}
	if e.CA != "" && !validPEM(e.CA) {
		p = append(p, "email: ca: no PEM certificate in it")
	}
	if e.CA != "" && e.Security == SecurityNone {
		p = append(p, "email: ca is given but security is \"none\"")
	}
	if (e.Username == "") != (password == "") {
		p = append(p, "email: give both username and password, or neither")
	}
	if e.Username != "" && e.Security == SecurityNone {
		p = append(p, "email: a password is never sent unencrypted: use security \"starttls\" or \"tls\"")
	}
	if strings.ContainsAny(e.Username+password, "\x00\r\n") {
		p = append(p, "email: username and password cannot hold NUL or line breaks")
	}
	if !ValidMailbox(e.From) {
		p = append(p, fmt.Sprintf("email: from %q is not an address (name@domain)", e.From))
	}
	if len(e.To) == 0 {
		p = append(p, "email: to: give at least one recipient")
	}
	if len(e.To) > MaxEmailRecipients {
		p = append(p, fmt.Sprintf("email: to: %d recipients; at most %d", len(e.To), MaxEmailRecipients))
	}
	for _, to := range e.To {
		if !ValidMailbox(to) {
			p = append(p, fmt.Sprintf("email: to %q is not an address (name@domain)", to))
		}
	}
	return p
}

// ValidMailbox accepts a bare address: it goes into SMTP's MAIL FROM and
// RCPT TO as it is, so no display name and no line breaks.
func ValidMailbox(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && strings.Contains(s, "@") && !strings.ContainsAny(s, "\r\n<>")
}

func validHost(h string) bool { return net.ParseIP(h) != nil || ValidHostName(h) }

// ValidHostName accepts a DNS host name (letters, digits and '-' in
// labels of 1 to 63, at most 253 in all, an optional final dot).
func ValidHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func printable(s string) bool {
	for _, c := range s {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func validPEM(s string) bool {
	rest, n := []byte(s), 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return n > 0
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return false
		}
		n++
	}
}

// AlertTarget is one place alerts go: "email" or "snmp <host:port> <version>".
type AlertTarget = string

// Delivery is how sending one alert to one target went.
type Delivery struct {
	Target AlertTarget `json:"target"`
	OK     bool        `json:"ok"`
	Error  string      `json:"error,omitempty"`
}

// AlertTestResult answers POST /api/v1/alerts/test: the test alert, as the
// history keeps it, and how sending it to each target went.
type AlertTestResult struct {
	Alert      Alert      `json:"alert"`
	Deliveries []Delivery `json:"deliveries"`
}
