package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/initramfs/media"
	"github.com/lockstep-ft/lockstep/installer/answers"
	"github.com/lockstep-ft/lockstep/installer/netup"
)

const cfgDir = "/run/lockstep/cfg"

// sources is the production answers.Sources: /proc/cmdline, the mounted
// install medium, a LOCKSTEP-CFG stick, and HTTP after DHCP.
type sources struct {
	logf    func(string, ...any)
	netOnce sync.Once
	netErr  error
}

func (s *sources) Cmdline() string { return readFile("/proc/cmdline") }

func (s *sources) Fetch(ctx context.Context, url string) ([]byte, error) {
	if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") {
		s.netOnce.Do(func() {
			c, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			s.netErr = netup.DHCP(c, s.logf)
		})
		if s.netErr != nil {
			return nil, fmt.Errorf("no network to fetch the answer file: %w", s.netErr)
		}
	}
	return answers.FetchURL(ctx, url)
}

func (s *sources) ReadMedium(rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(mediumDir, rel))
}

// ReadLabelled looks briefly for the stick: it is either there at boot or the
// install is interactive, and waiting long would delay every interactive boot.
func (s *sources) ReadLabelled(label, rel string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	dev, fstype, err := media.Finder{SysRoot: "/sys", DevRoot: "/dev", Log: s.logf}.FindLabelled(ctx, media.CfgLabels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, fs.ErrNotExist)
	}
	if err := media.MountFS(dev, cfgDir, fstype); err != nil && !strings.Contains(err.Error(), "busy") {
		return nil, err
	}
	return os.ReadFile(filepath.Join(cfgDir, rel))
}
