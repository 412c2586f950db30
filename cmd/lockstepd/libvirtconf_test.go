package main

import "testing"

func TestSetConf(t *testing.T) {
	in := "# security_driver = \"selinux\"\nsecurity_driver = \"apparmor\"\nuser = \"root\"\n  security_driver=\"x\""
	got := setConf(in, "security_driver", `"none"`)
	want := "# security_driver = \"selinux\"\nuser = \"root\"\nsecurity_driver = \"none\"\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := setConf("", "auth_tcp", `"none"`); got != "auth_tcp = \"none\"\n" {
		t.Errorf("empty: %q", got)
	}
}
