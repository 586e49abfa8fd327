package sandbox

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// rules sets the audit rules.
func (e *codeEnv) rules(body map[string]any) {
	e.t.Helper()
	e.control(http.MethodPost, "/sandbox/api/audit-rules", body)
}

// submit submits appid's 体验版 and returns the auditid.
func (e *codeEnv) submit(appid string, body map[string]any) int64 {
	e.t.Helper()
	out := e.post(appid, "/wxa/submit_audit", body)
	wantErr(e.t, out, 0)
	if num(out, "auditid") == 0 {
		e.t.Fatalf("submit_audit answered no auditid: %v", out)
	}
	return num(out, "auditid")
}

func (e *codeEnv) latest(appid string) map[string]any {
	e.t.Helper()
	out := e.get(appid, "/wxa/get_latest_auditstatus")
	wantErr(e.t, out, 0)
	return out
}

func (e *codeEnv) appCode(appid string) map[string]any {
	e.t.Helper()
	return e.control(http.MethodGet, "/sandbox/api/apps/"+appid+"/code", nil)
}

// TestAuditApproved: submit, one audit at a time, status while auditing,
// the clock decides it, the success push, release.
func TestAuditApproved(t *testing.T) {
	e := newCodeEnv(t, AppBakery, AppHotPot)
	e.rules(map[string]any{"delay": "1h", "reject_rate": 0, "delay_rate": 0})
	tid := e.template("1.0.0")
	wantErr(t, e.post(AppBakery, "/wxa/submit_audit", map[string]any{}), 85086)
	wantErr(t, e.get(AppBakery, "/wxa/get_latest_auditstatus"), 85012)
	e.commit(AppBakery, tid, "1.0.0", 0)
	wantErr(t, e.post(AppBakery, "/wxa/submit_audit", ""), 44002)
	wantErr(t, e.post(AppBakery, "/wxa/submit_audit", map[string]any{"item_list": []any{map[string]any{"address": "pages/none/none"}}}), 85007)
	id := e.submit(AppBakery, map[string]any{"item_list": []any{map[string]any{"address": "pages/index/index", "tag": "面包 蛋糕", "title": "首页"}}, "version_desc": "首个版本"})
	wantErr(t, e.post(AppBakery, "/wxa/submit_audit", map[string]any{}), 85009)
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 85020)

	st := e.post(AppBakery, "/wxa/get_auditstatus", map[string]any{"auditid": id})
	wantErr(t, st, 0)
	if num(st, "status") != auditPending {
		t.Fatalf("get_auditstatus = %v", st)
	}
	wantErr(t, e.post(AppBakery, "/wxa/get_auditstatus", map[string]any{"auditid": id + 1000}), 85012)
	wantErr(t, e.post(AppBakery, "/wxa/get_auditstatus", map[string]any{}), 85012)
	wantErr(t, e.post(AppHotPot, "/wxa/get_auditstatus", map[string]any{"auditid": id}), 85012) // another app's
	if l := e.latest(AppBakery); num(l, "auditid") != id || num(l, "status") != auditPending || str(l, "user_version") != "1.0.0" || num(l, "submit_audit_time") == 0 {
		t.Fatalf("latest = %v", l)
	}

	e.later("61m")
	push := waitFor(t, e.plat.messages, "Event", "weapp_audit_success")
	if push.Fields["_appid"] != AppBakery || push.Fields["ToUserName"] != "gh_8811d1215c4a" || push.Fields["MsgType"] != "event" ||
		push.Fields["SuccTime"] == "" || push.Fields["FromUserName"] == "" {
		t.Fatalf("success push = %v", push.Fields)
	}
	if l := e.latest(AppBakery); num(l, "status") != auditApproved || l["reason"] != nil {
		t.Fatalf("latest after the decision = %v", l)
	}
	wantErr(t, e.post(AppBakery, "/wxa/release", ""), 44002)
	wantErr(t, e.post(AppBakery, "/wxa/release", "null"), 47001)
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 0)
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 85052)
	rel, _ := e.post(AppBakery, "/wxa/getversioninfo", map[string]any{})["release_info"].(map[string]any)
	if rel == nil || str(rel, "release_version") != "1.0.0" {
		t.Fatalf("release_info = %v", rel)
	}
	v := e.appCode(AppBakery)
	counts, _ := v["counts"].(map[string]any)
	released, _ := v["released"].(map[string]any)
	if num(counts, "commits") != 1 || num(counts, "submits") != 1 || num(counts, "releases") != 1 || released == nil ||
		str(released, "user_version") != "1.0.0" || v["auditing"] != nil {
		t.Fatalf("app code = %v", v)
	}

	// Everything survives a restart, and audits go on being decided after it.
	e.commit(AppBakery, tid, "1.0.1", 0)
	e.submit(AppBakery, map[string]any{})
	e.restart()
	e.later("2h")
	waitFor(t, e.plat.messages, "Event", "weapp_audit_success")
	v = e.appCode(AppBakery)
	counts, _ = v["counts"].(map[string]any)
	if num(counts, "submits") != 2 || str(v["latest_audit"].(map[string]any), "user_version") != "1.0.1" {
		t.Fatalf("after restart: %v", v)
	}
}

// TestAuditRejectedDelayedLost: reject words, the fail push with its <br>
// reason and screenshots, a delay before the decision, a lost push.
func TestAuditRejectedDelayedLost(t *testing.T) {
	e := newCodeEnv(t, AppBakery, AppHotPot, AppBookshop)
	e.rules(map[string]any{"delay": "1h", "reject_words": []string{"违规"}})
	tid := e.template("1.0.0")
	wantErr(t, e.post(AppBakery, "/wxa/commit", map[string]any{"template_id": tid, "user_version": "1.0.0", "user_desc": "x",
		"ext_json": ext(AppBakery, map[string]any{"ext": map[string]any{"slogan": "违规宣传"}})}), 0)
	e.submit(AppBakery, map[string]any{})
	e.commit(AppHotPot, tid, "1.0.0", 0)
	e.submit(AppHotPot, map[string]any{"version_desc": "含违规词的描述"})
	e.later("2h")
	for range 2 {
		push := waitFor(t, e.plat.messages, "Event", "weapp_audit_fail")
		if !strings.Contains(push.Fields["Reason"], "<br>") || !strings.Contains(push.Fields["Reason"], "违规") ||
			!strings.Contains(push.Fields["ScreenShot"], "|") || push.Fields["FailTime"] == "" {
			t.Fatalf("fail push = %v", push.Fields)
		}
	}
	l := e.latest(AppBakery)
	if num(l, "status") != auditRejected || !strings.Contains(str(l, "reason"), "<br>") || str(l, "ScreenShot") == "" || str(l, "ScreenShot") != str(l, "screenshot") {
		t.Fatalf("latest after rejection = %v", l)
	}
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 85019)

	// A delay first, then the decision, both within one move of the clock.
	e.rules(map[string]any{"reject_words": []string{}, "delay_rate": 1})
	e.commit(AppBookshop, tid, "1.0.0", 0)
	e.submit(AppBookshop, map[string]any{})
	e.later("3h")
	delay := waitFor(t, e.plat.messages, "Event", "weapp_audit_delay")
	success := waitFor(t, e.plat.messages, "Event", "weapp_audit_success")
	dt, _ := strconv.ParseInt(delay.Fields["DelayTime"], 10, 64)
	st, _ := strconv.ParseInt(success.Fields["SuccTime"], 10, 64)
	if delay.Fields["Reason"] == "" || dt == 0 || st-dt != 3600 {
		t.Fatalf("delay %v then success %v", delay.Fields, success.Fields)
	}

	// A lost push: the audit is decided, the platform hears nothing and
	// must poll; the control API says the push was lost.
	e.rules(map[string]any{"delay_rate": 0, "lose_push_rate": 1})
	e.commit(AppBookshop, tid, "1.0.1", 0)
	e.submit(AppBookshop, map[string]any{})
	e.later("2h")
	if l := e.latest(AppBookshop); num(l, "status") != auditApproved {
		t.Fatalf("latest = %v", l)
	}
	events := list(e.appCode(AppBookshop), "events")
	if last := events[len(events)-1]; str(last, "event") != "weapp_audit_success" || last["lost"] != true {
		t.Fatalf("events = %v", events)
	}
	_, rules := e.do(http.MethodGet, "/sandbox/api/audit-rules", nil)
	if str(rules, "delay") != "1h" || rules["lose_push_rate"].(interface{ String() string }).String() != "1" {
		t.Fatalf("rules = %v", rules)
	}
	if status, _ := e.do(http.MethodPost, "/sandbox/api/audit-rules", map[string]any{"reject_rate": 2}); status != http.StatusBadRequest {
		t.Fatalf("reject_rate 2: HTTP %d", status)
	}
}

// TestAuditRealTime: with a short delay the background ticker decides as
// real time passes, no clock move needed.
func TestAuditRealTime(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	e.rules(map[string]any{"delay": "300ms"})
	e.commit(AppBakery, e.template("1.0.0"), "1.0.0", 0)
	e.submit(AppBakery, map[string]any{})
	waitFor(t, e.plat.messages, "Event", "weapp_audit_success")
	if l := e.latest(AppBakery); num(l, "status") != auditApproved {
		t.Fatalf("latest = %v", l)
	}
}

// TestAuditQuotaUndoSpeedup: the platform's monthly quota (queryquota,
// 85085), withdrawing (85019, 87013) and speeding up.
func TestAuditQuotaUndoSpeedup(t *testing.T) {
	e := newCodeEnv(t, AppBakery, AppHotPot)
	e.rules(map[string]any{"delay": "10h"})
	e.control(http.MethodPost, "/sandbox/api/code-limits", map[string]any{"audit_quota": 7, "speedup_quota": 1})
	tid := e.template("1.0.0")
	e.commit(AppBakery, tid, "1.0.0", 0)
	e.commit(AppHotPot, tid, "1.0.0", 0)
	quota := func() map[string]any { q := e.get(AppHotPot, "/wxa/queryquota"); wantErr(t, q, 0); return q }
	if q := quota(); num(q, "rest") != 7 || num(q, "limit") != 7 || num(q, "speedup_rest") != 1 || num(q, "speedup_limit") != 1 {
		t.Fatalf("queryquota = %v", q)
	}
	wantErr(t, e.get(AppBakery, "/wxa/undocodeaudit"), 85019) // nothing under audit
	for i := range 5 {
		e.submit(AppBakery, map[string]any{})
		wantErr(t, e.get(AppBakery, "/wxa/undocodeaudit"), 0)
		if i == 0 {
			if l := e.latest(AppBakery); num(l, "status") != auditWithdrawn {
				t.Fatalf("latest after undo = %v", l)
			}
		}
	}
	e.submit(AppBakery, map[string]any{})
	wantErr(t, e.get(AppBakery, "/wxa/undocodeaudit"), 87013) // the sixth today
	if q := quota(); num(q, "rest") != 1 {
		t.Fatalf("withdrawn audits still count: %v", q)
	}

	// Speeding up halves the time left: decided after 5h instead of 10h.
	id := e.submit(AppHotPot, map[string]any{})
	wantErr(t, e.post(AppHotPot, "/wxa/speedupaudit", map[string]any{"auditid": id + 99}), 85012)
	wantErr(t, e.post(AppHotPot, "/wxa/speedupaudit", map[string]any{"auditid": id}), 0)
	if q := quota(); num(q, "rest") != 0 || num(q, "speedup_rest") != 0 {
		t.Fatalf("queryquota = %v", q)
	}
	e.later("5h1m")
	waitFor(t, e.plat.messages, "Event", "weapp_audit_success")
	if l := e.latest(AppHotPot); num(l, "status") != auditApproved {
		t.Fatalf("sped-up audit = %v", l)
	}
	// The component token works too, for the platform's own audits; the
	// speed-ups are used up.
	wantErr(t, e.post("", "/wxa/speedupaudit", map[string]any{"auditid": num(e.latest(AppBakery), "auditid")}), 85085)
	wantErr(t, e.post("", "/wxa/speedupaudit", map[string]any{"auditid": 1}), 85012)

	// The quota is used up: 85085 for the platform's every app.
	e.commit(AppHotPot, tid, "1.0.1", 0)
	wantErr(t, e.post(AppHotPot, "/wxa/submit_audit", map[string]any{}), 85085)
}
