package main

import (
	"context"
	"crypto/subtle"

	"github.com/lockstep-ft/lockstep/agent/api"
	"github.com/lockstep-ft/lockstep/agent/ha"
	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// The API's users (SPEC A16) are the system's: kept in the VM table on both
// nodes, changed on the primary. The built-in admin's password is the
// installer's (node.json) until it is changed through the API.

func (b *clusterBackend) table() (*ha.Table, error) {
	s, err := b.svc()
	if err != nil {
		return nil, err
	}
	return s.mgr.Table(), nil
}

func (b *clusterBackend) Users(context.Context) ([]api.User, error) {
	t, err := b.table()
	if err != nil {
		return nil, err
	}
	return t.UserList(), nil
}

func (b *clusterBackend) CreateUser(ctx context.Context, spec api.UserSpec) (api.User, error) {
	var u api.User
	err := b.editTable(ctx, func(t *ha.Table) (err error) {
		u, err = t.CreateUser(spec, nodeconfig.HashPassword)
		return err
	})
	if err == nil {
		b.c.vmLogf("users: %s (%s) created by %s", u.Name, u.Role, api.RequestUser(ctx))
	}
	return u, err
}

func (b *clusterBackend) ModifyUser(ctx context.Context, name string, change api.UserSpec) (api.User, error) {
	var u api.User
	err := b.editTable(ctx, func(t *ha.Table) (err error) {
		u, err = t.ModifyUser(name, change, nodeconfig.HashPassword)
		return err
	})
	if err == nil {
		what := "role " + u.Role
		if change.Password != nil {
			what = "password"
			if change.Role != "" {
				what += " and role " + u.Role
			}
		}
		b.c.vmLogf("users: %s's %s changed by %s", name, what, api.RequestUser(ctx))
	}
	return u, err
}

func (b *clusterBackend) DeleteUser(ctx context.Context, name string) error {
	err := b.editTable(ctx, func(t *ha.Table) error { return t.DeleteUser(name) })
	if err == nil {
		b.c.vmLogf("users: %s deleted by %s", name, api.RequestUser(ctx))
	}
	return err
}

// verifyUser is the API's password check (Options.Verify).
func (c *clusterd) verifyUser(user, password string) bool {
	return verifyUser(c.userTable(), c.id.Config.AdminPasswordHash, user, password)
}

// userRole is the API's role lookup (Options.Role).
func (c *clusterd) userRole(user string) string {
	_, role, _ := userHash(c.userTable(), user)
	return role
}

// userTable is the table the users are in; nil on a node without its VM
// service, which then knows the built-in admin only.
func (c *clusterd) userTable() *ha.Table {
	if c.vms == nil {
		return nil
	}
	return c.vms.mgr.Table()
}

// verifyUser checks password against user's hash in t, or for the
// built-in admin without one against the installer's (adminHash). A hash
// is computed even for an unknown user, so the time taken does not tell
// user names apart.
func verifyUser(t *ha.Table, adminHash, user, password string) bool {
	hash, _, ok := userHash(t, user)
	if !ok || hash == "" {
		hash = adminHash
	}
	good := hash != "" && nodeconfig.VerifyPassword(password, hash)
	return ok && good
}

func userHash(t *ha.Table, user string) (hash, role string, ok bool) {
	if t == nil {
		if subtle.ConstantTimeCompare([]byte(user), []byte(api.AdminUser)) == 1 {
			return "", api.RoleAdministrator, true
		}
		return "", "", false
	}
	return t.UserHash(user)
}
