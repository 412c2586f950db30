package api

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// User roles (SPEC A16), least to most: a read-only user looks; a
// platform manager runs the system (VMs, nodes, storage, networks, VCDs,
// alert settings); an administrator also manages users and reads the
// audit log.
const (
	RoleReadOnly        = "read-only"
	RolePlatformManager = "platform-manager"
	RoleAdministrator   = "administrator"
)

// UserRoles are the roles, least to most.
var UserRoles = []string{RoleReadOnly, RolePlatformManager, RoleAdministrator}

// RoleRank orders roles: -1 for one that is not in UserRoles.
func RoleRank(role string) int { return slices.Index(UserRoles, role) }

// MinPasswordLength is the shortest password a user may be given.
const MinPasswordLength = 8

// UserSpec is a user as an administrator gives it: POST /api/v1/users
// creates one (name, role, password); PUT /api/v1/users/{name} changes
// the role or the password, whichever is given. A user who is not an
// administrator may PUT their own password only.
type UserSpec struct {
	Name     string  `json:"name,omitempty"`
	Role     string  `json:"role,omitempty"`
	Password *string `json:"password,omitempty"` // write-only
}

// User is GET /api/v1/users/{name}.
type User struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// BuiltIn: the installer's "admin", who is always an administrator
	// and cannot be deleted.
	BuiltIn bool `json:"built_in"`
}

// UserList is GET /api/v1/users.
type UserList struct {
	Users []User `json:"users"`
}

var userNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)

// ValidUserName says what is wrong with a user name, or "".
func ValidUserName(name string) string {
	if !userNameRE.MatchString(name) {
		return fmt.Sprintf("user name %q: use 1 to 32 lower-case letters, digits, '_', '.' and '-', starting with a letter or '_'", name)
	}
	return ""
}

// ValidPassword says what is wrong with a new password, or "".
func ValidPassword(pw string) string {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLength:
		return fmt.Sprintf("password: at least %d characters", MinPasswordLength)
	case len(pw) > 256:
		return "password: at most 256 bytes"
	case !utf8.ValidString(pw) || strings.ContainsAny(pw, "\x00\r\n"):
		return "password: UTF-8 text without NUL or line breaks"
	}
	return ""
}

// ValidRole says what is wrong with a role, or "".
func ValidRole(role string) string {
	if RoleRank(role) < 0 {
		return fmt.Sprintf("role %q: use one of %s", role, strings.Join(UserRoles, ", "))
	}
	return ""
}

// AuditRecord is one request that changed something, or a refused login
// or request, as a node's audit log keeps it (GET /api/v1/audit).
type AuditRecord struct {
	Time   time.Time `json:"time"`
	Node   string    `json:"node,omitempty"` // the node that served it
	User   string    `json:"user"`           // as given, also for a failed login
	Client string    `json:"client"`         // the client's IP address
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Status int       `json:"status"` // the HTTP status answered
}

// AuditList is GET /api/v1/audit.
type AuditList struct {
	Records []AuditRecord `json:"records"`
}
