package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
)

// The role rules: viewers and merchants read, operators and owners change the
// business, only owners change plans; nobody without an actor does anything.
func TestRoleRules(t *testing.T) {
	check := func(name string, rule func() error, want string) {
		t.Helper()
		if got := wxfleet.ErrorCode(rule()); got != want {
			t.Errorf("%s: code %q, want %q", name, got, want)
		}
	}
	for _, tc := range []struct {
		role                  wxfleet.Role
		read, change, ownPlan string
	}{
		{wxfleet.RoleOwner, "", "", ""},
		{wxfleet.RoleOperator, "", "", wxfleet.EFORBIDDEN},
		{wxfleet.RoleViewer, "", wxfleet.EFORBIDDEN, wxfleet.EFORBIDDEN},
		{wxfleet.RoleMerchant, "", wxfleet.EFORBIDDEN, wxfleet.EFORBIDDEN},
		{"", wxfleet.EUNAUTHORIZED, wxfleet.EUNAUTHORIZED, wxfleet.EUNAUTHORIZED},
	} {
		r := httptest.NewRequest("GET", "/api/v1/tenants", nil)
		if tc.role != "" {
			r = r.WithContext(wxfleet.WithActor(r.Context(), wxfleet.Actor{Role: tc.role, TenantID: 7}))
		}
		check(string(tc.role)+" read", func() error { _, err := mayRead(r); return err }, tc.read)
		check(string(tc.role)+" change", func() error { _, err := mayChange(r); return err }, tc.change)
		check(string(tc.role)+" plans", func() error { _, err := mayOwn(r); return err }, tc.ownPlan)
	}
	// A merchant's reads are bounded by its tenant, staff's by nothing.
	r := httptest.NewRequest("GET", "/", nil)
	sc, _ := mayRead(r.WithContext(wxfleet.WithActor(r.Context(), wxfleet.Actor{Role: wxfleet.RoleMerchant, TenantID: 7})))
	staff, _ := mayRead(r.WithContext(wxfleet.WithActor(r.Context(), wxfleet.Actor{Role: wxfleet.RoleViewer})))
	if sc.TenantID != 7 || !staff.All() {
		t.Fatalf("scopes: merchant %+v, viewer %+v", sc, staff)
	}
}

// Every tenant and plan mutation checks the role before anything else: a
// viewer (and, for plans, an operator) is refused with the server's store
// and services absent, so a handler that reached them would panic.
func TestTenantRoutesCheckRoles(t *testing.T) {
	s := &Server{}
	handlers := map[string]func(http.ResponseWriter, *http.Request) error{
		"POST tenants": s.createTenant, "PATCH tenant": s.patchTenant, "PUT settings": s.putTenantSettings,
		"POST link": s.createTenantLink, "POST subscription": s.subscribe, "POST renew": s.renewSubscription,
		"PUT authorizer tenant": s.putAuthorizerTenant, "POST plans": s.createPlan, "PATCH plan": s.patchPlan,
	}
	for name, h := range handlers {
		roles := []wxfleet.Role{wxfleet.RoleViewer, wxfleet.RoleMerchant}
		if strings.Contains(name, "plan") && !strings.Contains(name, "subscription") {
			roles = append(roles, wxfleet.RoleOperator)
		}
		for _, role := range roles {
			r := httptest.NewRequest("POST", "/api/v1/x", strings.NewReader(`{}`))
			r.SetPathValue("id", "1")
			r.SetPathValue("appid", "wx1")
			r = r.WithContext(wxfleet.WithActor(r.Context(), wxfleet.Actor{Role: role, TenantID: 1}))
			if code := wxfleet.ErrorCode(h(httptest.NewRecorder(), r)); code != wxfleet.EFORBIDDEN {
				t.Errorf("%s as %s: code %q, want forbidden", name, role, code)
			}
		}
	}
}
