package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The fleet-wide apply of a subscribe template from the console, over HTTP
// with a real session: the library browsed through a mini program, two apps
// targeted by appid, the preview's count, a confirmation without its CSRF
// token refused, the confirmed apply followed on its page until every app has
// the template (which its own subscribe page then lists).
func TestConsoleSubscribeApply(t *testing.T) {
	d := bootDemo(t)
	apps := d.miniPrograms()[:2]
	for _, a := range apps {
		d.authorizeApp(a.AppID)
	}
	c := d.console()
	sub := "/authorizers/" + apps[0].AppID + "/subscribe?platform=" + demoPlatform.AppID
	if _, page := c.get(sub); !strings.Contains(page, `id="apply-fleet"`) {
		t.Fatal("the subscribe page does not link the fleet-wide apply")
	}
	form := url.Values{"platform": {demoPlatform.AppID}, "target": {"appids"}, "appids": {apps[0].AppID + "\n" + apps[1].AppID}}
	page := func(extra url.Values) string {
		t.Helper()
		q := url.Values{}
		for k, v := range form {
			q[k] = v
		}
		for k, v := range extra {
			q[k] = v
		}
		st, body := c.get("/subscribe-templates/apply?" + q.Encode())
		if st != 200 {
			t.Fatalf("apply page %v: HTTP %d", q, st)
		}
		return body
	}
	if body := page(nil); !strings.Contains(body, `id="categories"`) || !strings.Contains(body, "category=616") {
		t.Fatalf("the library's categories are not offered:\n%s", body)
	}
	if body := page(url.Values{"category": {"616"}}); !strings.Contains(body, `data-tid="1001"`) {
		t.Fatal("the category's templates are not listed")
	}
	body := page(url.Values{"category": {"616"}, "tid": {"1001"}})
	if !strings.Contains(body, `name="kid" value="1"`) || !strings.Contains(body, "订单内容") {
		t.Fatal("the template's keywords are not offered")
	}
	// Too few keywords: the preview says so and offers no confirmation.
	if body := page(url.Values{"category": {"616"}, "tid": {"1001"}, "kid": {"1"}, "preview": {"1"}}); !strings.Contains(body, `id="error"`) ||
		strings.Contains(body, `id="start-apply"`) {
		t.Fatal("a preview with one keyword was not refused")
	}
	chosen := url.Values{"category": {"616"}, "tid": {"1001"}, "kid": {"1", "2", "3"}, "preview": {"1"}}
	body = page(chosen)
	if !strings.Contains(body, `id="apply-count">2<`) || !strings.Contains(body, `id="start-apply"`) {
		t.Fatalf("the preview does not count the 2 apps:\n%s", body)
	}
	confirm := url.Values{}
	for k, v := range form {
		confirm[k] = v
	}
	for k, v := range chosen {
		confirm[k] = v
	}
	confirm.Del("preview")
	// Without its CSRF token the confirmation is refused.
	req, _ := http.NewRequest("POST", d.Platform.URL()+"/subscribe-templates/apply", strings.NewReader(confirm.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if st, _, _ := c.do(req); st != http.StatusForbidden {
		t.Fatalf("a confirmation without CSRF: HTTP %d, want 403", st)
	}
	st, loc := c.post("/subscribe-templates/apply", confirm)
	if st != http.StatusSeeOther || !regexp.MustCompile(`^/subscribe-templates/apply/\d+\?platform=`).MatchString(loc) {
		t.Fatalf("confirm: HTTP %d → %q", st, loc)
	}
	var status string
	d.eventually("both apps have the template", func() bool {
		_, status = c.get(loc)
		return strings.Contains(status, `id="count-added">2<`) && strings.Contains(status, `id="apply-state">已结束`)
	})
	if strings.Contains(status, "hx-trigger") {
		t.Error("a finished apply still polls")
	}
	ids := regexp.MustCompile(`<code>([^<]+)</code>`).FindAllStringSubmatch(status, -1)
	if len(ids) != 2 {
		t.Fatalf("template ids on the apply page: %v", ids)
	}
	if _, page := c.get(sub); !strings.Contains(page, ids[0][1]) && !strings.Contains(page, ids[1][1]) {
		t.Error("the app's subscribe page does not list the applied template")
	}
}
