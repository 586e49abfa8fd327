package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/tenant"
)

// TestPayTenantPicker: the /pay form takes the tenant's id with suggestions
// from a name search (GET /pay/tenant-options), instead of a select of the
// first tenants; a bad id is refused with the input kept; the search is the
// staff's.
func TestPayTenantPicker(t *testing.T) { storetest.Run(t, testPayTenantPicker) }

func testPayTenantPicker(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	ctx := context.Background()
	ids := map[string]int64{}
	for _, name := range []string{"李四面馆", "王五面馆", "张三咖啡"} {
		tn, err := ts.tenants().Create(ctx, wxfleet.Scope{}, tenant.CreateRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = tn.ID
	}
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, ops := ts.signIn("ops@isv.example", testPassword)

	st, page := ts.call("GET", "/pay", nil, "Cookie", ops)
	if st != http.StatusOK || !strings.Contains(page, `id="af-tenant" name="tenant_id"`) || !strings.Contains(page, `hx-get="/pay/tenant-options"`) {
		t.Fatalf("/pay: %d, want the tenant id input with its search", st)
	}
	if strings.Contains(page, "张三咖啡") {
		t.Error("/pay lists the tenants instead of searching them")
	}
	options := func(q string) string {
		t.Helper()
		st, body := ts.call("GET", "/pay/tenant-options?tenant_id="+url.QueryEscape(q), nil, "Cookie", ops)
		if st != http.StatusOK {
			t.Fatalf("tenant options %q: %d", q, st)
		}
		return body
	}
	opt := func(name string) string {
		return `<option value="` + itoa(ids[name]) + `">` + name + ` #` + itoa(ids[name]) + `</option>`
	}
	if got := options("面馆"); !strings.Contains(got, opt("李四面馆")) || !strings.Contains(got, opt("王五面馆")) || strings.Contains(got, "张三咖啡") {
		t.Errorf("search 面馆: %s", got)
	}
	if got := options(itoa(ids["张三咖啡"])); !strings.Contains(got, opt("张三咖啡")) {
		t.Errorf("search by id: %s", got)
	}
	if got := options(""); strings.Contains(got, "<option") {
		t.Errorf("an empty search suggests %s", got)
	}

	// A bad id: refused in words, the input kept; a good one comes back named.
	cookies, csrf := ts.page("/pay", ops)
	st, page = ts.call("POST", "/pay/applyments", url.Values{"csrf": {csrf}, "tenant_id": {"李四"}}.Encode(), "Cookie", cookies)
	if st != http.StatusBadRequest || !strings.Contains(page, `role="alert"`) || !strings.Contains(page, `name="tenant_id" value="李四"`) {
		t.Errorf("a tenant name for the id: %d, want 400 with the input kept", st)
	}
	st, page = ts.call("POST", "/pay/applyments", url.Values{"csrf": {csrf}, "tenant_id": {itoa(ids["王五面馆"])}}.Encode(), "Cookie", cookies)
	if st != http.StatusBadRequest || !strings.Contains(page, `name="tenant_id" value="`+itoa(ids["王五面馆"])+`"`) || !strings.Contains(page, opt("王五面馆")) {
		t.Errorf("an incomplete form with a tenant: %d, want 400 with the tenant kept and named", st)
	}

	// A merchant is refused the search.
	ts.account("m@shop.example", wxfleet.RoleMerchant, ids["李四面馆"])
	_, merchant := ts.signIn("m@shop.example", testPassword)
	if st, body := ts.call("GET", "/pay/tenant-options?tenant_id=%E9%9D%A2", nil, "Cookie", merchant); st != http.StatusForbidden || strings.Contains(body, "王五") {
		t.Errorf("merchant search: %d, want 403", st)
	}
}
