package main

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet/sandbox"
)

// portalLinks are the console links on a tenant's page to an app's pages.
var portalLinks = regexp.MustCompile(`href="(/authorizers/[^"]+)"`)

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
	if strings.Contains(page, `href="/authorizers/`+app+`"`) || strings.Contains(page, `href="/authorizers/`+app+`?`) {
		t.Errorf("the portal links a merchant to the staff's authorizer page")
	}
	// Every console link the portal gives a merchant opens for it (its
	// app's capability pages), none is a staff page it would be refused.
	links := portalLinks.FindAllStringSubmatch(page, -1)
	if len(links) == 0 {
		t.Errorf("the portal links none of its mini program's capabilities")
	}
	for _, m := range links {
		if st, _ := c.get(html.UnescapeString(m[1])); st != 200 {
			t.Errorf("the portal's link %s: HTTP %d for its merchant, want 200", m[1], st)
		}
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

// authorizeForTenant authorizes a sandbox account through a link made for
// tenant (auth_type 1: an official account) and waits for it on the tenant.
func (d *testDemo) authorizeForTenant(tenant int64, appid string, authType int) {
	d.t.Helper()
	var link struct {
		PCURL string `json:"pc_url"`
	}
	body := map[string]any{}
	if authType != 0 {
		body["auth_type"] = authType
	}
	if st := d.api("POST", fmt.Sprintf("/api/v1/tenants/%d/authorization-links", tenant), body, &link); st != 201 {
		d.t.Fatalf("tenant %d's link: HTTP %d", tenant, st)
	}
	if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": appid}, nil); st != 200 {
		d.t.Fatalf("authorize %s: HTTP %d", appid, st)
	}
	d.eventually(appid+" on tenant "+fmt.Sprint(tenant), func() bool {
		var a struct {
			TenantID       *int64 `json:"tenant_id"`
			Status         string `json:"status"`
			TokenExpiresAt string `json:"token_expires_at"`
		}
		return d.api("GET", "/api/v1/authorizers/"+appid, nil, &a) == 200 && a.Status == "authorized" && a.TenantID != nil && *a.TenantID == tenant && a.TokenExpiresAt != ""
	})
}

// asMerchant calls the API with a merchant's token and returns the status
// and the raw body.
func (d *testDemo) asMerchant(token, method, path string, body any) (int, string) {
	d.t.Helper()
	var raw json.RawMessage
	st := do(d.t, method, d.Platform.URL()+path, map[string]string{"Authorization": "Bearer " + token}, body, &raw)
	return st, string(raw)
}

// The capabilities in the merchant's portal: a merchant of tenant A opens
// its mini program's inbox from its portal, reads a user's message and
// replies (the user receives it), makes a coupon for its official account
// and sees it issued once a user receives it — in the console and through
// the API with its own token. Tenant B's mini program's inbox and cards are
// 404 to it, page and API alike, showing nothing of B's, while the ISV's
// staff see them. The merchant redeems (核销) a user's code at its counter
// from the cards page; a staff-only capability (WeChat's template library)
// is 403.
func TestMerchantPortalCapabilities(t *testing.T) {
	d := bootDemo(t)
	apps := d.miniPrograms()
	mk := func(name string) int64 {
		var tn apiTenant
		if st := d.api("POST", "/api/v1/tenants", map[string]any{"name": name, "contact": "店长"}, &tn); st != 201 {
			t.Fatalf("create tenant: %d", st)
		}
		return tn.ID
	}
	tenantA, tenantB := mk("A 面包店"), mk("B 面馆")
	appA, appB := apps[0].AppID, apps[1].AppID
	d.authorizeForTenant(tenantA, appA, 0)
	oa := sandbox.AppLifeOA
	d.authorizeForTenant(tenantA, oa, 1)
	d.authorizeForTenant(tenantB, appB, 0)
	var userA, userB struct {
		OpenID string `json:"openid"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+appA+"/user-message", map[string]any{"msgtype": "text", "content": "面包几点出炉？"}, &userA)
	d.sandbox("POST", "/sandbox/api/apps/"+appB+"/user-message", map[string]any{"msgtype": "text", "content": "B 店的悄悄话"}, &userB)

	const pw = "merchant-password-123"
	if st := d.api("POST", "/api/v1/accounts", map[string]any{"email": "boss@a-bakery.example", "role": "merchant", "tenant_id": tenantA, "password": pw}, nil); st != 201 {
		t.Fatalf("merchant account: %d", st)
	}
	c := d.consoleAs("boss@a-bakery.example", pw)
	q := "?platform=" + demoPlatform.AppID
	st, portal := c.get(fmt.Sprintf("/tenants/%d", tenantA))
	inbox := "/authorizers/" + appA + "/inbox" + q
	if st != 200 || !strings.Contains(html.UnescapeString(portal), `href="`+inbox+`"`) || !strings.Contains(html.UnescapeString(portal), `href="/authorizers/`+oa+`/cards`+q+`"`) {
		t.Fatalf("the portal (HTTP %d) does not link its apps' inbox and cards", st)
	}

	// The inbox: the user's message, a reply that reaches the user.
	d.eventually("the user's message in the merchant's inbox", func() bool {
		_, page := c.get(inbox)
		return strings.Contains(page, `data-openid="`+userA.OpenID+`"`)
	})
	conv := "/authorizers/" + appA + "/inbox/" + userA.OpenID + q
	if st, page := c.get(conv); st != 200 || !strings.Contains(page, "面包几点出炉？") || !strings.Contains(page, `id="reply"`) {
		t.Fatalf("the merchant's conversation page: HTTP %d", st)
	}
	if st, loc := c.post(conv, url.Values{"content": {"七点出炉，欢迎来"}}); st != http.StatusSeeOther || !strings.Contains(loc, "sent=1") {
		t.Fatalf("the merchant's reply: HTTP %d → %q", st, loc)
	}
	var log []string
	for _, e := range d.userLog(appA, userA.OpenID) {
		log = append(log, e.Direction+"/"+e.Via+"/"+e.Content)
	}
	if want := "in/user/面包几点出炉？,out/custom_send/七点出炉，欢迎来"; strings.Join(log, ",") != want {
		t.Fatalf("the user's log: %v, want %s", log, want)
	}

	// Its own API token: the same inbox, a reply through the API.
	req, _ := http.NewRequest("POST", d.Platform.URL()+"/api/v1/api-tokens", strings.NewReader(`{"name":"收银台"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", c.csrf)
	code, tokBody, _ := c.do(req)
	var tok struct {
		Token string `json:"token"`
	}
	if json.Unmarshal([]byte(tokBody), &tok); code != 201 || tok.Token == "" {
		t.Fatalf("the merchant's API token: HTTP %d %s", code, tokBody)
	}
	if st, body := d.asMerchant(tok.Token, "GET", "/api/v1/authorizers/"+appA+"/conversations/"+userA.OpenID, nil); st != 200 || !strings.Contains(body, "七点出炉，欢迎来") {
		t.Fatalf("the merchant reads its conversation by API: HTTP %d %s", st, body)
	}
	if st, body := d.asMerchant(tok.Token, "POST", "/api/v1/authorizers/"+appA+"/conversations/"+userA.OpenID+"/messages",
		map[string]any{"msgtype": "text", "text": map[string]any{"content": "也可以预订"}}); st != 200 {
		t.Fatalf("the merchant replies by API: HTTP %d %s", st, body)
	}
	if n := len(d.userLog(appA, userA.OpenID)); n != 3 {
		t.Fatalf("the user got %d entries, want 3", n)
	}

	// A coupon made in the portal's cards page, approved, received once: 1 issued.
	cards := "/authorizers/" + oa + "/cards" + q
	if st, page := c.get(cards); st != 200 || !strings.Contains(page, `id="new-coupon"`) {
		t.Fatalf("the merchant's cards page: HTTP %d (no coupon form)", st)
	}
	form := url.Values{"card_type": {"GENERAL_COUPON"}, "title": {"满50减10"}, "brand_name": {"A 面包店"},
		"logo_url": {"http://mmbiz.qpic.cn/mmbiz/demo-logo/0"}, "notice": {"出示二维码核销"}, "description": {"不与其他优惠同享"},
		"quantity": {"100"}, "fixed_term": {"30"}, "default_detail": {"满50元减10元"}}
	st2, loc := c.post("/authorizers/"+oa+"/cards"+q, form)
	m := regexp.MustCompile(`made=([^&]+)`).FindStringSubmatch(loc)
	if st2 != http.StatusSeeOther || m == nil {
		t.Fatalf("the merchant's coupon: HTTP %d → %q", st2, loc)
	}
	cardID := m[1]
	d.sandbox("POST", "/sandbox/api/clock", map[string]string{"advance": "10s"}, nil)
	d.eventually("the coupon approved", func() bool {
		_, page := c.get(cards)
		return strings.Contains(page, "已通过")
	})
	var got struct {
		Code string `json:"code"`
	}
	if st := d.sandbox("POST", "/sandbox/api/apps/"+oa+"/cards/"+cardID+"/receive", map[string]string{"openid": "oDemoUser1"}, &got); st != 200 {
		t.Fatalf("receive: HTTP %d", st)
	}
	d.eventually("1 issued on the merchant's cards page", func() bool {
		_, page := c.get(cards)
		return strings.Contains(page, `<td class="issued">1</td><td class="redeemed">0</td>`)
	})
	var list struct {
		Items []apiCard `json:"items"`
	}
	if st := do(t, "GET", d.Platform.URL()+"/api/v1/authorizers/"+oa+"/cards", map[string]string{"Authorization": "Bearer " + tok.Token}, nil, &list); st != 200 ||
		len(list.Items) != 1 || list.Items[0].CardID != cardID || list.Items[0].Issued != 1 || list.Items[0].Redeemed != 0 {
		t.Fatalf("the merchant's cards by API: HTTP %d %+v", st, list.Items)
	}
	// The user shows the code at the counter: the merchant redeems it from
	// the cards page (the form is there for an approved card), once.
	if _, page := c.get(cards); !strings.Contains(page, "/cards/"+cardID+"/consume") {
		t.Fatal("the merchant's cards page offers no redeem form for the approved coupon")
	}
	if st, loc := c.post("/authorizers/"+oa+"/cards/"+cardID+"/consume"+q, url.Values{"code": {got.Code}}); st != http.StatusSeeOther || !strings.Contains(loc, "consumed=oDemoUser1") {
		t.Fatalf("the merchant redeems: HTTP %d → %q", st, loc)
	}
	d.eventually("1 issued, 1 redeemed on the merchant's cards page", func() bool {
		_, page := c.get(cards)
		return strings.Contains(page, `<td class="issued">1</td><td class="redeemed">1</td>`)
	})
	if st, body := d.asMerchant(tok.Token, "POST", "/api/v1/authorizers/"+oa+"/cards/"+cardID+"/consume", map[string]any{"code": got.Code}); st != 409 {
		t.Errorf("the merchant redeems the same code again by API: HTTP %d %s, want 409 (WeChat's 40099)", st, body)
	}
	if st, _ := d.asMerchant(tok.Token, "GET", "/api/v1/authorizers/"+oa+"/subscribe-library", nil); st != 403 {
		t.Errorf("the merchant reads WeChat's template library: HTTP %d, want 403 (staff only)", st)
	}

	// Tenant B's app: not found, page and API, nothing of B's shown; staff see it.
	d.eventually("B's message filed", func() bool {
		var l struct {
			Total int `json:"total"`
		}
		return d.api("GET", "/api/v1/authorizers/"+appB+"/conversations", nil, &l) == 200 && l.Total == 1
	})
	for _, p := range []string{"/authorizers/" + appB + "/inbox" + q, "/authorizers/" + appB + "/inbox/" + userB.OpenID + q, "/authorizers/" + appB + "/cards" + q} {
		st, page := c.get(p)
		if st != 404 || strings.Contains(page, "B 店的悄悄话") || strings.Contains(page, userB.OpenID+"</code>") {
			t.Errorf("merchant A GET %s: HTTP %d, want 404 showing nothing of B's", p, st)
		}
	}
	if st, _ := c.post("/authorizers/"+appB+"/inbox/"+userB.OpenID+q, url.Values{"content": {"冒充 B 店"}}); st != 404 {
		t.Errorf("merchant A replies on B's app: HTTP %d, want 404", st)
	}
	if st, _ := c.post("/authorizers/"+appB+"/cards"+q, form); st != 404 {
		t.Errorf("merchant A makes a coupon on B's app: HTTP %d, want 404", st)
	}
	for _, p := range []string{"/conversations", "/conversations/" + userB.OpenID, "/cards"} {
		st, body := d.asMerchant(tok.Token, "GET", "/api/v1/authorizers/"+appB+p, nil)
		if st != 404 || strings.Contains(body, "悄悄话") || strings.Contains(body, appB) {
			t.Errorf("merchant A GET B's %s by API: HTTP %d %s, want 404 naming nothing", p, st, body)
		}
	}
	if st, _ := d.asMerchant(tok.Token, "POST", "/api/v1/authorizers/"+appB+"/conversations/"+userB.OpenID+"/messages",
		map[string]any{"msgtype": "text", "text": map[string]any{"content": "冒充 B 店"}}); st != 404 {
		t.Errorf("merchant A replies on B's app by API: HTTP %d, want 404", st)
	}
	if n := len(d.userLog(appB, userB.OpenID)); n != 1 {
		t.Errorf("B's user got %d entries, want only its own message", n)
	}
	staff := d.console()
	if st, page := staff.get("/authorizers/" + appB + "/inbox/" + userB.OpenID + q); st != 200 || !strings.Contains(page, "B 店的悄悄话") {
		t.Errorf("staff read B's conversation: HTTP %d", st)
	}
}
