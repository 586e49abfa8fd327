package web

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/tenant"
)

// TestConsoleTenantSubscription: an operator sets a tenant's subscription
// from its page and GET /api/v1/tenants/{id}/subscription reads it; a bad
// input comes back with the reason and the input kept, nothing changed;
// replacing the running term with a shorter one or another plan asks first;
// a merchant sees no form and is refused the route.
func TestConsoleTenantSubscription(t *testing.T) { storetest.Run(t, testConsoleTenantSubscription) }

func testConsoleTenantSubscription(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	ctx := context.Background()
	name := func(s string) *string { return &s }
	basic, err := ts.tenants().CreatePlan(ctx, wxfleet.Scope{}, tenant.PlanRequest{Name: name("基础版")})
	if err != nil {
		t.Fatal(err)
	}
	pro, err := ts.tenants().CreatePlan(ctx, wxfleet.Scope{}, tenant.PlanRequest{Name: name("高级版")})
	if err != nil {
		t.Fatal(err)
	}
	tn, err := ts.tenants().Create(ctx, wxfleet.Scope{}, tenant.CreateRequest{Name: "小店"})
	if err != nil {
		t.Fatal(err)
	}
	tp := "/tenants/" + itoa(tn.ID)
	_, opsToken := ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, ops := ts.signIn("ops@isv.example", testPassword)
	post := func(session, path string, form url.Values) (int, string) {
		t.Helper()
		cookies, csrf := ts.page(tp, session)
		form.Set("csrf", csrf)
		return ts.call("POST", path, form.Encode(), "Cookie", cookies)
	}
	type sub struct {
		PlanID    int64     `json:"plan_id"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	apiSub := func() (int, sub) {
		t.Helper()
		st, body := ts.call("GET", "/api/v1/tenants/"+itoa(tn.ID)+"/subscription", nil, bearer(opsToken)...)
		var s sub
		if st == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &s); err != nil {
				t.Fatal(err)
			}
		}
		return st, s
	}
	day := func(d int) string { return time.Now().AddDate(0, 0, d).Format(formDate) }
	dayAt := func(d int) time.Time {
		v, _ := time.ParseInLocation(formDate, day(d), time.Local)
		return v
	}
	if _, page := ts.call("GET", tp, nil, "Cookie", ops); !strings.Contains(page, `action="`+tp+`/subscription"`) {
		t.Fatal("the operator does not see the subscription form")
	}
	if st, _ := apiSub(); st != http.StatusNotFound {
		t.Fatalf("subscription before the form: %d, want 404", st)
	}

	// Set from the form: the API reads it, the page says so.
	st, body := post(ops, tp+"/subscription", url.Values{"plan_id": {itoa(basic.ID)}, "expires_at": {day(400)}})
	if st != http.StatusSeeOther {
		t.Fatalf("subscribe: %d %s", st, body)
	}
	if st, s := apiSub(); st != http.StatusOK || s.PlanID != basic.ID || !s.ExpiresAt.Equal(dayAt(400)) {
		t.Fatalf("after the form the API reads %d %+v, want plan %d until %s", st, s, basic.ID, dayAt(400))
	}
	if _, page := ts.call("GET", tp+"?subscribed=1", nil, "Cookie", ops); !strings.Contains(page, `id="subscribed"`) {
		t.Error("no status line after the subscription was set")
	}

	// Bad inputs: the page again with the reason and the input, nothing changed.
	for _, bad := range []url.Values{
		{"plan_id": {itoa(pro.ID)}, "starts_at": {day(10)}, "expires_at": {day(5)}},
		{"plan_id": {itoa(pro.ID)}, "expires_at": {"31/12/2030"}},
		{"plan_id": {itoa(pro.ID)}, "years": {"20"}},
	} {
		st, page := post(ops, tp+"/subscription", bad)
		kept := true
		for k, v := range bad {
			if k != "plan_id" && !strings.Contains(page, `name="`+k+`" value="`+v[0]+`"`) {
				kept = false
			}
		}
		if st != http.StatusBadRequest || !strings.Contains(page, `id="subscription-error"`) || !kept ||
			!strings.Contains(page, `<option value="`+itoa(pro.ID)+`" selected>`) {
			t.Errorf("bad input %v: %d, want 400 with the reason and the input kept", bad, st)
		}
	}
	if _, s := apiSub(); s.PlanID != basic.ID || !s.ExpiresAt.Equal(dayAt(400)) {
		t.Errorf("a refused form changed the subscription: %+v", s)
	}

	// Shorter, or another plan: asked first; the confirmed post sets it.
	confirmAction := regexp.MustCompile(`id="confirm-action"(?s:.*?)<form method="post" action="([^"]+)"`)
	for _, c := range []struct {
		form url.Values
		plan int64
		ends time.Time
	}{
		{url.Values{"plan_id": {itoa(basic.ID)}, "expires_at": {day(100)}}, basic.ID, dayAt(100)},
		{url.Values{"plan_id": {itoa(pro.ID)}, "expires_at": {day(200)}}, pro.ID, dayAt(200)},
	} {
		_, before := apiSub()
		st, page := post(ops, tp+"/subscription", c.form)
		m := confirmAction.FindStringSubmatch(page)
		if st != http.StatusOK || !strings.Contains(page, `id="confirm-action"`) || m == nil {
			t.Fatalf("replace with %v: %d, want the confirmation page", c.form, st)
		}
		if _, s := apiSub(); s != before {
			t.Fatalf("replaced before the confirmation: %+v", s)
		}
		cookies, csrf := ts.page(tp, ops)
		if st, body := ts.call("POST", html.UnescapeString(m[1]), url.Values{"csrf": {csrf}, "confirm": {"yes"}}.Encode(), "Cookie", cookies); st != http.StatusSeeOther {
			t.Fatalf("confirmed: %d %s", st, body)
		}
		if _, s := apiSub(); s.PlanID != c.plan || !s.ExpiresAt.Equal(c.ends) {
			t.Errorf("after the confirmation: %+v, want plan %d until %s", s, c.plan, c.ends)
		}
	}
	// Longer on the same plan: no question.
	if st, _ := post(ops, tp+"/subscription", url.Values{"plan_id": {itoa(pro.ID)}, "years": {"2"}}); st != http.StatusSeeOther {
		t.Errorf("a longer term on the same plan: %d, want 303 without asking", st)
	}
	if n := len(ts.audit(store.AuditFilter{Action: "subscription.create", Limit: 50})); n != 4 {
		t.Errorf("subscription.create recorded %d times, want 4 (refusals and questions record nothing)", n)
	}

	// The tenant's merchant: no form, refused.
	ts.account("m@shop.example", wxfleet.RoleMerchant, tn.ID)
	_, merchant := ts.signIn("m@shop.example", testPassword)
	if _, page := ts.call("GET", tp, nil, "Cookie", merchant); strings.Contains(page, `/subscription"`) {
		t.Error("the merchant sees the subscription form")
	}
	_, before := apiSub()
	if st, _ := post(merchant, tp+"/subscription", url.Values{"plan_id": {itoa(basic.ID)}, "years": {"10"}, "confirm": {"yes"}}); st != http.StatusForbidden {
		t.Errorf("merchant POST: %d, want 403", st)
	}
	if _, s := apiSub(); s != before {
		t.Errorf("the merchant changed the subscription: %+v", s)
	}
}
