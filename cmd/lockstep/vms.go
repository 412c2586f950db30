package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// vmFlags are the flags of the vm commands.
type vmFlags struct {
	spec  api.VMSpec
	fs    *flag.FlagSet // vm modify sends only the flags given
	yes   bool          // vm delete
	bytes int           // vm console
}

const sizeHelp = "A size is in MiB (4096) or has a unit: 512M, 4G, 1T."

func vmCommands() []*command {
	return []*command{
		{name: "vm list", summary: "list the VMs with their mode, state, node, resources and volume mirrors",
			run: getAndShow("/api/v1/vms", func(c *cli, b []byte) error { return decodeShow(c, b, showVMs) })},
		{name: "vm info", args: "<vm>", nargs: 1, summary: "show one VM, with the mirror state of each volume on each node",
			run: func(ctx context.Context, c *cli, args []string) error {
				return getAndShow(vmPath(args[0]), func(c *cli, b []byte) error { return decodeShow(c, b, showVM) })(ctx, c, args)
			}},
		{name: "vm create", args: "<name>", nargs: 1, summary: "create a VM (stopped); --mode, --vcpus and --memory are required",
			help: sizeHelp + "\n--volume and --nic may be repeated, one per volume and NIC. The system\nrefuses a VM that does not fit, with the numbers.\n\n" +
				"An FT VM has exactly one volume.\n\n" +
				"  lockstep vm create web --mode ft --vcpus 4 --memory 8G \\\n    --volume web-sys:40G:sg0 --nic biz0 --cd debian-13.iso",
			flags: specFlags, run: vmCreate},
		{name: "vm modify", args: "<vm>", nargs: 1, summary: "change a stopped VM: only the flags given change",
			help: sizeHelp + "\n--volume and --nic, when given, replace the VM's lists. A field cannot be\n" +
				"cleared (--cd=, --node=, --autostart=false): the API keeps what a change\nleaves empty.",
			flags: specFlags, run: vmModify},
		vmAction("start", "start a VM", "running"),
		vmAction("shutdown", "shut a VM down through its guest OS (ACPI)", "stopped"),
		vmAction("poweroff", "power a VM off at once, like pulling its plug", "stopped"),
		vmAction("migrate", "move a running VM to the other node", "running on the other node"),
		{name: "vm delete", args: "<vm>", nargs: 1, summary: "delete a stopped VM and its volumes on both nodes (needs --yes)",
			flags: func(fs *flag.FlagSet, c *cli) {
				fs.BoolVar(&c.vm.yes, "yes", false, "really delete the VM and its volumes")
			}, run: vmDelete},
		{name: "vm console", args: "<vm>", nargs: 1, summary: "print the tail of a VM's serial console",
			flags: func(fs *flag.FlagSet, c *cli) {
				fs.IntVar(&c.vm.bytes, "bytes", api.DefaultConsoleBytes, fmt.Sprintf("print at most the last `n` bytes (1 to %d)", api.MaxConsoleBytes))
			}, run: vmConsole},
		{name: "capacity", summary: "show what the system can give VMs: capacity, reserve, used, free",
			run: getAndShow("/api/v1/capacity", func(c *cli, b []byte) error { return decodeShow(c, b, showCapacity) })},
	}
}

func vmPath(name string) string { return "/api/v1/vms/" + url.PathEscape(name) }

func specFlags(fs *flag.FlagSet, c *cli) {
	s := &c.vm.spec
	c.vm.fs = fs
	fs.Func("mode", "`ft` (fault tolerant) or ha (highly available)", func(v string) error {
		if v != api.ModeFT && v != api.ModeHA {
			return errors.New("want ft or ha")
		}
		s.Mode = v
		return nil
	})
	fs.Func("vcpus", "`n` virtual CPUs", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errors.New("want a number of vCPUs, 1 or more")
		}
		s.VCPUs = n
		return nil
	})
	fs.Func("memory", "the VM's memory `size`", func(v string) (err error) {
		s.MemoryMiB, err = parseSize(v)
		return err
	})
	fs.Func("volume", "a volume `name:size[:group]` in a storage group (default: storage0, else the first)", func(v string) error {
		f := strings.Split(v, ":")
		if len(f) < 2 || len(f) > 3 || f[0] == "" {
			return errors.New("want name:size or name:size:group")
		}
		size, err := parseSize(f[1])
		if err != nil {
			return err
		}
		vol := api.VolumeSpec{Name: f[0], SizeMiB: size}
		if len(f) == 3 {
			vol.Group = f[2]
		}
		s.Volumes = append(s.Volumes, vol)
		return nil
	})
	fs.Func("nic", "a NIC on business `network[:mac]` (default MAC: chosen by the system)", func(v string) error {
		// The MAC has colons itself: the network is before the first.
		network, mac, _ := strings.Cut(v, ":")
		if network == "" {
			return errors.New("want network or network:mac")
		}
		if mac != "" {
			if _, err := net.ParseMAC(mac); err != nil {
				return fmt.Errorf("MAC %q: want six hex pairs, 52:54:00:12:34:56", mac)
			}
		}
		s.NICs = append(s.NICs, api.NICSpec{Network: network, MAC: mac})
		return nil
	})
	fs.StringVar(&s.CD, "cd", "", "insert the VCD `name` at start")
	fs.StringVar(&s.Node, "node", "", "preferred `node`: node0 or node1 (default: the system chooses)")
	fs.BoolVar(&s.Autostart, "autostart", false, "start the VM with the system and keep it running")
}

// parseSize reads a size in MiB: a whole number of MiB, or one with the
// unit M, G or T (binary; "MiB", "GiB", "TiB" and lower-case letters
// too). "4GB" and "1.5G" are refused rather than guessed at.
func parseSize(s string) (int64, error) {
	num, unit := s, ""
	if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		num, unit = s[:i], s[i:]
	}
	shift := map[string]int{"": 0, "M": 0, "m": 0, "MiB": 0, "G": 10, "g": 10, "GiB": 10, "T": 20, "t": 20, "TiB": 20}
	sh, ok := shift[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n < 1 || n > math.MaxInt64>>(sh+20) { // in bytes it must fit an int64 too
		return 0, fmt.Errorf("size %q: want MiB (4096) or a whole number with M, G or T (512M, 4G)", s)
	}
	return n << sh, nil
}

func vmCreate(ctx context.Context, c *cli, args []string) error {
	s := c.vm.spec
	s.Name = args[0]
	var missing []string
	for _, f := range []struct {
		name string
		zero bool
	}{{"--mode", s.Mode == ""}, {"--vcpus", s.VCPUs == 0}, {"--memory", s.MemoryMiB == 0}} {
		if f.zero {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usagef("vm create: give %s", strings.Join(missing, ", "))
	}
	return c.sendVM(ctx, "POST", "/api/v1/vms", s)
}

// specKeys are the JSON fields of api.VMSpec by the flag that sets them.
var specKeys = map[string]string{"mode": "mode", "vcpus": "vcpus", "memory": "memory_mib", "volume": "volumes",
	"nic": "nics", "cd": "cd", "node": "node", "autostart": "autostart"}

func vmModify(ctx context.Context, c *cli, args []string) error {
	change, err := changed(c.vm.fs, c.vm.spec)
	if err != nil {
		return err
	}
	return c.sendVM(ctx, "PATCH", vmPath(args[0]), change)
}

// changed is the JSON of spec's fields set by a flag on fs, and only
// those: the server keeps the fields a change leaves out.
func changed(fs *flag.FlagSet, spec api.VMSpec) (map[string]json.RawMessage, error) {
	all, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(all, &fields); err != nil {
		return nil, err
	}
	change := map[string]json.RawMessage{}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		key, ok := specKeys[f.Name]
		if !ok {
			return
		}
		// The API keeps a field left empty or false (it cannot tell one
		// sent from one absent), so clearing would silently do nothing.
		if fields[key] == nil {
			bad = usagef("vm modify: --%s=%s: a field cannot be cleared or turned off", f.Name, f.Value)
		}
		change[key] = fields[key]
	})
	if bad != nil {
		return nil, bad
	}
	if len(change) == 0 {
		return nil, usagef("vm modify: nothing to change; give --mode, --vcpus, --memory, --volume, --nic, --cd, --node or --autostart")
	}
	return change, nil
}

// sendVM sends a VM spec or change and shows the VM the server answers.
func (c *cli) sendVM(ctx context.Context, method, path string, body any) error {
	if err := c.connect(); err != nil {
		return err
	}
	b, err := c.call(ctx, method, path, nil, body)
	if err != nil {
		return err
	}
	return decodeShow(c, b, showVM)
}

func vmAction(verb, summary, after string) *command {
	return &command{name: "vm " + verb, args: "<vm>", nargs: 1, summary: summary,
		help: "The command returns once the system has taken the request; 'vm info'\nshows when the VM is " + after + ".",
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := c.connect(); err != nil {
				return err
			}
			b, err := c.call(ctx, "POST", vmPath(args[0])+"/"+verb, nil, nil)
			if err != nil {
				return err
			}
			return decodeShow(c, b, func(c *cli, r api.VMActionResult) error {
				_, err := fmt.Fprintf(c.stdout, "%s: %s %s\n", r.VM, r.Action, r.Status)
				return err
			})
		}}
}

func vmDelete(ctx context.Context, c *cli, args []string) error {
	if !c.vm.yes {
		return usagef("vm delete: this deletes %s and its volumes on both nodes; add --yes to do it", args[0])
	}
	if err := c.connect(); err != nil {
		return err
	}
	if _, err := c.call(ctx, "DELETE", vmPath(args[0]), nil, nil); err != nil {
		return err
	}
	if c.g.json { // the server answers 204, nothing to print as it came
		return printJSON(c, map[string]string{"vm": args[0], "status": "deleted"})
	}
	_, err := fmt.Fprintf(c.stdout, "Deleted VM %s.\n", args[0])
	return err
}

func vmConsole(ctx context.Context, c *cli, args []string) error {
	if c.vm.bytes < 1 || c.vm.bytes > api.MaxConsoleBytes {
		return usagef("--bytes %d: use 1 to %d", c.vm.bytes, api.MaxConsoleBytes)
	}
	if err := c.connect(); err != nil {
		return err
	}
	b, err := c.call(ctx, "GET", vmPath(args[0])+"/console", url.Values{"bytes": {strconv.Itoa(c.vm.bytes)}}, nil)
	if err != nil {
		return err
	}
	if c.g.json { // the server answers text
		return printJSON(c, map[string]string{"vm": args[0], "console": string(b)})
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n') // a login prompt would run into the shell's
	}
	_, err = c.stdout.Write(b)
	return err
}
