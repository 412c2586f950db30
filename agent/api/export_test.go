package api

import "time"

// SetTimeouts shortens the server's timeouts for a test; it returns what
// puts them back.
func SetTimeouts(read, write, stall time.Duration) (restore func()) {
	r, w, s := readTimeout, writeTimeout, uploadStall
	readTimeout, writeTimeout, uploadStall = read, write, stall
	return func() { readTimeout, writeTimeout, uploadStall = r, w, s }
}
