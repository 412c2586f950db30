package drbd

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func webResource() Resource {
	return Resource{
		Name: "vm-web", Minor: 0, Port: 7789,
		Nodes: [2]Node{
			{Address: netip.MustParseAddr("169.254.100.1"), Disk: "/dev/ls0/vm-web-disk0"},
			{Address: netip.MustParseAddr("169.254.100.2"), Disk: "/dev/ls0/vm-web-disk0"},
		},
	}
}

func dbResource() Resource {
	r := webResource()
	r.Name, r.Minor, r.Port = "vm-db", 1, 7790
	r.Nodes[0].Disk, r.Nodes[1].Disk = "/dev/ls0/vm-db-disk0", "/dev/ls1/vm+db.disk0"
	return r
}

// testdata/vm-web.res is what drbdadm-84 (drbd-utils 9.22) parsed and
// dumped back unchanged; TestConfigParsedByDrbdadm84 checks it again
// where drbd-utils is installed.
func TestRender(t *testing.T) {
	got, err := webResource().Render()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/vm-web.res")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("Render:\n%s\nwant:\n%s", got, want)
	}
	if d := webResource().Device(); d != "/dev/drbd0" {
		t.Errorf("Device = %s", d)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		change func(*Resource)
		want   string
	}{
		{func(r *Resource) { r.Name = "-x" }, "starts with '-'"},
		{func(r *Resource) { r.Name = "all" }, "not allowed"},
		{func(r *Resource) { r.Name = "a:b" }, "not allowed"},
		{func(r *Resource) { r.Minor = -1 }, "minor"},
		{func(r *Resource) { r.Minor = 1 << 20 }, "minor"},
		{func(r *Resource) { r.Port = 0 }, "port"},
		{func(r *Resource) { r.Port = 65536 }, "port"},
		{func(r *Resource) { r.Nodes[1].Address = netip.MustParseAddr("fe80::1") }, "not IPv4"},
		{func(r *Resource) { r.Nodes[1].Address = netip.Addr{} }, "not IPv4"},
		{func(r *Resource) { r.Nodes[1].Address = r.Nodes[0].Address }, "both nodes"},
		{func(r *Resource) { r.Nodes[0].Disk = "ls0/vm" }, "absolute"},
		{func(r *Resource) { r.Nodes[0].Disk = `/dev/a"b` }, "absolute"},
	} {
		r := webResource()
		tc.change(&r)
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", r, err, tc.want)
		}
		if _, err := r.Render(); err == nil {
			t.Errorf("Render(%+v) succeeded", r)
		}
	}
	if err := dbResource().Validate(); err != nil {
		t.Errorf("Validate(vm-db) = %v", err)
	}
}

func TestWriteConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vm-old.res"), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf, err := WriteConfig(dir, []Resource{webResource(), dbResource()})
	if err != nil {
		t.Fatal(err)
	}
	if conf != filepath.Join(dir, "drbd.conf") {
		t.Errorf("WriteConfig = %s", conf)
	}
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if want := "global {\n\tusage-count no;\n}\ninclude \"" + dir + "/*.res\";\n"; !strings.HasSuffix(string(b), want) {
		t.Errorf("drbd.conf:\n%s\nwant it to end in:\n%s", b, want)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if got := strings.Join(names, " "); got != "drbd.conf vm-db.res vm-web.res" {
		t.Errorf("files = %s", got)
	}
	db, _ := os.ReadFile(filepath.Join(dir, "vm-db.res"))
	if !strings.Contains(string(db), `disk "/dev/ls1/vm+db.disk0";`) {
		t.Errorf("vm-db.res:\n%s", db)
	}

	// Dropping a resource removes its file.
	if _, err := WriteConfig(dir, []Resource{dbResource()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "vm-web.res")); !os.IsNotExist(err) {
		t.Errorf("vm-web.res still there: %v", err)
	}
}

func TestWriteConfigRefusesConflicts(t *testing.T) {
	dir := t.TempDir()
	sameMinor, samePort, sameName := dbResource(), dbResource(), dbResource()
	sameMinor.Minor = 0
	samePort.Port = 7789
	sameName.Name = "vm-web"
	for _, tc := range []struct {
		r    Resource
		want string
	}{
		{sameMinor, "minor 0"},
		{samePort, "port 7789"},
		{sameName, "given twice"},
	} {
		if _, err := WriteConfig(dir, []Resource{webResource(), tc.r}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("WriteConfig = %v, want %q", err, tc.want)
		}
	}
	if _, err := WriteConfig("relative/dir", nil); err == nil {
		t.Error("WriteConfig accepted a relative directory")
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Errorf("a refused WriteConfig wrote %v", files)
	}
}

func TestBackingSize(t *testing.T) {
	// 1 GiB of backing device holds 136 sectors of metadata: the user's
	// guide's ⌈2097152/2^18⌉×8+72, and what drbdmeta create-md wrote.
	if md := internalMetaBytes(1 << 30); md != 136*512 {
		t.Errorf("internalMetaBytes(1 GiB) = %d, want %d", md, 136*512)
	}
	for _, data := range []int64{1, 100 << 20, 1 << 30, 10 << 30, 10<<30 + 12345, 32 << 30, 1 << 40, 16 << 40} {
		b := BackingSize(data)
		if b%mib != 0 || b-internalMetaBytes(b) < data || b-mib-internalMetaBytes(b-mib) >= data {
			t.Errorf("BackingSize(%d) = %d: not the smallest MiB multiple exposing it (metadata %d)", data, b, internalMetaBytes(b))
		}
		if MetaSizeBytes(data) != b-data {
			t.Errorf("MetaSizeBytes(%d) = %d, want %d", data, MetaSizeBytes(data), b-data)
		}
	}
	if got := MetaSizeBytes(10 << 30); got != mib {
		t.Errorf("MetaSizeBytes(10 GiB) = %d, want 1 MiB", got)
	}
	if got := MetaSizeBytes(1 << 40); got != 33*mib {
		t.Errorf("MetaSizeBytes(1 TiB) = %d, want 33 MiB", got)
	}
}
