package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/tenant"
)

// TestConsolePlansAndTenantForms: an owner creates a plan on /plans and
// edits it (a bad price is refused with the input kept, nothing saved); an
// operator renames, re-tags and re-plans a tenant from its page, and
// suspends it only on the confirmed post; a merchant sees none of the forms
// and is refused their routes.
func TestConsolePlansAndTenantForms(t *testing.T) { storetest.Run(t, testConsolePlansAndTenantForms) }

func testConsolePlansAndTenantForms(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	ctx := context.Background()
	ts.account("owner@isv.example", wxfleet.RoleOwner, 0)
	_, owner := ts.signIn("owner@isv.example", testPassword)
	post := func(session, pagePath, path string, form url.Values) (int, string) {
		t.Helper()
		cookies, csrf := ts.page(pagePath, session)
		form.Set("csrf", csrf)
		return ts.call("POST", path, form.Encode(), "Cookie", cookies)
	}

	// A plan made through the form.
	if st, body := post(owner, "/plans", "/plans", url.Values{"name": {"标准版"}, "yearly_price": {"2999.50"},
		"max_mini_programs": {"3"}, "features": {"pay, cards"}}); st != http.StatusSeeOther {
		t.Fatalf("create plan: %d %s", st, body)
	}
	plans, err := ts.st.ListPlans(ctx)
	if err != nil || len(plans) != 1 {
		t.Fatalf("plans: %v %v", plans, err)
	}
	p := plans[0]
	if p.Name != "标准版" || p.YearlyPrice != 299950 || p.MaxMiniPrograms != 3 || strings.Join(p.Features, ",") != "pay,cards" {
		t.Fatalf("created plan: %+v", p)
	}
	pid := itoa(p.ID)
	if _, page := ts.call("GET", "/plans", nil, "Cookie", owner); !strings.Contains(page, "2999.50") {
		t.Error("the plans page does not show the yearly price in yuan")
	}
	// A bad price: refused, the input kept, nothing changed.
	st, page := post(owner, "/plans", "/plans/"+pid, url.Values{"name": {"高级版"}, "yearly_price": {"abc"}, "max_mini_programs": {"5"}})
	if st != http.StatusBadRequest || !strings.Contains(page, `id="plan-`+pid+`-error"`) || !strings.Contains(page, `value="abc"`) || !strings.Contains(page, `value="高级版"`) {
		t.Errorf("bad price: %d, want 400 with the reason and the input kept", st)
	}
	// A negative cap is the service's to refuse, shown on the new form.
	st, page = post(owner, "/plans", "/plans", url.Values{"name": {"坏的"}, "yearly_price": {"1"}, "max_mini_programs": {"-1"}})
	if st != http.StatusBadRequest || !strings.Contains(page, `id="new-plan-error"`) || !strings.Contains(page, `value="坏的"`) {
		t.Errorf("negative cap: %d, want 400 with the reason and the input kept", st)
	}
	if got, _ := ts.st.Plan(ctx, p.ID); got.Name != "标准版" {
		t.Errorf("a refused edit changed the plan: %+v", got)
	}
	if plans, _ := ts.st.ListPlans(ctx); len(plans) != 1 {
		t.Errorf("a refused create made a plan: %d plans", len(plans))
	}
	if st, body := post(owner, "/plans", "/plans/"+pid, url.Values{"name": {"高级版"}, "yearly_price": {"0"}, "max_mini_programs": {"0"}, "features": {"pay"}}); st != http.StatusSeeOther {
		t.Fatalf("edit plan: %d %s", st, body)
	}
	if got, _ := ts.st.Plan(ctx, p.ID); got.Name != "高级版" || got.YearlyPrice != 0 || got.MaxMiniPrograms != 0 || strings.Join(got.Features, ",") != "pay" {
		t.Errorf("edited plan: %+v", got)
	}
	if n := len(ts.audit(store.AuditFilter{Action: "plan.update", Limit: 50})); n != 1 {
		t.Errorf("plan.update recorded %d times, want 1 (refusals record nothing)", n)
	}

	// A tenant edited from its page by an operator.
	tn, err := ts.tenants().Create(ctx, wxfleet.Scope{}, tenant.CreateRequest{Name: "老店", Tags: []string{"old"}})
	if err != nil {
		t.Fatal(err)
	}
	tid := itoa(tn.ID)
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, ops := ts.signIn("ops@isv.example", testPassword)
	tp := "/tenants/" + tid
	if st, body := post(ops, tp, tp+"/edit", url.Values{"name": {"新店"}, "contact": {"王经理"}, "tags": {"vip, 上海"}, "plan_id": {pid}}); st != http.StatusSeeOther {
		t.Fatalf("edit tenant: %d %s", st, body)
	}
	got, _ := ts.st.Tenant(ctx, wxfleet.Scope{}, tn.ID)
	if got.Name != "新店" || got.Contact != "王经理" || strings.Join(got.Tags, ",") != "vip,上海" || got.PlanID != p.ID {
		t.Errorf("edited tenant: %+v", got)
	}
	// Suspending asks first: the first post changes nothing.
	st, page = post(ops, tp, tp+"/status", url.Values{"status": {"suspended"}})
	if st != http.StatusOK || !strings.Contains(page, `id="confirm-action"`) || !strings.Contains(page, `action="/tenants/`+tid+`/status?status=suspended"`) {
		t.Fatalf("suspend without confirming: %d, want the confirmation page", st)
	}
	if got, _ := ts.st.Tenant(ctx, wxfleet.Scope{}, tn.ID); got.Status == wxfleet.TenantSuspended {
		t.Fatal("the tenant was suspended before the confirmation")
	}
	cookies, csrf := ts.page(tp, ops)
	if st, body := ts.call("POST", tp+"/status?status=suspended", url.Values{"csrf": {csrf}, "confirm": {"yes"}}.Encode(), "Cookie", cookies); st != http.StatusSeeOther {
		t.Fatalf("confirmed suspend: %d %s", st, body)
	}
	if got, _ := ts.st.Tenant(ctx, wxfleet.Scope{}, tn.ID); got.Status != wxfleet.TenantSuspended {
		t.Errorf("after the confirmed suspend the status is %s", got.Status)
	}
	if st, _ := post(ops, tp, tp+"/status", url.Values{"status": {"active"}}); st != http.StatusSeeOther {
		t.Errorf("reactivate: %d", st)
	}
	if got, _ := ts.st.Tenant(ctx, wxfleet.Scope{}, tn.ID); got.Status != wxfleet.TenantActive {
		t.Errorf("after reactivating the status is %s", got.Status)
	}

	// The merchant of the tenant: no forms, routes refused, nothing changed.
	ts.account("m@shop.example", wxfleet.RoleMerchant, tn.ID)
	_, merchant := ts.signIn("m@shop.example", testPassword)
	if _, page := ts.call("GET", tp, nil, "Cookie", merchant); strings.Contains(page, `/edit"`) || strings.Contains(page, `id="suspend"`) {
		t.Error("the merchant sees the staff forms")
	}
	for path, form := range map[string]url.Values{
		tp + "/edit":   {"name": {"商户改的"}},
		tp + "/status": {"status": {"closed"}, "confirm": {"yes"}},
		"/plans":       {"name": {"x"}, "yearly_price": {"1"}, "max_mini_programs": {"1"}},
	} {
		if st, _ := post(merchant, tp, path, form); st != http.StatusForbidden {
			t.Errorf("merchant POST %s: %d, want 403", path, st)
		}
	}
	if st, _ := ts.call("GET", "/plans", nil, "Cookie", merchant); st != http.StatusForbidden {
		t.Errorf("merchant GET /plans: %d, want 403", st)
	}
	if got, _ := ts.st.Tenant(ctx, wxfleet.Scope{}, tn.ID); got.Name != "新店" || got.Status != wxfleet.TenantActive {
		t.Errorf("the merchant changed the tenant: %+v", got)
	}
}

// TestTenantPageRefusedForms: a refused form on the tenant page comes back
// on the page with its reason and the input as typed — a
// merchant's runtime settings that are no JSON object, a renewal of no
// whole number of years or too many, an edit with no name — and nothing
// changes; a viewer is offered no renewal it may not make.
func TestTenantPageRefusedForms(t *testing.T) { storetest.Run(t, testTenantPageRefusedForms) }

func testTenantPageRefusedForms(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	ctx := context.Background()
	tn, err := ts.tenants().Create(ctx, wxfleet.Scope{}, tenant.CreateRequest{Name: "乙店", Contact: "李经理"})
	if err != nil {
		t.Fatal(err)
	}
	tp := "/tenants/" + itoa(tn.ID)
	post := func(session, path string, form url.Values) (int, string) {
		t.Helper()
		cookies, csrf := ts.page(tp, session)
		form.Set("csrf", csrf)
		return ts.call("POST", path, form.Encode(), "Cookie", cookies)
	}
	ts.account("m@yi.example", wxfleet.RoleMerchant, tn.ID)
	_, merchant := ts.signIn("m@yi.example", testPassword)
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, ops := ts.signIn("ops@isv.example", testPassword)
	ts.account("viewer@isv.example", wxfleet.RoleViewer, 0)
	_, viewer := ts.signIn("viewer@isv.example", testPassword)

	// The merchant's settings: saved, then a broken text refused and kept.
	if st, body := post(merchant, tp+"/settings", url.Values{"settings": {`{"theme":"green"}`}}); st != http.StatusSeeOther {
		t.Fatalf("settings: %d %s", st, body)
	}
	st, page := post(merchant, tp+"/settings", url.Values{"settings": {`{"theme": "red",}`}})
	if st != http.StatusBadRequest || !strings.Contains(page, `id="settings-error"`) || !strings.Contains(page, `{&#34;theme&#34;: &#34;red&#34;,}</textarea>`) {
		t.Errorf("broken settings: %d, want 400 on the tenant page with the reason and the text kept", st)
	}
	if got, _ := ts.tenants().Settings(ctx, wxfleet.Scope{}, tn.ID); string(got) != `{"theme":"green"}` {
		t.Errorf("settings after the refused form: %s", got)
	}

	// Renewals: not a number, too many years; the subscription unchanged.
	before, _ := ts.st.Subscription(ctx, wxfleet.Scope{}, tn.ID)
	for years, want := range map[string]string{"two": "whole number of years", "99": "1"} {
		st, page := post(ops, tp+"/renew", url.Values{"years": {years}})
		if st != http.StatusBadRequest || !strings.Contains(page, `id="renew-error"`) || !strings.Contains(page, want) || !strings.Contains(page, `name="years" value="`+years+`"`) {
			t.Errorf("renew %q: %d, want 400 on the tenant page with the reason and the input kept", years, st)
		}
	}
	after, _ := ts.st.Subscription(ctx, wxfleet.Scope{}, tn.ID)
	if (before == nil) != (after == nil) || (before != nil && !before.ExpiresAt.Equal(after.ExpiresAt)) {
		t.Errorf("a refused renewal changed the subscription: %+v → %+v", before, after)
	}

	// An edit with no name: refused, the other fields kept as typed.
	st, page = post(ops, tp+"/edit", url.Values{"name": {" "}, "contact": {"张三"}, "tags": {"新标签"}})
	if st != http.StatusBadRequest || !strings.Contains(page, `id="edit-error"`) || !strings.Contains(page, `value="张三"`) || !strings.Contains(page, `value="新标签"`) {
		t.Errorf("an edit with no name: %d, want 400 with the input kept", st)
	}
	if got, _ := ts.st.Tenant(ctx, wxfleet.Scope{}, tn.ID); got.Name != "乙店" || got.Contact != "李经理" {
		t.Errorf("the refused edit changed the tenant: %+v", got)
	}

	// A viewer sees no renewal form (its route refuses viewers).
	if _, page := ts.call("GET", tp, nil, "Cookie", viewer); strings.Contains(page, `/renew"`) {
		t.Error("a viewer is offered the renewal form")
	}
	if st, _ := post(viewer, tp+"/renew", url.Values{"years": {"1"}}); st != http.StatusForbidden {
		t.Errorf("a viewer's renewal: %d, want 403", st)
	}
}
