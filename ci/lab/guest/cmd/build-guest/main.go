// Command build-guest builds the lab's test guest ISO (package
// ci/lab/guest), or finds it in the cache, and prints its path:
//
//	go run ./ci/lab/guest/cmd/build-guest [-cache ~/.cache/lockstep] [-v]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/lockstep-ft/lockstep/ci/lab/guest"
	"github.com/lockstep-ft/lockstep/internal/qemuroot"
)

func main() {
	cache := flag.String("cache", qemuroot.DefaultCacheDir(), "Lockstep cache directory (packages in debian/, the guest in guest/<key>/)")
	verbose := flag.Bool("v", false, "report progress on stderr")
	flag.Parse()
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o := guest.Options{CacheDir: *cache}
	if *verbose {
		o.Logf = log.Printf
	}
	iso, err := guest.BuildWith(ctx, o)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(iso)
}
