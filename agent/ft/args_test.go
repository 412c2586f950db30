package ft

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func testSpec() Spec {
	return Spec{
		Name:      "vm1",
		VCPUs:     1,
		MemoryMiB: 256,
		Accel:     "tcg",
		Kernel:    "/g/vmlinuz",
		Initrd:    "/g/initrd.img",
		Append:    "console=ttyS0 lsguest.ip=10.99.0.2/24",
		MAC:       "52:54:00:4c:53:01",
		Primary: Side{
			Disk:    "/p/disk.raw",
			Netdev:  "tap,ifname=tp,script=no,downscript=no",
			WorkDir: "/p/work",
		},
		Secondary: Side{
			Disk:    "/s/disk.raw",
			Netdev:  "tap,ifname=ts,script=no,downscript=no",
			WorkDir: "/s/work",
		},
		Link:            Link{PrimaryHost: "127.0.0.1", SecondaryHost: "127.0.0.2"},
		CheckpointDelay: time.Second,
	}
}

// common is what both sides' command lines start with.
var common = []string{
	"-name", "guest=vm1,debug-threads=on",
	"-machine", "q35",
	"-accel", "tcg",
	"-smp", "1",
	"-m", "256",
	"-nodefaults", "-no-user-config",
	"-display", "none",
}

func TestPrimaryArgs(t *testing.T) {
	got, err := PrimaryArgs(testSpec())
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(common, []string{
		"-chardev", "socket,id=qmp,path=/p/work/qmp.sock,server=on,wait=off",
		"-object", "monitor-qmp,id=qmp0,chardev=qmp",
		"-chardev", "file,id=console,path=/p/work/console.log,append=on",
		"-serial", "chardev:console",
		"-netdev", "tap,ifname=tp,script=no,downscript=no,vhost=off,id=hn0",
		"-device", "e1000,id=nic0,netdev=hn0,mac=52:54:00:4c:53:01,romfile=",
		"-kernel", "/g/vmlinuz",
		"-initrd", "/g/initrd.img",
		"-append", "console=ttyS0 lsguest.ip=10.99.0.2/24",
		"-drive", "if=none,id=colo-disk0,driver=quorum,read-pattern=fifo,vote-threshold=1,children.0.driver=raw,children.0.file.filename=/p/disk.raw",
		"-device", "virtio-blk-pci,id=disk0,drive=colo-disk0,bootindex=1",
	})
	diffArgs(t, got, want)
}

func TestSecondaryArgs(t *testing.T) {
	s := testSpec()
	s.Link.MirrorPort, s.Link.ComparePort = 7003, 7004
	got, err := SecondaryArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(common, []string{
		"-chardev", "socket,id=qmp,path=/s/work/qmp.sock,server=on,wait=off",
		"-object", "monitor-qmp,id=qmp0,chardev=qmp",
		"-chardev", "file,id=console,path=/s/work/console.log,append=on",
		"-serial", "chardev:console",
		"-netdev", "tap,ifname=ts,script=no,downscript=no,vhost=off,id=hn0",
		"-device", "e1000,id=nic0,netdev=hn0,mac=52:54:00:4c:53:01,romfile=",
		"-kernel", "/g/vmlinuz",
		"-initrd", "/g/initrd.img",
		"-append", "console=ttyS0 lsguest.ip=10.99.0.2/24",
		"-chardev", "socket,id=red0,host=127.0.0.1,port=7003,reconnect-ms=1000",
		"-chardev", "socket,id=red1,host=127.0.0.1,port=7004,reconnect-ms=1000",
		"-object", "filter-redirector,id=f1,netdev=hn0,queue=tx,indev=red0",
		"-object", "filter-redirector,id=f2,netdev=hn0,queue=rx,outdev=red1",
		"-object", "filter-rewriter,id=rew0,netdev=hn0,queue=all",
		"-blockdev", "node-name=parent0,driver=raw,file.driver=file,file.filename=/s/disk.raw",
		"-drive", "if=none,id=childs0,driver=replication,mode=secondary,top-id=colo-disk0" +
			",file.driver=qcow2,file.node-name=colo-active0,file.file.filename=/s/work/active.qcow2" +
			",file.backing.driver=qcow2,file.backing.node-name=colo-hidden0" +
			",file.backing.file.filename=/s/work/hidden.qcow2,file.backing.backing=parent0",
		"-drive", "if=none,id=colo-disk0,driver=quorum,read-pattern=fifo,vote-threshold=1,children.0=childs0",
		"-device", "virtio-blk-pci,id=disk0,drive=colo-disk0,bootindex=1",
		"-incoming", "defer",
	})
	diffArgs(t, got, want)
}

// TestSidesRunTheSameMachine: a checkpoint of the primary loads into the
// secondary only if both have the same devices; what may differ is the
// side's own paths, the netdev backend and the COLO plumbing.
func TestSidesRunTheSameMachine(t *testing.T) {
	s := testSpec()
	s.CPU = "max"
	s.Kernel, s.Initrd, s.Append, s.CDROM = "", "", "", "/iso/guest,1.iso"
	p, err := PrimaryArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	q, err := SecondaryArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	devices := func(args []string) []string {
		var out []string
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "-device", "-machine", "-accel", "-cpu", "-smp", "-m":
				out = append(out, args[i]+" "+args[i+1])
			}
		}
		return out
	}
	diffArgs(t, devices(q), devices(p))
	if !slices.Contains(p, "if=none,id=cd0,media=cdrom,readonly=on,format=raw,file=/iso/guest,,1.iso") {
		t.Errorf("the CD's path is not escaped (a comma doubled): %q", p)
	}
}

func TestArgsDefaultsAndOptions(t *testing.T) {
	s := testSpec()
	s.Accel, s.VCPUs, s.MemoryMiB, s.CheckpointDelay = "", 0, 0, 0
	s.DiskFormat = "qcow2"
	s.NICModel = "virtio-net-pci"
	s.Primary.Netdev = "socket,listen=127.0.0.1:5000"
	p, err := PrimaryArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(p, " ")
	for _, want := range []string{
		"-accel kvm", "-smp 1", "-m 512",
		"-netdev socket,listen=127.0.0.1:5000,id=hn0",
		"-device virtio-net-pci,id=nic0,",
		"children.0.driver=qcow2,",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("primary args lack %q:\n%s", want, joined)
		}
	}
	if got := s.withDefaults().CheckpointDelay; got != 20*time.Second {
		t.Errorf("default checkpoint delay %v, want QEMU's 20 s", got)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Spec)
		want   string
	}{
		{"no name", func(s *Spec) { s.Name = "" }, "name"},
		{"comma in name", func(s *Spec) { s.Name = "a,b" }, "name"},
		{"kernel and CD", func(s *Spec) { s.CDROM = "/x.iso" }, "both a kernel and a CD"},
		{"initrd without a kernel", func(s *Spec) { s.Kernel, s.Append = "", "" }, "without a kernel"},
		{"disk size not in sectors", func(s *Spec) { s.DiskSize = 64<<20 + 1 }, "multiple of 512"},
		{"bad MAC", func(s *Spec) { s.MAC = "52:54:00" }, "mac"},
		{"bad accel", func(s *Spec) { s.Accel = "hvf" }, "accel"},
		{"no disk", func(s *Spec) { s.Secondary.Disk = "" }, "secondary: no disk"},
		{"relative work dir", func(s *Spec) { s.Primary.WorkDir = "work" }, "absolute"},
		{"long work dir", func(s *Spec) { s.Primary.WorkDir = "/" + strings.Repeat("x", 100) }, "too long"},
		{"netdev id", func(s *Spec) { s.Primary.Netdev += ",id=x" }, "id is set"},
		{"vhost", func(s *Spec) { s.Secondary.Netdev += ",vhost=on" }, "vhost"},
		{"tap script", func(s *Spec) { s.Primary.Netdev = "tap,ifname=x" }, "script=no"},
		{"bridge helper", func(s *Spec) { s.Primary.Netdev = "bridge,br=br0" }, "want a tap"},
		{"host name", func(s *Spec) { s.Link.SecondaryHost = "peer" }, "IP addresses"},
		{"same ports", func(s *Spec) { s.Link.MigrationPort, s.Link.NBDPort = 1, 1 }, "migration and NBD"},
		{"format", func(s *Spec) { s.DiskFormat = "vmdk" }, "disk format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec()
			tc.change(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error about %q", err, tc.want)
			}
			if _, err := PrimaryArgs(s); err == nil {
				t.Error("PrimaryArgs accepted the spec")
			}
			if _, err := SecondaryArgs(s); err == nil {
				t.Error("SecondaryArgs accepted the spec")
			}
		})
	}
	if err := testSpec().Validate(); err != nil {
		t.Errorf("the test spec: %v", err)
	}
}

// TestDiskSize: the guest sees DiskSize bytes of either side's raw image,
// which may be larger: QEMU's raw driver takes size= on the primary's
// quorum child and on the secondary's parent0 (the node Protect's copy
// writes to, over NBD).
func TestDiskSize(t *testing.T) {
	s := testSpec()
	s.DiskSize = 10<<30 + 512
	p, err := PrimaryArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	want := "if=none,id=colo-disk0,driver=quorum,read-pattern=fifo,vote-threshold=1" +
		",children.0.driver=raw,children.0.size=10737418752,children.0.file.filename=/p/disk.raw"
	if !slices.Contains(p, want) {
		t.Errorf("primary args lack %q:\n%q", want, p)
	}
	q, err := SecondaryArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	want = "node-name=parent0,driver=raw,size=10737418752,file.driver=file,file.filename=/s/disk.raw"
	if got := protocol("/dev/storage0/lsv3"); got != "host_device" {
		t.Errorf("protocol of a logical volume: %q, want host_device (QEMU's file driver refuses block devices)", got)
	}
	if !slices.Contains(q, want) {
		t.Errorf("secondary args lack %q:\n%q", want, q)
	}

	// qcow2 has its size in the image; the raw driver's option is not
	// one of qcow2's.
	s.DiskFormat = "qcow2"
	s.DiskSize = 1<<20 + 1
	if err := s.Validate(); err != nil {
		t.Fatalf("qcow2 with an unaligned size: %v", err)
	}
	p, _ = PrimaryArgs(s)
	q, _ = SecondaryArgs(s)
	if j := strings.Join(slices.Concat(p, q), " "); strings.Contains(j, "size=") {
		t.Errorf("qcow2 args have a size option:\n%s", j)
	}
}

// TestBootFromDisk: with neither a kernel nor a CD the guest boots from
// its disk, the one device with a bootindex, on both sides.
func TestBootFromDisk(t *testing.T) {
	s := testSpec()
	s.Kernel, s.Initrd, s.Append = "", "", ""
	p, err := PrimaryArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	q, err := SecondaryArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	for side, args := range map[string][]string{"primary": p, "secondary": q} {
		j := strings.Join(args, " ")
		if strings.Count(j, "bootindex=") != 1 || !strings.Contains(j, "virtio-blk-pci,id=disk0,drive=colo-disk0,bootindex=1") {
			t.Errorf("%s: the disk is not the one boot device:\n%s", side, j)
		}
		for _, bad := range []string{"-kernel", "-initrd", "-append", "cd0"} {
			if strings.Contains(j, bad) {
				t.Errorf("%s args have %q:\n%s", side, bad, j)
			}
		}
	}
}

// TestPrimaryRunsSimplex: the primary starts running (no -S) and with
// none of COLO's net plumbing, which Protect adds: colo-compare would hold
// the simplex guest's output.
func TestPrimaryRunsSimplex(t *testing.T) {
	p, err := PrimaryArgs(testSpec())
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(p, " ")
	for _, bad := range []string{"-S", "-incoming", "filter-", "colo-compare", "mirror0", "compare"} {
		if slices.Contains(p, bad) || strings.Contains(joined, bad+",") || strings.Contains(joined, "id="+bad) {
			t.Errorf("primary args have %q:\n%s", bad, joined)
		}
	}
}

func TestQMPAddr(t *testing.T) {
	s := testSpec()
	s.Secondary.QMPAddr = "127.0.0.2:4444"
	got, err := SecondaryArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-chardev", "socket,id=qmp,path=/s/work/qmp.sock,server=on,wait=off",
		"-object", "monitor-qmp,id=qmp0,chardev=qmp",
		"-chardev", "socket,id=qmp-tcp,host=127.0.0.2,port=4444,server=on,wait=off",
		"-object", "monitor-qmp,id=qmp1,chardev=qmp-tcp",
		"-chardev", "file,id=console,path=/s/work/console.log,append=on",
	}
	i := slices.Index(got, "socket,id=qmp,path=/s/work/qmp.sock,server=on,wait=off")
	if i < 1 || i-1+len(want) > len(got) {
		t.Fatalf("no QMP socket in %q", got)
	}
	diffArgs(t, got[i-1:i-1+len(want)], want)
	if p, _ := PrimaryArgs(s); slices.Contains(p, "monitor-qmp,id=qmp1,chardev=qmp-tcp") {
		t.Error("the primary got the secondary's TCP monitor")
	}
	for _, bad := range []string{"peer:4444", "127.0.0.2", "127.0.0.2:0", "127.0.0.2:http"} {
		s.Secondary.QMPAddr = bad
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "QMP address") {
			t.Errorf("QMPAddr %q: Validate: %v", bad, err)
		}
	}
}

// TestSwap: the next protection after a secondary failover runs the guest
// on the former secondary's node; each side keeps its node's files and
// address, the ports stay.
func TestSwap(t *testing.T) {
	s := testSpec()
	s.Link.MirrorPort = 7003
	w := s.Swap()
	if w.Primary != s.Secondary || w.Secondary != s.Primary {
		t.Errorf("sides not swapped: %+v", w)
	}
	if w.Link.PrimaryHost != "127.0.0.2" || w.Link.SecondaryHost != "127.0.0.1" || w.Link.MirrorPort != 7003 {
		t.Errorf("link %+v", w.Link)
	}
	if w.Swap() != s {
		t.Error("Swap twice is not the spec")
	}
	args, err := SecondaryArgs(w)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(args, " ")
	for _, want := range []string{"/p/work/active.qcow2", "file.filename=/p/disk.raw", "host=127.0.0.2,port=7003", "ifname=tp,"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the swapped secondary's args lack %q:\n%s", want, joined)
		}
	}
	if got := w.withDefaults().Link.MigrationURI(); got != "tcp:127.0.0.1:9998" {
		t.Errorf("swapped migration URI %q", got)
	}
}

func TestMigrationURI(t *testing.T) {
	l := Link{SecondaryHost: "fd00::2", MigrationPort: 9998}
	if got := l.MigrationURI(); got != "tcp:[fd00::2]:9998" {
		t.Errorf("MigrationURI = %q", got)
	}
}

func diffArgs(t *testing.T, got, want []string) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("arg %d: got %q, want %q", i, g, w)
		}
	}
}
