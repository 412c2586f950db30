package api

// StorageGroupSpec is POST /api/v1/storage, a new storage group made on
// both nodes, and POST /api/v1/storage/{group}/disks, disks added to a
// group on both nodes (Name is then the path's group, or left out).
//
// Disks are each node's logical disks by stable id, as the installer
// names them: "serial:<serial>", "wwn:<wwid>", "path:<by-path name>" (or a
// /dev/disk/by-id or by-path name); each node resolves its own. Both
// nodes must be connected, and each must give at least one disk. A disk
// must be blank: one with a partition table, a file system, or LVM, DRBD
// or RAID metadata is refused with what was found on it, unless Erase is
// set, which wipes those signatures first. A disk in use (the system
// disk, a volume group's, mounted, held by another device) is always
// refused. Every check runs on both nodes before either writes anything.
type StorageGroupSpec struct {
	Name  string              `json:"name,omitempty"`
	Disks map[string][]string `json:"disks"`
	Erase bool                `json:"erase,omitempty"`
}
