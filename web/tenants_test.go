package web

import (
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// Who may do what with tenants and plans, through the real routes: viewers
// read, operators change tenants, only owners change plans; a merchant sees
// its own tenant and no other.
func TestTenantRoutesRoles(t *testing.T) {
	ts := newTestServer(t, storetest.SQLite, nil)
	_, owner := ts.account("owner@isv.example", wxfleet.RoleOwner, 0)
	_, operator := ts.account("op@isv.example", wxfleet.RoleOperator, 0)
	_, viewer := ts.account("viewer@isv.example", wxfleet.RoleViewer, 0)

	if st, body := ts.call("POST", "/api/v1/plans", map[string]any{"name": "标准版", "max_mini_programs": 2}, bearer(operator)...); st != 403 {
		t.Fatalf("operator makes a plan: %d %s", st, body)
	}
	if st, body := ts.call("POST", "/api/v1/plans", map[string]any{"name": "标准版", "max_mini_programs": 2}, bearer(owner)...); st != 201 {
		t.Fatalf("owner makes a plan: %d %s", st, body)
	}
	if st, body := ts.call("POST", "/api/v1/tenants", map[string]any{"name": "Acme"}, bearer(viewer)...); st != 403 {
		t.Fatalf("viewer makes a tenant: %d %s", st, body)
	}
	st, body := ts.call("POST", "/api/v1/tenants", map[string]any{"name": "Acme", "plan_id": 1}, bearer(operator)...)
	if st != 201 || !strings.Contains(body, `"id":1`) {
		t.Fatalf("operator makes a tenant: %d %s", st, body)
	}
	ts.call("POST", "/api/v1/tenants", map[string]any{"name": "Other shop"}, bearer(operator)...)
	if st, body := ts.call("PATCH", "/api/v1/tenants/1", map[string]any{"status": "closed"}, bearer(viewer)...); st != 403 {
		t.Fatalf("viewer changes a tenant: %d %s", st, body)
	}
	if st, body := ts.call("GET", "/api/v1/tenants/1", nil, bearer(viewer)...); st != 200 || !strings.Contains(body, `"name":"Acme"`) {
		t.Fatalf("viewer reads a tenant: %d %s", st, body)
	}
	_, merchant := ts.account("shop@acme.example", wxfleet.RoleMerchant, 1)
	if st, body := ts.call("GET", "/api/v1/tenants", nil, bearer(merchant)...); st != 200 || !strings.Contains(body, "Acme") || strings.Contains(body, "Other shop") {
		t.Fatalf("merchant lists tenants: %d %s", st, body)
	}
	if st, _ := ts.call("GET", "/api/v1/tenants/2", nil, bearer(merchant)...); st != 404 {
		t.Fatalf("merchant reads another tenant: %d", st)
	}
	if st, _ := ts.call("PUT", "/api/v1/tenants/1/settings", map[string]any{"a": 1}, bearer(merchant)...); st != 403 {
		t.Fatalf("merchant changes its settings: %d", st)
	}
	// The audit log names the tenant a change was made to.
	if st, body := ts.call("GET", "/api/v1/audit-log", nil, bearer(owner)...); st != 200 || !strings.Contains(body, `"tenant.create"`) || !strings.Contains(body, `"plan.create"`) {
		t.Fatalf("audit log: %d %s", st, body)
	}
}

// The tenants page without tenants points to its own form, not to the API.
func TestTenantsPageEmptyPointsToTheForm(t *testing.T) {
	ts := newTestServer(t, storetest.SQLite, nil)
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, ops := ts.signIn("ops@isv.example", testPassword)
	st, body := ts.call("GET", "/tenants", nil, "Cookie", ops)
	if st != 200 || !strings.Contains(body, `id="no-tenants"`) || !strings.Contains(body, `href="#new-tenant"`) || !strings.Contains(body, `id="new-tenant"`) {
		t.Fatalf("empty tenants page: %d %s", st, body)
	}
	if strings.Contains(body, "POST /api/v1/tenants") {
		t.Errorf("the empty tenants page still sends people to the API")
	}
}
