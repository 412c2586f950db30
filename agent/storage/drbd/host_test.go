package drbd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// These tests run drbd-utils' own 8.4 tools where drbd-utils is installed
// (ci/deps.sh installs it), and skip elsewhere: drbdadm-84 parses the
// configuration and, with -d, prints the drbdsetup-84 and drbdmeta calls a
// command would make without making them; drbdmeta writes metadata into a
// sparse file. Neither needs the drbd kernel module or root.

const drbdadm84 = "/usr/lib/drbd/drbdadm-84"

func need(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s is not installed (drbd-utils): %v", path, err)
	}
}

// dryRun is a storage.Runner that runs drbdadm as drbdadm-84 -d on the
// node whose A-Link address is node: __DRBD_NODE__ makes drbdadm take the
// floating section with that address as its own, as if the address were
// configured here (drbdadm_parser.c, set_me_in_resource).
type dryRun struct {
	node string
	out  bytes.Buffer
}

func (d *dryRun) Run(ctx context.Context, name string, args ...string) ([]byte, []byte, error) {
	if name != "drbdadm" {
		return nil, nil, fmt.Errorf("dryRun runs drbdadm only, not %s", name)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, drbdadm84, append([]string{"-d"}, args...)...)
	cmd.Env = append(os.Environ(), "__DRBD_NODE__="+d.node, "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	d.out.Write(stdout.Bytes())
	return stdout.Bytes(), stderr.Bytes(), err
}

func TestConfigParsedByDrbdadm84(t *testing.T) {
	need(t, drbdadm84)
	conf, err := WriteConfig(t.TempDir(), []Resource{webResource(), dbResource()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Each node finds its own section by its address alone; a machine
	// with neither address has no part in the resource.
	for _, tc := range []struct{ self, peer string }{
		{"169.254.100.1", "169.254.100.2"},
		{"169.254.100.2", "169.254.100.1"},
	} {
		d := &dryRun{node: tc.self}
		if _, _, err := d.Run(ctx, "drbdadm", "-c", conf, "up", "all"); err != nil {
			t.Fatalf("drbdadm-84 up all on %s: %v\n%s", tc.self, err, d.out.String())
		}
		for _, want := range []string{
			"drbdsetup-84 attach 0 /dev/ls0/vm-web-disk0 /dev/ls0/vm-web-disk0 internal --c-min-rate=0 --c-max-rate=4000M --c-fill-target=16M --c-plan-ahead=5 --on-io-error=detach",
			"drbdsetup-84 connect vm-web ipv4:" + tc.self + ":7789 ipv4:" + tc.peer + ":7789 --protocol=C --allow-two-primaries=no" +
				" --after-sb-0pri=disconnect --after-sb-1pri=disconnect --after-sb-2pri=disconnect --rr-conflict=disconnect --max-buffers=8000 --max-epoch-size=8000",
			"drbdsetup-84 attach 1 /dev/ls0/vm-db-disk0 /dev/ls0/vm-db-disk0 internal",
			"drbdsetup-84 connect vm-db ipv4:" + tc.self + ":7790 ipv4:" + tc.peer + ":7790",
		} {
			if tc.self == "169.254.100.2" {
				want = strings.ReplaceAll(want, "attach 1 /dev/ls0/vm-db-disk0 /dev/ls0/vm-db-disk0", "attach 1 /dev/ls1/vm+db.disk0 /dev/ls1/vm+db.disk0")
			}
			if !strings.Contains(d.out.String(), want) {
				t.Errorf("drbdadm-84 up all on %s does not run\n%s\nit runs:\n%s", tc.self, want, d.out.String())
			}
		}
	}
	d := &dryRun{node: "169.254.100.3"}
	if _, stderr, err := d.Run(ctx, "drbdadm", "-c", conf, "up", "vm-web"); err == nil {
		t.Errorf("drbdadm-84 up on a third address succeeded: %s", stderr)
	}
}

func TestAdmAcceptedByDrbdadm84(t *testing.T) {
	need(t, drbdadm84)
	conf, err := WriteConfig(t.TempDir(), []Resource{webResource()})
	if err != nil {
		t.Fatal(err)
	}
	// What drbdadm-84 turns each command into on node0.
	ll := map[string]string{
		"CreateMD":              "drbdmeta 0 v08 /dev/ls0/vm-web-disk0 internal create-md --force",
		"Up":                    "drbdsetup-84 connect vm-web ipv4:169.254.100.1:7789 ipv4:169.254.100.2:7789",
		"Down":                  "drbdsetup-84 down vm-web",
		"Primary":               "drbdsetup-84 primary 0\n",
		"Primary force":         "drbdsetup-84 primary 0 --force\n",
		"Secondary":             "drbdsetup-84 secondary 0\n",
		"Connect":               "drbdsetup-84 connect vm-web ipv4:169.254.100.1:7789 ipv4:169.254.100.2:7789",
		"Disconnect":            "drbdsetup-84 disconnect ipv4:169.254.100.1:7789 ipv4:169.254.100.2:7789\n",
		"DropPeer":              "drbdsetup-84 disconnect ipv4:169.254.100.1:7789 ipv4:169.254.100.2:7789 --force\n",
		"Adjust":                "drbdsetup-84 attach 0 /dev/ls0/vm-web-disk0",
		"Resize":                "drbdsetup-84 resize 0\n",
		"Invalidate":            "drbdsetup-84 invalidate 0\n",
		"InvalidateRemote":      "drbdsetup-84 invalidate-remote 0\n",
		"NewCurrentUUID":        "drbdsetup-84 new-current-uuid 0 --clear-bitmap\n",
		"AllowTwoPrimaries on":  "drbdsetup-84 net-options ipv4:169.254.100.1:7789 ipv4:169.254.100.2:7789 --allow-two-primaries=yes\n",
		"AllowTwoPrimaries off": "drbdsetup-84 net-options ipv4:169.254.100.1:7789 ipv4:169.254.100.2:7789 --allow-two-primaries=no\n",
	}
	for _, c := range admCalls {
		d := &dryRun{node: "169.254.100.1"}
		if err := c.do(&Adm{Runner: d, Config: conf}); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !strings.Contains(d.out.String(), ll[c.name]) {
			t.Errorf("%s: drbdadm-84 runs\n%s\nwant %q in it", c.name, d.out.String(), ll[c.name])
		}
	}
}

func drbdmeta(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/drbdmeta", "/sbin/drbdmeta"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("drbdmeta is not installed (drbd-utils)")
	return ""
}

func TestMetaSizeMatchesDrbdmeta(t *testing.T) {
	meta := drbdmeta(t)
	bmOffset := regexp.MustCompile(`(?m)^# bm_offset (\d+)$`)
	const extent = 4 << 20
	for _, data := range []int64{100 << 20, 10 << 30, 10<<30 + 12345, 33 << 30} {
		// The LV is BackingSize rounded up to LVM's extents, as lvm
		// CreateVolume makes it; check both.
		for _, b := range []int64{BackingSize(data), (BackingSize(data) + extent - 1) / extent * extent} {
			img := filepath.Join(t.TempDir(), "lv")
			if err := os.WriteFile(img, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, b); err != nil {
				t.Fatal(err)
			}
			run := func(cmd string) string {
				out, err := exec.Command(meta, "--force", "-", "v08", img, "internal", cmd).CombinedOutput()
				if err != nil {
					t.Fatalf("drbdmeta %s on %d bytes: %v\n%s", cmd, b, err, out)
				}
				return string(out)
			}
			run("create-md")
			m := bmOffset.FindStringSubmatch(run("dump-md"))
			if m == nil {
				t.Fatalf("drbdmeta dump-md shows no bm_offset")
			}
			// The bitmap starts right after the data.
			usable, _ := strconv.ParseInt(m[1], 10, 64)
			if usable != b-internalMetaBytes(b) || usable < data {
				t.Errorf("backing %d bytes: drbdmeta leaves %d for data, internalMetaBytes says %d, want ≥ %d",
					b, usable, b-internalMetaBytes(b), data)
			}
		}
	}
}
