package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// a11yScript lists a page's accessibility basics that fail: a title naming
// the product, the document's language, a label for every input, an
// accessible name and keyboard reach for every link and button, alt on
// every image.
const a11yScript = `(() => {
  const p = [];
  if (!document.title.includes('wxfleet')) p.push('title ' + JSON.stringify(document.title));
  if (!document.documentElement.lang) p.push('no <html lang>');
  document.querySelectorAll('input:not([type=hidden]), select, textarea').forEach(el => {
    const byFor = el.id && document.querySelector('label[for="' + el.id + '"]');
    if (!(el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.closest('label') || byFor)) p.push('unlabelled ' + el.outerHTML.slice(0, 100));
  });
  document.querySelectorAll('a[href], button').forEach(el => {
    if (el.tabIndex < 0) p.push('not keyboard reachable ' + el.outerHTML.slice(0, 100));
    if (!el.textContent.trim() && !el.getAttribute('aria-label') && !el.querySelector('img[alt]:not([alt=""])')) p.push('no accessible name ' + el.outerHTML.slice(0, 100));
  });
  document.querySelectorAll('[hx-get]:not(a):not(button):not([hx-trigger="load"])').forEach(el => p.push('action on a non-control ' + el.outerHTML.slice(0, 100)));
  document.querySelectorAll('img:not([alt])').forEach(el => p.push('img without alt ' + el.outerHTML.slice(0, 100)));
  return p;
})()`

// browserA11y reports, as errors of t, the accessibility basics (a11yScript)
// that the page shown fails.
func browserA11y(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	problems, err := chromedp.Run(wctx, chromedp.Evaluate[[]string](a11yScript))
	if err != nil {
		t.Fatalf("%s: the accessibility check: %v", where, err)
	}
	for _, pr := range problems {
		t.Errorf("%s: %s", where, pr)
	}
}

// TestBrowserConsolePages signs in and visits every console page in Chinese
// and in English: each renders, passes the accessibility basics and is
// saved as a screenshot (under the test's temp dir; also under
// $WXFLEET_SCREENSHOT_DIR when set, which is how the README's picture is
// made). The dashboard's htmx fragment and its live rollout (server-sent
// events) work under the Content-Security-Policy.
func TestBrowserConsolePages(t *testing.T) {
	ctx := browser(t, 3*time.Minute)
	d := bootDemo(t)
	apps := d.authorizeAll()
	// A rollout that stays in audit for the run: the dashboard shows it live.
	if st := d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1h"}, nil); st != 200 {
		t.Fatalf("audit rules: %d", st)
	}
	tmpl := d.makeTemplate("3.0.0", `{"ext":{"k":"v"}}`)
	var created rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl, "targets": map[string]bool{"all": true}}, &created); st != 201 {
		t.Fatalf("create rollout: %d", st)
	}
	d.eventually("the rollout in audit", func() bool {
		var r rolloutStatus
		d.api("GET", fmt.Sprintf("/api/v1/rollouts/%d", created.ID), nil, &r)
		return r.Counts["auditing"] > 0
	})

	// The capability pages' data: a webhook, a user's message, a coupon of
	// the official account, a Wi-Fi shop, a sub-merchant application.
	hook := newHookReceiver(t)
	var wh struct {
		ID string `json:"id"`
	}
	if st := d.api("POST", "/api/v1/webhooks", map[string]any{"url": hook.srv.URL + "/in", "events": []string{"message.received"}}, &wh); st != 201 {
		t.Fatalf("create webhook: %d", st)
	}
	var user struct {
		OpenID string `json:"openid"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+apps[0].AppID+"/user-message", map[string]any{"msgtype": "text", "content": "请问今天营业吗？"}, &user)
	d.eventually("the conversation", func() bool {
		return d.api("GET", "/api/v1/authorizers/"+apps[0].AppID+"/conversations/"+user.OpenID, nil, nil) == 200
	})
	oa := d.authorizeOA()
	if st := d.api("POST", "/api/v1/authorizers/"+oa+"/cards", map[string]any{"card": couponCard("满100减20", "不与其他优惠同享")}, nil); st != 201 {
		t.Fatalf("create card: %d", st)
	}
	var shop struct {
		ShopID int64 `json:"shop_id"`
	}
	if st := d.sandbox("POST", "/sandbox/api/apps/"+oa+"/wifi/shops", map[string]string{"shop_name": "断桥店"}, &shop); st != 200 {
		t.Fatalf("add shop: %d", st)
	}
	if st := d.api("POST", fmt.Sprintf("/api/v1/authorizers/%s/wifi/shops/%d/devices", oa, shop.ShopID), map[string]string{"ssid": "WX-Lakeside", "password": "west-lake-8"}, nil); st != 201 {
		t.Fatalf("add device: %d", st)
	}
	applyment := d.submitApplyment("wxf_browser_1", apps[0].AppID)
	var tn apiTenant // a tenant with a mini program, for its pay page
	if st := d.api("POST", "/api/v1/tenants", map[string]any{"name": "麦香坊"}, &tn); st != 201 {
		t.Fatalf("tenant: %d", st)
	}
	if st := d.api("PUT", "/api/v1/authorizers/"+apps[0].AppID+"/tenant", map[string]any{"tenant_id": tn.ID}, nil); st != 200 && st != 204 {
		t.Fatalf("app to tenant: %d", st)
	}
	_, paySub, payToken := payReady(t, d, "wxf_browser_2")
	d.payOrder(payToken, "wxf_browser_0001", 1500)
	var fleet struct {
		ID int64 `json:"id"`
	}
	if st := d.api("POST", "/api/v1/fleet-actions", map[string]any{"kind": "bind_tester", "wechatid": "browser-tester",
		"targets": map[string]any{"appids": []string{apps[0].AppID}}}, &fleet); st != 201 {
		t.Fatalf("fleet action: %d", st)
	}

	shots := newScreenshots(t)
	base := d.Platform.URL()
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	// check runs the accessibility basics on the page shown and saves its screenshot.
	check := func(name, lang string) {
		t.Helper()
		browserA11y(t, ctx, name+" ("+lang+")")
		text, err := chromedp.Run(ctx, chromedp.Text(css("header")))
		if err != nil {
			t.Fatal(err)
		}
		if (lang == "en") == strings.Contains(text, "概览") {
			t.Errorf("%s (%s): header %q is not in the page's language", name, lang, text)
		}
		shots.save(ctx, name+"-"+lang)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/login?next=/"),
		chromedp.WaitVisible(css(`input[name="token"]`))); err != nil {
		t.Fatal(err)
	}
	check("login", "zh")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(css(`input[name="token"]`), d.AdminToken),
		chromedp.Submit(css(`input[name="token"]`)),
		chromedp.WaitVisible(css(`#platform-`+demoPlatform.AppID)),
	); err != nil {
		t.Fatal(err)
	}
	pages := []struct{ name, path, ready string }{
		{"dashboard", "/", "#platform-" + demoPlatform.AppID},
		{"authorizers", "/authorizers", "#authorizers"},
		{"authorizers-filtered", "/authorizers?status=authorized&q=" + apps[0].AppID, "#authorizer-filter"},
		{"authorizer", "/authorizers/" + apps[0].AppID, "#authorizer"},
		{"wechat-call", "/authorizers/" + apps[0].AppID + "/wechat/call?path=/wxa/get_category", "#call-form"},
		{"events", "/events", "#events"},
		{"plans", "/plans", "#plans"},
		{"tenants", "/tenants", "#tenants"},
		{"tenant", fmt.Sprintf("/tenants/%d", tn.ID), "#settings"},
		{"templates", "/templates", "#templates"},
		{"template", fmt.Sprintf("/templates/%d", tmpl), "#policy-form"},
		{"rollout-new", fmt.Sprintf("/rollouts/new?preview=1&target=all&template_id=%d", tmpl), "#plan"},
		{"rollouts", "/rollouts", "#rollouts"},
		{"rollouts-filtered", fmt.Sprintf("/rollouts?status=running&template_id=%d", tmpl), "#rollout-filter"},
		{"fleet-actions", "/fleet-actions", "#fleet-actions"},
		{"fleet-action-new", fmt.Sprintf("/fleet-actions/new?kind=setup&template_id=%d", tmpl), "#fleet-form"},
		{"fleet-action", fmt.Sprintf("/fleet-actions/%d", fleet.ID), "#fleet-apps"},
		{"rollout", fmt.Sprintf("/rollouts/%d", created.ID), "#rollout"},
		{"audit-log", "/audit-log", "#audit"},
		{"accounts", "/accounts", "#accounts"},
		{"api-tokens", "/api-tokens", "#api-tokens"},
		{"webhooks", "/webhooks", "#webhooks"},
		{"webhook", "/webhooks/" + wh.ID, "#webhook"},
		{"inbox", "/authorizers/" + apps[0].AppID + "/inbox", "#conversations"},
		{"conversation", "/authorizers/" + apps[0].AppID + "/inbox/" + user.OpenID, "#messages"},
		{"subscribe", "/authorizers/" + apps[0].AppID + "/subscribe", "#subscribe-templates"},
		{"subscribe-library", "/authorizers/" + apps[0].AppID + "/subscribe/library?category=616&tid=1001", "#add-template"},
		{"cards", "/authorizers/" + oa + "/cards", "#cards"},
		{"wifi", "/authorizers/" + oa + "/wifi", "#shops"},
		{"pay", "/pay", "#applyments"},
		{"applyment", fmt.Sprintf("/pay/applyments/%d", applyment.ID), "#applyment"},
		{"tenant-pay", fmt.Sprintf("/tenants/%d/pay", tn.ID), "#tenant-pay"},
		{"pay-order", "/pay/orders/wxf_browser_0001?sub_mchid=" + paySub, "#refunds"},
	}
	for _, lang := range []string{"zh", "en"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/lang?to="+lang+"&next=/"), chromedp.WaitVisible(css("#lang-switch"))); err != nil {
			t.Fatal(err)
		}
		for _, p := range pages {
			if err := chromedp.Do(ctx, chromedp.Navigate(base+p.path), chromedp.WaitVisible(css(p.ready))); err != nil {
				t.Fatalf("%s (%s): %v", p.name, lang, err)
			}
			if p.name == "dashboard" {
				// htmx fetched the quota; dashboard.js follows the rollout.
				if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector('[id^="quota-"] .tag')`)); err != nil {
					t.Fatalf("dashboard (%s): the audit quota never loaded: %v", lang, err)
				}
				if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector('.rollout-live [data-k="summary"]')||{}).textContent.includes(' / ')`)); err != nil {
					t.Fatalf("dashboard (%s): the rollout in flight was not followed live: %v", lang, err)
				}
			}
			if p.name == "wifi" {
				// The shop's connect QR code, served through the console under the CSP.
				if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector('#shops img')||{}).naturalWidth > 0`)); err != nil {
					t.Fatalf("wifi (%s): the QR code never loaded: %v", lang, err)
				}
			}
			if p.name == "wechat-call" {
				// Sent to the sandbox: its answer shown with errcode 0.
				if err := chromedp.Do(ctx, chromedp.Click(css("#call-send")), chromedp.WaitVisible(css("#call-answer"))); err != nil {
					t.Fatalf("wechat-call (%s): %v", lang, err)
				}
				if code, err := chromedp.Run(ctx, chromedp.Text(css("#call-errcode"))); err != nil || code != "errcode 0" {
					t.Fatalf("wechat-call (%s): the sandbox answered %q (%v), want errcode 0", lang, code, err)
				}
			}
			if p.name == "authorizer" {
				// The avatar from the sandbox's origin, allowed by the CSP.
				if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector('#authorizer img.icon')||{}).naturalWidth > 0`)); err != nil {
					t.Fatalf("authorizer (%s): the avatar never loaded: %v", lang, err)
				}
				if err := chromedp.Do(ctx, chromedp.Click(css("#load-wechat")), chromedp.WaitVisible(css("#live-privacy"))); err != nil {
					t.Fatalf("authorizer (%s): the live panel: %v", lang, err)
				}
			}
			check(p.name, lang)
		}
	}
	// The onboarding form on a phone: one column, no input wider than its
	// section or the screen.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+fmt.Sprintf("/tenants/%d/pay", tn.ID)),
		chromedp.WaitVisible(css("#new-applyment"))); err != nil {
		t.Fatal(err)
	}
	if wide, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#new-applyment input, #new-applyment select, #new-applyment button')]
		.filter(e => e.offsetParent && e.getBoundingClientRect().right > Math.min(window.innerWidth, (e.closest('fieldset') || document.body).getBoundingClientRect().right))
		.map(e => e.id || e.name)`)); err != nil || len(wide) > 0 {
		t.Errorf("on a phone the onboarding form's inputs %v run off the screen (%v)", wide, err)
	}
	// Every page on a phone, in Chinese (the longer labels): nothing wider
	// than the screen (a wide table scrolls inside itself), so no page
	// scrolls sideways.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/lang?to=zh&next=/"), chromedp.WaitVisible(css("#lang-switch"))); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+p.path), chromedp.WaitVisible(css(p.ready))); err != nil {
			t.Fatalf("%s (phone): %v", p.name, err)
		}
		wide, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`document.documentElement.scrollWidth <= window.innerWidth ? [] :
			[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 &&
				![...document.querySelectorAll('table, .scroll, pre')].some(c => c !== e && c.contains(e)))
			.slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))`))
		if err != nil || len(wide) > 0 {
			t.Errorf("%s on a phone scrolls sideways: %v (%v)", p.name, wide, err)
		}
		if p.name == "dashboard" || p.name == "tenant-pay" || p.name == "conversation" {
			shots.save(ctx, p.name+"-phone")
		}
	}
	t.Logf("screenshots in %s", strings.Join(shots.dirs, ", "))
}
