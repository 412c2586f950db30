package member

import (
	"context"
	"net/netip"
	"sync"
)

// ipWorker applies the wanted system IP state in the order the machine
// decided it. Acquire announces for a while; a later Release cancels those
// announcements and then runs after it, so the address is never added
// back behind a release.
type ipWorker struct {
	ip     SystemIP
	ifname string
	p      netip.Prefix
	logf   func(string, ...any)

	mu     sync.Mutex
	cancel context.CancelFunc
	ops    chan bool
	done   chan struct{}
}

func newIPWorker(ip SystemIP, ifname string, p netip.Prefix, logf func(string, ...any)) *ipWorker {
	w := &ipWorker{ip: ip, ifname: ifname, p: p, logf: logf, ops: make(chan bool, 64), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *ipWorker) set(want bool) {
	w.mu.Lock()
	if w.cancel != nil {
		w.cancel()
	}
	w.mu.Unlock()
	w.ops <- want
}

func (w *ipWorker) run() {
	defer close(w.done)
	for want := range w.ops {
		if !want {
			if err := w.ip.Release(w.ifname, w.p); err != nil {
				w.logf("member: %v", err)
			}
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		w.mu.Lock()
		w.cancel = cancel
		w.mu.Unlock()
		if err := w.ip.Acquire(ctx, w.ifname, w.p); err != nil && ctx.Err() == nil {
			w.logf("member: %v", err)
		}
		cancel()
	}
}

// close waits for the queued operations (the last one is the release of
// a stopping node).
func (w *ipWorker) close() {
	close(w.ops)
	<-w.done
}
