package main

import "testing"

func TestBootOptionsFollowTheInstallerConsoles(t *testing.T) {
	for _, tc := range []struct{ cmdline, args, serial string }{
		{"quiet console=tty0 console=ttyS0,115200n8\n", "console=tty0 console=ttyS0,115200n8", "--unit=0 --speed=115200"},
		{"console=ttyS1,9600", "console=ttyS1,9600", "--unit=1 --speed=9600"},
		{"console=ttyS0", "console=ttyS0", "--unit=0 --speed=115200"},
		{"console=tty0", "console=tty0", ""},
		{"", "", ""},
	} {
		b := bootOptions(tc.cmdline)
		if b.KernelArgs != tc.args || b.Serial != tc.serial {
			t.Errorf("%q: args %q serial %q, want %q %q", tc.cmdline, b.KernelArgs, b.Serial, tc.args, tc.serial)
		}
	}
}
