package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// vcdFlags are the flags of the vcd commands.
type vcdFlags struct {
	name string // vcd upload
	yes  bool   // vcd delete
}

func vcdCommands() []*command {
	return []*command{
		{name: "vcd list", summary: "list the VCDs (ISO images) with their size, the nodes that hold them and their SHA-256",
			run: getAndShow("/api/v1/vcds", func(c *cli, b []byte) error { return decodeShow(c, b, showVCDs) })},
		{name: "vcd upload", args: "<file>", nargs: 1, summary: "upload an ISO image as a VCD, kept on both nodes",
			help: "The file is streamed, not read into memory. The command returns once both\n" +
				"nodes hold the image (or this one, if the other is away), which for a DVD\n" +
				"takes minutes; it prints the SHA-256 to check against the publisher's.\n" +
				"A VCD of the same name is replaced, unless a running VM has it inserted.\n\n" +
				"  lockstep vcd upload debian-13.1.0-amd64-netinst.iso --name debian-13.iso",
			flags: func(fs *flag.FlagSet, c *cli) {
				fs.StringVar(&c.vcd.name, "name", "", "the VCD's `name` (default: the file's base name)")
			}, run: vcdUpload},
		{name: "vcd delete", args: "<vcd>", nargs: 1, summary: "delete a VCD from both nodes (needs --yes)",
			flags: func(fs *flag.FlagSet, c *cli) {
				fs.BoolVar(&c.vcd.yes, "yes", false, "really delete the VCD")
			}, run: vcdDelete},
	}
}

func vcdPath(name string) string { return "/api/v1/vcds/" + url.PathEscape(name) }

func vcdUpload(ctx context.Context, c *cli, args []string) error {
	path := args[0]
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	size := int64(-1) // a device (/dev/sr0) tells its size only by its end
	switch {
	case st.IsDir():
		return fmt.Errorf("%s is a directory, not an ISO image", path)
	case st.Mode().IsRegular() && st.Size() == 0:
		return fmt.Errorf("%s is empty, not an ISO image", path)
	case st.Mode().IsRegular():
		size = st.Size()
	}
	name := cmp.Or(c.vcd.name, filepath.Base(path))
	if err := c.connect(); err != nil {
		return err
	}
	c.http.Timeout = 0 // an ISO takes as long as it takes; Ctrl-C ends it
	body := &upload{contentType: "application/octet-stream", size: size, open: func() (io.ReadCloser, error) {
		f, err := os.Open(path)
		switch {
		case err != nil:
			return nil, err
		case c.progress:
			return &progress{ReadCloser: f, c: c, name: name, size: size}, nil
		}
		return f, nil
	}}
	b, err := c.call(ctx, "PUT", vcdPath(name), nil, body)
	if err != nil {
		return err
	}
	return decodeShow(c, b, showVCD)
}

// progress shows on stderr how much of an upload is sent, at most once a
// second, and then that the system is storing it.
type progress struct {
	io.ReadCloser
	c          *cli
	name       string
	sent, size int64
	last       time.Time
	done       bool
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.ReadCloser.Read(b)
	p.sent += int64(n)
	switch now := p.c.now(); {
	case p.done:
	case err == io.EOF || p.sent == p.size:
		p.done = true
		fmt.Fprintf(p.c.stderr, "\r\033[K%s: %s sent; the system is storing it\n", p.name, human(float64(p.sent)))
	case now.Sub(p.last) >= time.Second:
		p.last = now
		s := human(float64(p.sent))
		if p.size > 0 {
			s = fmt.Sprintf("%d%% of %s", p.sent*100/p.size, human(float64(p.size)))
		}
		fmt.Fprintf(p.c.stderr, "\r\033[K%s: %s sent", p.name, s)
	}
	return n, err
}

func (p *progress) Close() error {
	if !p.done && p.sent > 0 {
		fmt.Fprintln(p.c.stderr) // cut off: the error goes on a line of its own
	}
	return p.ReadCloser.Close()
}

func vcdDelete(ctx context.Context, c *cli, args []string) error {
	if !c.vcd.yes {
		return usagef("vcd delete: this deletes %s from both nodes; add --yes to do it", args[0])
	}
	if err := c.connect(); err != nil {
		return err
	}
	if _, err := c.call(ctx, "DELETE", vcdPath(args[0]), nil, nil); err != nil {
		return err
	}
	if c.g.json { // the server answers 204, nothing to print as it came
		return printJSON(c, map[string]string{"vcd": args[0], "status": "deleted"})
	}
	_, err := fmt.Fprintf(c.stdout, "Deleted VCD %s.\n", args[0])
	return err
}
