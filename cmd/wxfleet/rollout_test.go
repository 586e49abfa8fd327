package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// authorizeAll authorizes every seeded mini program through the push path
// (the sandbox's headless authorize, the browser's redirect not followed).
func (d *testDemo) authorizeAll() []sbApp {
	d.t.Helper()
	apps := d.miniPrograms()
	for _, a := range apps {
		var link struct {
			PCURL string `json:"pc_url"`
		}
		if st := d.api("POST", "/api/v1/authorization-links", map[string]any{}, &link); st != 201 {
			d.t.Fatalf("authorization link: %d", st)
		}
		if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": a.AppID}, nil); st != 200 {
			d.t.Fatalf("sandbox authorize %s: %d", a.AppID, st)
		}
	}
	for _, a := range apps {
		d.eventually("authorizer "+a.AppID, func() bool {
			got, st := d.authorizer(a.AppID)
			return st == 200 && got.Status == "authorized"
		})
	}
	return apps
}

type rolloutStatus struct {
	ID           int64          `json:"id"`
	Status       string         `json:"status"`
	StatusReason string         `json:"status_reason"`
	Counts       map[string]int `json:"counts"`
	Cohort       int            `json:"cohort"`
	Cohorts      int            `json:"cohorts"`
}

type rolloutApp struct {
	AppID       string `json:"appid"`
	State       string `json:"state"`
	Reason      string `json:"reason"`
	ScreenShot  string `json:"screenshot"`
	LastErrcode int    `json:"last_errcode"`
	LastError   string `json:"last_error"`
}

type sbCode struct {
	Exp *struct {
		UserVersion string `json:"user_version"`
	} `json:"exp"`
	Released *struct {
		UserVersion string `json:"user_version"`
	} `json:"released"`
	Gray *struct {
		Percentage int `json:"gray_percentage"`
	} `json:"gray"`
	Latest *struct {
		Reason string `json:"reason"`
	} `json:"latest_audit"`
	Counts map[string]int `json:"counts"`
}

func (d *testDemo) appCode(appid string) sbCode {
	d.t.Helper()
	var c sbCode
	if st := d.sandbox("GET", "/sandbox/api/apps/"+appid+"/code", nil, &c); st != 200 {
		d.t.Fatalf("sandbox code of %s: %d", appid, st)
	}
	return c
}

// waitRollout polls the rollout until its status is one of want.
func (d *testDemo) waitRollout(id int64, want ...string) rolloutStatus {
	d.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var r rolloutStatus // fresh each time: an omitted field must not keep an old value
		d.api("GET", fmt.Sprintf("/api/v1/rollouts/%d", id), nil, &r)
		for _, w := range want {
			if r.Status == w {
				return r
			}
		}
		if time.Now().After(deadline) {
			var apps struct {
				Items []rolloutApp `json:"items"`
			}
			d.api("GET", fmt.Sprintf("/api/v1/rollouts/%d/apps", id), nil, &apps)
			d.t.Fatalf("rollout %d is %s %+v, want %v; apps %+v", id, r.Status, r, want, apps.Items)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *testDemo) rolloutApps(id int64, state string) []rolloutApp {
	d.t.Helper()
	var apps struct {
		Items []rolloutApp `json:"items"`
	}
	d.api("GET", fmt.Sprintf("/api/v1/rollouts/%d/apps?state=%s", id, state), nil, &apps)
	return apps.Items
}

// makeTemplate uploads a draft in the sandbox and makes it a template with
// extJSON; it returns the template id.
func (d *testDemo) makeTemplate(version, extJSON string) int64 {
	d.t.Helper()
	var draft struct {
		DraftID int64 `json:"draft_id"`
	}
	if st := d.sandbox("POST", "/sandbox/api/drafts", map[string]any{"user_version": version, "user_desc": "版本 " + version,
		"pages": []string{"pages/index/index", "pages/menu/menu"}}, &draft); st != 200 && st != 201 {
		d.t.Fatalf("sandbox draft: %d", st)
	}
	var tmpl struct {
		TemplateID int64  `json:"template_id"`
		ExtJSON    string `json:"ext_json"`
	}
	if st := d.api("POST", "/api/v1/templates", map[string]any{"draft_id": draft.DraftID, "ext_json": extJSON, "notes": "e2e"}, &tmpl); st != 201 {
		d.t.Fatalf("make template: %d", st)
	}
	if tmpl.TemplateID == 0 || tmpl.ExtJSON != extJSON {
		d.t.Fatalf("template = %+v", tmpl)
	}
	return tmpl.TemplateID
}

// A template goes out to every authorized mini program: a merchant without
// the setting its ext_json needs is skipped (said in the dry run), one whose
// configuration contains a word the reviewers refuse is rejected with
// WeChat's reason, the rest are released — each committed, submitted and
// released exactly once. Then a second version goes out and is rolled back,
// and a third is gray-released.
func TestRolloutEndToEnd(t *testing.T) { rolloutEndToEnd(t, bootDemo(t)) }

// On PostgreSQL the suite runs on two instances sharing the database: see
// TestRolloutEndToEndOnTwoPostgresInstances.

func rolloutEndToEnd(t *testing.T, d *testDemo) {
	apps := d.authorizeAll()
	if st := d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1s", "reject_words": []string{"违规"}}, nil); st != 200 {
		t.Fatalf("audit rules: %d", st)
	}
	skipped, rejected := apps[0].AppID, apps[1].AppID
	for i, a := range apps[1:] {
		name := fmt.Sprintf("门店 %d", i)
		if a.AppID == rejected {
			name = "违规门店"
		}
		if st := d.api("PUT", "/api/v1/authorizers/"+a.AppID+"/settings", map[string]any{"shop": map[string]any{"name": name}}, nil); st != 200 {
			t.Fatalf("settings of %s: %d", a.AppID, st)
		}
	}
	ext := `{"ext":{"shopName":"${settings.shop.name}"},"window":{"navigationBarTitleText":"${settings.shop.name}"}}`
	tmpl := d.makeTemplate("1.0.0", ext)

	var preview struct {
		ExtJSON string `json:"ext_json"`
	}
	if st := d.api("GET", fmt.Sprintf("/api/v1/templates/%d/ext-json?appid=%s", tmpl, apps[2].AppID), nil, &preview); st != 200 ||
		!strings.Contains(preview.ExtJSON, `"extAppid":"`+apps[2].AppID+`"`) || !strings.Contains(preview.ExtJSON, "门店 1") {
		t.Fatalf("preview: %d %s", st, preview.ExtJSON)
	}

	req := map[string]any{"template_id": tmpl, "targets": map[string]bool{"all": true}, "batch_size": 2, "max_failure_ratio": 1}
	var plan struct {
		Items []struct{ AppID, Action, Reason string } `json:"items"`
		Skip  int                                      `json:"skip"`
	}
	dry := map[string]any{"dry_run": true}
	for k, v := range req {
		dry[k] = v
	}
	if st := d.api("POST", "/api/v1/rollouts", dry, &plan); st != 200 || plan.Skip != 1 {
		t.Fatalf("dry run: %d %+v", st, plan)
	}
	for _, it := range plan.Items {
		if (it.AppID == skipped) != (it.Action == "skip") || (it.Action == "skip" && !strings.Contains(it.Reason, "shop.name")) {
			t.Fatalf("dry run item %+v", it)
		}
	}
	for _, a := range apps {
		if c := d.appCode(a.AppID); c.Counts["commits"] != 0 {
			t.Fatalf("the dry run committed %s", a.AppID)
		}
	}

	var created rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", req, &created); st != 201 || created.ID == 0 {
		t.Fatalf("create rollout: %d %+v", st, created)
	}
	r := d.waitRollout(created.ID, "completed")
	n := len(apps)
	if r.Counts["total"] != n || r.Counts["released"] != n-2 || r.Counts["rejected"] != 1 || r.Counts["skipped"] != 1 || r.Cohorts != (n+1)/2 {
		t.Fatalf("rollout finished with %+v", r)
	}
	rej := d.rolloutApps(created.ID, "rejected")
	if len(rej) != 1 || rej[0].AppID != rejected || rej[0].Reason == "" || rej[0].ScreenShot == "" {
		t.Fatalf("rejected apps: %+v", rej)
	}
	for _, a := range apps {
		c := d.appCode(a.AppID)
		switch a.AppID {
		case skipped:
			if c.Counts["commits"] != 0 {
				t.Errorf("skipped %s was committed: %+v", a.AppID, c.Counts)
			}
		case rejected:
			if c.Counts["commits"] != 1 || c.Counts["submits"] != 1 || c.Counts["releases"] != 0 {
				t.Errorf("rejected %s: %+v", a.AppID, c.Counts)
			}
		default:
			if c.Counts["commits"] != 1 || c.Counts["submits"] != 1 || c.Counts["releases"] != 1 || c.Released == nil || c.Released.UserVersion != "1.0.0" {
				t.Errorf("released %s: %+v", a.AppID, c)
			}
		}
	}

	// Version 1.0.1 to the released ones, then back to 1.0.0.
	released := []string{}
	for _, a := range apps {
		if a.AppID != skipped && a.AppID != rejected {
			released = append(released, a.AppID)
		}
	}
	tmpl2 := d.makeTemplate("1.0.1", ext)
	var second rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl2, "targets": map[string][]string{"appids": released}}, &second); st != 201 {
		t.Fatalf("second rollout: %d", st)
	}
	if r := d.waitRollout(second.ID, "completed"); r.Counts["released"] != len(released) {
		t.Fatalf("second rollout: %+v", r)
	}
	if c := d.appCode(released[0]); c.Released == nil || c.Released.UserVersion != "1.0.1" {
		t.Fatalf("after the second rollout %s runs %+v", released[0], c.Released)
	}
	if st := d.api("POST", fmt.Sprintf("/api/v1/rollouts/%d/rollback", second.ID), map[string]any{}, nil); st != 200 {
		t.Fatalf("rollback: %d", st)
	}
	d.eventually("the rollback", func() bool {
		var r rolloutStatus // fresh each time
		d.api("GET", fmt.Sprintf("/api/v1/rollouts/%d", second.ID), nil, &r)
		return r.Counts["rolled_back"] == len(released)
	})
	for _, id := range released {
		if c := d.appCode(id); c.Released == nil || c.Released.UserVersion != "1.0.0" || c.Counts["rollbacks"] != 1 {
			t.Errorf("after the rollback %s: %+v", id, c)
		}
	}

	// The app's history: the rollouts that reached it, newest first, and
	// WeChat's own versions.
	var hist struct {
		Items []struct {
			RolloutID   int64  `json:"rollout_id"`
			UserVersion string `json:"user_version"`
			State       string `json:"state"`
		} `json:"items"`
		WeChat struct {
			Versions struct {
				Release *struct {
					Version string `json:"release_version"`
				} `json:"release_info"`
			} `json:"versions"`
			History []map[string]any `json:"history"`
		} `json:"wechat"`
	}
	if st := d.api("GET", "/api/v1/authorizers/"+released[0]+"/versions?wechat=1", nil, &hist); st != 200 ||
		len(hist.Items) != 2 || hist.Items[0].RolloutID != second.ID || hist.Items[0].State != "rolled_back" ||
		hist.Items[1].UserVersion != "1.0.0" || hist.Items[1].State != "released" ||
		hist.WeChat.Versions.Release == nil || hist.WeChat.Versions.Release.Version != "1.0.0" {
		t.Fatalf("versions: %d %+v", st, hist)
	}

	// A gray release at 10 %.
	tmpl3 := d.makeTemplate("1.1.0", ext)
	var gray rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl3, "targets": map[string][]string{"appids": released[:1]}, "gray_percentage": 10}, &gray); st != 201 {
		t.Fatalf("gray rollout: %d", st)
	}
	d.waitRollout(gray.ID, "completed")
	if c := d.appCode(released[0]); c.Gray == nil || c.Gray.Percentage != 10 || c.Counts["gray_releases"] != 1 {
		t.Fatalf("gray release: %+v", c)
	}
}

// With a fifth of the code calls failing — WeChat's "system busy" (-1), its
// daily quota (45009), answers slower than the client waits (a timeout), and
// calls WeChat carried out whose answer was lost — the rollout still
// completes with every app committed, submitted and released exactly once:
// an unknown outcome is settled by asking, not by calling again.
func TestRolloutSurvivesFaults(t *testing.T) {
	d := bootDemoWith(t, func(o *demoOptions) {
		o.RolloutRetryBase, o.RolloutQuotaWait, o.WeChatTimeout = 200*time.Millisecond, 300*time.Millisecond, time.Second
		o.RolloutSettleTime = 3 * time.Second
		o.AuditPollInterval = 500 * time.Millisecond
	})
	apps := d.authorizeAll()
	d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "500ms", "lose_push_rate": 0.5}, nil)
	tmpl := d.makeTemplate("2.0.0", `{"ext":{"v":"2"}}`)
	// Each fault fires on the next calls of its path, in this order, and is
	// gone once it fired count times: every kind surely fires, at a fifth of
	// the calls or more (7 apps).
	for _, f := range []map[string]any{
		{"path": "/wxa/commit", "errcode": -1, "count": 3}, // the client retries -1 itself, once
		{"path": "/wxa/commit", "errcode": 45009, "count": 1},
		{"path": "/wxa/commit", "lose_answer": true, "count": 2},
		{"path": "/wxa/submit_audit", "latency": "1500ms", "count": 1},
		{"path": "/wxa/submit_audit", "lose_answer": true, "count": 2},
		{"path": "/wxa/submit_audit", "errcode": -1, "count": 2},
		{"path": "/wxa/get_auditstatus", "errcode": -1, "count": 2},
		{"path": "/wxa/release", "errcode": 45009, "count": 1},
		{"path": "/wxa/release", "latency": "1500ms", "count": 1},
		{"path": "/wxa/release", "lose_answer": true, "count": 2},
	} {
		if st := d.sandbox("POST", "/sandbox/api/faults", f, nil); st != 200 && st != 201 {
			t.Fatalf("fault %v: %d", f, st)
		}
	}
	var created rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl, "targets": map[string]bool{"all": true}, "batch_size": 3}, &created); st != 201 {
		t.Fatalf("create rollout: %d", st)
	}
	r := d.waitRollout(created.ID, "completed", "paused", "failed")
	if r.Status != "completed" || r.Counts["released"] != len(apps) {
		t.Fatalf("rollout under faults: %+v; failed apps %+v", r, d.rolloutApps(created.ID, "failed"))
	}
	for _, a := range apps {
		c := d.appCode(a.AppID)
		if c.Counts["commits"] != 1 || c.Counts["submits"] != 1 || c.Counts["releases"] != 1 {
			t.Errorf("%s: %+v, want one commit, one submit, one release", a.AppID, c.Counts)
		}
	}
	var faults struct {
		Items []map[string]any `json:"items"`
	}
	d.sandbox("GET", "/sandbox/api/faults", nil, &faults)
	if len(faults.Items) != 0 {
		t.Errorf("faults that never fired all their times: %v", faults.Items)
	}
}

// When the platform's monthly audit quota runs out the rollout waits, says
// why, and fails no app; once the quota is raised it goes on and completes.
func TestRolloutWaitsForAuditQuota(t *testing.T) {
	d := bootDemoWith(t, func(o *demoOptions) {
		o.RolloutRetryBase, o.RolloutQuotaWait, o.AuditPollInterval = 200*time.Millisecond, 250*time.Millisecond, 500*time.Millisecond
	})
	apps := d.authorizeAll()
	d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "300ms"}, nil)
	if st := d.sandbox("POST", "/sandbox/api/code-limits", map[string]any{"audit_quota": 3}, nil); st != 200 {
		t.Fatalf("code limits: %d", st)
	}
	tmpl := d.makeTemplate("3.0.0", `{}`)
	var created rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl, "targets": map[string]bool{"all": true}, "batch_size": 2}, &created); st != 201 {
		t.Fatalf("create: %d", st)
	}
	var r rolloutStatus
	d.eventually("the rollout to wait for quota", func() bool {
		r = rolloutStatus{}
		d.api("GET", fmt.Sprintf("/api/v1/rollouts/%d", created.ID), nil, &r)
		return r.Status == "running" && strings.Contains(r.StatusReason, "audit quota") && r.Counts["released"] == 3
	})
	if r.Counts["failed"] != 0 || r.Counts["released"] != 3 {
		t.Fatalf("waiting for quota: %+v", r)
	}
	d.sandbox("POST", "/sandbox/api/code-limits", map[string]any{"audit_quota": 100}, nil)
	r = d.waitRollout(created.ID, "completed")
	if r.Counts["released"] != len(apps) || r.StatusReason != "" {
		t.Fatalf("after the quota was raised: %+v", r)
	}
}
