package api

import (
	"crypto/subtle"

	"github.com/lockstep-ft/lockstep/nodeconfig"
)

// AdminUser is the one user until roles arrive (SPEC A16).
const AdminUser = "admin"

// AdminVerifier is Options.Verify for the admin's SHA-512 crypt hash from
// node.json. An empty hash (a node that has not received the system's
// credentials yet) accepts nobody. The hash is computed even for a wrong
// user name, so timing does not tell user names from passwords.
func AdminVerifier(hash string) func(user, password string) bool {
	return func(user, password string) bool {
		okUser := subtle.ConstantTimeCompare([]byte(user), []byte(AdminUser)) == 1
		okPass := hash != "" && nodeconfig.VerifyPassword(password, hash)
		return okUser && okPass
	}
}
