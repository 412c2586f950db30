package ft

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// PrimaryArgs is the primary QEMU's command line (without the program):
// the common machine and the disk as a one-child quorum. The guest runs
// at once, unprotected (simplex): Protect copies the disk to a secondary,
// extends the quorum with the replication node and adds COLO's chardevs
// and net filters at run time. They are not on the command line because
// colo-compare holds every packet the guest sends until a checkpoint
// releases it, and without a secondary there is none; and because a
// secondary that took over becomes a primary the same way, from a QEMU
// started with SecondaryArgs.
func PrimaryArgs(s Spec) ([]string, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("ft: %w", err)
	}
	s = s.withDefaults()
	p := s.Primary
	args := machineArgs(s, p)
	args = append(args,
		// read-pattern=fifo reads from children.0, the local image;
		// vote-threshold=1: a write succeeds when the local one does.
		"-drive", "if=none,id="+diskID+",driver=quorum,read-pattern=fifo,vote-threshold=1"+
			",children.0.driver="+s.DiskFormat+sizeOpt(s, "children.0.")+",children.0.file.filename="+optValue(p.Disk),
	)
	return append(args, diskDeviceArgs()...), nil
}

// SecondaryArgs is the secondary QEMU's command line: the same machine,
// redirectors that feed it the primary's incoming packets and send its
// output to the primary's colo-compare, the rewriter, the disk as
// active → hidden → parent0 under a one-child quorum, and -incoming defer
// (Protect sets the capabilities before migrate-incoming).
func SecondaryArgs(s Spec) ([]string, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("ft: %w", err)
	}
	s = s.withDefaults()
	sd, l := s.Secondary, s.Link
	args := machineArgs(s, sd)
	args = append(args,
		// Clients of the primary's mirror and compare ports; they retry
		// every second until the primary listens (reconnect-ms: QEMU 9.2
		// dropped the seconds-based "reconnect").
		"-chardev", tcpClient(mirrorClient, l.PrimaryHost, l.MirrorPort),
		"-chardev", tcpClient(compareClient, l.PrimaryHost, l.ComparePort),
		"-object", "filter-redirector,id="+mirrorRedirect+",netdev="+netdevID+",queue=tx,indev="+mirrorClient,
		"-object", "filter-redirector,id="+compareRedirect+",netdev="+netdevID+",queue=rx,outdev="+compareClient,
		"-object", "filter-rewriter,id="+rewriter+",netdev="+netdevID+",queue=all",
		// A node without a BlockBackend (QEMU's guide has -drive): 11.1's
		// block-export-add finds nodes by node name only.
		"-blockdev", "node-name="+parentID+",driver="+s.DiskFormat+sizeOpt(s, "")+",file.driver="+protocol(sd.Disk)+",file.filename="+optValue(sd.Disk),
		// top-id names the quorum above: replication stops its I/O there
		// at checkpoints and failover.
		// The active and hidden layers are named: a failover waits until
		// they have left the graph (replication committed them).
		"-drive", "if=none,id="+childID+",driver=replication,mode=secondary,top-id="+diskID+
			",file.driver=qcow2,file.node-name="+activeNode+",file.file.filename="+optValue(sd.ActiveImage())+
			",file.backing.driver=qcow2,file.backing.node-name="+hiddenNode+
			",file.backing.file.filename="+optValue(sd.HiddenImage())+
			",file.backing.backing="+parentID,
		"-drive", "if=none,id="+diskID+",driver=quorum,read-pattern=fifo,vote-threshold=1,children.0="+childID,
	)
	args = append(args, diskDeviceArgs()...)
	return append(args, "-incoming", "defer"), nil
}

// machineArgs are the options both sides share, in the same order: the
// devices of a checkpoint's source and destination must match.
func machineArgs(s Spec, side Side) []string {
	name := "guest=" + s.Name + ",debug-threads=on" // thread names show COLO's threads in a stack dump
	args := []string{
		"-name", name,
		"-machine", s.Machine,
		"-accel", s.Accel,
	}
	if s.CPU != "" {
		args = append(args, "-cpu", s.CPU)
	}
	netdev := side.Netdev
	if strings.HasPrefix(netdev, "tap") && !hasOpt(netdev, "vhost") {
		netdev += ",vhost=off"
	}
	args = append(args,
		"-smp", strconv.Itoa(s.VCPUs),
		"-m", strconv.Itoa(s.MemoryMiB),
		"-nodefaults", "-no-user-config",
		"-display", "none",
		// A socket monitor, so that QEMU offers out-of-band execution
		// (yank) on it. QEMU 11 deprecates -mon for -object monitor-qmp.
		"-chardev", "socket,id="+qmpChardev+",path="+optValue(side.QMPSocket())+",server=on,wait=off",
		"-object", "monitor-qmp,id="+qmpMonitor+",chardev="+qmpChardev,
	)
	if side.QMPAddr != "" {
		host, port, _ := net.SplitHostPort(side.QMPAddr) // Validate checked it
		port0, _ := strconv.Atoi(port)
		// A second monitor for the peer's agent; QEMU serves one client
		// per monitor, so the local agent keeps its own socket.
		args = append(args,
			"-chardev", tcpServer(qmpTCPChardev, host, port0),
			"-object", "monitor-qmp,id="+qmpTCPMonitor+",chardev="+qmpTCPChardev)
	}
	args = append(args,
		"-chardev", "file,id="+consoleChardev+",path="+optValue(side.ConsoleLog())+",append=on",
		"-serial", "chardev:"+consoleChardev,
		"-netdev", netdev+",id="+netdevID,
		// romfile=: no PXE ROM, nothing to boot from the network.
		"-device", s.NICModel+",id="+nicID+",netdev="+netdevID+",mac="+s.MAC+",romfile=",
	)
	if s.Kernel != "" {
		args = append(args, "-kernel", s.Kernel)
		if s.Initrd != "" {
			args = append(args, "-initrd", s.Initrd)
		}
		if s.Append != "" {
			args = append(args, "-append", s.Append)
		}
	} else if s.CDROM != "" {
		args = append(args,
			"-drive", "if=none,id=cd0,media=cdrom,readonly=on,format=raw,file="+optValue(s.CDROM),
			"-device", "ide-cd,drive=cd0,bootindex=0")
	}
	return args
}

// sizeOpt is the raw driver's size option (under prefix) that limits the
// guest to DiskSize bytes of its image; qcow2 has its size in the image.
func sizeOpt(s Spec, prefix string) string {
	if s.DiskFormat != "raw" || s.DiskSize == 0 {
		return ""
	}
	return "," + prefix + "size=" + strconv.FormatInt(s.DiskSize, 10)
}

// diskDeviceArgs is the guest's disk on the quorum: virtio-blk (the guest
// sees /dev/vda). Its bootindex comes after the CD's: with neither a CD
// nor a kernel it is the one boot device.
func diskDeviceArgs() []string {
	return []string{"-device", "virtio-blk-pci,id=" + diskDev + ",drive=" + diskID + ",bootindex=1"}
}

func tcpServer(id, host string, port int) string {
	return "socket,id=" + id + ",host=" + host + ",port=" + strconv.Itoa(port) + ",server=on,wait=off"
}

func tcpClient(id, host string, port int) string {
	return "socket,id=" + id + ",host=" + host + ",port=" + strconv.Itoa(port) + ",reconnect-ms=1000"
}

func unixServer(id, path string) string {
	return "socket,id=" + id + ",path=" + optValue(path) + ",server=on,wait=off"
}

func unixClient(id, path string) string {
	return "socket,id=" + id + ",path=" + optValue(path)
}

// optValue escapes a value inside a QEMU option string: a comma is
// doubled.
func optValue(v string) string { return strings.ReplaceAll(v, ",", ",,") }

// protocol is the block driver under an image: QEMU's "file" driver takes
// regular files only and refuses a block device (a node's logical volume),
// which needs "host_device". A -drive finds this out itself; a -blockdev
// must say it.
func protocol(path string) string {
	if strings.HasPrefix(path, "/dev/") {
		return "host_device"
	}
	return "file"
}
