package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/tenant"
)

// TestMerchantWebhookPages: a merchant's user manages its own tenant's
// webhooks from the console, as the API lets it: it makes one (its own
// tenant's, whatever the form says), sees it and not the ISV's or another
// tenant's, disables, rotates and deletes it (after the confirmation).
func TestMerchantWebhookPages(t *testing.T) { storetest.Run(t, testMerchantWebhookPages) }

func testMerchantWebhookPages(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	ctx := context.Background()
	a, err := ts.tenants().Create(ctx, wxfleet.Scope{}, tenant.CreateRequest{Name: "甲店"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ts.tenants().Create(ctx, wxfleet.Scope{}, tenant.CreateRequest{Name: "乙店"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, e := range []*wxfleet.WebhookEndpoint{
		{ID: "wh_isv_marker", ComponentAppID: testPlatform, URL: "https://isv-marker.example/in", Events: []string{"*"}, Secret: "whsec_isv", CreatedAt: now, UpdatedAt: now},
		{ID: "wh_other_marker", ComponentAppID: testPlatform, TenantID: other.ID, URL: "https://other-marker.example/in", Events: []string{"*"}, Secret: "whsec_other", CreatedAt: now, UpdatedAt: now},
	} {
		if err := ts.st.CreateWebhookEndpoint(ctx, wxfleet.Scope{}, e); err != nil {
			t.Fatal(err)
		}
	}
	ts.account("m@shop-a.example", wxfleet.RoleMerchant, a.ID)
	_, m := ts.signIn("m@shop-a.example", testPassword)

	st, page := ts.call("GET", "/webhooks", nil, "Cookie", m)
	if st != http.StatusOK {
		t.Fatalf("merchant GET /webhooks: %d", st)
	}
	if strings.Contains(page, "isv-marker") || strings.Contains(page, "other-marker") {
		t.Error("the merchant's webhook page lists the ISV's or another tenant's endpoint")
	}
	if !strings.Contains(page, `id="create-webhook"`) || strings.Contains(page, `id="wh-tenant"`) || !strings.Contains(page, `id="wh-own-tenant"`) {
		t.Error("the merchant's page should have the create form without the tenant field")
	}
	if !strings.Contains(page, `<a href="/webhooks">Webhooks</a>`) {
		t.Error("the merchant's navigation has no link to the webhooks")
	}

	post := func(pagePath, path string, form url.Values) (int, string) {
		t.Helper()
		cookies, csrf := ts.page(pagePath, m)
		form.Set("csrf", csrf)
		return ts.call("POST", path, form.Encode(), "Cookie", cookies)
	}
	// Another tenant's id typed into a crafted form: refused in words.
	st, page = post("/webhooks", "/webhooks", url.Values{"url": {"https://shop-a.example/hook"}, "events": {"*"}, "tenant_id": {itoa(other.ID)}})
	if st != http.StatusForbidden || !strings.Contains(page, `id="error"`) {
		t.Errorf("a merchant creating another tenant's webhook: %d, want 403 with the reason on the page", st)
	}
	st, page = post("/webhooks", "/webhooks", url.Values{"url": {"https://shop-a.example/hook"}, "events": {"message.received"}, "description": {"甲店的"}})
	if st != http.StatusCreated {
		t.Fatalf("merchant create: %d %s", st, page)
	}
	id := regexp.MustCompile(`/webhooks/(wh_[A-Za-z0-9_]+)\?`).FindStringSubmatch(page)
	if id == nil || !strings.Contains(page, `id="secret"`) {
		t.Fatalf("the answer shows no new endpoint with its secret")
	}
	e, err := ts.st.WebhookEndpoint(ctx, wxfleet.Scope{}, testPlatform, id[1])
	if err != nil || e.TenantID != a.ID {
		t.Fatalf("the merchant's endpoint: %+v %v, want tenant %d", e, err, a.ID)
	}
	wp := "/webhooks/" + e.ID
	if st, page := ts.call("GET", wp, nil, "Cookie", m); st != http.StatusOK || !strings.Contains(page, "shop-a.example/hook") {
		t.Errorf("merchant GET %s: %d", wp, st)
	}
	if st, _ := ts.call("GET", "/webhooks/wh_other_marker", nil, "Cookie", m); st != http.StatusNotFound {
		t.Errorf("merchant GET another tenant's webhook: %d, want 404", st)
	}

	// Edited: URL, events, description, as PATCH does; a bad URL kept with its reason.
	st, page = post(wp, wp+"/edit", url.Values{"url": {"ftp://shop-a.example/x"}, "events": {"message.received", "audit.fail"}, "description": {"改过"}})
	if st != http.StatusBadRequest || !strings.Contains(page, `id="edit-error"`) || !strings.Contains(page, `value="ftp://shop-a.example/x"`) {
		t.Errorf("edit with a bad URL: %d, want 400 with the reason and the input kept", st)
	}
	if st, body := post(wp, wp+"/edit", url.Values{"url": {"https://shop-a.example/hook2"}, "events": {"message.received", "audit.fail"}, "description": {"改过"}}); st != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", st, body)
	}
	if got, _ := ts.st.WebhookEndpoint(ctx, wxfleet.Scope{}, testPlatform, e.ID); got.URL != "https://shop-a.example/hook2" || strings.Join(got.Events, ",") != "message.received,audit.fail" || got.Description != "改过" {
		t.Errorf("after the edit: %+v", got)
	}
	if st, _ := post(wp, "/webhooks/wh_other_marker/edit", url.Values{"url": {"https://x.example/"}, "events": {"*"}}); st != http.StatusNotFound {
		t.Errorf("editing another tenant's webhook: %d, want 404", st)
	}
	if st, _ := post(wp, wp+"/disable", url.Values{"disabled": {"1"}}); st != http.StatusSeeOther {
		t.Errorf("disable: %d", st)
	}
	if got, _ := ts.st.WebhookEndpoint(ctx, wxfleet.Scope{}, testPlatform, e.ID); !got.Disabled {
		t.Error("the endpoint is not disabled")
	}
	if st, page := post(wp, wp+"/rotate-secret", url.Values{}); st != http.StatusOK || !strings.Contains(page, `id="secret"`) {
		t.Errorf("rotate: %d", st)
	}
	if got, _ := ts.st.WebhookEndpoint(ctx, wxfleet.Scope{}, testPlatform, e.ID); got.Secret == e.Secret {
		t.Error("the secret did not change")
	}
	if st, _ := post(wp, wp+"/delete", url.Values{}); st != http.StatusSeeOther {
		t.Errorf("delete without confirming: %d, want a redirect to the confirmation", st)
	}
	if _, err := ts.st.WebhookEndpoint(ctx, wxfleet.Scope{}, testPlatform, e.ID); err != nil {
		t.Fatalf("deleted before the confirmation: %v", err)
	}
	if st, _ := post(wp, wp+"/delete", url.Values{"confirm": {"yes"}}); st != http.StatusSeeOther {
		t.Errorf("confirmed delete: %d", st)
	}
	if _, err := ts.st.WebhookEndpoint(ctx, wxfleet.Scope{}, testPlatform, e.ID); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		t.Errorf("after the confirmed delete: %v, want not found", err)
	}
	for _, id := range []string{"wh_isv_marker", "wh_other_marker"} {
		if got, err := ts.st.WebhookEndpoint(ctx, wxfleet.Scope{}, testPlatform, id); err != nil || got.Disabled {
			t.Errorf("%s after the merchant's work: %+v %v", id, got, err)
		}
	}
}
