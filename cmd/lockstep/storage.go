package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// storageFlags are the flags of storage create and extend.
type storageFlags struct {
	disks map[string][]string // --disk node=id, by node
	erase bool
	yes   bool
}

const diskHelp = "A disk is a logical disk (RAID volume) of a node by its stable id:\n" +
	"serial:<serial>, wwn:<wwid>, path:<by-path name>, or a name under\n" +
	"/dev/disk/by-id or by-path; each node resolves its own. Give disks for both\n" +
	"nodes (--disk may be repeated): a group's usable size is the smaller node's.\n" +
	"Both nodes must be up; the checks run on both before either writes.\n\n" +
	"A disk must be blank: one with a partition table, a file system, or LVM,\n" +
	"DRBD or RAID metadata is refused with what is on it, unless --erase --yes\n" +
	"wipes it first. The system disk and disks in use are always refused."

func storageCommands() []*command {
	return []*command{
		{name: "storage list", summary: "list the storage groups: usable size and free space, and each node's",
			run: getAndShow("/api/v1/storage", func(c *cli, b []byte) error { return decodeShow(c, b, showStorage) })},
		{name: "storage create", args: "<group>", nargs: 1, summary: "make a storage group on both nodes from disks of each",
			help: diskHelp + "\n\nA VM's volume is put in a group with vm create --volume name:size:group.\n\n" +
				"  lockstep storage create fast --disk node0=serial:S5GXNF0R100001 \\\n    --disk node1=serial:S5GXNF0R200001",
			flags: diskFlags, run: storageVerb("create")},
		{name: "storage extend", args: "<group>", nargs: 1, summary: "add disks to a storage group on both nodes",
			help:  diskHelp + "\n\n  lockstep storage extend storage0 --disk node0=wwn:naa.5002538e4a1b2c3d \\\n    --disk node1=wwn:naa.5002538e4a1b9f00 --erase --yes",
			flags: diskFlags, run: storageVerb("extend")},
	}
}

func diskFlags(fs *flag.FlagSet, c *cli) {
	c.sg.disks = map[string][]string{}
	fs.Func("disk", "a node's disk as `node=id`, e.g. node0=serial:S5GXNF0R100001 (repeat for more disks)", func(v string) error {
		node, id, ok := strings.Cut(v, "=")
		if !ok || node == "" || id == "" {
			return fmt.Errorf("want node=id, e.g. node0=serial:S5GXNF0R100001")
		}
		c.sg.disks[node] = append(c.sg.disks[node], id)
		return nil
	})
	fs.BoolVar(&c.sg.erase, "erase", false, "wipe what is on the disks first (partition tables, file systems, old metadata); needs --yes")
	fs.BoolVar(&c.sg.yes, "yes", false, "really erase the disks given")
}

// storageVerb runs storage create or extend.
func storageVerb(verb string) func(context.Context, *cli, []string) error {
	return func(ctx context.Context, c *cli, args []string) error {
		if len(c.sg.disks) == 0 {
			return usagef("storage %s: give each node's disks: --disk node0=<id> --disk node1=<id>", verb)
		}
		if c.sg.erase && !c.sg.yes {
			return usagef("storage %s: --erase wipes what is on the disks given, on both nodes, and their data is lost; add --yes to do it", verb)
		}
		spec := api.StorageGroupSpec{Disks: c.sg.disks, Erase: c.sg.erase}
		path := "/api/v1/storage"
		if verb == "create" {
			spec.Name = args[0]
		} else {
			path += "/" + url.PathEscape(args[0]) + "/disks"
		}
		if err := c.connect(); err != nil {
			return err
		}
		b, err := c.call(ctx, "POST", path, nil, spec)
		if err != nil {
			return err
		}
		return decodeShow(c, b, func(c *cli, g api.StorageGroup) error {
			return showStorage(c, api.StorageList{Groups: []api.StorageGroup{g}})
		})
	}
}
