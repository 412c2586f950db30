package consoles

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestActiveAndPrintfReachEveryConsole(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "class", "tty", "console")
	os.MkdirAll(p, 0o755)
	os.WriteFile(filepath.Join(p, "active"), []byte("tty0 ttyS0\n"), 0o644)
	names := Active(root)
	if len(names) != 2 || names[0] != "tty0" || names[1] != "ttyS0" {
		t.Fatalf("Active = %v", names)
	}
	var a, b bytes.Buffer
	s := New(names, &a, &b)
	s.Printf("READY %d\n", 1)
	for i, got := range []string{a.String(), b.String()} {
		if got != "READY 1\r\n" {
			t.Errorf("console %d got %q", i, got)
		}
	}
}

func TestOpenFallsBackToDevConsole(t *testing.T) {
	dev := t.TempDir()
	os.WriteFile(filepath.Join(dev, "console"), nil, 0o644)
	s, errs := Open(dev, []string{"ttyS9"})
	if len(errs) != 1 {
		t.Fatalf("want one error for the missing ttyS9, got %v", errs)
	}
	if len(s.Names()) != 1 || s.Names()[0] != "console" {
		t.Fatalf("want fallback to console, got %v", s.Names())
	}
	s.Printf("x\n")
	b, _ := os.ReadFile(filepath.Join(dev, "console"))
	if string(b) != "x\r\n" {
		t.Fatalf("console got %q", b)
	}
}
