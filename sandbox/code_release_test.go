package sandbox

import (
	"net/http"
	"testing"
)

// approve commits version from tid to appid, submits it and has it approved.
func (e *codeEnv) approve(appid string, tid int64, version string) {
	e.t.Helper()
	e.commit(appid, tid, version, 0)
	e.submit(appid, map[string]any{})
	e.later("2h")
	if l := e.latest(appid); num(l, "status") != auditApproved {
		e.t.Fatalf("%s %s not approved: %v", appid, version, l)
	}
}

func (e *codeEnv) online(appid string) string {
	e.t.Helper()
	rel, _ := e.post(appid, "/wxa/getversioninfo", map[string]any{})["release_info"].(map[string]any)
	return str(rel, "release_version")
}

func (e *codeEnv) grayPlan(appid string) map[string]any {
	e.t.Helper()
	out := e.get(appid, "/wxa/getgrayreleaseplan")
	wantErr(e.t, out, 0)
	plan, _ := out["gray_release_plan"].(map[string]any)
	return plan
}

// TestReleaseGrayRollback: WeChat's rules of release, gray release and
// rollback, and the history.
func TestReleaseGrayRollback(t *testing.T) {
	e := newCodeEnv(t, AppBakery, AppHotPot)
	e.rules(map[string]any{"delay": "1h"})
	tid := e.template("1.0.0")
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 85019)
	wantErr(t, e.get(AppBakery, "/wxa/revertcoderelease"), 87012)
	wantErr(t, e.post(AppBakery, "/wxa/change_visitstatus", map[string]any{"action": "close"}), 85021)

	// A gray release needs an online version (85079).
	e.approve(AppHotPot, tid, "1.0.0")
	wantErr(t, e.post(AppHotPot, "/wxa/grayrelease", map[string]any{"gray_percentage": 10}), 85079)

	e.approve(AppBakery, tid, "1.0.0")
	wantErr(t, e.post(AppBakery, "/wxa/grayrelease", map[string]any{"gray_percentage": 10}), 85079)
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 0)
	wantErr(t, e.get(AppBakery, "/wxa/revertcoderelease"), 87012) // nothing before 1.0.0
	if h := list(e.get(AppBakery, "/wxa/revertcoderelease?action=get_history_version"), "version_list"); len(h) != 0 {
		t.Fatalf("history = %v", h)
	}
	// The released audit is no approved, unreleased one (85080).
	wantErr(t, e.post(AppBakery, "/wxa/grayrelease", map[string]any{"gray_percentage": 10}), 85080)

	e.approve(AppBakery, tid, "1.1.0")
	for _, bad := range []map[string]any{{}, {"gray_percentage": 0}, {"gray_percentage": 101}, {"gray_percentage": -1}} {
		wantErr(t, e.post(AppBakery, "/wxa/grayrelease", bad), 85081)
	}
	if p := e.grayPlan(AppBakery); num(p, "status") != grayNone {
		t.Fatalf("plan before = %v", p)
	}
	wantErr(t, e.post(AppBakery, "/wxa/grayrelease", map[string]any{"gray_percentage": 10, "support_experiencer_first": true}), 0)
	if p := e.grayPlan(AppBakery); num(p, "status") != grayRunning || num(p, "gray_percentage") != 10 || p["support_experiencer_first"] != true || num(p, "create_timestamp") == 0 {
		t.Fatalf("plan = %v", p)
	}
	wantErr(t, e.post(AppBakery, "/wxa/grayrelease", map[string]any{"gray_percentage": 10}), 85082)
	wantErr(t, e.post(AppBakery, "/wxa/grayrelease", map[string]any{"gray_percentage": 5}), 85082)
	wantErr(t, e.post(AppBakery, "/wxa/grayrelease", map[string]any{"gray_percentage": 50}), 0)
	wantErr(t, e.get(AppBakery, "/wxa/revertcoderelease"), 87011)
	if v := e.online(AppBakery); v != "1.0.0" {
		t.Fatalf("online during the gray release: %q", v)
	}
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 0) // the full release ends it
	if p := e.grayPlan(AppBakery); num(p, "status") != grayFinished {
		t.Fatalf("plan after release = %v", p)
	}

	// History and rollback.
	h := list(e.get(AppBakery, "/wxa/revertcoderelease?action=get_history_version"), "version_list")
	if len(h) != 1 || str(h[0], "user_version") != "1.0.0" || num(h[0], "app_version") == 0 || num(h[0], "commit_time") == 0 {
		t.Fatalf("history = %v", h)
	}
	first := num(h[0], "app_version")
	wantErr(t, e.get(AppBakery, "/wxa/revertcoderelease"), 0)
	if v := e.online(AppBakery); v != "1.0.0" {
		t.Fatalf("online after rollback: %q", v)
	}
	wantErr(t, e.get(AppBakery, "/wxa/revertcoderelease"), 87012) // a rollback version is not rolled back again
	wantErr(t, e.get(AppBakery, "/wxa/revertcoderelease?app_version=999"), 87012)
	h = list(e.get(AppBakery, "/wxa/revertcoderelease?action=get_history_version"), "version_list")
	if len(h) != 1 || str(h[0], "user_version") != "1.1.0" {
		t.Fatalf("history after rollback = %v", h)
	}
	wantErr(t, e.get(AppBakery, "/wxa/revertcoderelease?app_version="+itoa(int(num(h[0], "app_version")))), 0)
	if v := e.online(AppBakery); v != "1.1.0" {
		t.Fatalf("online after going back to 1.1.0: %q", v)
	}
	wantErr(t, e.get(AppBakery, "/wxa/revertcoderelease?app_version="+itoa(int(first))), 0)

	// A cancelled gray release leaves the version to release.
	e.approve(AppBakery, tid, "1.2.0")
	wantErr(t, e.post(AppBakery, "/wxa/grayrelease", map[string]any{"gray_percentage": 20}), 0)
	wantErr(t, e.get(AppBakery, "/wxa/revertgrayrelease"), 0)
	if p := e.grayPlan(AppBakery); num(p, "status") != grayDeleted {
		t.Fatalf("plan after revert = %v", p)
	}
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 0)
	wantErr(t, e.get(AppBakery, "/wxa/revertcoderelease"), 0) // no gray release in the way any more
	if v := e.online(AppBakery); v != "1.0.0" {
		t.Fatalf("online after the last rollback: %q", v)
	}

	wantErr(t, e.post(AppBakery, "/wxa/change_visitstatus", map[string]any{"action": "pause"}), 85022)
	wantErr(t, e.post(AppBakery, "/wxa/change_visitstatus", map[string]any{"action": "close"}), 0)
	v := e.appCode(AppBakery)
	counts, _ := v["counts"].(map[string]any)
	if str(v, "visit_status") != "close" || num(counts, "releases") != 3 || num(counts, "rollbacks") != 4 || num(counts, "gray_releases") != 3 {
		t.Fatalf("app code = %v", v)
	}
	fleet := list(e.control(http.MethodGet, "/sandbox/api/code/apps", nil), "items")
	if len(fleet) != 2 {
		t.Fatalf("code apps = %v", fleet)
	}
}

// TestCodeSettings: server and business domains, testers, privacy.
func TestCodeSettings(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	e.platformDomains("api.shop.example;up.shop.example", "shop.example")
	d := e.post(AppBakery, "/wxa/modify_domain", map[string]any{"action": "add", "requestdomain": []string{"https://api.shop.example"},
		"uploaddomain": []string{"https://up.shop.example"}})
	wantErr(t, d, 0)
	if r := d["requestdomain"].([]any); len(r) != 1 || r[0] != "https://api.shop.example" || len(d["tcpdomain"].([]any)) != 0 {
		t.Fatalf("modify_domain = %v", d)
	}
	wantErr(t, e.post(AppBakery, "/wxa/modify_domain", map[string]any{"action": "delete", "requestdomain": []string{"https://api.shop.example"}}), 0)
	d = e.post(AppBakery, "/wxa/modify_domain", map[string]any{"action": "get"})
	if len(d["requestdomain"].([]any)) != 0 || len(d["uploaddomain"].([]any)) != 1 {
		t.Fatalf("after delete = %v", d)
	}
	wantErr(t, e.post(AppBakery, "/wxa/modify_domain", map[string]any{"action": "replace"}), 85022)

	w := e.post(AppBakery, "/wxa/setwebviewdomain", map[string]any{"action": "add", "webviewdomain": []string{"https://h5.shop.example"}})
	wantErr(t, w, 0)
	wantErr(t, e.post(AppBakery, "/wxa/setwebviewdomain", map[string]any{"action": "add", "webviewdomain": []string{"https://h5.shop.example"}}), 89019)
	wantErr(t, e.post(AppBakery, "/wxa/setwebviewdomain", map[string]any{"action": "delete", "webviewdomain": []string{"https://no.example"}}), 89022)
	if got := e.post(AppBakery, "/wxa/setwebviewdomain", map[string]any{"action": "get"})["webviewdomain"].([]any); len(got) != 1 {
		t.Fatalf("webviewdomain = %v", got)
	}

	wantErr(t, e.post(AppBakery, "/wxa/bind_tester", map[string]any{}), 85001)
	b := e.post(AppBakery, "/wxa/bind_tester", map[string]any{"wechatid": "tester_li"})
	wantErr(t, b, 0)
	wantErr(t, e.post(AppBakery, "/wxa/bind_tester", map[string]any{"wechatid": "tester_li"}), 85004)
	m := list(e.post(AppBakery, "/wxa/memberauth", map[string]any{"action": "get_experiencer"}), "members")
	if len(m) != 1 || str(m[0], "userstr") != str(b, "userstr") {
		t.Fatalf("members = %v (bound %v)", m, b)
	}
	wantErr(t, e.post(AppBakery, "/wxa/memberauth", map[string]any{}), 47001)
	wantErr(t, e.post(AppBakery, "/wxa/memberauth?action=get_experiencer", map[string]any{}), 0) // SKIT's form
	wantErr(t, e.post(AppBakery, "/wxa/unbind_tester", map[string]any{}), 47001)
	wantErr(t, e.post(AppBakery, "/wxa/unbind_tester", map[string]any{"userstr": str(b, "userstr")}), 0)
	if m := list(e.post(AppBakery, "/wxa/memberauth", map[string]any{"action": "get_experiencer"}), "members"); len(m) != 0 {
		t.Fatalf("members after unbind = %v", m)
	}

	owner := map[string]any{"contact_phone": "13800000000", "notice_method": "弹窗提示"}
	wantErr(t, e.post(AppBakery, "/cgi-bin/component/setprivacysetting", map[string]any{"setting_list": []any{}}), 47001)
	wantErr(t, e.post(AppBakery, "/cgi-bin/component/setprivacysetting", map[string]any{"owner_setting": map[string]any{"notice_method": "弹窗"}}), 47001)
	wantErr(t, e.post(AppBakery, "/cgi-bin/component/setprivacysetting", map[string]any{"owner_setting": owner,
		"setting_list": []any{map[string]any{"privacy_key": "PhoneNumber", "privacy_text": "用于会员登录"}}}), 0)
	p := e.post(AppBakery, "/cgi-bin/component/getprivacysetting", map[string]any{"privacy_ver": 2})
	wantErr(t, p, 0)
	sl := list(p, "setting_list")
	if len(sl) != 1 || str(sl[0], "privacy_label") != "手机号码" || num(p, "code_exist") != 0 || num(p, "update_time") == 0 ||
		str(p["owner_setting"].(map[string]any), "notice_method") != "弹窗提示" {
		t.Fatalf("getprivacysetting = %v", p)
	}
	if p := e.post(AppBakery, "/cgi-bin/component/getprivacysetting", map[string]any{"privacy_ver": 1}); len(list(p, "setting_list")) != 0 {
		t.Fatalf("online version's privacy = %v", p)
	}
	// The component token is not what these take, despite the path.
	wantErr(t, e.post("", "/cgi-bin/component/getprivacysetting", map[string]any{"privacy_ver": 2}), 61015)
}

// TestGrayReleaseCompletesAfter15Days: a gray release nobody finishes is
// released fully by WeChat on the 15th day, on the sandbox clock: the plan
// says finished, getversioninfo the gray version, release that it is
// released already (85052), revertgrayrelease reverts nothing; the version
// before it goes into the history, and no release call is counted.
func TestGrayReleaseCompletesAfter15Days(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	e.rules(map[string]any{"delay": "1h"})
	tid := e.template("1.0.0")
	e.approve(AppBakery, tid, "1.0.0")
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 0)
	e.approve(AppBakery, tid, "2.0.0")
	wantErr(t, e.post(AppBakery, "/wxa/grayrelease", map[string]any{"gray_percentage": 10}), 0)
	started := num(e.grayPlan(AppBakery), "create_timestamp")

	e.later("335h") // 13 days 23 hours in all: still gray
	if p := e.grayPlan(AppBakery); num(p, "status") != grayRunning {
		t.Fatalf("plan on day 14 = %v", p)
	}
	if v := e.online(AppBakery); v != "1.0.0" {
		t.Fatalf("online on day 14: %q", v)
	}
	e.later("48h") // past 15 days
	p := e.grayPlan(AppBakery)
	if num(p, "status") != grayFinished || num(p, "create_timestamp") != started {
		t.Fatalf("plan after 15 days = %v", p)
	}
	info := e.post(AppBakery, "/wxa/getversioninfo", map[string]any{})
	rel, _ := info["release_info"].(map[string]any)
	if str(rel, "release_version") != "2.0.0" || num(rel, "release_time") != started+int64(grayAutoRelease.Seconds()) {
		t.Fatalf("release_info after 15 days = %v (gray began %d)", rel, started)
	}
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 85052)
	wantErr(t, e.get(AppBakery, "/wxa/revertgrayrelease"), 0)
	if v := e.online(AppBakery); v != "2.0.0" {
		t.Fatalf("online after revertgrayrelease of a finished gray release: %q", v)
	}
	h := list(e.get(AppBakery, "/wxa/revertcoderelease?action=get_history_version"), "version_list")
	if len(h) != 1 || str(h[0], "user_version") != "1.0.0" {
		t.Fatalf("history = %v", h)
	}
	c, _ := e.appCode(AppBakery)["counts"].(map[string]any)
	if num(c, "releases") != 1 || num(c, "gray_releases") != 1 {
		t.Fatalf("counts = %v", c)
	}
	// Now a rollback is allowed again (no gray release runs): back to 1.0.0.
	wantErr(t, e.get(AppBakery, "/wxa/revertcoderelease"), 0)
	if v := e.online(AppBakery); v != "1.0.0" {
		t.Fatalf("online after the rollback: %q", v)
	}
}
