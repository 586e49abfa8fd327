package main

import (
	"fmt"
	"html"
	"regexp"
	"strings"
	"testing"
)

// consoleGet signs in to the console and GETs path.
func (d *testDemo) consoleGet(path string) (int, string) {
	d.t.Helper()
	return d.console().get(path)
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

// The authorizer page shows the audit result WeChat gave a rollout (the
// rejection reason in its words) and, on request, the mini program's live
// state read from WeChat.
func TestAuthorizerPageShowsAuditsAndLiveState(t *testing.T) {
	d := bootDemo(t)
	apps := d.authorizeAll()
	app := apps[0].AppID
	if st := d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1s", "reject_words": []string{"违规"}}, nil); st != 200 {
		t.Fatalf("audit rules: %d", st)
	}
	tmpl := d.makeTemplate("2.0.0", `{"ext":{"note":"违规内容"}}`)
	var created rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl, "targets": map[string]any{"appids": []string{app}}}, &created); st != 201 {
		t.Fatalf("create rollout: %d", st)
	}
	d.waitRollout(created.ID, "completed", "paused", "failed")
	rejected := d.rolloutApps(created.ID, "rejected")
	if len(rejected) != 1 || rejected[0].Reason == "" {
		t.Fatalf("rejected apps %+v, want %s rejected with WeChat's reason", rejected, app)
	}

	st, page := d.consoleGet("/authorizers/" + app)
	if st != 200 {
		t.Fatalf("authorizer page: HTTP %d", st)
	}
	for _, want := range []string{
		`data-appid="` + app + `"`,
		fmt.Sprintf(`data-rollout="%d"`, created.ID),
		html.EscapeString(rejected[0].Reason),
		`hx-get="/authorizers/` + app + `/wechat`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("authorizer page lacks %q", want)
		}
	}
	if st, _ := d.consoleGet("/authorizers/wxnotanapp0000000"); st != 404 {
		t.Errorf("an unknown authorizer's page: HTTP %d, want 404", st)
	}

	st, live := d.consoleGet("/authorizers/" + app + "/wechat")
	if st != 200 {
		t.Fatalf("live panel: HTTP %d", st)
	}
	for _, id := range []string{"live-versions", "live-gray", "live-domains", "live-testers", "live-privacy"} {
		if !strings.Contains(live, `id="`+id+`"`) {
			t.Errorf("live panel lacks section %s", id)
		}
	}
	if strings.Contains(live, `role="alert"`) {
		t.Errorf("a live read failed against the sandbox:\n%s", live)
	}
}
