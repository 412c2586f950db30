package ha

import (
	"fmt"
	"slices"

	"github.com/lockstep-ft/lockstep/agent/api"
)

// User is one API user as the table keeps it.
type User struct {
	Role string `json:"role"`
	Hash string `json:"hash"` // SHA-512 crypt
}

// Hasher turns a password into the hash kept (nodeconfig.HashPassword).
type Hasher func(password string) (string, error)

// UserList is every user, the built-in admin first, then by name.
func (t *Table) UserList() []api.User {
	out := []api.User{{Name: api.AdminUser, Role: api.RoleAdministrator, BuiltIn: true}}
	var names []string
	for n := range t.Users {
		if n != api.AdminUser {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		out = append(out, api.User{Name: n, Role: t.Users[n].Role})
	}
	return out
}

// User is name as the API shows it.
func (t *Table) User(name string) (api.User, bool) {
	for _, u := range t.UserList() {
		if u.Name == name {
			return u, true
		}
	}
	return api.User{}, false
}

// UserHash is name's stored hash and role; for the built-in admin
// without one, ok is true and hash "" (the installer's hash holds).
func (t *Table) UserHash(name string) (hash, role string, ok bool) {
	if u := t.Users[name]; u != nil {
		return u.Hash, u.Role, true
	}
	if name == api.AdminUser {
		return "", api.RoleAdministrator, true
	}
	return "", "", false
}

// CreateUser adds a user; every field of spec is required.
func (t *Table) CreateUser(spec api.UserSpec, hash Hasher) (api.User, error) {
	var p []string
	if msg := api.ValidUserName(spec.Name); msg != "" {
		p = append(p, msg)
	}
	if msg := api.ValidRole(spec.Role); msg != "" {
		p = append(p, msg)
	}
	if spec.Password == nil {
		p = append(p, "password: give the new user's password")
	} else if msg := api.ValidPassword(*spec.Password); msg != "" {
		p = append(p, msg)
	}
	if len(p) > 0 {
		return api.User{}, &api.BadSpecError{Problems: p}
	}
	if _, ok := t.User(spec.Name); ok {
		return api.User{}, api.Conflict(fmt.Sprintf("user %q exists", spec.Name))
	}
	h, err := hash(*spec.Password)
	if err != nil {
		return api.User{}, err
	}
	if t.Users == nil {
		t.Users = map[string]*User{}
	}
	t.Users[spec.Name] = &User{Role: spec.Role, Hash: h}
	u, _ := t.User(spec.Name)
	return u, nil
}

// ModifyUser changes name's role or password, whichever change gives.
func (t *Table) ModifyUser(name string, change api.UserSpec, hash Hasher) (api.User, error) {
	u, ok := t.User(name)
	if !ok {
		return api.User{}, fmt.Errorf("user %q: %w", name, api.ErrNotFound)
	}
	var p []string
	if change.Name != "" && change.Name != name {
		p = append(p, "a user cannot be renamed")
	}
	if change.Role != "" {
		if msg := api.ValidRole(change.Role); msg != "" {
			p = append(p, msg)
		}
	}
	if change.Password != nil {
		if msg := api.ValidPassword(*change.Password); msg != "" {
			p = append(p, msg)
		}
	}
	if change.Role == "" && change.Password == nil {
		p = append(p, "nothing to change: give the role or the password")
	}
	if len(p) > 0 {
		return api.User{}, &api.BadSpecError{Problems: p}
	}
	if u.BuiltIn && change.Role != "" && change.Role != api.RoleAdministrator {
		return api.User{}, api.Conflict(api.AdminUser + " is always an administrator")
	}
	rec := User{Role: u.Role}
	if old := t.Users[name]; old != nil {
		rec = *old
	}
	if change.Role != "" {
		rec.Role = change.Role
	}
	if change.Password != nil {
		h, err := hash(*change.Password)
		if err != nil {
			return api.User{}, err
		}
		rec.Hash = h
	}
	if t.Users == nil {
		t.Users = map[string]*User{}
	}
	t.Users[name] = &rec
	u, _ = t.User(name)
	return u, nil
}

// DeleteUser removes name; the built-in admin stays.
func (t *Table) DeleteUser(name string) error {
	u, ok := t.User(name)
	switch {
	case !ok:
		return fmt.Errorf("user %q: %w", name, api.ErrNotFound)
	case u.BuiltIn:
		return api.Conflict(api.AdminUser + " is built in and cannot be deleted")
	}
	delete(t.Users, name)
	return nil
}
