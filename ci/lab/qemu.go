package lab

import (
	"fmt"
	"path/filepath"
)

// Firmware and NIC models the lab offers.
const (
	SeaBIOS = "seabios"
	OVMF    = "ovmf"

	VirtioNet = "virtio-net-pci"
	E1000     = "e1000"
)

// Files are the node's files in the state directory.
type Files struct {
	Dir     string
	System  string // the 32 GiB system disk (sparse raw)
	Data    string // the 16 GiB data disk (sparse raw)
	Console string // the serial console, appended across power cycles
	QEMULog string // QEMU's own messages
	QMP     string // the QMP socket
	PID     string // the running QEMU's pid
	Answers string // the answer file (a copy of what the stick holds)
	Stick   string // the LOCKSTEPCFG answer stick
}

// NodeFiles returns the node's files under stateDir.
func NodeFiles(stateDir string, n Node) Files {
	d := filepath.Join(stateDir, n.Name)
	return Files{
		Dir:     d,
		System:  filepath.Join(d, "system.img"),
		Data:    filepath.Join(d, "data.img"),
		Console: filepath.Join(d, "console.log"),
		QEMULog: filepath.Join(d, "qemu.log"),
		QMP:     filepath.Join(d, "qmp.sock"),
		PID:     filepath.Join(d, "qemu.pid"),
		Answers: filepath.Join(d, "answers.yaml"),
		Stick:   filepath.Join(d, "answers.img"),
	}
}

// VMSpec is what a node VM's command line is made of.
type VMSpec struct {
	Namespace string
	Node      Node
	Files     Files
	Machine   string // q35 or pc
	NICModel  string // VirtioNet or E1000
	// FirmwareArgs are the pflash drives for OVMF; empty for SeaBIOS.
	FirmwareArgs []string
	// Install boots the ISO with the answer stick, and QEMU exits when
	// the installer reboots (-no-reboot); otherwise the node boots from
	// its disk and a reboot resets it, as on a server.
	Install bool
	ISO     string
}

// Args is the QEMU command line (without the program).
func (s VMSpec) Args() []string {
	f := s.Files
	args := []string{
		"-name", "guest=" + GuestName(s.Namespace, s.Node),
		"-machine", s.Machine,
		"-accel", "tcg",
		"-cpu", "max",
		"-smp", fmt.Sprint(CPUs),
		"-m", fmt.Sprint(MemoryMiB),
		"-display", "none",
		"-monitor", "none",
		"-parallel", "none",
		"-chardev", "file,id=console,path=" + f.Console + ",append=on",
		"-serial", "chardev:console",
		"-qmp", "unix:" + f.QMP + ",server=on,wait=off",
	}
	args = append(args, s.FirmwareArgs...)
	args = append(args,
		"-drive", "file="+f.System+",format=raw,if=none,id=sys,cache=unsafe,discard=unmap",
		"-device", "virtio-blk-pci,drive=sys,serial="+SystemDiskSerial+",bootindex=1",
		"-drive", "file="+f.Data+",format=raw,if=none,id=data,cache=unsafe,discard=unmap",
		"-device", "virtio-blk-pci,drive=data,serial="+DataDiskSerial,
	)
	for k, seg := range Segments {
		// No option ROM: the nodes never boot from the network, and an
		// empty disk then stops at "No bootable device" instead of
		// trying PXE on four NICs.
		args = append(args,
			"-netdev", "tap,id="+seg.NIC+",ifname="+s.Node.Tap(k)+",script=no,downscript=no",
			"-device", s.NICModel+",id=nic-"+seg.NIC+",netdev="+seg.NIC+",mac="+s.Node.MAC(k)+",romfile=",
		)
	}
	if s.Install {
		args = append(args,
			"-no-reboot",
			"-drive", "file="+s.ISO+",media=cdrom,readonly=on,if=none,id=cd",
			// The CD before the disk, as an operator picks it in the boot
			// menu: a Recover install finds a bootable system on the disk.
			"-device", "ide-cd,drive=cd,bus=ide.0,bootindex=0",
			"-drive", "file="+f.Stick+",format=raw,if=none,id=cfg,readonly=on",
			"-device", "qemu-xhci,id=xhci",
			"-device", "usb-storage,bus=xhci.0,drive=cfg",
		)
	}
	return args
}

// Argv is the whole command: QEMU (the qemuroot wrapper qemuBin) started
// inside the lab namespace. `ip netns exec` execs QEMU without forking, so
// the process started is QEMU itself.
func (s VMSpec) Argv(qemuBin string) []string {
	return append([]string{"ip", "netns", "exec", s.Namespace, qemuBin}, s.Args()...)
}
