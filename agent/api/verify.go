package api

// AdminUser is the built-in administrator, whose first password the
// installer sets (SPEC A16).
const AdminUser = "admin"
