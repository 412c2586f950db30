// Package alert sends a Lockstep system's alerts (SPEC A12) to where its
// alert settings say: by email through an SMTP server (SendEmail) and as
// SNMP v1 or v2c traps (SendTrap). Choosing which alerts go out, keeping
// the history and retrying are the caller's; each call here sends one
// alert once and says how it went.
//
// LOCKSTEP-MIB.txt, beside this file, describes the traps; MIB is its
// text, for the administrators of the trap receivers to load.
package alert

import (
	_ "embed"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// Message is one alert of one system, as sent.
type Message struct {
	System   string // the system's name (from the installer), e.g. "prod-pair"
	SystemID string // its id
	Alert    api.Alert
	Test     bool // a test alert sent by the administrator's "test" action
}

// MIB is the text of LOCKSTEP-MIB, the SMIv2 module that names the traps
// SendTrap sends and their variables.
//
//go:embed LOCKSTEP-MIB.txt
var MIB string

// oneLine makes s fit one line of a mail header or a trap receiver's log:
// every line break and other control character becomes a space, runs of
// white space become one, and bytes that are not UTF-8 become U+FFFD. A
// header built from it therefore cannot end early, whatever the alert's
// text holds.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
