package abboot

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-ft/lockstep/installer/engine/layout"
)

var paramVariants = map[string]GrubParams{
	"defaults": {},
	"full": {
		A:          SlotBoot{Partition: 3, PartUUID: "7CF91375-7BEF-5304-BA12-8A5745888CCC"},
		B:          SlotBoot{Partition: 4, PartUUID: "1CA2612C-8A4D-5571-B269-43025C1DE414"},
		KernelArgs: "console=tty0 console=ttyS0,115200n8 panic=10",
		Serial:     "--unit=0 --speed=115200",
		Timeout:    -1,
	},
	"test loader": {testLoader: true},
}

func TestGrubConfigText(t *testing.T) {
	cfg := GrubConfig(paramVariants["full"])
	for _, s := range []string{
		`load_env --file "$lockstep_env" active next tries a_state b_state a_version b_version`,
		`if save_env --file "$lockstep_env" tries; then`,
		`save_env --file "$lockstep_env" next tries b_state`,
		`linux "($root)/lockstep/b/vmlinuz" root=PARTUUID=1ca2612c-8a4d-5571-b269-43025c1de414 rootfstype=squashfs rw lockstep.slot=b lockstep.version=$b_version lockstep.trial=$lockstep_trial lockstep.trial_timeout=$trial_timeout console=tty0 console=ttyS0,115200n8 panic=10`,
		`initrd "($root)/lockstep/b/initrd.img"`,
		"serial --unit=0 --speed=115200\n",
		"set timeout=0\n",
		"set fallback=1\n",
		"  exit\n",
	} {
		if !strings.Contains(cfg, s) {
			t.Errorf("grub.cfg lacks %q", s)
		}
	}
	if strings.Contains(cfg, "lockstep_test") || strings.Contains(GrubConfig(GrubParams{}), "serial --") {
		t.Error("test loader or serial where not asked for")
	}
	for n := 1; n <= MaxTries; n++ {
		if !strings.Contains(cfg, `if [ "$tries" = "`+strconv.Itoa(n)+`" ]; then set lockstep_left=`+strconv.Itoa(n-1)+`; fi`) {
			t.Errorf("no decrement case for tries=%d", n)
		}
	}
}

// TestGrubScriptCheck runs GRUB's own parser on the generated script.
func TestGrubScriptCheck(t *testing.T) {
	check, err := exec.LookPath("grub-script-check")
	if err != nil {
		t.Skip("grub-script-check not installed (apt-get install grub-common)")
	}
	for name, p := range paramVariants {
		f := filepath.Join(t.TempDir(), "grub.cfg")
		if err := os.WriteFile(f, []byte(GrubConfig(p)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(check, f).CombinedOutput(); err != nil {
			t.Errorf("%s: grub-script-check: %v\n%s", name, err, out)
		}
	}
}

// emuDisk is a small Lockstep disk image for grub-emu: the real layout (so
// the partition numbers are the real ones), a FAT ESP holding grub.cfg and
// grubenv, and each slot's kernel and initrd under /lockstep/<slot>/.
type emuDisk struct {
	img, devmap, dir string
	l                layout.Layout
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install grub-emu mtools squashfs-tools)", tool)
		}
	}
}

func newEmuDisk(t *testing.T) *emuDisk {
	need(t, "grub-emu", "mformat", "mmd", "mcopy", "mdel")
	d := &emuDisk{dir: t.TempDir()}
	opts := layout.Options{ESPSize: 32 * layout.MiB, SlotSize: 64 * layout.MiB, StateSize: 64 * layout.MiB, MinStorageSize: layout.MiB}
	size, err := layout.MinDiskBytes(opts)
	if err != nil {
		t.Fatal(err)
	}
	d.img = filepath.Join(d.dir, "disk.img")
	f, err := os.Create(d.img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	l, err := layout.Plan(size, opts)
	if err != nil {
		t.Fatal(err)
	}
	const guid = "5B0C2C6E-1D7A-4B8E-9F35-6A2D8E4C1F07"
	if err := layout.Write(f, l, guid); err != nil {
		t.Fatal(err)
	}
	if d.l, err = l.WithGUIDs(guid); err != nil {
		t.Fatal(err)
	}
	esp := d.l.ESP()
	mt := d.img + "@@" + strconv.FormatInt(esp.Start, 10)
	d.mtools(t, "mformat", "-i", mt, "-T", strconv.FormatInt(esp.Size/512, 10), "-v", "ESP", "::")
	d.mtools(t, "mmd", "-i", mt, "::/boot", "::/boot/grub")

	d.mtools(t, "mmd", "-i", mt, "::/lockstep", "::/lockstep/a", "::/lockstep/b")
	d.setSlot(t, A, true)
	d.setSlot(t, B, true)

	d.devmap = filepath.Join(d.dir, "device.map")
	os.WriteFile(d.devmap, []byte("(hd0) "+d.img+"\n"), 0o644)
	return d
}

func (d *emuDisk) mtools(t *testing.T, tool string, args ...string) {
	t.Helper()
	if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
}

// setSlot puts slot s's kernel and initrd on the ESP, or deletes them
// (GRUB cannot load the slot's kernel).
func (d *emuDisk) setSlot(t *testing.T, s Slot, present bool) {
	t.Helper()
	mt := d.img + "@@" + strconv.FormatInt(d.l.ESP().Start, 10)
	dir := "::/lockstep/" + string(s) + "/"
	if !present {
		d.mtools(t, "mdel", "-i", mt, dir+"vmlinuz", dir+"initrd.img")
		return
	}
	k, i := filepath.Join(d.dir, "vmlinuz"), filepath.Join(d.dir, "initrd.img")
	os.WriteFile(k, []byte("not a kernel\n"), 0o644)
	os.WriteFile(i, []byte("not an initrd\n"), 0o644)
	d.mtools(t, "mcopy", "-o", "-i", mt, k, i, dir)
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// boot installs cfg and the state's block on the ESP, runs grub-emu, and
// returns GRUB's console output and the state GRUB left in the block.
func (d *emuDisk) boot(t *testing.T, cfg string, st State) (string, State) {
	t.Helper()
	mt := d.img + "@@" + strconv.FormatInt(d.l.ESP().Start, 10)
	blk, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	cfgFile, envFile := filepath.Join(d.dir, "grub.cfg"), filepath.Join(d.dir, "grubenv")
	os.WriteFile(cfgFile, []byte(cfg), 0o644)
	os.WriteFile(envFile, blk, 0o644)
	d.mtools(t, "mcopy", "-o", "-i", mt, cfgFile, envFile, "::/boot/grub/")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "grub-emu", "-m", d.devmap, "-r", "hd0,gpt2", "-d", "/boot/grub")
	cmd.Stdin = nil // /dev/null: nobody presses a key
	raw, err := cmd.CombinedOutput()
	out := strings.ReplaceAll(ansi.ReplaceAllString(string(raw), ""), "\r", "")
	if ctx.Err() != nil {
		t.Fatalf("grub-emu did not finish (waiting at a menu?):\n%s", out)
	}
	if err != nil {
		t.Fatalf("grub-emu: %v\n%s", err, out)
	}

	os.Remove(envFile)
	d.mtools(t, "mcopy", "-o", "-i", mt, "::/boot/grub/grubenv", envFile)
	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != EnvBlockSize {
		t.Fatalf("GRUB left a %d-byte block", len(b))
	}
	after, err := Parse(b)
	if err != nil {
		t.Fatalf("GRUB left a block we cannot read: %v\n%q", err, b)
	}
	return out, after
}

var bootedRe = regexp.MustCompile(`LOCKSTEP-TEST linux \(hd0,gpt2\)/lockstep/([ab])/vmlinuz\n((?:LOCKSTEP-ARG .*\n)*)LOCKSTEP-TEST initrd .*\nLOCKSTEP-TEST boot`)

// bootedSlot reads which slot grub-emu "booted", checking that the
// partition, kernel and command line belong to it. The command line comes
// back with a trailing space.
func (d *emuDisk) bootedSlot(t *testing.T, out string) (Slot, string) {
	t.Helper()
	m := bootedRe.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return "", ""
	}
	last := m[len(m)-1]
	var args []string
	for _, l := range strings.Split(strings.TrimSuffix(last[2], "\n"), "\n")[1:] { // [0] is the kernel path
		args = append(args, strings.TrimPrefix(l, "LOCKSTEP-ARG "))
	}
	cmdline := strings.Join(args, " ") + " "
	for _, s := range Slots {
		p, _ := d.l.Slot(string(s))
		if last[1] == string(s) {
			if !strings.Contains(cmdline, "lockstep.slot="+string(s)+" ") || !strings.Contains(cmdline, "root=PARTUUID="+strings.ToLower(p.GUID)+" ") {
				t.Errorf("slot %s booted with command line %q", s, cmdline)
			}
			return s, cmdline
		}
	}
	t.Fatalf("booted kernel directory %s is no slot", last[1])
	return "", ""
}

// TestGrubEmu runs the generated grub.cfg in GRUB itself (grub-emu) on a
// real layout and checks, state by state, that GRUB boots the slot
// BootChoice names and saves the state BootChoice returns.
func TestGrubEmu(t *testing.T) {
	d := newEmuDisk(t)
	params := GrubParams{
		A:          SlotBoot{Partition: d.l.SystemA().Number, PartUUID: d.l.SystemA().GUID},
		B:          SlotBoot{Partition: d.l.SystemB().Number, PartUUID: d.l.SystemB().GUID},
		KernelArgs: "console=ttyS0,115200n8",
		Timeout:    -1,
		testLoader: true,
	}
	cfg := GrubConfig(params)
	good := func(v string) SlotInfo { return SlotInfo{Good, v} }
	installing := SlotInfo{State: Installing}
	states := map[string]State{
		"installed A":                 {Active: A, A: good("1.0"), B: SlotInfo{State: Empty}},
		"trial of B pending":          {Active: A, Next: B, Tries: 1, A: good("1.0"), B: good("1.1")},
		"trial of B used up":          {Active: A, Next: B, Tries: 0, A: good("1.0"), B: good("1.1")},
		"trial of A with 3 tries":     {Active: B, Next: A, Tries: 3, A: good("2.0"), B: good("1.1")},
		"active B":                    {Active: B, A: good("1.0"), B: good("1.1")},
		"next names an installing B":  {Active: A, Next: B, Tries: 1, A: good("1.0"), B: installing},
		"active A bad, B good":        {Active: A, A: SlotInfo{Bad, "1.0"}, B: good("1.1")},
		"nothing active, B good":      {A: installing, B: good("1.1")},
		"first install interrupted":   {A: installing, B: SlotInfo{State: Empty}},
		"both bad":                    {Active: A, A: SlotInfo{Bad, "1.0"}, B: SlotInfo{Bad, "1.1"}},
		"fresh disk":                  New(),
		"upgrade of B interrupted":    {Active: A, A: good("1.0"), B: installing},
		"trial used up, active empty": {Next: A, A: good("1.0"), B: SlotInfo{State: Empty}},
	}
	for name, st := range states {
		t.Run(name, func(t *testing.T) {
			wantSlot, wantState, wantErr := BootChoice(st)
			out, after := d.boot(t, cfg, st)
			got, cmdline := d.bootedSlot(t, out)
			if got != wantSlot {
				t.Errorf("GRUB booted %q, BootChoice says %q\n%s", got, wantSlot, out)
			}
			if after != wantState {
				t.Errorf("GRUB saved %s, BootChoice says %s\n%s", after, wantState, out)
			}
			// GRUB's message is the error's without the versions.
			msg := "no bootable system slot: slot a is " + string(wantState.A.State) + ", slot b is " + string(wantState.B.State) + "."
			if wantErr != nil && !strings.Contains(out, msg) {
				t.Errorf("GRUB's message does not say %q:\n%s", msg, out)
			}
			if got != "" {
				if v := st.Slot(got).Version; !strings.Contains(cmdline, "lockstep.version="+v+" ") {
					t.Errorf("command line %q lacks the version %s", cmdline, v)
				}
				// The trial guard runs only on a trial boot.
				trial := "lockstep.trial=0 "
				if wantState.Next == wantSlot {
					trial = "lockstep.trial=1 "
				}
				if !strings.Contains(cmdline, trial) {
					t.Errorf("command line %q lacks %q", cmdline, trial)
				}
			}
		})
	}

	// The trial slot's kernel cannot be loaded: GRUB has counted the trial,
	// its fallback entry boots the active slot, and the agent there marks
	// the trial slot bad with MarkGood.
	t.Run("trial kernel missing: fallback", func(t *testing.T) {
		d.setSlot(t, B, false)
		defer d.setSlot(t, B, true)
		st := states["trial of B pending"]
		out, after := d.boot(t, cfg, st)
		got, _ := d.bootedSlot(t, out)
		if got != A || !strings.Contains(out, "Falling back") {
			t.Errorf("booted %q, want a fallback to A:\n%s", got, out)
		}
		if _, want, _ := BootChoice(st); after != want {
			t.Errorf("GRUB saved %s, want %s", after, want)
		}
		final, err := after.MarkGood(A)
		if err != nil || final != (State{Active: A, A: st.A, B: SlotInfo{Bad, "1.1"}}) {
			t.Errorf("MarkGood(A) after the fallback: %s, %v", final, err)
		}
	})

	// A whole upgrade, boot after boot, with GRUB saving the state.
	t.Run("upgrade cycle", func(t *testing.T) {
		st := New()
		st, _ = st.BeginInstall(A)
		st, _ = st.FinishInstall(A, "1.0", false)
		st, _ = st.BeginInstall(B)
		st, _ = st.FinishInstall(B, "1.1", true)
		out, st := d.boot(t, cfg, st)
		if got, _ := d.bootedSlot(t, out); got != B {
			t.Fatalf("first boot after the upgrade: %q", got)
		}
		// B never reports healthy; the watchdog resets the machine.
		out, st = d.boot(t, cfg, st)
		if got, _ := d.bootedSlot(t, out); got != A || st.B.State != Bad || st.Next != "" {
			t.Fatalf("second boot: %q, %s", got, st)
		}
		// A second attempt that works.
		st, _ = st.BeginInstall(B)
		st, _ = st.FinishInstall(B, "1.2", true)
		out, st = d.boot(t, cfg, st)
		if got, _ := d.bootedSlot(t, out); got != B {
			t.Fatalf("retry: %q", got)
		}
		st, _ = st.MarkGood(B)
		out, st = d.boot(t, cfg, st)
		if got, _ := d.bootedSlot(t, out); got != B || st != (State{Active: B, A: SlotInfo{Good, "1.0"}, B: SlotInfo{Good, "1.2"}}) {
			t.Fatalf("after MarkGood(B): %q, %s", got, st)
		}
	})
}
