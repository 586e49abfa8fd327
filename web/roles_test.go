package web

import (
	"net/http/httptest"
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
