package nodeconfig

// SHA-512 crypt(3), the "$6$" scheme, implemented from Ulrich Drepper's
// specification "Unix crypt using SHA-256 and SHA-512"
// (https://www.akkadia.org/drepper/SHA-crypt.txt). Its output is what glibc's
// crypt(3), openssl passwd -6 and /etc/shadow use.

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	sha512Prefix       = "$6$"
	sha512RoundsPrefix = "rounds="
	// cryptAlphabet is crypt(3)'s base-64 alphabet, in value order.
	cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

	saltMaxLen    = 16
	roundsDefault = 5000
	roundsMin     = 1000
	roundsMax     = 999999999
)

// HashPassword hashes password as a SHA-512 crypt(3) string,
// "$6$<16-character salt>$<86-character hash>", with a random salt from
// crypto/rand and the default 5000 rounds.
func HashPassword(password string) (string, error) {
	var buf [saltMaxLen]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	salt := make([]byte, saltMaxLen)
	for i, b := range buf {
		salt[i] = cryptAlphabet[b&0x3f] // 64 divides 256: no bias
	}
	return Crypt512(password, sha512Prefix+string(salt))
}

// Crypt512 is crypt(3) for SHA-512: it hashes password with the salt and
// rounds of setting, which is "$6$salt", "$6$rounds=N$salt", or a whole hash
// ("$6$salt$..." or "$6$rounds=N$salt$..."), whose hash part is ignored.
// As in glibc, the salt is truncated to 16 characters, the rounds are
// clamped to [1000, 999999999], and "rounds=N$" (with N clamped) appears in
// the result only when setting has it.
func Crypt512(password, setting string) (string, error) {
	salt, rounds, custom, err := parseSetting512(setting)
	if err != nil {
		return "", err
	}

	sum := sha512Crypt([]byte(password), []byte(salt), rounds)

	var b strings.Builder
	b.Grow(len(sha512Prefix) + len(sha512RoundsPrefix) + 10 + len(salt) + 1 + 86)
	b.WriteString(sha512Prefix)
	if custom {
		b.WriteString(sha512RoundsPrefix)
		b.WriteString(strconv.Itoa(rounds))
		b.WriteByte('$')
	}
	b.WriteString(salt)
	b.WriteByte('$')
	b.Write(encodeSHA512(sum))
	return b.String(), nil
}

// parseSetting512 returns the salt (at most 16 characters) and the rounds
// (clamped) of a "$6$" setting, and whether it gives the rounds explicitly.
func parseSetting512(setting string) (salt string, rounds int, custom bool, err error) {
	if !strings.HasPrefix(setting, sha512Prefix) {
		return "", 0, false, errors.New("crypt: setting is not a SHA-512 crypt setting: it must start with \"$6$\"")
	}
	rest := setting[len(sha512Prefix):]
	rounds = roundsDefault
	if strings.HasPrefix(rest, sha512RoundsPrefix) {
		num, after, ok := strings.Cut(rest[len(sha512RoundsPrefix):], "$")
		if !ok || num == "" || strings.Trim(num, "0123456789") != "" {
			return "", 0, false, errors.New("crypt: malformed \"rounds=N$\" in SHA-512 crypt setting")
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n > roundsMax { // ParseUint fails only on overflow here
			n = roundsMax
		}
		rounds, custom = max(int(n), roundsMin), true
		rest = after
	}
	salt, _, _ = strings.Cut(rest, "$")
	if len(salt) > saltMaxLen {
		salt = salt[:saltMaxLen]
	}
	return salt, rounds, custom, nil
}

// VerifyPassword reports whether password matches hash, a SHA-512 crypt(3)
// string. The final comparison takes constant time.
func VerifyPassword(password, hash string) bool {
	got, err := Crypt512(password, hash)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}

// sha512Crypt is steps 1-21 of the specification: the final digest.
func sha512Crypt(key, salt []byte, rounds int) [sha512.Size]byte {
	// Digest B: key, salt, key.
	h := sha512.New()
	h.Write(key)
	h.Write(salt)
	h.Write(key)
	db := h.Sum(nil)

	// Digest A: key, salt, len(key) bytes of B, then, for each bit of
	// len(key) from the lowest, B for a 1 and key for a 0.
	h.Reset()
	h.Write(key)
	h.Write(salt)
	h.Write(repeatTo(db, len(key)))
	for n := len(key); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(db)
		} else {
			h.Write(key)
		}
	}
	da := h.Sum(nil)

	// Byte sequence P: digest DP (key, len(key) times) repeated to len(key).
	h.Reset()
	for range len(key) {
		h.Write(key)
	}
	p := repeatTo(h.Sum(nil), len(key))

	// Byte sequence S: digest DS (salt, 16+A[0] times) repeated to len(salt).
	h.Reset()
	for range 16 + int(da[0]) {
		h.Write(salt)
	}
	s := repeatTo(h.Sum(nil), len(salt))

	// The rounds, each digest C feeding the next.
	c := da
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}
	var out [sha512.Size]byte
	copy(out[:], c)
	return out
}

// repeatTo returns n bytes: d repeated as many times as needed.
func repeatTo(d []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, d[:min(len(d), n-len(out))]...)
	}
	return out
}

// encodeSHA512 is step 22 for SHA-512: the 64 bytes of the final digest,
// permuted in groups of three, as 86 characters of cryptAlphabet.
func encodeSHA512(c [sha512.Size]byte) []byte {
	out := make([]byte, 0, 86)
	put := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for range n {
			out = append(out, cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	// Groups (k, k+21, k+42) for k = 0..20, rotated by k mod 3:
	// (0,21,42) (22,43,1) (44,2,23) (3,24,45) ... (20,41,62).
	for k := range 21 {
		a, b, d := c[k], c[k+21], c[k+42]
		switch k % 3 {
		case 0:
			put(a, b, d, 4)
		case 1:
			put(b, d, a, 4)
		case 2:
			put(d, a, b, 4)
		}
	}
	put(0, 0, c[63], 2)
	return out
}
