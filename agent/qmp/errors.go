package qmp

import (
	"errors"
	"fmt"
)

// Error is an error reply: {"error":{"class":…,"desc":…}}. Class is one of
// the few QMP error classes (ErrorClass…); Desc is for humans only and must
// not be parsed.
type Error struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
	// Command is the command that failed, filled in by the client.
	Command string `json:"-"`
}

func (e *Error) Error() string {
	if e.Command != "" {
		return fmt.Sprintf("qmp %s: %s: %s", e.Command, e.Class, e.Desc)
	}
	return fmt.Sprintf("qmp: %s: %s", e.Class, e.Desc)
}

// The QMP error classes (qapi/error.json). New code in QEMU only uses
// GenericError; the others survive for compatibility.
const (
	ErrorClassGeneric         = "GenericError"
	ErrorClassCommandNotFound = "CommandNotFound"
	ErrorClassDeviceNotActive = "DeviceNotActive"
	ErrorClassDeviceNotFound  = "DeviceNotFound"
	ErrorClassKVMMissingCap   = "KVMMissingCap"
)

var (
	// ErrDisconnected wraps the cause (io.EOF, a net error, a malformed
	// message) when the monitor connection is lost: every pending and later
	// call fails with it.
	ErrDisconnected = errors.New("connection lost")
	// ErrClosed is returned by calls made after (or pending during) Close.
	ErrClosed = errors.New("client closed")
	// ErrOOBNotNegotiated is returned by ExecuteOOB when the server did not
	// offer the "oob" capability (QEMU offers it only when the monitor's
	// chardev can be served from the monitor I/O thread: a socket, not
	// stdio).
	ErrOOBNotNegotiated = errors.New("out-of-band execution (oob capability) not negotiated")
)
