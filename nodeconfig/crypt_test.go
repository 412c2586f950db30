package nodeconfig

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// sha512Vectors are the SHA-512 test vectors of Drepper's specification
// "Unix crypt using SHA-256 and SHA-512".
var sha512Vectors = []struct {
	setting, password, want string
}{
	{
		"$6$saltstring", "Hello world!",
		"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	},
	{
		"$6$rounds=10000$saltstringsaltstring", "Hello world!",
		"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
	},
	{
		"$6$rounds=5000$toolongsaltstring", "This is just a test",
		"$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
	},
	{
		"$6$rounds=1400$anotherlongsaltstring",
		"a very much longer text to encrypt.  This one even stretches over morethan one line.",
		"$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
	},
	{
		"$6$rounds=77777$short", "we have a short salt string but not a short password",
		"$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0",
	},
	{
		"$6$rounds=123456$asaltof16chars..", "a short string",
		"$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1",
	},
	{
		"$6$rounds=10$roundstoolow", "the minimum number is still observed",
		"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
	},
}

var sha512HashRE = regexp.MustCompile(`^\$6\$(rounds=[0-9]+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$`)

func TestCrypt512Vectors(t *testing.T) {
	for _, v := range sha512Vectors {
		got, err := Crypt512(v.password, v.setting)
		if err != nil {
			t.Errorf("Crypt512(%q, %q): %v", v.password, v.setting, err)
			continue
		}
		if got != v.want {
			t.Errorf("Crypt512(%q, %q)\n got %s\nwant %s", v.password, v.setting, got, v.want)
		}
		// The full hash works as a setting too, and verifies.
		if again, err := Crypt512(v.password, v.want); err != nil || again != v.want {
			t.Errorf("Crypt512(%q, %q) = %q, %v; want the same hash", v.password, v.want, again, err)
		}
		if !VerifyPassword(v.password, v.want) {
			t.Errorf("VerifyPassword(%q, %q) = false", v.password, v.want)
		}
		if VerifyPassword(v.password+"x", v.want) {
			t.Errorf("VerifyPassword accepts a wrong password for %q", v.want)
		}
	}
}

// TestCrypt512Openssl cross-checks against openssl passwd -6, including
// passwords and salts of lengths around the 64-byte digest size and the
// bits of the length loop.
func TestCrypt512Openssl(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not found: skipping the cross-check against openssl passwd -6")
	}
	type tc struct{ salt, password string }
	cases := []tc{
		{"saltstring", "Hello world!"},
		{"rounds=10000$saltstringsaltstring", "Hello world!"},
		{"rounds=5000$toolongsaltstring", "This is just a test"},
		{"rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line."},
		{"rounds=77777$short", "we have a short salt string but not a short password"},
		{"rounds=10$roundstoolow", "the minimum number is still observed"},
		{"x", "p"},
		{"./09AZaz", "pässwörd with ünïcode"},
	}
	for _, n := range []int{1, 63, 64, 65, 127, 128, 129, 200} {
		cases = append(cases, tc{"abcdefghijklmnop", strings.Repeat("k", n)})
	}
	for _, c := range cases {
		out, err := exec.Command(openssl, "passwd", "-6", "-salt", c.salt, c.password).Output()
		if err != nil {
			t.Fatalf("openssl passwd -6 -salt %q: %v", c.salt, err)
		}
		want := strings.TrimSpace(string(out))
		got, err := Crypt512(c.password, "$6$"+c.salt)
		if err != nil {
			t.Errorf("Crypt512(%q, %q): %v", c.password, "$6$"+c.salt, err)
			continue
		}
		if got != want {
			t.Errorf("Crypt512(%q, %q)\n   got %s\nopenssl %s", c.password, "$6$"+c.salt, got, want)
		}
	}
}

func TestCrypt512Settings(t *testing.T) {
	for _, bad := range []string{"", "$5$saltstring", "$1$salt$", "6$salt", "$6", "$6$rounds=$salt", "$6$rounds=12x$salt", "$6$rounds=-5$salt", "$6$rounds=5000"} {
		if h, err := Crypt512("pw", bad); err == nil {
			t.Errorf("Crypt512(_, %q) = %q, want an error", bad, h)
		}
		if VerifyPassword("pw", bad) {
			t.Errorf("VerifyPassword(_, %q) = true", bad)
		}
	}
	// Rounds are clamped to [1000, 999999999] (checked on the parsing:
	// hashing with 999999999 rounds would take minutes).
	for _, c := range []struct {
		setting, salt string
		rounds        int
		custom        bool
	}{
		{"$6$salt", "salt", 5000, false},
		{"$6$salt$hashpart", "salt", 5000, false},
		{"$6$", "", 5000, false},
		{"$6$rounds=0$s", "s", 1000, true},
		{"$6$rounds=999$s", "s", 1000, true},
		{"$6$rounds=1001$s$x", "s", 1001, true},
		{"$6$rounds=999999999$s", "s", 999999999, true},
		{"$6$rounds=1000000000$s", "s", 999999999, true},
		{"$6$rounds=99999999999999999999999$s", "s", 999999999, true},
		{"$6$0123456789abcdefXYZ$h", "0123456789abcdef", 5000, false},
	} {
		salt, rounds, custom, err := parseSetting512(c.setting)
		if err != nil || salt != c.salt || rounds != c.rounds || custom != c.custom {
			t.Errorf("parseSetting512(%q) = %q, %d, %v, %v; want %q, %d, %v", c.setting, salt, rounds, custom, err, c.salt, c.rounds, c.custom)
		}
	}
	// A "rounds=5000" given explicitly is echoed; the default is not.
	a, err := Crypt512("pw", "$6$rounds=5000$salt")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Crypt512("pw", "$6$salt")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, "$6$rounds=5000$salt$") || !strings.HasPrefix(b, "$6$salt$") || a[len("$6$rounds=5000$salt$"):] != b[len("$6$salt$"):] {
		t.Errorf("explicit and default 5000 rounds differ: %q vs %q", a, b)
	}
}

func TestHashPassword(t *testing.T) {
	const pw = "correct horse battery staple"
	h1, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{h1, h2} {
		if !regexp.MustCompile(`^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$`).MatchString(h) {
			t.Errorf("HashPassword = %q, want $6$<16-char salt>$<86 chars>", h)
		}
		if !VerifyPassword(pw, h) {
			t.Errorf("VerifyPassword(pw, %q) = false", h)
		}
		if VerifyPassword(pw+" ", h) || VerifyPassword("", h) {
			t.Errorf("VerifyPassword accepts a wrong password for %q", h)
		}
		// The installer's answers validator accepts it as admin.password_hash.
		a := &answers.Answers{Action: answers.Create, Admin: answers.Admin{PasswordHash: h}}
		if errs := answers.ValidateField(a, answers.Hardware{}, "admin"); len(errs) != 0 {
			t.Errorf("answers validator rejects HashPassword's %q: %v", h, errs)
		}
	}
	salt := func(h string) string { return strings.Split(h, "$")[2] }
	if salt(h1) == salt(h2) {
		t.Errorf("two HashPassword calls gave the same salt %q", salt(h1))
	}
	// The validator check above must be able to fail: a damaged hash is rejected.
	bad := &answers.Answers{Action: answers.Create, Admin: answers.Admin{PasswordHash: h1[:len(h1)-1]}}
	if errs := answers.ValidateField(bad, answers.Hardware{}, "admin"); len(errs) == 0 {
		t.Error("answers validator accepts a truncated hash; the check above proves nothing")
	}
	for _, v := range sha512Vectors {
		if !sha512HashRE.MatchString(v.want) {
			t.Errorf("vector %q does not match the hash format", v.want)
		}
	}
}
