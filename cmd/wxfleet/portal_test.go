package main

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// consoleAs signs in to the console with an account's email and password.
func (d *testDemo) consoleAs(email, password string) *console {
	d.t.Helper()
	return d.signIn(url.Values{"email": {email}, "password": {password}})
}

// A merchant's user signs in and sees only its tenant: its mini program
// with the audit state in plain words and WeChat's rejection reason as sent,
// its subscription, its runtime settings (a malformed edit refused, a good
// one read by the mini program at run time), a trial QR code, testers, and
// a 授权 button for another mini program. Another tenant's page is not
// found.
func TestMerchantPortal(t *testing.T) {
	d := bootDemo(t)
	apps := d.miniPrograms()
	var plan struct {
		ID int64 `json:"id"`
	}
	if st := d.api("POST", "/api/v1/plans", map[string]any{"name": "标准版", "yearly_price": 199900, "max_mini_programs": 3}, &plan); st != 201 {
		t.Fatalf("plan: %d", st)
	}
	mk := func(name string) int64 {
		var tn apiTenant
		if st := d.api("POST", "/api/v1/tenants", map[string]any{"name": name, "contact": "店长", "plan_id": plan.ID}, &tn); st != 201 {
			t.Fatalf("create tenant: %d", st)
		}
		if st := d.api("POST", fmt.Sprintf("/api/v1/tenants/%d/subscription", tn.ID), map[string]any{"plan_id": plan.ID, "years": 1}, nil); st != 201 {
			t.Fatalf("subscribe: %d", st)
		}
		return tn.ID
	}
	mine, other := mk("我的面包店"), mk("别人的店")
	var link struct {
		PCURL string `json:"pc_url"`
	}
	d.api("POST", fmt.Sprintf("/api/v1/tenants/%d/authorization-links", mine), map[string]any{}, &link)
	app := apps[0].AppID
	if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": app}, nil); st != 200 {
		t.Fatalf("authorize: %d", st)
	}
	d.eventually("the app on the tenant", func() bool {
		var a struct {
			TenantID *int64 `json:"tenant_id"`
			Status   string `json:"status"`
		}
		return d.api("GET", "/api/v1/authorizers/"+app, nil, &a) == 200 && a.Status == "authorized" && a.TenantID != nil && *a.TenantID == mine
	})
	// A rollout the reviewers reject, with WeChat's reason.
	d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1s", "reject_words": []string{"违规"}}, nil)
	tmpl := d.makeTemplate("5.0.0", `{"ext":{"x":"违规"}}`)
	var ro rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl, "targets": map[string]any{"appids": []string{app}}}, &ro); st != 201 {
		t.Fatalf("rollout: %d", st)
	}
	d.waitRollout(ro.ID, "completed", "paused", "failed")
	rejected := d.rolloutApps(ro.ID, "rejected")
	if len(rejected) != 1 {
		t.Fatalf("rejected: %+v", rejected)
	}

	const pw = "merchant-password-123"
	if st := d.api("POST", "/api/v1/accounts", map[string]any{"email": "boss@bakery.example", "role": "merchant", "tenant_id": mine, "password": pw, "name": "老板"}, nil); st != 201 {
		t.Fatalf("merchant account: %d", st)
	}
	c := d.consoleAs("boss@bakery.example", pw)
	if st, _ := c.get("/"); st != http.StatusSeeOther {
		t.Fatalf("merchant home: HTTP %d, want a redirect to the tenant's page", st)
	}
	st, page := c.get(fmt.Sprintf("/tenants/%d", mine))
	if st != 200 {
		t.Fatalf("portal: HTTP %d", st)
	}
	for _, want := range []string{`data-appid="` + app + `"`, "审核未通过", html.EscapeString(rejected[0].Reason), `id="expiry"`, `id="settings-json"`, `/apps/` + app + `/qrcode`, `id="new-link"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the portal lacks %q", want)
		}
	}
	if strings.Contains(page, `href="/authorizers/`) {
		t.Errorf("the portal links a merchant to the staff's authorizer page")
	}
	// Only its own tenant: another's page, settings and apps are not found; staff pages refused.
	for _, p := range []string{fmt.Sprintf("/tenants/%d", other), fmt.Sprintf("/tenants/%d/apps/%s/qrcode", other, app)} {
		if st, _ := c.get(p); st != 404 {
			t.Errorf("merchant GET %s: HTTP %d, want 404", p, st)
		}
	}
	if st, _ := c.post(fmt.Sprintf("/tenants/%d/settings", other), url.Values{"settings": {`{"x":1}`}}); st != 404 {
		t.Errorf("merchant writes another tenant's settings: HTTP %d, want 404", st)
	}
	for _, p := range []string{"/authorizers", "/rollouts", "/tenants"} {
		if st, _ := c.get(p); st != 403 {
			t.Errorf("merchant GET %s: HTTP %d, want 403", p, st)
		}
	}

	// Settings: a malformed edit is refused with the reason; a good one is what the mini program reads.
	if st, page := c.post(fmt.Sprintf("/tenants/%d/settings", mine), url.Values{"settings": {`{"banner": `}}); st != 400 || !strings.Contains(page, "JSON") {
		t.Errorf("malformed settings: HTTP %d, want 400 naming JSON", st)
	}
	if st, _ := c.post(fmt.Sprintf("/tenants/%d/settings", mine), url.Values{"settings": {`{"banner":"新品上市"}`}}); st != http.StatusSeeOther {
		t.Fatalf("save settings: HTTP %d", st)
	}
	var code struct {
		Code string `json:"code"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+app+"/login-code", map[string]any{}, &code)
	var login struct {
		Token string `json:"token"`
	}
	if st := do(t, "POST", d.Platform.URL()+"/runtime/v1/login", nil, map[string]any{"appid": app, "code": code.Code}, &login); st != 200 {
		t.Fatalf("runtime login: %d", st)
	}
	var cfg map[string]any
	if st := do(t, "GET", d.Platform.URL()+"/runtime/v1/config", map[string]string{"Authorization": "Bearer " + login.Token}, nil, &cfg); st != 200 || cfg["banner"] != "新品上市" {
		t.Fatalf("runtime config after the portal's edit: HTTP %d %v", st, cfg)
	}

	// The trial QR code is an image from WeChat; testers are bound through WeChat.
	req, _ := http.NewRequest("GET", d.Platform.URL()+fmt.Sprintf("/tenants/%d/apps/%s/qrcode", mine, app), nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "image/") {
		t.Errorf("QR code: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if st, page := c.get(fmt.Sprintf("/tenants/%d/apps/%s/testers", mine, app)); st != 200 || strings.Contains(page, `role="alert"`) {
		t.Fatalf("testers: HTTP %d\n%s", st, page)
	}

	// 授权 another mini program: straight to the authorization page of a link made for this tenant.
	st, loc := c.post(fmt.Sprintf("/tenants/%d/authorization-link", mine), url.Values{})
	if st != http.StatusSeeOther || !strings.Contains(loc, "/authorize?") {
		t.Fatalf("authorize another: HTTP %d → %q", st, loc)
	}
}
