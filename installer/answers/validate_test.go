package answers

import (
	"reflect"
	"strings"
	"testing"
)

func TestValidBaselines(t *testing.T) {
	mustValid(t, validCreate(), labVM())
	mustValid(t, validReplace(), labVM())
	r := validReplace()
	r.Action = Recover
	mustValid(t, r, labVM())
	c := validCreate()
	c.Network.ALinks = []string{"52:54:00:00:00:03", "eth3"}
	mustValid(t, c, labVM())
	c.Network.ALinks = []string{}
	mustValid(t, c, labVM())
}

func TestValidateRules(t *testing.T) {
	long := strings.Repeat("a", 64)
	fp := strings.Repeat("ab", 32)
	tests := []struct {
		name   string
		base   func() *Answers // default validCreate
		hw     func() Hardware // default richHW
		mutate func(a *Answers)
		field  string
		phrase string
		count  int // errors expected in all (0: exactly 1)
	}{
		// action, hostname
		{name: "action missing", mutate: func(a *Answers) { a.Action = "" }, field: "action", phrase: "required: one of create, replace, recover"},
		{name: "action unknown", mutate: func(a *Answers) { a.Action = "install" }, field: "action", phrase: `"install" is not an action`},
		{name: "hostname missing", mutate: func(a *Answers) { a.Hostname = "" }, field: "hostname", phrase: "required"},
		{name: "hostname underscore", mutate: func(a *Answers) { a.Hostname = "node_0" }, field: "hostname", phrase: `"node_0" contains '_'`},
		{name: "hostname dotted", mutate: func(a *Answers) { a.Hostname = "node0.example.com" }, field: "hostname", phrase: `contains '.'`},
		{name: "hostname leading hyphen", mutate: func(a *Answers) { a.Hostname = "-node0" }, field: "hostname", phrase: `begins or ends with "-"`},
		{name: "hostname too long", mutate: func(a *Answers) { a.Hostname = long }, field: "hostname", phrase: "64 characters long; at most 63"},

		// system (create)
		{name: "system name missing", mutate: func(a *Answers) { a.System.Name = "" }, field: "system.name", phrase: "required for create"},
		{name: "system name space", mutate: func(a *Answers) { a.System.Name = "my system" }, field: "system.name", phrase: `"my system" contains ' '`},
		{name: "system name too long", mutate: func(a *Answers) { a.System.Name = long }, field: "system.name", phrase: "at most 63"},
		{name: "system ip missing", mutate: func(a *Answers) { a.System.IP = "" }, field: "system.ip", phrase: "required for create"},
		{name: "three witnesses", mutate: func(a *Answers) {
			a.System.Witnesses = []string{"192.0.2.5:7500", "192.0.2.6:7500", "192.0.2.7:7500"}
			a.System.WitnessSecret = "0123456789abcdef"
		}, field: "system.witnesses", phrase: "3 witnesses given; a system uses 0, 1 or 2"},
		{name: "witness without port", mutate: func(a *Answers) {
			a.System.Witnesses = []string{"192.0.2.5"}
			a.System.WitnessSecret = "0123456789abcdef"
		}, field: "system.witnesses[0]", phrase: "want host:port"},
		{name: "witness bad port", mutate: func(a *Answers) {
			a.System.Witnesses = []string{"192.0.2.5:75000"}
			a.System.WitnessSecret = "0123456789abcdef"
		}, field: "system.witnesses[0]", phrase: `port "75000" is not a number from 1 to 65535`},
		{name: "witness without secret", mutate: func(a *Answers) { a.System.Witnesses = []string{"192.0.2.5:7500"} }, field: "system.witness_secret", phrase: "required with witnesses"},
		{name: "witness secret short", mutate: func(a *Answers) {
			a.System.Witnesses = []string{"192.0.2.5:7500"}
			a.System.WitnessSecret = "short"
		}, field: "system.witness_secret", phrase: "5 characters long; the witness needs at least 16"},
		{name: "witness secret alone", mutate: func(a *Answers) { a.System.WitnessSecret = "0123456789abcdef" }, field: "system.witness_secret", phrase: "no witnesses are listed"},
		{name: "system ip = node ip", mutate: func(a *Answers) { a.System.IP = "192.0.2.11" }, field: "system.ip", phrase: `"192.0.2.11" is the same as network.node.ip`},
		{name: "system ip outside subnet", mutate: func(a *Answers) { a.System.IP = "198.51.100.10" }, field: "system.ip", phrase: `"198.51.100.10" is outside the node's subnet 192.0.2.0/24`},
		{name: "system ip network address", mutate: func(a *Answers) { a.System.IP = "192.0.2.0" }, field: "system.ip", phrase: `"192.0.2.0" is the network address of 192.0.2.0/24`},
		{name: "system ip broadcast", mutate: func(a *Answers) { a.System.IP = "192.0.2.255" }, field: "system.ip", phrase: `"192.0.2.255" is the broadcast address of 192.0.2.0/24`},
		{name: "system ip with prefix", mutate: func(a *Answers) { a.System.IP = "192.0.2.10/24" }, field: "system.ip", phrase: "without a prefix length"},
		{name: "system ip IPv6", mutate: func(a *Answers) { a.System.IP = "2001:db8::10" }, field: "system.ip", phrase: `"2001:db8::10" is an IPv6 address; ibiz0 supports IPv4 only for now`},
		{name: "dhcp node, bad system ip", mutate: func(a *Answers) { a.Network.Node = Address{DHCP: true}; a.System.IP = "192.0.2" }, field: "system.ip", phrase: "not an IPv4 address"},

		// replace / recover: system and admin come from the system
		{name: "replace with system.name", base: validReplace, mutate: func(a *Answers) { a.System.Name = "other" }, field: "system.name", phrase: `"other" is given but must be empty for replace`},
		{name: "replace with system.ip", base: validReplace, mutate: func(a *Answers) { a.System.IP = "192.0.2.10" }, field: "system.ip", phrase: "must be empty for replace"},
		{name: "recover with system.name", base: validReplace, mutate: func(a *Answers) { a.Action = Recover; a.System.Name = "x" }, field: "system.name", phrase: "must be empty for recover"},
		{name: "replace with admin password", base: validReplace, mutate: func(a *Answers) { a.Admin.Password = "supersecret-123" }, field: "admin.password", phrase: "must be empty for replace"},
		{name: "recover with admin hash", base: validReplace, mutate: func(a *Answers) { a.Action = Recover; a.Admin.PasswordHash = labHash }, field: "admin.password_hash", phrase: "must be empty for recover"},

		// join.fingerprint
		{name: "fingerprint on create", mutate: func(a *Answers) { a.Join.Fingerprint = fp }, field: "join.fingerprint", phrase: "only used when joining"},
		{name: "fingerprint too short", base: validReplace, mutate: func(a *Answers) { a.Join.Fingerprint = fp[:62] }, field: "join.fingerprint", phrase: "has 62 hex digits, not 64"},
		{name: "fingerprint not hex", base: validReplace, mutate: func(a *Answers) { a.Join.Fingerprint = "zz" + fp[2:] }, field: "join.fingerprint", phrase: `"z" is not a hex digit`},

		// node address: syntax
		{name: "ip three parts", mutate: func(a *Answers) { a.Network.Node.IP = "192.0.2" }, field: "network.node.ip", phrase: `"192.0.2" is not an IPv4 address: it has 3 part(s)`},
		{name: "ip octet out of range", mutate: func(a *Answers) { a.Network.Node.IP = "300.1.1.1" }, field: "network.node.ip", phrase: `"300.1.1.1" is not an IPv4 address: 300 is out of range 0-255`},
		{name: "ip trailing garbage", mutate: func(a *Answers) { a.Network.Node.IP = "192.0.2.1x" }, field: "network.node.ip", phrase: `"1x" is not a number`},
		{name: "ip leading zero", mutate: func(a *Answers) { a.Network.Node.IP = "192.0.2.011" }, field: "network.node.ip", phrase: "leading zero"},
		{name: "ip empty part", mutate: func(a *Answers) { a.Network.Node.IP = "192..2.11" }, field: "network.node.ip", phrase: "part 2 is empty"},
		{name: "ip IPv6", mutate: func(a *Answers) { a.Network.Node.IP = "2001:db8::11/64" }, field: "network.node.ip", phrase: "is an IPv6 address; ibiz0 supports IPv4 only for now"},
		{name: "ip loopback", mutate: func(a *Answers) { a.Network.Node.IP = "127.0.0.2" }, field: "network.node.ip", phrase: "loopback"},
		{name: "ip missing", mutate: func(a *Answers) { a.Network.Node.IP = "" }, field: "network.node.ip", phrase: "required for a static address"},

		// node address: netmask
		{name: "netmask not contiguous", mutate: func(a *Answers) { a.Network.Node.Netmask = "255.255.0.255" }, field: "network.node.netmask", phrase: `"255.255.0.255" is not a valid netmask: its one-bits are not contiguous`},
		{name: "netmask garbage", mutate: func(a *Answers) { a.Network.Node.Netmask = "/33" }, field: "network.node.netmask", phrase: `"/33" is not a netmask`},
		{name: "netmask /0", mutate: func(a *Answers) { a.Network.Node.Netmask = "/0" }, field: "network.node.netmask", phrase: "/0 covers the whole IPv4 space"},
		{name: "netmask /32", mutate: func(a *Answers) { a.Network.Node.Netmask = "255.255.255.255" }, field: "network.node.netmask", phrase: "a /32 holds a single address"},
		{name: "netmask /31", mutate: func(a *Answers) { a.Network.Node.Netmask = "31" }, field: "network.node.netmask", phrase: "a /31 (point-to-point) holds only 2 addresses"},
		{name: "netmask /30", mutate: func(a *Answers) {
			a.Network.Node.Netmask = "/30"
			a.System.IP = "192.0.2.9"
			a.Network.Node.Gateway = ""
		}, field: "network.node.netmask", phrase: "node0, node1 and the system IP"},
		{name: "cidr /31 reported on ip", mutate: func(a *Answers) { a.Network.Node.IP = "192.0.2.11/31"; a.Network.Node.Netmask = "" }, field: "network.node.ip", phrase: `"192.0.2.11/31" (/31)`},
		{name: "cidr bad length", mutate: func(a *Answers) { a.Network.Node.IP = "192.0.2.11/40"; a.Network.Node.Netmask = "" }, field: "network.node.ip", phrase: "bad prefix length"},
		{name: "cidr and netmask", mutate: func(a *Answers) { a.Network.Node.IP = "192.0.2.11/24" }, field: "network.node.netmask", phrase: "already has a prefix length"},
		{name: "netmask missing", mutate: func(a *Answers) { a.Network.Node.Netmask = "" }, field: "network.node.netmask", phrase: "required for a static address"},

		// node address: network, broadcast
		{name: "node ip = network address", mutate: func(a *Answers) { a.Network.Node.IP = "192.0.2.0" }, field: "network.node.ip", phrase: `"192.0.2.0" is the network address of 192.0.2.0/24`},
		{name: "node ip = broadcast", mutate: func(a *Answers) { a.Network.Node.IP = "192.0.2.255" }, field: "network.node.ip", phrase: `"192.0.2.255" is the broadcast address of 192.0.2.0/24`},
		{name: "node ip = broadcast /26", mutate: func(a *Answers) {
			a.Network.Node = Address{IP: "10.1.1.63", Netmask: "255.255.255.192", Gateway: "10.1.1.1"}
			a.System.IP = "10.1.1.10"
		}, field: "network.node.ip", phrase: `"10.1.1.63" is the broadcast address of 10.1.1.0/26`},

		// gateway
		{name: "gateway outside subnet", mutate: func(a *Answers) { a.Network.Node.Gateway = "198.51.100.1" }, field: "network.node.gateway", phrase: `"198.51.100.1" is outside the node's subnet 192.0.2.0/24`},
		{name: "gateway = node ip", mutate: func(a *Answers) { a.Network.Node.Gateway = "192.0.2.11" }, field: "network.node.gateway", phrase: "is the node's own address"},
		{name: "gateway = system ip", mutate: func(a *Answers) { a.Network.Node.Gateway = "192.0.2.10" }, field: "network.node.gateway", phrase: `"192.0.2.10" is the system IP`},
		{name: "gateway = broadcast", mutate: func(a *Answers) { a.Network.Node.Gateway = "192.0.2.255" }, field: "network.node.gateway", phrase: "broadcast address"},
		{name: "gateway malformed", mutate: func(a *Answers) { a.Network.Node.Gateway = "192.0.2.256" }, field: "network.node.gateway", phrase: "256 is out of range"},

		// static vs DHCP
		{name: "dhcp with ip", mutate: func(a *Answers) { a.Network.Node = Address{DHCP: true, IP: "192.0.2.11"} }, field: "network.node.ip", phrase: `"192.0.2.11" is given together with dhcp: true; choose one`},
		{name: "dhcp with gateway", mutate: func(a *Answers) { a.Network.Node = Address{DHCP: true, Gateway: "192.0.2.1"} }, field: "network.node.gateway", phrase: "together with dhcp: true"},

		// DNS, NTP
		{name: "dns malformed", mutate: func(a *Answers) { a.Network.DNS = []string{"192.0.2.1", "8.8.8"} }, field: "network.dns[1]", phrase: `"8.8.8" is not an IPv4 address`},
		{name: "dns IPv6", mutate: func(a *Answers) { a.Network.DNS = []string{"2001:4860:4860::8888"} }, field: "network.dns[0]", phrase: "IPv6"},
		{name: "dns duplicate", mutate: func(a *Answers) { a.Network.DNS = []string{"192.0.2.1", "192.0.2.1"} }, field: "network.dns[1]", phrase: "repeats network.dns[0]"},
		{name: "dns empty entry", mutate: func(a *Answers) { a.Network.DNS = []string{""} }, field: "network.dns[0]", phrase: "empty entry"},
		{name: "ntp bad host name", mutate: func(a *Answers) { a.Network.NTP = []string{"ntp_server.example"} }, field: "network.ntp[0]", phrase: "not a valid host name"},
		{name: "ntp bad address", mutate: func(a *Answers) { a.Network.NTP = []string{"pool.ntp.org", "300.1.2.3"} }, field: "network.ntp[1]", phrase: "300 is out of range"},
		{name: "ntp name without dns", mutate: func(a *Answers) { a.Network.DNS = nil; a.Network.NTP = []string{"pool.ntp.org"} }, field: "network.ntp[0]", phrase: "cannot be resolved"},
		{name: "ntp duplicate name", mutate: func(a *Answers) { a.Network.NTP = []string{"pool.ntp.org", "POOL.ntp.org."} }, field: "network.ntp[1]", phrase: "repeats network.ntp[0]"},

		// NICs
		{name: "priv0 missing", mutate: func(a *Answers) { a.Network.Priv0 = "" }, field: "network.priv0", phrase: "required"},
		{name: "ibiz0 missing", mutate: func(a *Answers) { a.Network.Ibiz0 = "" }, field: "network.ibiz0", phrase: "required"},
		{name: "unknown NIC name", mutate: func(a *Answers) { a.Network.Priv0 = "eth9" }, field: "network.priv0", phrase: `no NIC is named "eth9"; this machine has eth0 (52:54:00:00:00:01)`},
		{name: "unknown NIC MAC", mutate: func(a *Answers) { a.Network.Ibiz0 = "52:54:00:00:00:99" }, field: "network.ibiz0", phrase: `no NIC has MAC address "52:54:00:00:00:99"`},
		{name: "no NICs at all", hw: func() Hardware { h := richHW(); h.NICs = nil; return h }, mutate: func(a *Answers) {}, field: "network.priv0", phrase: "reports no network interfaces", count: 2},
		{name: "priv0 = ibiz0 by name", mutate: func(a *Answers) { a.Network.Priv0, a.Network.Ibiz0 = "eth1", "eth1" }, field: "network.ibiz0", phrase: "is the same NIC as network.priv0"},
		{name: "priv0 = ibiz0 by name and MAC", mutate: func(a *Answers) { a.Network.Priv0, a.Network.Ibiz0 = "eth0", "52-54-00-00-00-01" }, field: "network.ibiz0", phrase: `"52-54-00-00-00-01" is the same NIC as network.priv0 "eth0" (eth0, 52:54:00:00:00:01)`},

		// A-Links
		{name: "alink unknown MAC", mutate: func(a *Answers) { a.Network.ALinks = []string{"52:54:00:00:00:03", "52:54:00:00:00:99"} }, field: "network.alinks[1]", phrase: `no NIC has MAC address "52:54:00:00:00:99"; this machine has eth0 (52:54:00:00:00:01)`},
		{name: "alink unknown name", mutate: func(a *Answers) { a.Network.ALinks = []string{"eth9"} }, field: "network.alinks[0]", phrase: `no NIC is named "eth9"`},
		{name: "alink empty entry", mutate: func(a *Answers) { a.Network.ALinks = []string{"eth2", " "} }, field: "network.alinks[1]", phrase: "empty entry: give a NIC cabled directly to the other node"},
		{name: "alink = priv0", mutate: func(a *Answers) { a.Network.ALinks = []string{"eth0"} }, field: "network.alinks[0]", phrase: `"eth0" is the same NIC as network.priv0 "52:54:00:00:00:01" (eth0, 52:54:00:00:00:01); an A-Link needs a NIC of its own`},
		{name: "alink = ibiz0", mutate: func(a *Answers) { a.Network.ALinks = []string{"eth2", "52-54-00-00-00-02"} }, field: "network.alinks[1]", phrase: `"52-54-00-00-00-02" is the same NIC as network.ibiz0 "52:54:00:00:00:02" (eth1, 52:54:00:00:00:02); an A-Link is a direct cable to the other node, not the management network`},
		{name: "alink listed twice", mutate: func(a *Answers) { a.Network.ALinks = []string{"52:54:00:00:00:03", "eth3", "eth2"} }, field: "network.alinks[2]", phrase: `"eth2" is the same NIC as network.alinks[0] "52:54:00:00:00:03" (eth2, 52:54:00:00:00:03); list each A-Link once`},
		{name: "too many alinks", hw: manyNICs, mutate: func(a *Answers) { a.Network.ALinks = []string{"eth2", "eth3", "eth4", "eth5", "eth6"} }, field: "network.alinks[4]", phrase: `"eth6" is A-Link number 5; at most 4 are supported (alink0 to alink3)`},
		{name: "alink on priv0's NIC while priv0 is unknown", mutate: func(a *Answers) { a.Network.Priv0 = "eth9"; a.Network.ALinks = []string{"eth0"} }, field: "network.priv0", phrase: `no NIC is named "eth9"`},
		{name: "alink with priv0 missing", mutate: func(a *Answers) { a.Network.Priv0 = ""; a.Network.ALinks = []string{"eth0"} }, field: "network.priv0", phrase: "required"},

		{name: "MAC shared by two NICs", hw: func() Hardware { h := richHW(); h.NICs[3].MAC = h.NICs[1].MAC; return h }, mutate: func(a *Answers) {}, field: "network.ibiz0", phrase: "belongs to several NICs (eth1, eth3); give the NIC by name"},

		// disks
		{name: "system disk missing", mutate: func(a *Answers) { a.Disk.System = "" }, field: "disk.system", phrase: "required"},
		{name: "system disk unknown", mutate: func(a *Answers) { a.Disk.System = "wwn-0xdeadbeef" }, field: "disk.system", phrase: `no disk has id "wwn-0xdeadbeef"; this machine has serial:lockstep-sys (vda, 32.0 GiB)`},
		{name: "system disk by kernel name", mutate: func(a *Answers) { a.Disk.System = "vda" }, field: "disk.system", phrase: `"vda" is a kernel name, which can change between boots; use the disk's stable id "serial:lockstep-sys"`},
		{name: "system disk by /dev name", mutate: func(a *Answers) { a.Disk.System = "/dev/sdb" }, field: "disk.system", phrase: `stable id "wwn-0x5000c500a1b2c3d4"`},
		{name: "system disk smaller than default minimum", mutate: func(a *Answers) { a.Lab = false }, field: "disk.system", phrase: `"serial:lockstep-sys" (vda) is 32.0 GiB; the system disk needs at least 64.0 GiB`},
		{name: "system disk smaller than lab minimum", mutate: func(a *Answers) { a.Disk.System = "virtio-small" }, field: "disk.system", phrase: "is 8.0 GiB; the system disk needs at least 20.0 GiB"},
		{name: "system disk smaller than hardware minimum", hw: func() Hardware { h := richHW(); h.MinDiskBytes = 120 << 30; return h }, mutate: func(a *Answers) { a.Disk.System = "serial:lockstep-data" }, field: "disk.system", phrase: "is 100.0 GiB; the system disk needs at least 120.0 GiB"},
		{name: "boot medium as system disk", mutate: func(a *Answers) { a.Disk.System = "ata-QEMU_DVD-ROM_QM00001" }, field: "disk.system", phrase: "is the install medium this installer booted from"},
		{name: "storage group unknown", mutate: func(a *Answers) { a.Disk.StorageGroup = []string{"serial:lockstep-data", "nvme-nope"} }, field: "disk.storage_group[1]", phrase: `no disk has id "nvme-nope"`},
		{name: "storage group = system disk", mutate: func(a *Answers) { a.Disk.StorageGroup = []string{"serial:lockstep-sys"} }, field: "disk.storage_group[0]", phrase: "is the system disk"},
		{name: "storage group boot medium", mutate: func(a *Answers) { a.Disk.StorageGroup = []string{"ata-QEMU_DVD-ROM_QM00001"} }, field: "disk.storage_group[0]", phrase: "install medium"},
		{name: "storage group duplicate via alias", mutate: func(a *Answers) {
			a.Disk.StorageGroup = []string{"wwn-0x5000c500a1b2c3d4", "/dev/disk/by-path/pci-0000:00:08.0-scsi-0:0:0:0"}
		}, field: "disk.storage_group[1]", phrase: "is the same disk as disk.storage_group[0]"},
		{name: "storage group kernel name", mutate: func(a *Answers) { a.Disk.StorageGroup = []string{"vdb"} }, field: "disk.storage_group[0]", phrase: "kernel name"},
		{name: "missing confirm_erase", mutate: func(a *Answers) { a.Disk.ConfirmErase = false }, field: "disk.confirm_erase", phrase: "must be true: the install erases disk.system"},
		{name: "missing confirm_erase on recover", base: validReplace, mutate: func(a *Answers) { a.Action = Recover; a.Disk.ConfirmErase = false }, field: "disk.confirm_erase", phrase: "data partitions are kept"},

		// admin
		{name: "admin missing", mutate: func(a *Answers) { a.Admin = Admin{} }, field: "admin", phrase: "required for create"},
		{name: "admin both", mutate: func(a *Answers) { a.Admin.PasswordHash = labHash }, field: "admin", phrase: "not both"},
		{name: "password short", mutate: func(a *Answers) { a.Admin.Password = "hunter2hunt" }, field: "admin.password", phrase: "is 11 characters long; use at least 12"},
		{name: "hash md5", mutate: func(a *Answers) { a.Admin = Admin{PasswordHash: "$1$abc$defghijklmnopqrstuv"} }, field: "admin.password_hash", phrase: "MD5"},
		{name: "hash not crypt", mutate: func(a *Answers) { a.Admin = Admin{PasswordHash: "plaintext-password"} }, field: "admin.password_hash", phrase: `must start with "$6$"`},
		{name: "hash truncated", mutate: func(a *Answers) { a.Admin = Admin{PasswordHash: labHash[:60]} }, field: "admin.password_hash", phrase: "86 characters"},
		{name: "hash no hash part", mutate: func(a *Answers) { a.Admin = Admin{PasswordHash: "$6$saltonly"} }, field: "admin.password_hash", phrase: "well-formed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, hwf := validCreate, richHW
			if tt.base != nil {
				base = tt.base
			}
			if tt.hw != nil {
				hwf = tt.hw
			}
			a := base()
			tt.mutate(a)
			errs := Validate(a, hwf())
			count := max(tt.count, 1)
			if len(errs) != count || !hasError(errs, tt.field, tt.phrase) {
				t.Fatalf("want exactly one error %s: …%s…\ngot %d:\n%v", tt.field, tt.phrase, len(errs), errs)
			}
			for _, secret := range []string{a.Admin.Password, a.Admin.PasswordHash} {
				if secret != "" && strings.Contains(errs.Error(), secret) {
					t.Errorf("error repeats a secret: %v", errs)
				}
			}
		})
	}
}

func TestValidateAcceptsRawForms(t *testing.T) {
	a := validReplace()
	a.Action = " Replace "
	a.Hostname = "Node1"
	a.Network.Node = Address{IP: "192.0.2.12/24", Gateway: " 192.0.2.1"}
	a.Network.Priv0 = "52:54:00:00:00:0A"
	a.Network.Ibiz0 = "eth1"
	a.Network.ALinks = []string{" 52-54-00-00-00-03", "eth3 "}
	a.Join.Fingerprint = strings.ToUpper(strings.TrimSuffix(strings.Repeat("ab:", 32), ":"))
	a.Disk.System = "/dev/disk/by-id/serial:lockstep-sys"
	hw := labVM()
	hw.NICs[0].MAC = "52:54:00:00:00:0a"
	mustValid(t, a, hw)

	a.Network.Node = Address{IP: "192.0.2.12", Netmask: "/24"}
	mustValid(t, a, hw)
	a.Network.Node.Netmask = "24"
	mustValid(t, a, hw)
	a.Network.Node.Netmask = "255.255.240.0"
	mustValid(t, a, hw)
}

func TestCreateWithDHCPNode(t *testing.T) {
	// The rule: DHCP is allowed for the node; the system IP must still be a
	// plain usable address (its subnet is checked against the lease later).
	a := validCreate()
	a.Network.Node = Address{DHCP: true}
	mustValid(t, a, labVM())

	a.System.IP = "127.0.0.1"
	if !hasError(Validate(a, labVM()), "system.ip", "loopback") {
		t.Fatal("loopback system IP accepted with a DHCP node")
	}

	// NTP host names are fine without DNS when DHCP may supply it.
	a = validCreate()
	a.Network.Node = Address{DHCP: true}
	a.Network.DNS = nil
	a.Network.NTP = []string{"pool.ntp.org"}
	mustValid(t, a, labVM())
}

func TestFiveProblemsFiveErrors(t *testing.T) {
	const file = `
action: create
lab: true
hostname: node_0                  # 1: underscore
system:
  name: lockstep-lab
  ip: 198.51.100.10               # 2: outside the node's subnet
network:
  priv0: eth0
  ibiz0: "52:54:00:00:00:01"      # 3: same NIC as priv0
  node:
    ip: 192.0.2.255/24            # 4: broadcast
    gateway: 192.0.2.1
disk:
  system: serial:lockstep-sys     # 5: confirm_erase missing
admin:
  password: correct horse battery
`
	a, err := Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	errs := Validate(a, labVM())
	want := []struct{ field, phrase string }{
		{"hostname", `"node_0" contains '_'`},
		{"system.ip", "outside the node's subnet 192.0.2.0/24"},
		{"network.ibiz0", "same NIC as network.priv0"},
		{"network.node.ip", `"192.0.2.255" is the broadcast address of 192.0.2.0/24`},
		{"disk.confirm_erase", "must be true"},
	}
	if len(errs) != len(want) {
		t.Fatalf("want %d errors, got %d:\n%v", len(want), len(errs), errs)
	}
	for i, w := range want { // also checks that errors come in field order
		if errs[i].Field != w.field || !strings.Contains(errs[i].Message, w.phrase) {
			t.Errorf("error %d: want %s: …%s…, got %v", i, w.field, w.phrase, errs[i])
		}
	}
	lines := strings.Split(errs.Error(), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "hostname: ") {
		t.Errorf("Error() should list one problem per line as field: message:\n%s", errs.Error())
	}
}

func TestValidateField(t *testing.T) {
	a := validCreate()
	a.Network.Node.IP = "192.0.2.255"
	a.Network.Node.Gateway = "10.0.0.1"
	a.Hostname = "bad_name"
	hw := labVM()

	got := ValidateField(a, hw, "network.node.ip")
	if len(got) != 1 || got[0].Field != "network.node.ip" {
		t.Errorf("network.node.ip: %v", got)
	}
	if got := ValidateField(a, hw, "network.node"); len(got) != 2 {
		t.Errorf("network.node: want ip and gateway errors, got %v", got)
	}
	if got := ValidateField(a, hw, "network.node.netmask"); got != nil {
		t.Errorf("netmask is fine, got %v", got)
	}
	if got := ValidateField(a, hw, "host"); got != nil {
		t.Errorf("a field prefix must not match a longer name: %v", got)
	}
	a.Network.DNS = []string{"192.0.2.1", "x.y"}
	if got := ValidateField(a, hw, "network.dns"); len(got) != 1 || got[0].Field != "network.dns[1]" {
		t.Errorf("network.dns: %v", got)
	}
	a.Network.ALinks = []string{"eth2", "eth2"}
	if got := ValidateField(a, hw, "network.alinks"); len(got) != 1 || got[0].Field != "network.alinks[1]" {
		t.Errorf("network.alinks: %v", got)
	}
	if got := ValidateField(a, hw, "network.alinks[0]"); got != nil {
		t.Errorf("network.alinks[0] is fine, got %v", got)
	}
}

func TestValidateDoesNotModify(t *testing.T) {
	a := validReplace()
	a.Network.Node = Address{IP: " 192.0.2.12/24 "}
	a.Network.Priv0 = "52:54:00:00:00:01"
	a.Network.ALinks = []string{" 52-54-00-00-00-03 "}
	a.Disk.StorageGroup = []string{" /dev/disk/by-id/serial:lockstep-data "}
	before := a.clone()
	Validate(a, richHW())
	if !reflect.DeepEqual(*a, before) {
		t.Fatalf("Validate changed its input:\n%+v\n%+v", *a, before)
	}
}

func TestValidateNil(t *testing.T) {
	if errs := Validate(nil, Hardware{}); !hasError(errs, "action", "required") {
		t.Fatalf("nil answers: %v", errs)
	}
}

func TestErrorsErr(t *testing.T) {
	var none Errors
	if none.Err() != nil {
		t.Error("empty Errors.Err() should be nil")
	}
	if Validate(validCreate(), labVM()).Err() != nil {
		t.Error("valid answers: Err() should be nil")
	}
	e := Errors{{Field: "a", Message: "x"}, {Field: "b.c", Message: "y"}}
	if e.Err() == nil || e.Error() != "a: x\nb.c: y" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestCheckSystemIP(t *testing.T) {
	node := mustPrefix(t, "192.0.2.11/24")
	if err := CheckSystemIP("192.0.2.10", node); err != nil {
		t.Fatal(err)
	}
	for ip, phrase := range map[string]string{
		"198.51.100.10": "outside the node's subnet 192.0.2.0/24",
		"192.0.2.11":    "node's own address",
		"192.0.2.255":   "broadcast",
		"192.0.2":       "not an IPv4 address",
	} {
		err := CheckSystemIP(ip, node)
		if err == nil || !strings.HasPrefix(err.Error(), "system.ip: ") || !strings.Contains(err.Error(), phrase) {
			t.Errorf("%s: got %v, want …%s…", ip, err, phrase)
		}
	}
}
