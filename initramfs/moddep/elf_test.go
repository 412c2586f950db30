package moddep

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// fakeModule returns a minimal ELF64 relocatable file whose only real
// section is .modinfo holding the given "key=value" strings, followed by a
// fake module signature trailer like Debian's signed modules.
func fakeModule(modinfo ...string) []byte {
	info := []byte(strings.Join(modinfo, "\x00") + "\x00")
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	infoOff := uint64(ehsize)
	strOff := infoOff + uint64(len(info))
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7

	var b bytes.Buffer
	le := binary.LittleEndian
	w := func(v any) { _ = binary.Write(&b, le, v) }
	// e_ident
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2 /*64-bit*/, 1 /*LE*/, 1 /*version*/, 0 /*SysV*/})
	b.Write(make([]byte, 8))
	w(uint16(1))  // e_type ET_REL
	w(uint16(62)) // e_machine EM_X86_64
	w(uint32(1))  // e_version
	w(uint64(0))  // e_entry
	w(uint64(0))  // e_phoff
	w(shOff)      // e_shoff
	w(uint32(0))  // e_flags
	w(uint16(ehsize))
	w(uint16(0)) // e_phentsize
	w(uint16(0)) // e_phnum
	w(uint16(shentsize))
	w(uint16(3)) // e_shnum
	w(uint16(2)) // e_shstrndx
	b.Write(info)
	b.Write(shstr)
	b.Write(make([]byte, int(shOff)-b.Len()))
	section := func(name, typ uint32, flags, off, size uint64) {
		w(name)
		w(typ)
		w(flags)
		w(uint64(0)) // sh_addr
		w(off)
		w(size)
		w(uint32(0)) // sh_link
		w(uint32(0)) // sh_info
		w(uint64(1)) // sh_addralign
		w(uint64(0)) // sh_entsize
	}
	section(0, 0, 0, 0, 0)
	section(1, 1 /*SHT_PROGBITS*/, 2 /*SHF_ALLOC*/, infoOff, uint64(len(info)))
	section(10, 3 /*SHT_STRTAB*/, 0, strOff, uint64(len(shstr)))
	b.WriteString("\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01\x9a~Module signature appended~\n")
	return b.Bytes()
}

func xzBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	cfg := xz.WriterConfig{CheckSum: xz.CRC32}
	w, err := cfg.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zstdBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

func TestFakeModuleIsValidELF(t *testing.T) {
	info, err := ReadModInfo(fakeModule("license=GPL", "alias=a", "alias=b", "depends=x,y", "vermagic=6.1 SMP"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"license":  {"GPL"},
		"alias":    {"a", "b"},
		"depends":  {"x,y"},
		"vermagic": {"6.1 SMP"},
	}
	if len(info) != len(want) {
		t.Fatalf("got %q, want %q", info, want)
	}
	for k, v := range want {
		if strings.Join(info[k], "|") != strings.Join(v, "|") {
			t.Errorf("%s: got %q, want %q", k, info[k], v)
		}
	}
}

func TestReadModInfoErrors(t *testing.T) {
	if _, err := ReadModInfo([]byte("not an elf file at all")); err == nil {
		t.Error("garbage: no error")
	}
	m := fakeModule("license=GPL")
	// Rename the section so that .modinfo is missing.
	m = bytes.Replace(m, []byte(".modinfo\x00"), []byte(".mod1nfo\x00"), 1)
	if _, err := ReadModInfo(m); err == nil || !strings.Contains(err.Error(), ".modinfo") {
		t.Errorf("no .modinfo: err = %v", err)
	}
}
