package coldplug

import (
	"reflect"
	"strings"
	"testing"
)

func TestFnmatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"ab", "abc", false},
		{"", "", true},
		{"*", "", true},
		{"*", "a/b:c", true}, // '*' crosses '/'
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"a*b*c", "aXbYbZc", true},
		{"a**c", "ac", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[abc]x", "bx", true},
		{"[abc]x", "dx", false},
		{"[!abc]x", "dx", true},
		{"[^abc]x", "ax", false},
		{"[0-9A-F]", "B", true},
		{"[0-9A-F]", "b", false},
		{"[]]", "]", true},
		{"[!]]", "a", true},
		{"[a-]", "-", true},
		{"[", "[", true}, // unterminated bracket is literal
		{"[a", "[a", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`a\`, `a\`, true},
		{"pci:v*d*sv*sd*bc01sc06i01*", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01", true},
		{"pci:v*d*sv*sd*bc01sc06i01*", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i00", false},
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00", true},
		{"usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*", "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00", true},
		{"usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*", "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip62in00", false},
		{"acpi*:PNP0A0[38]:*", "acpi:PNP0A08:PNP0A03:", true},
		{"scsi:t-0x05*", "scsi:t_0x05", true}, // '-' in the pattern matches '_' (normalised input)
		{"dmi*:svnLENOVO*:pvrThinkPad*", "dmi:bvnLENOVO:svnLENOVO:pvrThinkPadX1:", true},
	} {
		if got := fnmatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	aliases, err := ParseAliases(strings.NewReader(`# Aliases extracted from modules themselves.
alias pci:v*d*sv*sd*bc01sc06i01* ahci
alias pci:v00008086d00002922sv*sd*bc*sc*i* ahci
alias pci:v00008086d*sv*sd*bc*sc*i* intel_thing
alias pci:v*d*sv*sd*bc01sc06i01* ahci_alt
alias scsi:t-0x05* sr_mod
alias of:N*T*Cgpio-keys gpio_keys
alias of:N*T*Cgpio_keysC* gpio_keys

alias platform:[a-c]x-y abc
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		modalias string
		want     []string
	}{
		// File order, each module once.
		{"pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01", []string{"ahci", "intel_thing", "ahci_alt"}},
		{"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00", nil},
		{"scsi:t-0x05", []string{"sr_mod"}},
		// '-' and '_' are the same, on both sides, outside brackets.
		{"of:NgpioT(null)Cgpio-keys", []string{"gpio_keys"}},
		{"of:NgpioT(null)Cgpio_keys", []string{"gpio_keys"}},
		{"platform:bx-y", []string{"abc"}},
		{"platform:-x-y", nil}, // '-' not normalised inside the bracket
	} {
		if got := Match(aliases, tc.modalias); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Match(%q) = %q, want %q", tc.modalias, got, tc.want)
		}
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/usb/storage/usb-storage.ko.xz": "usb_storage",
		"kernel/fs/fat/vfat.ko":                        "vfat",
		"/lib/modules/6.1/kernel/a/b-c.ko.zst":         "b_c",
		"x.ko.gz":                                      "x",
		"usb-storage":                                  "usb_storage",
	} {
		if got := ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"alias onlypattern\n", "blias a b\n", "aliasx a b\n"} {
		if _, err := ParseAliases(strings.NewReader(in)); err == nil {
			t.Errorf("ParseAliases(%q): no error", in)
		}
	}
	for _, in := range []string{"kernel/a.ko kernel/b.ko\n", ": x\n", "a.ko:\na.ko:\n"} {
		if _, err := ParseDep(strings.NewReader(in)); err == nil {
			t.Errorf("ParseDep(%q): no error", in)
		}
	}
	if _, err := ParseSoftdep(strings.NewReader("options x y=1\n")); err == nil {
		t.Error("ParseSoftdep: no error for a non-softdep line")
	}
}

func TestParseDepAndSoftdep(t *testing.T) {
	dep, err := ParseDep(strings.NewReader("# c\nkernel/a.ko: kernel/b.ko kernel/c.ko\nkernel/b.ko: kernel/c.ko\n\nkernel/c.ko:\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"kernel/a.ko": {"kernel/b.ko", "kernel/c.ko"},
		"kernel/b.ko": {"kernel/c.ko"},
		"kernel/c.ko": {},
	}
	if !reflect.DeepEqual(dep, want) {
		t.Errorf("ParseDep = %q, want %q", dep, want)
	}
	sd, err := ParseSoftdep(strings.NewReader(`# Soft dependencies extracted from modules themselves.
softdep ext4 pre: crypto-crc32c
softdep cifs gcm
softdep ksmbd pre: crc32
softdep ksmbd pre: gcm post: x y
softdep r8169 pre: realtek
`))
	if err != nil {
		t.Fatal(err)
	}
	wantSD := map[string]Softdep{
		"ext4":  {Pre: []string{"crypto-crc32c"}},
		"cifs":  {}, // names before pre:/post: are ignored, as by kmod
		"ksmbd": {Pre: []string{"crc32", "gcm"}, Post: []string{"x", "y"}},
		"r8169": {Pre: []string{"realtek"}},
	}
	if !reflect.DeepEqual(sd, wantSD) {
		t.Errorf("ParseSoftdep = %+v, want %+v", sd, wantSD)
	}
}
