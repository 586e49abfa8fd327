package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// consoleGet signs in to the console with the admin token and GETs path,
// returning the status and the page.
func (d *testDemo) consoleGet(path string) (int, string) {
	d.t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(d.Platform.URL()+"/login", url.Values{"token": {d.AdminToken}, "next": {"/"}})
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "wxfleet_session" {
			session = c
		}
	}
	if session == nil {
		d.t.Fatalf("console login: HTTP %d, no session cookie", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", d.Platform.URL()+path, nil)
	req.AddCookie(session)
	resp, err = noRedirect.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The dashboard counts the platform's authorizers by status and its token
// health from the database, and its audit-quota fragment asks WeChat.
func TestDashboardShowsTheFleet(t *testing.T) {
	d := bootDemo(t)
	apps := d.authorizeAll()
	n, first := len(apps), apps[0].AppID
	if n < 2 {
		t.Fatalf("the demo has %d mini programs, want several", n)
	}

	st, page := d.consoleGet("/")
	if st != 200 {
		t.Fatalf("GET /: HTTP %d", st)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(fmt.Sprintf(`data-status="authorized">%d<`, n)),
		regexp.MustCompile(`data-status="revoked">0<`),
		regexp.MustCompile(fmt.Sprintf(`data-tokens="fresh">%d<`, n)),
		regexp.MustCompile(`<svg class="chart"`),
		regexp.MustCompile(`hx-get="/dashboard/quota\?platform=` + regexp.QuoteMeta(demoPlatform.AppID) + `"`),
	} {
		if !want.MatchString(page) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	// The pushes of the two authorizations are in the chart's hour.
	if m := regexp.MustCompile(`近 1 小时 last hour: (\d+)`).FindStringSubmatch(page); m == nil || m[1] == "0" {
		t.Errorf("dashboard pushes in the last hour: %v, want the authorization pushes counted", m)
	}

	// The merchant cancels one: the counts follow.
	d.sandbox("POST", "/sandbox/api/apps/"+first+"/unauthorize", map[string]any{"component_appid": demoPlatform.AppID}, nil)
	d.eventually("the revoked authorizer counted", func() bool {
		_, page := d.consoleGet("/")
		return strings.Contains(page, `data-status="revoked">1<`) && strings.Contains(page, fmt.Sprintf(`data-status="authorized">%d<`, n-1))
	})

	st, frag := d.consoleGet("/dashboard/quota?platform=" + demoPlatform.AppID)
	if st != 200 || !regexp.MustCompile(`本月剩余 \d+ 次`).MatchString(frag) {
		t.Fatalf("quota fragment: HTTP %d %q, want the month's audit quota", st, frag)
	}
}
