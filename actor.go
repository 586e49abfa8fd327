package wxfleet

import "context"

// Role is what a person or an API token may do.
//
//   - owner: everything, including accounts, API tokens and plans;
//   - operator: runs the business (tenants, templates, rollouts, settings);
//   - viewer: reads everything, changes nothing;
//   - merchant: a tenant's own user; sees and changes only that tenant.
type Role string

const (
	RoleOwner    Role = "owner"
	RoleOperator Role = "operator"
	RoleViewer   Role = "viewer"
	RoleMerchant Role = "merchant"
)

// Valid reports whether r is one of the roles above.
func (r Role) Valid() bool {
	switch r {
	case RoleOwner, RoleOperator, RoleViewer, RoleMerchant:
		return true
	}
	return false
}

// Staff reports whether r is one of the ISV's own roles (not a merchant's).
func (r Role) Staff() bool { return r == RoleOwner || r == RoleOperator || r == RoleViewer }

// Actor is who makes a request: resolved once at the edge (the admin token,
// a console session, an API token) and carried in the request's context, so
// the audit log names them and every tenant-scoped read is bounded by them.
type Actor struct {
	AccountID int64  // 0 for the admin token
	Name      string // shown in the audit log
	Role      Role
	TenantID  int64  // the merchant's tenant; 0 for the ISV's staff
	Via       string // "admin_token", "session", "api_token"
}

// Scope is the tenants an actor's reads and writes are bounded by: every
// tenant for the ISV's staff, one for a merchant user. Store methods that
// touch tenant data take it explicitly.
type Scope struct {
	TenantID int64 // 0: every tenant
}

// All reports whether the scope spans every tenant.
func (s Scope) All() bool { return s.TenantID == 0 }

// Allows reports whether tenantID is inside the scope.
func (s Scope) Allows(tenantID int64) bool { return s.TenantID == 0 || s.TenantID == tenantID }

// Scope is the tenants a is bounded by. A merchant actor without a tenant is
// bounded by tenant -1, which holds nothing.
func (a Actor) Scope() Scope {
	if a.Role.Staff() {
		return Scope{}
	}
	if a.TenantID == 0 {
		return Scope{TenantID: -1}
	}
	return Scope{TenantID: a.TenantID}
}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, and false outside a request (a
// job, a push): then there is nobody to bound, and callers act as the system.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}
