package web

import (
	"net/http"
	"slices"

	"github.com/wxfleet/wxfleet"
)

// The role rules, in one place for every route to use: whoever reads may
// read (a merchant only inside its scope, which the store enforces), the
// business is changed by operators and owners, plans only by owners.
var (
	readers  = []wxfleet.Role{wxfleet.RoleOwner, wxfleet.RoleOperator, wxfleet.RoleViewer, wxfleet.RoleMerchant}
	changers = []wxfleet.Role{wxfleet.RoleOwner, wxfleet.RoleOperator}
	owners   = []wxfleet.Role{wxfleet.RoleOwner}
)

// allow returns the request's actor when its role is one of roles, and
// EFORBIDDEN (or EUNAUTHORIZED without an actor) otherwise.
func allow(r *http.Request, roles []wxfleet.Role) (wxfleet.Actor, error) {
	a, ok := wxfleet.ActorFrom(r.Context())
	if !ok {
		return a, wxfleet.Errorf(wxfleet.EUNAUTHORIZED, "需要登录或令牌 / sign in or send a token")
	}
	if !slices.Contains(roles, a.Role) {
		return a, wxfleet.Errorf(wxfleet.EFORBIDDEN, "角色 %s 不能这样做（需要 %v）/ role %s may not do this (needs one of %v)", a.Role, roles, a.Role, roles)
	}
	return a, nil
}

// mayRead is allow for reads: it returns the scope the read is bounded by.
func mayRead(r *http.Request) (wxfleet.Scope, error) {
	a, err := allow(r, readers)
	return a.Scope(), err
}

// mayChange is allow for the business's writes (tenants, settings, links,
// subscriptions): operators and owners.
func mayChange(r *http.Request) (wxfleet.Scope, error) {
	a, err := allow(r, changers)
	return a.Scope(), err
}

// mayOwn is allow for what only owners change (plans).
func mayOwn(r *http.Request) (wxfleet.Scope, error) {
	a, err := allow(r, owners)
	return a.Scope(), err
}
