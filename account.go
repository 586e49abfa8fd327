package wxfleet

import "time"

// Account is a person who signs in to the console: one of the ISV's staff
// (owner, operator, viewer; TenantID 0) or a merchant user bound to one
// tenant (role merchant). Its password is kept only as an argon2id hash.
type Account struct {
	ID           int64
	Email        string // the sign-in name, lower case
	Name         string
	Role         Role
	TenantID     int64
	Disabled     bool
	PasswordHash string // encoded argon2id (package password); never shown
	// CredentialsVersion grows whenever the password changes or the account
	// is disabled: sessions and tokens made under an older one stop working.
	CredentialsVersion int64
	CreatedAt          time.Time
	UpdatedAt          time.Time
	PasswordChangedAt  time.Time
}

// Actor is the account acting, through via.
func (a *Account) Actor(via string) Actor {
	return Actor{AccountID: a.ID, Name: a.Email, Role: a.Role, TenantID: a.TenantID, Via: via}
}

// APIToken is a bearer token for the REST API, stored as the SHA-256 of the
// token (the token itself is shown once, when it is made). It acts with its
// own role, never more than its account's current one, and a merchant's
// token is bound to the merchant's tenant.
type APIToken struct {
	ID        int64
	AccountID int64 // 0: made with the admin token
	Name      string
	Role      Role
	TenantID  int64
	Prefix    string // the token's first characters, to tell tokens apart
	CreatedBy string // who made it, for the list
	CreatedAt time.Time
	LastUsed  time.Time
}

// AuditEntry is one line of the audit log: who did what, when, to which
// tenant and mini program. Detail is a small JSON object and never holds a
// secret.
type AuditEntry struct {
	ID             int64
	At             time.Time
	ActorID        int64  // account id; 0 for the admin token or nobody
	ActorName      string // the account's email, "admin token", or the email tried at a failed sign-in
	Via            string // "admin_token", "session", "api_token", "login"
	Action         string // e.g. "rollout.create", "account.update", "login.failure"
	TenantID       int64
	ComponentAppID string
	AppID          string
	Target         string // the id of what was acted on
	Detail         string // JSON object
	ClientIP       string
}

// Lesser is the lower of roles r and o for staff (owner > operator >
// viewer); a merchant role stays a merchant. It is how a token's role is
// bounded by its account's current one.
func (r Role) Lesser(o Role) Role {
	if r == RoleMerchant || o == RoleMerchant {
		return RoleMerchant
	}
	if r.rank() < o.rank() {
		return r
	}
	return o
}

// AtMost reports whether r grants no more than o.
func (r Role) AtMost(o Role) bool {
	if o == RoleMerchant || r == RoleMerchant {
		return r == o
	}
	return r.rank() <= o.rank()
}

func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleOperator:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}
