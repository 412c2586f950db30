package abboot

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestEncodeDecode(t *testing.T) {
	vars := map[string]string{
		"active": "a", "next": "", "tries": "0",
		"odd": "back\\slash and\nnewline = # ok",
	}
	b, err := Encode(vars)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != EnvBlockSize || !bytes.HasPrefix(b, []byte(EnvSignature)) || b[len(b)-1] != '#' {
		t.Fatalf("block: %d bytes %q...", len(b), b[:40])
	}
	// Sorted, escaped, padded.
	want := EnvSignature + "active=a\nnext=\nodd=back\\\\slash and\\\nnewline = # ok\ntries=0\n"
	if !bytes.HasPrefix(b, []byte(want)) || strings.Trim(string(b[len(want):]), "#") != "" {
		t.Errorf("block = %q", b[:len(want)+4])
	}
	got, err := Decode(b)
	if err != nil || !reflect.DeepEqual(got, vars) {
		t.Errorf("Decode = %v, %v", got, err)
	}

	// Exactly full is fine, one byte more is not.
	fill := EnvBlockSize - len(EnvSignature) - len("x=\n")
	if b, err := Encode(map[string]string{"x": strings.Repeat("v", fill)}); err != nil || len(b) != EnvBlockSize || b[len(b)-1] != '\n' {
		t.Errorf("full block: %v", err)
	} else if v, err := Decode(b); err != nil || len(v["x"]) != fill {
		t.Errorf("full block decode: %v", err)
	}
	if _, err := Encode(map[string]string{"x": strings.Repeat("v", fill+1)}); !errors.Is(err, ErrEnvTooBig) {
		t.Errorf("oversize: %v", err)
	}
	for _, bad := range []map[string]string{{"": "x"}, {"a=b": "x"}, {"#c": "x"}, {"a b": "x"}, {"1a": "x"}, {"a": "nul\x00"}} {
		if _, err := Encode(bad); err == nil {
			t.Errorf("Encode(%q): no error", bad)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	pad := func(s string) []byte { return []byte(s + strings.Repeat("#", EnvBlockSize-len(s))) }
	for name, b := range map[string][]byte{
		"no signature": pad("# GRUB Environment\nactive=a\n"),
		"no =":         pad(EnvSignature + "active\n"),
		"bad name":     pad(EnvSignature + "a-b=1\n"),
		"duplicate":    pad(EnvSignature + "a=1\na=2\n"),
		"cut off":      []byte(EnvSignature + "active=a"),
		"empty":        nil,
	} {
		if v, err := Decode(b); err == nil {
			t.Errorf("%s: Decode = %v, want an error", name, v)
		}
	}
	// Comments and empty lines are skipped, as GRUB does.
	v, err := Decode(pad(EnvSignature + "# a comment\n\nactive=b\n"))
	if err != nil || v["active"] != "b" || len(v) != 1 {
		t.Errorf("comments: %v, %v", v, err)
	}
}

// TestGrubEditenv checks compatibility with GRUB's own tool both ways:
// grub-editenv lists what Encode wrote, and Decode reads what grub-editenv
// wrote (including Debian's "# WARNING" comment line).
func TestGrubEditenv(t *testing.T) {
	editenv, err := exec.LookPath("grub-editenv")
	if err != nil {
		t.Skip("grub-editenv not installed (apt-get install grub-common)")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "grubenv")
	st := State{Active: A, Next: B, Tries: 1, A: SlotInfo{Good, "1.0"}, B: SlotInfo{Good, "1.1~rc1"}}
	vars := st.Env()
	vars["odd"] = "with\\backslash\nand newline"
	blk, err := Encode(vars)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, blk, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(editenv, f, "list").CombinedOutput()
	if err != nil {
		t.Fatalf("grub-editenv list: %v\n%s", err, out)
	}
	// grub-editenv prints name=value with the value unescaped, so a value
	// with a newline spans two lines.
	var want []string
	for k, v := range vars {
		want = append(want, k+"="+v)
	}
	sort.Strings(want)
	if got := strings.TrimSuffix(string(out), "\n"); got != strings.Join(want, "\n") {
		t.Errorf("grub-editenv list:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}

	// GRUB's tool edits our block in place (size kept), we read the result.
	if out, err := exec.Command(editenv, f, "set", "tries=0", "a_state=bad").CombinedOutput(); err != nil {
		t.Fatalf("grub-editenv set: %v\n%s", err, out)
	}
	if out, err := exec.Command(editenv, f, "unset", "odd").CombinedOutput(); err != nil {
		t.Fatalf("grub-editenv unset: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(f)
	got, err := Parse(b)
	if len(b) != EnvBlockSize || err != nil || got.Tries != 0 || got.A.State != Bad || got.B.Version != "1.1~rc1" {
		t.Errorf("after grub-editenv set: %d bytes, %s, %v", len(b), got, err)
	}

	// A block grub-editenv creates.
	f2 := filepath.Join(dir, "new")
	if out, err := exec.Command(editenv, f2, "create").CombinedOutput(); err != nil {
		t.Fatalf("grub-editenv create: %v\n%s", err, out)
	}
	if out, err := exec.Command(editenv, f2, "set", "active=a", "a_state=good", "a_version=2.0").CombinedOutput(); err != nil {
		t.Fatalf("grub-editenv set: %v\n%s", err, out)
	}
	b, _ = os.ReadFile(f2)
	got, err = Parse(b)
	if err != nil || got != (State{Active: A, A: SlotInfo{Good, "2.0"}, B: SlotInfo{Empty, ""}}) {
		t.Errorf("grub-editenv's block: %s, %v", got, err)
	}
}
