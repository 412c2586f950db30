package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// maxAuditRecords bounds the audit log kept in memory and in its file,
// which is rewritten to its last maxAuditRecords when it has grown to
// twice that.
const maxAuditRecords = 5000

// auditLog is this node's audit log (SPEC A16): every API request that
// changed something, or was refused for its credentials or role, in a
// JSON-lines file on STATE.
type auditLog struct {
	path string
	node string
	logf func(string, ...any)

	mu      sync.Mutex
	recs    []api.AuditRecord
	inFile  int // lines in the file
	lastErr string
}

func newAuditLog(path, node string, logf func(string, ...any)) *auditLog {
	l := &auditLog{path: path, node: node, logf: logf}
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r api.AuditRecord
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				l.recs = append(l.recs, r)
			}
			l.inFile++
		}
		f.Close()
		if n := len(l.recs); n > maxAuditRecords {
			l.recs = slices.Clone(l.recs[n-maxAuditRecords:])
		}
	}
	return l
}

// add is the API's Options.Audit.
func (l *auditLog) add(r api.AuditRecord) {
	r.Node = l.node
	b, _ := json.Marshal(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	if len(l.recs) > maxAuditRecords {
		l.recs = slices.Delete(l.recs, 0, len(l.recs)-maxAuditRecords)
	}
	var err error
	if l.inFile >= 2*maxAuditRecords {
		err = l.rewrite()
	} else {
		err = appendLine(l.path, b)
		l.inFile++
	}
	if err != nil && err.Error() != l.lastErr {
		l.logf("audit log: %v", err)
	}
	if err != nil {
		l.lastErr = err.Error()
	} else {
		l.lastErr = ""
	}
}

// rewrite replaces the file with the records in memory, atomically.
func (l *auditLog) rewrite() error {
	tmp := l.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, r := range l.recs {
		b, _ := json.Marshal(r)
		w.Write(append(b, '\n'))
	}
	if err = w.Flush(); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, l.path)
	}
	if err == nil {
		l.inFile = len(l.recs)
	}
	return err
}

func appendLine(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// list returns at most limit records at or after since, newest first.
func (l *auditLog) list(since time.Time, limit int) []api.AuditRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []api.AuditRecord
	for i := len(l.recs) - 1; i >= 0 && len(out) < limit; i-- {
		if r := l.recs[i]; !r.Time.Before(since) {
			out = append(out, r)
		}
	}
	return out
}

func (b *clusterBackend) Audit(ctx context.Context, since time.Time, limit int) ([]api.AuditRecord, error) {
	out := b.c.audit.list(since, limit)
	if b.c.runner.Status().Connected {
		var l api.AuditList
		pctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		if err := b.c.peerCall(pctx, "GET", "/peer/v1/audit", &l); err == nil {
			for _, r := range l.Records {
				if !r.Time.Before(since) {
					out = append(out, r)
				}
			}
		}
	}
	slices.SortStableFunc(out, func(x, y api.AuditRecord) int { return y.Time.Compare(x.Time) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
