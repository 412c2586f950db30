package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"gopkg.in/yaml.v3"

	"github.com/lockstep-ft/lockstep/installer/answers"
)

// Answers is the node's answer file for the lab: its template
// (recipes/answers/…) with every machine-specific value replaced by the
// lab's: the host name, priv0, ibiz0 and the A-Links by the lab's MACs, the
// node address, gateway, DNS and NTP on the management segment, the virtio
// disks, and for node0 the system's name and IP. What the template says
// beyond that (the admin password hash, the join fingerprint) is kept.
func Answers(repoRoot string, n Node) ([]byte, error) {
	return AnswersWith(repoRoot, n, Extra{})
}

// Extra are the answers the lab learns while it comes up.
type Extra struct {
	// WitnessSecret: node0's system uses the lab's witness (WitnessAddr).
	WitnessSecret string
	// Fingerprint pins the system CA node1 joins, as node0 printed it.
	Fingerprint string
}

// AnswersWith is Answers with what the lab learned.
func AnswersWith(repoRoot string, n Node, x Extra) ([]byte, error) {
	tmpl, err := os.ReadFile(filepath.Join(repoRoot, n.Template))
	if err != nil {
		return nil, fmt.Errorf("lab: answer template: %w", err)
	}
	return answersFrom(tmpl, n, x)
}

func answersFrom(tmpl []byte, n Node, x ...Extra) ([]byte, error) {
	a, err := answers.Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("lab: %s: %w", n.Template, err)
	}
	if a.Action != n.Action {
		return nil, fmt.Errorf("lab: %s has action %q, the lab's %s needs %q", n.Template, a.Action, n.Name, n.Action)
	}
	a.Lab = true
	a.AcceptWarnings = true
	a.Hostname = n.Name
	a.System = answers.System{}
	if n.Action == answers.Create {
		a.System = answers.System{Name: SystemName, IP: SystemIP}
	}
	for _, e := range x {
		if e.WitnessSecret != "" && n.Action == answers.Create {
			a.System.Witnesses = []string{WitnessAddr}
			a.System.WitnessSecret = e.WitnessSecret
		}
		if e.Fingerprint != "" && n.Action.Joins() {
			a.Join.Fingerprint = e.Fingerprint
		}
	}
	a.Network.Priv0 = n.NICMAC("priv0")
	a.Network.Ibiz0 = n.NICMAC("ibiz0")
	a.Network.ALinks = aLinkMACs(n)
	a.Network.Node = answers.Address{IP: n.Addr, Netmask: "255.255.255.0", Gateway: HostIP}
	a.Network.DNS = []string{HostIP}
	a.Network.NTP = []string{HostIP}
	a.Disk = answers.Disk{System: SystemDiskID, StorageGroup: []string{DataDiskID}, ConfirmErase: true}
	body, err := yaml.Marshal(a)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Lockstep lab: unattended install of %s (%s), made by ci/lab from\n", n.Name, n.Action)
	fmt.Fprintf(&b, "# %s with the lab's MACs, addresses and disks (ci/lab/topology.go).\n", n.Template)
	b.Write(body)
	// The file must read back as the same answers, through the installer's parser.
	back, err := answers.Parse(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("lab: the generated answers for %s do not parse: %w", n.Name, err)
	}
	answers.Normalize(a)
	if !reflect.DeepEqual(*back, *a) {
		return nil, fmt.Errorf("lab: the generated answers for %s read back differently", n.Name)
	}
	return b.Bytes(), nil
}

// aLinkMACs are the MACs of the node's A-Link NICs, alink0, alink1, … as
// Segments names them: the installed node names its A-Links in the order the
// answers list them, and both nodes must pair the same cables.
func aLinkMACs(n Node) []string {
	var macs []string
	for i := 0; ; i++ {
		_, k, err := SegmentByName(fmt.Sprintf("alink%d", i))
		if err != nil {
			return macs
		}
		macs = append(macs, n.MAC(k))
	}
}

// Hardware is the installer's view of a lab node VM: its four NICs (kernel
// names in PCI order) and its two virtio disks, plus the CD it installs
// from. The unit tests validate the lab's answers against it.
func Hardware(n Node) answers.Hardware {
	var hw answers.Hardware
	for k := range Segments {
		hw.NICs = append(hw.NICs, answers.NIC{Name: fmt.Sprintf("enp0s%d", k+2), MAC: n.MAC(k)})
	}
	// As cmd/lockstep-installer builds it: the id is the disk's stable
	// identity, its serial and by-path name are aliases; the CD is left out
	// and the answer stick is a small USB disk.
	hw.Disks = []answers.DiskInfo{
		{ID: "serial:" + SystemDiskSerial, Aliases: []string{SystemDiskSerial, "pci-0000:00:02.0"}, Name: "vda", SizeBytes: SystemDiskBytes},
		{ID: "serial:" + DataDiskSerial, Aliases: []string{DataDiskSerial, "pci-0000:00:03.0"}, Name: "vdb", SizeBytes: DataDiskBytes},
		{ID: "path:pci-0000:00:08.0-usb-0:1:1.0-scsi-0:0:0:0", Aliases: []string{"pci-0000:00:08.0-usb-0:1:1.0-scsi-0:0:0:0"}, Name: "sda", SizeBytes: 8 << 20},
	}
	return hw
}
