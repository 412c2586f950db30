package apitest

import (
	"context"
	"time"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

func (b *Backend) Users(context.Context) ([]api.User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Alerting.UserList(), b.Err
}

func (b *Backend) CreateUser(_ context.Context, spec api.UserSpec) (api.User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return api.User{}, b.Err
	}
	b.Calls = append(b.Calls, "user create "+spec.Name)
	return b.Alerting.CreateUser(spec, nodeconfig.HashPassword)
}

func (b *Backend) ModifyUser(_ context.Context, name string, change api.UserSpec) (api.User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return api.User{}, b.Err
	}
	b.Calls = append(b.Calls, "user modify "+name)
	return b.Alerting.ModifyUser(name, change, nodeconfig.HashPassword)
}

func (b *Backend) DeleteUser(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return b.Err
	}
	b.Calls = append(b.Calls, "user delete "+name)
	return b.Alerting.DeleteUser(name)
}

func (b *Backend) Audit(_ context.Context, since time.Time, limit int) ([]api.AuditRecord, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []api.AuditRecord
	for i := len(b.AuditLog) - 1; i >= 0 && len(out) < limit; i-- {
		if a := b.AuditLog[i]; !a.Time.Before(since) {
			out = append(out, a)
		}
	}
	return out, b.Err
}

// Record is an api.Options.Audit that keeps the records in AuditLog.
func (b *Backend) Record(r api.AuditRecord) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r.Node = "node0"
	b.AuditLog = append(b.AuditLog, r)
}

// VerifyUser is an api.Options.Verify over the fake's users: admin with
// Password (or the password it was given since), the others with theirs.
func (b *Backend) VerifyUser(user, password string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	hash, _, ok := b.Alerting.UserHash(user)
	switch {
	case !ok:
		return false
	case hash == "":
		return Verify(user, password)
	}
	return nodeconfig.VerifyPassword(password, hash)
}

// Role is an api.Options.Role over the fake's users.
func (b *Backend) Role(user string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, role, _ := b.Alerting.UserHash(user)
	return role
}
