package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lockstep-ft/lockstep/installer/engine/layout"
)

// storagePartition finds the install's storage partition: the partition
// numbered layout.NumStorage on the disk that holds the STATE partition
// mounted at stateMount. The disk is found through the mount rather than
// by name, since a node may have other disks (and other installs' disks
// with the same partition names) that must not be taken.
func storagePartition(procRoot, sysRoot, stateMount string) (string, error) {
	f, err := os.Open(filepath.Join(procRoot, "self/mountinfo"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	var devno string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint ...
		fs := strings.Fields(sc.Text())
		if len(fs) > 4 && fs[4] == stateMount {
			devno = fs[2]
		}
	}
	if devno == "" {
		return "", fmt.Errorf("%s is not mounted", stateMount)
	}
	part, err := filepath.EvalSymlinks(filepath.Join(sysRoot, "dev/block", devno))
	if err != nil {
		return "", fmt.Errorf("STATE partition %s: %w", devno, err)
	}
	disk := filepath.Dir(part)
	ents, err := os.ReadDir(disk)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(disk, e.Name(), "partition"))
		if err != nil {
			continue
		}
		if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n == layout.NumStorage {
			return "/dev/" + e.Name(), nil
		}
	}
	return "", fmt.Errorf("disk %s has no partition %d (storage)", filepath.Base(disk), layout.NumStorage)
}
