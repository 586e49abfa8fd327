package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The console's main journeys, clicked in Chromium as people do them: the
// ISV's operator from a new tenant to a released rollout, a merchant's user
// kept inside its own tenant, a form without its CSRF token refused. Each
// step is saved as a screenshot (see screenshots).

// browserSignIn signs in on the console's login form with an account's
// email and password and waits for the signed-in header.
func browserSignIn(t *testing.T, ctx context.Context, base, email, password string) {
	t.Helper()
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	browserDo(t, ctx, "sign in as "+email,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(css(`#login-password input[name="email"]`)),
		chromedp.SendKeys(css(`#login-password input[name="email"]`), email),
		chromedp.SendKeys(css(`#login-password input[name="password"]`), password),
		chromedp.Click(css(`#login-password button[type="submit"]`)),
		chromedp.WaitVisible(css("#me")),
	)
}

// browserText is the text of the first element matching sel.
func browserText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	s, err := chromedp.Run(wctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// browserEval evaluates a JavaScript expression on the page shown.
func browserEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(wctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// browserLocation is the address of the page shown.
func browserLocation(t *testing.T, ctx context.Context) string {
	t.Helper()
	return browserEval[string](t, ctx, `location.href`)
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string { return strconv.Quote(s) }

// TestBrowserOperatorJourney: the ISV's operator signs in with the demo's
// owner account, creates a tenant on the tenants page, makes its
// authorization link on the tenant's page; the merchant's admin, in a
// browser of its own, opens the link and authorizes a sandbox mini program
// on WeChat's (the sandbox's) scan-and-confirm page; the mini program shows
// up under the tenant. The operator then makes a template from a draft on
// the templates page, previews and starts a rollout, and watches the
// rollout's page follow it live (server-sent events, no reload) until it
// is completed and the mini program released, its actions following.
func TestBrowserOperatorJourney(t *testing.T) {
	ctx := browser(t, 10*time.Minute)
	d := bootDemo(t)
	app := d.miniPrograms()[2]
	// Reviews wait for WeChat's clock, which the test moves once the
	// rollout's page is open: the page must change while it is watched.
	if st := d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1h", "reject_words": []string{}}, nil); st != 200 {
		t.Fatalf("audit rules: %d", st)
	}
	base := d.Platform.URL()
	shots := newScreenshots(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil { // the browser's first run: see browserDo
		t.Fatal(err)
	}

	browserSignIn(t, ctx, base, d.OwnerEmail, d.OwnerPassword)
	if me := browserText(t, ctx, "#me"); !strings.Contains(me, "owner") {
		t.Fatalf("signed in as %q, want the owner", me)
	}
	shots.save(ctx, "journey-operator-01-dashboard")

	// A tenant, from the tenants page's form.
	const tenantName = "旅程面包店 Journey Bakery"
	browserDo(t, ctx, "the tenants page",
		chromedp.Click(css(`header nav a[href="/tenants"]`)),
		chromedp.WaitVisible(css("#new-tenant")),
		chromedp.SendKeys(css("#t-name"), tenantName),
		chromedp.SendKeys(css("#t-contact"), "王店长"),
	)
	shots.save(ctx, "journey-operator-02-new-tenant")
	browserDo(t, ctx, "create the tenant",
		chromedp.Click(css("#create-tenant")),
		chromedp.WaitVisible(css("#tenant")),
	)
	if h := browserText(t, ctx, "#tenant h1"); !strings.Contains(h, tenantName) {
		t.Fatalf("after the form the tenant's page shows %q", h)
	}
	tenantID := browserEval[string](t, ctx, `document.getElementById('tenant').dataset.id`)
	tenantPage := base + "/tenants/" + tenantID
	// The tenants list has it, and its link opens the same page.
	browserDo(t, ctx, "the tenant from the list",
		chromedp.Click(css(`header nav a[href="/tenants"]`)),
		chromedp.WaitVisible(css(`#tenants tr[data-id="`+tenantID+`"]`)),
		chromedp.Click(css(`#tenants tr[data-id="`+tenantID+`"] a`)),
		chromedp.WaitVisible(css(`#tenant[data-id="`+tenantID+`"]`)),
	)

	// Its authorization link, for the merchant's admin.
	browserDo(t, ctx, "make the authorization link",
		chromedp.Click(css("#new-link")),
		chromedp.WaitVisible(css("#link code")),
	)
	link := strings.TrimSpace(browserText(t, ctx, "#link code"))
	if !strings.HasPrefix(link, base+"/authorize?") {
		t.Fatalf("the tenant's page shows the link %q, want the platform's 授权 page", link)
	}
	browserA11y(t, ctx, "the tenant's page")
	shots.save(ctx, "journey-operator-03-tenant-link")

	// The merchant's admin opens the link in a browser of its own (no
	// operator's session) and authorizes on WeChat's page.
	mctx, cancelM := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancelM()
	if err := chromedp.Do(mctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	browserDo(t, mctx, "the merchant opens the link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(css("#authorize-pc")),
	)
	shots.save(mctx, "journey-operator-04-merchant-authorize")
	browserDo(t, mctx, "WeChat's authorization page",
		chromedp.Click(css("#authorize-pc")),
		chromedp.WaitVisible(css("#confirm")),
		chromedp.Click(css(`input[name="appid"][value="`+app.AppID+`"]`)),
	)
	shots.save(mctx, "journey-operator-05-wechat-confirm")
	browserDo(t, mctx, "confirm the authorization",
		chromedp.Click(css("#confirm")),
		chromedp.WaitVisible(css("#nickname")),
	)
	if got := browserText(t, mctx, "#nickname"); got != app.Nickname {
		t.Fatalf("the callback shows %q, want %q", got, app.Nickname)
	}
	shots.save(mctx, "journey-operator-06-authorized")

	// The mini program shows up on the tenant's page (the push may land a
	// moment after the callback: the operator reloads).
	deadline := time.Now().Add(browserWait)
	for {
		browserDo(t, ctx, "the tenant's page", chromedp.Navigate(tenantPage), chromedp.WaitVisible(css("#apps")))
		if browserEval[bool](t, ctx, `!!document.querySelector('#apps tr[data-appid=`+jsString(app.AppID)+`]')`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tenant's page never listed %s:\n%s", app.AppID, browserText(t, ctx, "#apps"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if row := browserText(t, ctx, `#apps tr[data-appid="`+app.AppID+`"]`); !strings.Contains(row, app.Nickname) {
		t.Errorf("the tenant's app row %q lacks the nickname %q", row, app.Nickname)
	}
	shots.save(ctx, "journey-operator-07-tenant-app")

	// The tenant's runtime settings, saved on its page, are what its mini
	// program reads (GET /runtime/v1/config) once its user logged in.
	const settings = `{"theme":"wheat","banner":"新品上市"}`
	browserDo(t, ctx, "the tenant's runtime settings",
		chromedp.SetValue(css("#settings-json"), settings),
		chromedp.Click(css("#save-settings")),
		chromedp.WaitVisible(css(`#tenant [role="status"]`)),
	)
	if got := browserEval[string](t, ctx, `document.getElementById('settings-json').value`); !strings.Contains(got, "新品上市") {
		t.Fatalf("after saving, the settings form holds %q", got)
	}
	code := d.loginCode(app.AppID, map[string]string{"openid": "oJourneyUser"})
	st, _, token := d.runtimeLogin(app.AppID, code.Code)
	if st != 200 {
		t.Fatalf("the mini program's login: HTTP %d", st)
	}
	st, _, cfg := d.runtime("GET", "/runtime/v1/config", token, nil, nil)
	var got map[string]string
	if err := json.Unmarshal(cfg, &got); st != 200 || err != nil || got["banner"] != "新品上市" || got["theme"] != "wheat" {
		t.Fatalf("the mini program's config: HTTP %d %s, want the settings saved in the browser", st, cfg)
	}

	// A template from a draft the developer uploaded (WeChat's side).
	var draft struct {
		DraftID int64 `json:"draft_id"`
	}
	if st := d.sandbox("POST", "/sandbox/api/drafts", map[string]any{"user_version": "6.0.0", "user_desc": "浏览器旅程", "pages": []string{"pages/index/index"}}, &draft); st != 200 && st != 201 {
		t.Fatalf("draft: %d", st)
	}
	row := fmt.Sprintf(`#drafts-list tr[data-draft="%d"]`, draft.DraftID)
	browserDo(t, ctx, "the templates page and its drafts",
		chromedp.Click(css(`header nav a[href="/templates"]`)),
		chromedp.WaitVisible(css("#load-drafts")),
		chromedp.Click(css("#load-drafts")),
		chromedp.WaitVisible(css(row)),
		chromedp.SetValue(css(row+` textarea[name="ext_json"]`), `{"ext":{"shop":"${appid}"}}`),
		chromedp.SendKeys(css(row+` input[name="notes"]`), "浏览器里做的"),
	)
	shots.save(ctx, "journey-operator-08-draft")
	browserDo(t, ctx, "make the template",
		chromedp.Click(css(row+` button[type="submit"]`)),
		chromedp.WaitVisible(css(`p[role="status"]`)),
	)
	m := regexp.MustCompile(`[?&]added=(\d+)`).FindStringSubmatch(browserLocation(t, ctx))
	if m == nil {
		t.Fatalf("after making the template the page is %s", browserLocation(t, ctx))
	}
	tmpl := m[1]
	if r := browserText(t, ctx, `#templates tr[data-template="`+tmpl+`"]`); !strings.Contains(r, "6.0.0") || !strings.Contains(r, "浏览器里做的") || !strings.Contains(r, `"shop":"${appid}"`) {
		t.Fatalf("the templates page's row of template %s: %q", tmpl, r)
	}
	shots.save(ctx, "journey-operator-09-template")

	// A rollout: previewed (nothing sent), then started.
	browserDo(t, ctx, "the rollout form",
		chromedp.Click(css(`#templates tr[data-template="`+tmpl+`"] a.btn`)),
		chromedp.WaitVisible(css("#rollout-form")),
		chromedp.Click(css(`#rollout-form input[name="target"][value="all"]`)),
		chromedp.Click(css("#preview")),
		chromedp.WaitVisible(css("#plan")),
	)
	if n := browserText(t, ctx, "#plan-commit"); n != "1" {
		t.Fatalf("the preview would commit %q apps, want 1 (the tenant's)", n)
	}
	if c := d.appCode(app.AppID); c.Counts["commits"] != 0 {
		t.Fatalf("the preview committed %s", app.AppID)
	}
	shots.save(ctx, "journey-operator-10-preview")
	browserDo(t, ctx, "start the rollout",
		chromedp.Click(css("#start")),
		chromedp.WaitVisible(css("#rollout #status")),
	)
	m = regexp.MustCompile(`/rollouts/(\d+)`).FindStringSubmatch(browserLocation(t, ctx))
	if m == nil {
		t.Fatalf("after starting the rollout the page is %s", browserLocation(t, ctx))
	}
	rolloutID := m[1]

	// The page follows the rollout without a reload: a mark left on this
	// document must still be there when it shows the release.
	browserEval[bool](t, ctx, `(window.journeyMark = true)`)
	if st := browserText(t, ctx, "#rollout #status"); st == "completed" {
		t.Fatalf("the rollout is completed before WeChat reviewed it")
	}
	browserPoll(t, ctx, "the app in review, shown live",
		`window.journeyMark === true && document.querySelector('#counts td[data-k="auditing"]').textContent === '1'`)
	shots.save(ctx, "journey-operator-11-rollout-auditing")
	// WeChat's reviewers decide: the sandbox's clock passes the review delay.
	if st := d.sandbox("POST", "/sandbox/api/clock", map[string]any{"advance": "61m"}, nil); st != 200 {
		t.Fatalf("sandbox clock: %d", st)
	}
	browserPoll(t, ctx, "the rollout completed and the app released, shown live",
		`window.journeyMark === true && document.getElementById('status').textContent === 'completed' && document.querySelector('#counts td[data-k="released"]').textContent === '1' && document.getElementById('summary').textContent === '1 / 1'`)
	// The actions follow too: a completed rollout offers its roll back, no
	// longer pause or cancel.
	browserPoll(t, ctx, "the completed rollout's actions, shown live",
		`window.journeyMark === true && !!document.getElementById('act-rollback') && !document.getElementById('act-pause') && !document.getElementById('act-cancel')`)
	browserA11y(t, ctx, "the completed rollout's page")
	shots.save(ctx, "journey-operator-12-rollout-completed")
	if c := d.appCode(app.AppID); c.Released == nil || c.Released.UserVersion != "6.0.0" {
		t.Errorf("WeChat runs %+v on %s, want 6.0.0 released", c.Released, app.AppID)
	}
	var r rolloutStatus
	if d.api("GET", "/api/v1/rollouts/"+rolloutID, nil, &r); r.Status != "completed" || r.Counts["released"] != 1 {
		t.Errorf("the API says rollout %s is %+v", rolloutID, r)
	}
	t.Logf("screenshots in %s", strings.Join(shots.dirs, ", "))
}

// TestBrowserMerchantSeesOnlyItsTenant: a merchant's user of tenant A signs
// in and lands on its tenant's page with its mini program; tenant B's page,
// B's mini program under either tenant, the staff's authorizer page of
// B's mini program and B's mini program's inbox and cards (pages a merchant
// opens for its own) are refused, showing nothing of B.
func TestBrowserMerchantSeesOnlyItsTenant(t *testing.T) {
	ctx := browser(t, 5*time.Minute)
	d := bootDemo(t)
	apps := d.miniPrograms()
	appA, appB := apps[0], apps[1]
	mk := func(name, contact string, app sbApp) int64 {
		var tn apiTenant
		if st := d.api("POST", "/api/v1/tenants", map[string]any{"name": name, "contact": contact}, &tn); st != 201 {
			t.Fatalf("create tenant: %d", st)
		}
		var link struct {
			PCURL string `json:"pc_url"`
		}
		if st := d.api("POST", fmt.Sprintf("/api/v1/tenants/%d/authorization-links", tn.ID), map[string]any{}, &link); st != 201 {
			t.Fatalf("tenant link: %d", st)
		}
		if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": app.AppID}, nil); st != 200 {
			t.Fatalf("authorize %s: %d", app.AppID, st)
		}
		d.eventually(app.AppID+" on tenant "+name, func() bool {
			var a struct {
				TenantID *int64 `json:"tenant_id"`
				Status   string `json:"status"`
			}
			return d.api("GET", "/api/v1/authorizers/"+app.AppID, nil, &a) == 200 && a.Status == "authorized" && a.TenantID != nil && *a.TenantID == tn.ID
		})
		return tn.ID
	}
	const nameB, contactB = "乙方秘密茶铺 B-Secret", "乙方联系人"
	a := mk("甲方面包店 A-Bakery", "甲方联系人", appA)
	b := mk(nameB, contactB, appB)
	const pw = "merchant-a-password-123"
	if st := d.api("POST", "/api/v1/accounts", map[string]any{"email": "boss@a.example", "role": "merchant", "tenant_id": a, "password": pw, "name": "甲老板"}, nil); st != 201 {
		t.Fatalf("merchant account: %d", st)
	}
	base := d.Platform.URL()
	shots := newScreenshots(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil { // the browser's first run
		t.Fatal(err)
	}

	// Signed in, the merchant lands on its tenant's page: its mini program, nothing of B.
	browserSignIn(t, ctx, base, "boss@a.example", pw)
	browserDo(t, ctx, "the merchant's home", chromedp.WaitVisible(css("#tenant")))
	if id := browserEval[string](t, ctx, `document.getElementById('tenant').dataset.id`); id != fmt.Sprint(a) {
		t.Fatalf("the merchant landed on tenant %q, want %d", id, a)
	}
	if row := browserText(t, ctx, `#apps tr[data-appid="`+appA.AppID+`"]`); !strings.Contains(row, appA.Nickname) {
		t.Errorf("the merchant's app row %q lacks %q", row, appA.Nickname)
	}
	if n := browserEval[int](t, ctx, `document.querySelectorAll('#apps tr[data-appid]').length`); n != 1 {
		t.Errorf("the merchant's page lists %d mini programs, want 1", n)
	}
	if nav := browserText(t, ctx, "header nav"); strings.Contains(nav, "授权方") || strings.Contains(nav, "租户") {
		t.Errorf("the merchant's menu offers the staff's pages: %q", nav)
	}
	// noB: nothing of B in the page's document (its name, contact, mini
	// program's nickname; its appid where the merchant did not type it).
	noB := func(where string) {
		t.Helper()
		html := browserEval[string](t, ctx, `document.documentElement.outerHTML`)
		for _, marker := range []string{nameB, contactB, appB.Nickname} {
			if strings.Contains(html, marker) {
				t.Errorf("%s: the page holds tenant B's %q", where, marker)
			}
		}
	}
	noB("the merchant's page")
	browserA11y(t, ctx, "the merchant's page")
	if html := browserEval[string](t, ctx, `document.documentElement.outerHTML`); strings.Contains(html, appB.AppID) {
		t.Errorf("the merchant's page holds B's appid %s", appB.AppID)
	}
	shots.save(ctx, "journey-merchant-01-own-tenant")

	// B's pages: the same answer as for pages that do not exist (but for
	// the id or appid typed, which the message repeats), with nothing of B.
	const ghostTenant, ghostApp = "999999", "wx00000000000000ff"
	refused := []struct{ name, path, ghost string }{
		{"tenant-b", fmt.Sprintf("/tenants/%d", b), "/tenants/" + ghostTenant},
		{"tenant-b-app", fmt.Sprintf("/tenants/%d/apps/%s/testers", b, appB.AppID), "/tenants/" + ghostTenant + "/apps/" + ghostApp + "/testers"},
		{"b-app-under-a", fmt.Sprintf("/tenants/%d/apps/%s/testers", a, appB.AppID), fmt.Sprintf("/tenants/%d/apps/%s/testers", a, ghostApp)},
		{"b-authorizer", "/authorizers/" + appB.AppID, "/authorizers/" + ghostApp},
		{"b-inbox", "/authorizers/" + appB.AppID + "/inbox", "/authorizers/" + ghostApp + "/inbox"},
		{"b-cards", "/authorizers/" + appB.AppID + "/cards", "/authorizers/" + ghostApp + "/cards"},
	}
	typed := strings.NewReplacer(ghostTenant, fmt.Sprint(b), ghostApp, appB.AppID)
	for i, p := range refused {
		answer := func(path string) (int64, string) {
			t.Helper()
			wctx, cancel := context.WithTimeout(ctx, browserWait)
			defer cancel()
			resp, err := chromedp.Run(wctx, chromedp.NavigateResponse(base+path))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			browserDo(t, ctx, path, chromedp.WaitVisible(css(".card.err")))
			return resp.Status, browserText(t, ctx, "main")
		}
		ghostStatus, ghostText := answer(p.ghost)
		ghostText = typed.Replace(ghostText)
		st, text := answer(p.path)
		noB(p.path)
		browserA11y(t, ctx, p.path)
		shots.save(ctx, fmt.Sprintf("journey-merchant-%02d-%s", i+2, p.name))
		if st != 404 && !(p.name == "b-authorizer" && st == 403) {
			t.Errorf("merchant GET %s: HTTP %d, want the not-found page (the staff's pages: refused)", p.path, st)
		}
		if st != ghostStatus || text != ghostText {
			t.Errorf("merchant GET %s: HTTP %d %q, but for a page that does not exist HTTP %d %q: B's existence shows", p.path, st, text, ghostStatus, ghostText)
		}
	}
}

// TestBrowserCSRFRefused: a console form whose hidden csrf field is taken
// out in the browser is refused with the console's error page (403), and
// does nothing; the same form with its token works.
func TestBrowserCSRFRefused(t *testing.T) {
	ctx := browser(t, 5*time.Minute)
	d := bootDemo(t)
	base := d.Platform.URL()
	shots := newScreenshots(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil { // the browser's first run
		t.Fatal(err)
	}
	browserSignIn(t, ctx, base, d.OwnerEmail, d.OwnerPassword)
	tenantsNamed := func(name string) int {
		var out struct {
			Items []apiTenant `json:"items"`
		}
		if st := d.api("GET", "/api/v1/tenants?q="+url.QueryEscape(name), nil, &out); st != 200 {
			t.Fatalf("list tenants: %d", st)
		}
		n := 0
		for _, tn := range out.Items {
			if tn.Name == name {
				n++
			}
		}
		return n
	}

	const forged = "无令牌租户 No-token tenant"
	browserDo(t, ctx, "the tenants page without its token",
		chromedp.Navigate(base+"/tenants"),
		chromedp.WaitVisible(css("#new-tenant")),
		chromedp.SendKeys(css("#t-name"), forged),
	)
	if n := browserEval[int](t, ctx, `(() => { const f = document.querySelector('#new-tenant form'); const n = f.querySelectorAll('input[name="csrf"]').length; f.querySelectorAll('input[name="csrf"]').forEach(e => e.remove()); return n; })()`); n != 1 {
		t.Fatalf("the new tenant form carried %d csrf fields, want 1", n)
	}
	wctx, cancel := context.WithTimeout(ctx, browserWait)
	resp, err := chromedp.RunResponse(wctx, chromedp.Click(css("#create-tenant")))
	cancel()
	if err != nil {
		t.Fatalf("submit without the token: %v", err)
	}
	browserDo(t, ctx, "the error page", chromedp.WaitVisible(css(".card.err")))
	browserA11y(t, ctx, "the refusal")
	shots.save(ctx, "journey-csrf-01-refused")
	if resp.Status != 403 {
		t.Errorf("a form without its CSRF token: HTTP %d, want 403", resp.Status)
	}
	if text := browserText(t, ctx, ".card.err"); !strings.Contains(text, "CSRF") {
		t.Errorf("the error page does not say why: %q", text)
	}
	if n := tenantsNamed(forged); n != 0 {
		t.Errorf("the refused form made %d tenants", n)
	}

	// The same form, as served, works: the refusal was the token's.
	const genuine = "有令牌租户 Token tenant"
	browserDo(t, ctx, "the tenants page with its token",
		chromedp.Navigate(base+"/tenants"),
		chromedp.WaitVisible(css("#new-tenant")),
		chromedp.SendKeys(css("#t-name"), genuine),
		chromedp.Click(css("#create-tenant")),
		chromedp.WaitVisible(css("#tenant")),
	)
	shots.save(ctx, "journey-csrf-02-with-token")
	if n := tenantsNamed(genuine); n != 1 {
		t.Errorf("the form with its token made %d tenants, want 1", n)
	}
}
