package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// appCalls returns how many calls of path the sandbox answered with errcode
// 0 for each app.
func (d *testDemo) appCalls(path string) map[string]int {
	d.t.Helper()
	var out struct {
		Items []struct {
			AppID   string `json:"appid"`
			Errcode int    `json:"errcode"`
			Count   int    `json:"count"`
		} `json:"items"`
	}
	if st := d.sandbox("GET", "/sandbox/api/calls?by=appid&path="+path, nil, &out); st != 200 {
		d.t.Fatalf("sandbox calls of %s: %d", path, st)
	}
	m := map[string]int{}
	for _, it := range out.Items {
		if it.Errcode == 0 {
			m[it.AppID] += it.Count
		}
	}
	return m
}

type fleetStatus struct {
	ID     int64          `json:"id"`
	Status string         `json:"status"`
	Counts map[string]int `json:"counts"`
}

type fleetApp struct {
	AppID       string `json:"appid"`
	State       string `json:"state"`
	Result      string `json:"result"`
	LastErrcode int    `json:"last_errcode"`
}

// fleetAction starts a fleet action, waits for it to complete and returns
// it with its apps.
func (d *testDemo) fleetAction(body map[string]any) (fleetStatus, []fleetApp) {
	d.t.Helper()
	var created fleetStatus
	if st := d.api("POST", "/api/v1/fleet-actions", body, &created); st != 201 || created.ID == 0 {
		d.t.Fatalf("fleet action %v: %d %+v", body, st, created)
	}
	var a fleetStatus
	d.eventually(fmt.Sprintf("fleet action %d", created.ID), func() bool {
		a = fleetStatus{} // fresh each time
		d.api("GET", fmt.Sprintf("/api/v1/fleet-actions/%d", created.ID), nil, &a)
		return a.Status == "completed"
	})
	var apps struct {
		Items []fleetApp `json:"items"`
	}
	d.api("GET", fmt.Sprintf("/api/v1/fleet-actions/%d/apps?limit=1000", created.ID), nil, &apps)
	return a, apps.Items
}

type sbSettings struct {
	Domains struct {
		Request []string `json:"requestdomain"`
		WS      []string `json:"wsrequestdomain"`
	} `json:"domains"`
	Webview []string `json:"webviewdomain"`
	Testers int      `json:"testers"`
}

func (d *testDemo) appSettings(appid string) sbSettings {
	d.t.Helper()
	var s sbSettings
	if st := d.sandbox("GET", "/sandbox/api/apps/"+appid+"/code", nil, &s); st != 200 {
		d.t.Fatalf("sandbox code of %s: %d", appid, st)
	}
	return s
}

// policyTemplate makes a template from a draft whose code uses the
// PhoneNumber privacy API, and declares its domains and privacy guide.
func (d *testDemo) policyTemplate(version string) int64 {
	d.t.Helper()
	var draft struct {
		DraftID int64 `json:"draft_id"`
	}
	if st := d.sandbox("POST", "/sandbox/api/drafts", map[string]any{"user_version": version, "pages": []string{"pages/index/index"},
		"privacy_keys": []string{"PhoneNumber"}}, &draft); st != 200 {
		d.t.Fatalf("sandbox draft: %d", st)
	}
	var tmpl struct {
		TemplateID int64 `json:"template_id"`
	}
	if st := d.api("POST", "/api/v1/templates", map[string]any{"draft_id": draft.DraftID, "ext_json": `{"ext":{"shop":"${appid}"}}`}, &tmpl); st != 201 {
		d.t.Fatalf("make template: %d", st)
	}
	policy := map[string]any{
		"domains":       map[string]any{"requestdomain": []string{"https://api.shop.example"}, "wsrequestdomain": []string{"wss://ws.shop.example"}},
		"webviewdomain": []string{"https://h5.shop.example"},
		"privacy": map[string]any{"owner_setting": map[string]any{"contact_email": "privacy@shop.example", "notice_method": "弹窗提示"},
			"setting_list": []any{map[string]any{"privacy_key": "PhoneNumber", "privacy_text": "用于会员登录"}}},
	}
	// A domain with the wrong scheme for its list is refused before anything is stored.
	bad := map[string]any{"domains": map[string]any{"requestdomain": []string{"wss://api.shop.example"}}}
	if st := d.api("PUT", fmt.Sprintf("/api/v1/templates/%d/policy", tmpl.TemplateID), bad, nil); st != 400 {
		d.t.Fatalf("a bad policy: %d", st)
	}
	var got struct {
		Policy map[string]any `json:"policy"`
	}
	if st := d.api("PUT", fmt.Sprintf("/api/v1/templates/%d/policy", tmpl.TemplateID), policy, &got); st != 200 || got.Policy["privacy"] == nil {
		d.t.Fatalf("set policy: %d %+v", st, got)
	}
	return tmpl.TemplateID
}

// registerPlatformDomains gives the demo platform the server and business
// domains the policy names, as its developer would in the Open Platform console.
func (d *testDemo) registerPlatformDomains() {
	d.t.Helper()
	if st := d.sandbox("POST", "/sandbox/api/components/"+demoPlatform.AppID+"/domains",
		map[string]any{"server": []string{"api.shop.example", "ws.shop.example"}, "jump": []string{"shop.example"}}, nil); st != 200 {
		d.t.Fatalf("platform domains: %d", st)
	}
}

// A template declares its domains and privacy guide. A fleet setup action
// applies it to one app; then a rollout's prepare step sets them on the
// apps missing them (their code uses a privacy API: without the guide WeChat
// would refuse the audit) and, on the app already matching, only reads them
// (no set call, counted by the sandbox). A mini program authorizing after
// the policy exists gets it at once.
func TestRolloutAppliesTemplatePolicy(t *testing.T) {
	d := bootDemo(t)
	apps := d.authorizeAll()
	d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1s"}, nil)
	d.registerPlatformDomains()
	tmpl := d.policyTemplate("3.0.0")

	matching := apps[0].AppID
	a, items := d.fleetAction(map[string]any{"kind": "setup", "targets": map[string][]string{"appids": {matching}}})
	if a.Counts["done"] != 1 || len(items) != 1 || !strings.Contains(items[0].Result, "privacy") {
		t.Fatalf("setup action: %+v %+v", a, items)
	}
	if s := d.appSettings(matching); len(s.Domains.Request) != 1 || s.Domains.Request[0] != "https://api.shop.example" ||
		len(s.Webview) != 1 {
		t.Fatalf("settings after setup: %+v", s)
	}
	if st := d.sandbox("DELETE", "/sandbox/api/calls", nil, nil); st != 200 {
		t.Fatalf("reset calls: %d", st)
	}

	var created rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl, "targets": map[string]bool{"all": true}, "batch_size": 3}, &created); st != 201 {
		t.Fatalf("create rollout: %d", st)
	}
	if r := d.waitRollout(created.ID, "completed", "paused"); r.Counts["released"] != len(apps) {
		t.Fatalf("rollout: %+v %+v", r, d.rolloutApps(created.ID, ""))
	}
	domains, webview := d.appCalls("/wxa/modify_domain"), d.appCalls("/wxa/setwebviewdomain")
	getPrivacy, setPrivacy := d.appCalls("/cgi-bin/component/getprivacysetting"), d.appCalls("/cgi-bin/component/setprivacysetting")
	// An app's authorization push can be handled after the policy template
	// exists (the callback completed the authorization first; under the race
	// detector the push comes seconds later), and then the on-authorization
	// job has set the policy already: the prepare step only reads. Every other
	// app missing the policy gets it set by the prepare step.
	prepared := 0
	for _, app := range apps {
		read, set := domains[app.AppID] == 1 && webview[app.AppID] == 1 && getPrivacy[app.AppID] == 1 && setPrivacy[app.AppID] == 0,
			domains[app.AppID] == 2 && webview[app.AppID] == 2 && getPrivacy[app.AppID] == 1 && setPrivacy[app.AppID] == 1
		switch {
		case app.AppID == matching && !read:
			t.Errorf("%s (already matching): modify_domain %d, setwebviewdomain %d, getprivacysetting %d, setprivacysetting %d; want reads only (1, 1, 1, 0)",
				app.AppID, domains[app.AppID], webview[app.AppID], getPrivacy[app.AppID], setPrivacy[app.AppID])
		case app.AppID != matching && set:
			prepared++
		case app.AppID != matching && read:
			t.Logf("%s: the on-authorization job set the policy before the rollout's prepare step", app.AppID)
		case app.AppID != matching:
			t.Errorf("%s: modify_domain %d, setwebviewdomain %d, getprivacysetting %d, setprivacysetting %d; want read then set (2, 2, 1, 1)",
				app.AppID, domains[app.AppID], webview[app.AppID], getPrivacy[app.AppID], setPrivacy[app.AppID])
		}
		if s := d.appSettings(app.AppID); len(s.Domains.WS) != 1 || s.Domains.WS[0] != "wss://ws.shop.example" {
			t.Errorf("%s settings after the rollout: %+v", app.AppID, s)
		}
	}
	if prepared == 0 {
		t.Errorf("no app had the policy set by the rollout's prepare step")
	}

	// Authorizing now: the policy is applied by the authorization's setup job.
	var bulk struct {
		AppIDs []string `json:"appids"`
	}
	if st := d.sandbox("POST", "/sandbox/api/apps/bulk", map[string]any{"count": 1, "authorize": true}, &bulk); st != 200 || len(bulk.AppIDs) != 1 {
		t.Fatalf("bulk: %d %+v", st, bulk)
	}
	d.eventually("the new app's domains", func() bool {
		s := d.appSettings(bulk.AppIDs[0])
		return len(s.Domains.Request) == 1 && len(s.Webview) == 1
	})
	d.eventually("the new app's privacy guide", func() bool { return d.appCalls("/cgi-bin/component/setprivacysetting")[bulk.AppIDs[0]] == 1 })
}

// Testers fleet-wide: bind one WeChat user to every app (each app a paced
// job), again (already a tester: done, nothing changes), a WeChat id WeChat
// does not know (85001 per app), then unbind.
func TestFleetTesters(t *testing.T) {
	d := bootDemo(t)
	apps := d.authorizeAll()
	all := map[string]bool{"all": true}
	a, items := d.fleetAction(map[string]any{"kind": "bind_tester", "wechatid": "tester_li", "targets": all})
	if a.Counts["done"] != len(apps) || len(items) != len(apps) {
		t.Fatalf("bind: %+v %+v", a, items)
	}
	for _, app := range apps {
		if s := d.appSettings(app.AppID); s.Testers != 1 {
			t.Errorf("%s has %d testers", app.AppID, s.Testers)
		}
	}
	var testers struct {
		UserStrs []string `json:"userstrs"`
	}
	if st := d.api("GET", "/api/v1/authorizers/"+apps[0].AppID+"/testers", nil, &testers); st != 200 || len(testers.UserStrs) != 1 {
		t.Fatalf("testers: %d %+v", st, testers)
	}
	if a, items := d.fleetAction(map[string]any{"kind": "bind_tester", "wechatid": "tester_li", "targets": all}); a.Counts["done"] != len(apps) ||
		!strings.Contains(items[0].Result, "already") {
		t.Fatalf("bind again: %+v %+v", a, items)
	}
	a, items = d.fleetAction(map[string]any{"kind": "bind_tester", "wechatid": "ghost_user", "targets": all})
	if a.Counts["failed"] != len(apps) || items[0].LastErrcode != 85001 {
		t.Fatalf("unknown WeChat id: %+v %+v", a, items)
	}
	if a, _ := d.fleetAction(map[string]any{"kind": "unbind_tester", "wechatid": "tester_li", "targets": map[string][]string{"appids": {apps[0].AppID, apps[1].AppID}}}); a.Counts["done"] != 2 {
		t.Fatalf("unbind: %+v", a)
	}
	if s := d.appSettings(apps[0].AppID); s.Testers != 0 {
		t.Errorf("after unbind %s has %d testers", apps[0].AppID, s.Testers)
	}
	if s := d.appSettings(apps[2].AppID); s.Testers != 1 {
		t.Errorf("%s (not targeted) has %d testers", apps[2].AppID, s.Testers)
	}
	if st := d.api("POST", "/api/v1/fleet-actions", map[string]any{"kind": "bind_tester", "targets": all}, nil); st != 400 {
		t.Fatalf("bind without wechatid: %d", st)
	}
}

// The dry run says per app why it would be skipped or wait: a gray release
// in progress, suspended by WeChat (86007 at its last submission), no longer
// authorized, without the code-management permission, and beyond the audit
// quota; it sends nothing that changes an app. The rollout then skips the
// same apps.
func TestDryRunReasons(t *testing.T) {
	// The dry run leaves the platform's cached audit quota at one left, and
	// the test restores WeChat's quota behind its back: with the demo's
	// quota wait the third rollout's submits would wait minutes for the
	// cache to be asked again. A short wait keeps the test on its subject.
	d := bootDemoWith(t, func(o *demoOptions) { o.RolloutQuotaWait = 300 * time.Millisecond })
	apps := d.authorizeAll()
	d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1s"}, nil)
	gray, suspended, revoked := apps[0].AppID, apps[1].AppID, apps[2].AppID
	var bulk struct {
		AppIDs []string `json:"appids"`
	}
	if st := d.sandbox("POST", "/sandbox/api/apps/bulk", map[string]any{"count": 1, "authorize": true, "func_info": []int{17, 19}}, &bulk); st != 200 {
		t.Fatalf("bulk: %d", st)
	}
	noPerm := bulk.AppIDs[0]
	d.eventually("the app without permission 18", func() bool { got, st := d.authorizer(noPerm); return st == 200 && got.Status == "authorized" })

	// Version 1 everywhere; the suspended app's submission is refused.
	if st := d.sandbox("POST", "/sandbox/api/apps/"+suspended+"/suspend", map[string]any{"suspended": true}, nil); st != 200 {
		t.Fatalf("suspend: %d", st)
	}
	ext := `{"ext":{"shop":"${appid}"}}`
	var first rolloutStatus
	ids := []string{}
	for _, a := range apps {
		ids = append(ids, a.AppID)
	}
	d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": d.makeTemplate("1.0.0", ext), "targets": map[string][]string{"appids": ids}, "max_failure_ratio": 1}, &first)
	if r := d.waitRollout(first.ID, "completed"); r.Counts["failed"] != 1 || r.Counts["released"] != len(apps)-1 {
		t.Fatalf("first rollout: %+v", r)
	}
	// Version 2 in gray release on one app.
	var second rolloutStatus
	d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": d.makeTemplate("2.0.0", ext), "targets": map[string][]string{"appids": {gray}}, "gray_percentage": 10}, &second)
	d.waitRollout(second.ID, "completed")
	if st := d.sandbox("POST", "/sandbox/api/apps/"+revoked+"/unauthorize", map[string]any{}, nil); st != 200 {
		t.Fatalf("unauthorize: %d", st)
	}
	d.eventually("the revocation", func() bool { got, _ := d.authorizer(revoked); return got.Status != "authorized" })
	// One submission left this month: only the first app that can go would be submitted now.
	var limits struct {
		AuditQuota int `json:"audit_quota"`
	}
	d.sandbox("GET", "/sandbox/api/code-limits", nil, &limits)
	used := len(apps) // the first rollout's submissions but the suspended one's (refused), and the gray one
	d.sandbox("POST", "/sandbox/api/code-limits", map[string]any{"audit_quota": used + 1}, nil)
	tmpl3 := d.makeTemplate("3.0.0", ext)
	d.sandbox("DELETE", "/sandbox/api/calls", nil, nil)
	var plan struct {
		Items []struct {
			AppID, Action, Reason string
		} `json:"items"`
		Commit, Wait, Skip int
		AuditQuotaRest     *int   `json:"audit_quota_rest"`
		GrayChecked        string `json:"gray_checked"`
	}
	targets := append(slices.Clone(ids), noPerm)
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"dry_run": true, "template_id": tmpl3, "targets": map[string][]string{"appids": targets}}, &plan); st != 200 {
		t.Fatalf("dry run: %d", st)
	}
	want := map[string]string{gray: "gray release", suspended: "suspended by WeChat", revoked: "authorization status", noPerm: "permission set 18"}
	waits := 0
	for _, it := range plan.Items {
		if w, ok := want[it.AppID]; ok {
			if it.Action != "skip" || !strings.Contains(it.Reason, w) {
				t.Errorf("%s: %s %q, want skip for %q", it.AppID, it.Action, it.Reason, w)
			}
			continue
		}
		if it.Action == "wait" && strings.Contains(it.Reason, "audit quota") {
			waits++
		} else if it.Action != "commit" {
			t.Errorf("%s: %s %q", it.AppID, it.Action, it.Reason)
		}
	}
	if plan.AuditQuotaRest == nil || *plan.AuditQuotaRest != 1 || plan.Commit != 1 || waits != len(targets)-4-1 || plan.Skip != 4 || plan.GrayChecked != "wechat" {
		t.Fatalf("plan: commit %d wait %d (%d) skip %d rest %v gray %q: %+v", plan.Commit, plan.Wait, waits, plan.Skip, *plan.AuditQuotaRest, plan.GrayChecked, plan)
	}
	var calls struct {
		Calls map[string]int `json:"calls"`
	}
	d.sandbox("GET", "/sandbox/api/calls", nil, &calls)
	for path, n := range calls.Calls {
		if path != "/wxa/getgrayreleaseplan" && path != "/wxa/queryquota" && n > 0 && strings.HasPrefix(path, "/wxa/") {
			t.Errorf("the dry run called %s %d times", path, n)
		}
	}

	// The rollout skips the same apps.
	d.sandbox("POST", "/sandbox/api/code-limits", map[string]any{"audit_quota": limits.AuditQuota}, nil)
	var third rolloutStatus
	d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl3, "targets": map[string][]string{"appids": targets}}, &third)
	r := d.waitRollout(third.ID, "completed")
	if r.Counts["skipped"] != 4 || r.Counts["released"] != len(targets)-4 {
		t.Fatalf("third rollout: %+v %+v", r, d.rolloutApps(third.ID, "skipped"))
	}
	for _, a := range d.rolloutApps(third.ID, "skipped") {
		if !strings.Contains(a.Reason, want[a.AppID]) {
			t.Errorf("skipped %s: %q, want %q", a.AppID, a.Reason, want[a.AppID])
		}
	}
	// Clearing WeChat's hold lets the app go again.
	if st := d.api("DELETE", "/api/v1/authorizers/"+suspended+"/hold", nil, nil); st != 204 {
		t.Fatalf("release hold: %d", st)
	}
	if st := d.api("DELETE", "/api/v1/authorizers/"+suspended+"/hold", nil, nil); st != 404 {
		t.Fatalf("release hold twice: %d", st)
	}
}
