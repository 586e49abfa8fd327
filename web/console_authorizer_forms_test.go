package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/tenant"
)

// TestAuthorizerPageForms: an operator sets an app's tags and settings from
// its page (what the API then reads), a bad input comes back with its
// reason and the input kept; moving the app to a tenant and releasing its
// hold change nothing until confirmed; a viewer sees no forms and is
// refused their routes; a form without its CSRF token is refused.
func TestAuthorizerPageForms(t *testing.T) { storetest.Run(t, testAuthorizerPageForms) }

func testAuthorizerPageForms(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, func(s *Server) { s.Rollouts = &rollout.Service{Store: s.Store, Now: time.Now} })
	ctx := context.Background()
	const app = "wxappforms00001"
	if err := ts.st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testPlatform, AppID: app, Status: wxfleet.StatusAuthorized,
		Nickname: "表单小店"}); err != nil {
		t.Fatal(err)
	}
	tn, err := ts.tenants().Create(ctx, wxfleet.Scope{}, tenant.CreateRequest{Name: "甲店"})
	if err != nil {
		t.Fatal(err)
	}
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, ops := ts.signIn("ops@isv.example", testPassword)
	page := "/authorizers/" + app
	post := func(session, path string, form url.Values) (int, string) {
		t.Helper()
		cookies, csrf := ts.page(page, session)
		form.Set("csrf", csrf)
		return ts.call("POST", path, form.Encode(), "Cookie", cookies)
	}
	api := func(path string) string {
		t.Helper()
		st, body := ts.call("GET", path, nil, "Authorization", "Bearer "+testAdminToken)
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, st, body)
		}
		return body
	}

	// Tags, then settings: saved, and read back by the API.
	if st, body := post(ops, page+"/tags", url.Values{"tags": {"vip, 上海 north\nvip"}}); st != http.StatusSeeOther {
		t.Fatalf("tags: %d %s", st, body)
	}
	if tags, _ := ts.st.AuthorizerTags(ctx, testPlatform, app); strings.Join(tags, ",") != "north,vip,上海" {
		t.Errorf("tags after the form: %v", tags)
	}
	if st, body := post(ops, page+"/settings", url.Values{"settings": {`{"shop_name": "甲店", "theme": {"color": "#07c160"}}`}}); st != http.StatusSeeOther {
		t.Fatalf("settings: %d %s", st, body)
	}
	if body := api("/api/v1/authorizers/" + app + "/settings"); !strings.Contains(body, `"shop_name":"甲店"`) || !strings.Contains(body, `"color":"#07c160"`) {
		t.Errorf("the API reads other settings: %s", body)
	}
	_, shown := ts.call("GET", page+"?saved=settings", nil, "Cookie", ops)
	if !strings.Contains(shown, `id="saved"`) || !strings.Contains(shown, "&#34;shop_name&#34;: &#34;甲店&#34;") || !strings.Contains(shown, `<span class="tag">vip</span>`) {
		t.Error("the page does not show the saved settings, tags and status line")
	}

	// Refused: a settings text that is no object, a tag too long. Input kept, nothing changed.
	st, body := post(ops, page+"/settings", url.Values{"settings": {`["not", "an", "object"]`}})
	if st != http.StatusBadRequest || !strings.Contains(body, `id="settings-error"`) || !strings.Contains(body, "JSON 对象") || !strings.Contains(body, "[&#34;not&#34;, &#34;an&#34;, &#34;object&#34;]") {
		t.Errorf("settings not an object: %d, want 400 with the reason and the input kept", st)
	}
	st, body = post(ops, page+"/settings", url.Values{"settings": {`{"shop_name": `}})
	if st != http.StatusBadRequest || !strings.Contains(body, "not valid JSON") {
		t.Errorf("broken settings JSON: %d", st)
	}
	long := strings.Repeat("长", 65)
	st, body = post(ops, page+"/tags", url.Values{"tags": {"ok " + long}})
	if st != http.StatusBadRequest || !strings.Contains(body, `id="tags-error"`) || !strings.Contains(body, `value="ok `+long+`"`) {
		t.Errorf("a tag too long: %d, want 400 with the reason and the input kept", st)
	}
	if tags, _ := ts.st.AuthorizerTags(ctx, testPlatform, app); len(tags) != 3 {
		t.Errorf("a refused form changed the tags: %v", tags)
	}
	if set, _ := ts.st.AuthorizerSettings(ctx, testPlatform, app); set["shop_name"] != "甲店" {
		t.Errorf("a refused form changed the settings: %v", set)
	}
	if n := len(ts.audit(store.AuditFilter{Action: "settings.update", Limit: 10})); n != 1 {
		t.Errorf("settings.update audited %d times, want 1 (refusals record nothing)", n)
	}

	// The tenant: asked first, then moved; a bad id refused in words.
	if st, body := post(ops, page+"/tenant", url.Values{"tenant_id": {"abc"}}); st != http.StatusBadRequest || !strings.Contains(body, `id="tenant-error"`) || !strings.Contains(body, `value="abc"`) {
		t.Errorf("a bad tenant id: %d", st)
	}
	st, body = post(ops, page+"/tenant", url.Values{"tenant_id": {itoa(tn.ID)}})
	if st != http.StatusOK || !strings.Contains(body, `id="confirm-action"`) || !strings.Contains(body, "甲店") {
		t.Fatalf("tenant without confirming: %d, want the confirmation naming the tenant", st)
	}
	if a, _ := ts.st.Authorizer(ctx, testPlatform, app); a.TenantID != 0 {
		t.Fatal("the app moved before the confirmation")
	}
	cookies, csrf := ts.page(page, ops)
	if st, body := ts.call("POST", page+"/tenant?tenant_id="+itoa(tn.ID), url.Values{"csrf": {csrf}, "confirm": {"yes"}}.Encode(), "Cookie", cookies); st != http.StatusSeeOther {
		t.Fatalf("confirmed tenant: %d %s", st, body)
	}
	if body := api("/api/v1/authorizers/" + app); !strings.Contains(body, `"tenant_id":`+itoa(tn.ID)) {
		t.Errorf("the API reads another tenant: %s", body)
	}
	if _, shown := ts.call("GET", page, nil, "Cookie", ops); !strings.Contains(shown, `<a href="/tenants/`+itoa(tn.ID)+`">#`+itoa(tn.ID)+` 甲店</a>`) {
		t.Error("the page does not name the app's tenant")
	}

	// The hold: shown, released only after the confirmation.
	if err := ts.st.HoldApp(ctx, testPlatform, app, 86007, "该小程序已被暂停提交审核", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, shown := ts.call("GET", page, nil, "Cookie", ops); !strings.Contains(shown, `id="hold"`) || !strings.Contains(shown, "86007") || !strings.Contains(shown, `id="release-hold"`) {
		t.Error("the page does not show the hold with its release button")
	}
	if st, body := post(ops, page+"/hold/release", url.Values{}); st != http.StatusOK || !strings.Contains(body, `id="confirm-action"`) {
		t.Fatalf("release without confirming: %d, want the confirmation", st)
	}
	if h, _ := ts.st.AppHoldOf(ctx, testPlatform, app); h == nil {
		t.Fatal("the hold was released before the confirmation")
	}
	cookies, csrf = ts.page(page, ops)
	if st, body := ts.call("POST", page+"/hold/release", url.Values{"csrf": {csrf}, "confirm": {"yes"}}.Encode(), "Cookie", cookies); st != http.StatusSeeOther {
		t.Fatalf("confirmed release: %d %s", st, body)
	}
	if h, _ := ts.st.AppHoldOf(ctx, testPlatform, app); h != nil {
		t.Errorf("the hold is still there: %+v", h)
	}
	if st, body := post(ops, page+"/hold/release", url.Values{"confirm": {"yes"}}); st != http.StatusNotFound || !strings.Contains(body, `id="hold-error"`) {
		t.Errorf("releasing no hold: %d, want 404 in words", st)
	}

	// Without the CSRF token: refused, nothing changed.
	if st, _ := ts.call("POST", page+"/tags", url.Values{"tags": {"csrf-less"}}.Encode(), "Cookie", ops); st != http.StatusForbidden {
		t.Errorf("tags without CSRF: %d, want 403", st)
	}
	// A viewer: no forms, routes refused.
	ts.account("viewer@isv.example", wxfleet.RoleViewer, 0)
	_, viewer := ts.signIn("viewer@isv.example", testPassword)
	if _, shown := ts.call("GET", page, nil, "Cookie", viewer); strings.Contains(shown, `id="tags-form"`) || strings.Contains(shown, `id="settings-form"`) || !strings.Contains(shown, `id="az-settings-ro"`) {
		t.Error("a viewer sees the forms")
	}
	for path, form := range map[string]url.Values{
		page + "/tags":         {"tags": {"viewer"}},
		page + "/settings":     {"settings": {"{}"}},
		page + "/tenant":       {"tenant_id": {""}, "confirm": {"yes"}},
		page + "/hold/release": {"confirm": {"yes"}},
	} {
		if st, _ := post(viewer, path, form); st != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d, want 403", path, st)
		}
	}
	if tags, _ := ts.st.AuthorizerTags(ctx, testPlatform, app); strings.Join(tags, ",") != "north,vip,上海" {
		t.Errorf("the tags changed: %v", tags)
	}
}
