package sandbox

import (
	"net/http"
	"strings"
	"testing"
)

// platformDomains registers the platform's server domains and business
// (jump) domains, ";"-separated, as a platform does once in its console.
func (e *codeEnv) platformDomains(server, jump string) {
	e.t.Helper()
	out := e.post("", "/cgi-bin/component/modify_wxa_server_domain", map[string]any{"action": "set", "wxa_server_domain": server})
	wantErr(e.t, out, 0)
	if str(out, "published_wxa_server_domain") != server {
		e.t.Fatalf("modify_wxa_server_domain = %v", out)
	}
	wantErr(e.t, e.post("", "/cgi-bin/component/modify_wxa_jump_domain", map[string]any{"action": "set", "wxa_jump_h5_domain": jump}), 0)
}

// TestPlatformDomainsBoundAppDomains: an app's server domains must be among
// the platform's registered ones (85018), an add that adds nothing is 85017,
// a business domain needs the platform's (89020) and must be one of them or
// under one (89021); no action copies the platform's list.
func TestPlatformDomainsBoundAppDomains(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	add := func(list, v string) map[string]any {
		return e.post(AppBakery, "/wxa/modify_domain", map[string]any{"action": "add", list: []string{v}})
	}
	wantErr(t, add("requestdomain", "https://api.shop.example"), 85018) // nothing registered yet
	wantErr(t, e.post(AppBakery, "/wxa/setwebviewdomain", map[string]any{"action": "add", "webviewdomain": []string{"https://h5.shop.example"}}), 89020)

	// The platform's APIs take the component token, and check their input.
	wantErr(t, e.post(AppBakery, "/cgi-bin/component/modify_wxa_server_domain", map[string]any{"action": "get"}), 61014)
	wantErr(t, e.post("", "/cgi-bin/component/modify_wxa_server_domain", map[string]any{"action": "replace", "wxa_server_domain": "a.example"}), 85022)
	wantErr(t, e.post("", "/cgi-bin/component/modify_wxa_server_domain", map[string]any{"action": "add"}), 47001)
	wantErr(t, e.post("", "/cgi-bin/component/modify_wxa_server_domain", map[string]any{"action": "add", "wxa_server_domain": []string{"a.example"}}), 47001)
	bad := e.post("", "/cgi-bin/component/modify_wxa_server_domain", map[string]any{"action": "add", "wxa_server_domain": "api.shop.example;https://x.example/"})
	wantErr(t, bad, 0)
	if str(bad, "invalid_wxa_server_domain") != "https://x.example/" || str(bad, "published_wxa_server_domain") != "api.shop.example" {
		t.Fatalf("add with an invalid domain = %v", bad)
	}
	e.platformDomains("api.shop.example;ws.shop.example", "shop.example")

	wantErr(t, add("requestdomain", "https://api.shop.example"), 0)
	wantErr(t, add("requestdomain", "https://api.shop.example"), 85017) // nothing new
	wantErr(t, add("requestdomain", "https://evil.example"), 85018)
	wantErr(t, add("requestdomain", "wss://ws.shop.example"), 85018) // the wrong scheme for its list
	wantErr(t, add("wsrequestdomain", "wss://ws.shop.example"), 0)
	wantErr(t, e.post(AppBakery, "/wxa/modify_domain", map[string]any{"action": "set", "requestdomain": []string{"https://api.shop.example", "https://other.example"}}), 85018)
	// Refused calls changed nothing.
	d := e.post(AppBakery, "/wxa/modify_domain", map[string]any{"action": "get"})
	if r := d["requestdomain"].([]any); len(r) != 1 || len(d["wsrequestdomain"].([]any)) != 1 {
		t.Fatalf("domains = %v", d)
	}
	// No action: the platform's domains are copied to the app.
	d = e.post(AppBakery, "/wxa/modify_domain", map[string]any{})
	wantErr(t, d, 0)
	if r := d["downloaddomain"].([]any); len(r) != 2 || r[0] != "https://api.shop.example" {
		t.Fatalf("copied domains = %v", d)
	}

	web := func(v string) map[string]any {
		return e.post(AppBakery, "/wxa/setwebviewdomain", map[string]any{"action": "add", "webviewdomain": []string{v}})
	}
	wantErr(t, web("https://h5.shop.example"), 0) // under the platform's shop.example
	wantErr(t, web("https://shop.example"), 0)
	wantErr(t, web("https://h5.other.example"), 89021)
	wantErr(t, web("https://notshop.example"), 89021)
	wantErr(t, web("http://h5.shop.example"), 89021)
}

// TestBindTesterNeedsAWeChatUser: bind_tester answers 85001 for a WeChat id
// WeChat does not know; the sandbox knows a few and learns more from its
// control API, which checks WeChat's rule for a 微信号.
func TestBindTesterNeedsAWeChatUser(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	wantErr(t, e.post(AppBakery, "/wxa/bind_tester", map[string]any{"wechatid": "nobody_here"}), 85001)
	if status, _ := e.do(http.MethodPost, "/sandbox/api/wechat-users", map[string]any{"wechatids": []string{"1abc"}}); status != http.StatusBadRequest {
		t.Fatalf("a WeChat id beginning with a digit: HTTP %d", status)
	}
	e.control(http.MethodPost, "/sandbox/api/wechat-users", map[string]any{"wechatids": []string{"nobody_here"}})
	b := e.post(AppBakery, "/wxa/bind_tester", map[string]any{"wechatid": "nobody_here"})
	wantErr(t, b, 0)
	if str(b, "userstr") == "" {
		t.Fatalf("bind_tester = %v", b)
	}
	wantErr(t, e.post(AppBakery, "/wxa/unbind_tester", map[string]any{"wechatid": "nobody_here"}), 0)
}

// TestSubmitNeedsThePrivacyGuide: code using privacy APIs is not taken for
// audit while the development version's privacy guide leaves a key out
// (61040), unless the submission declares privacy_api_not_use; a suspended
// app's submissions are refused (86007).
func TestSubmitNeedsThePrivacyGuide(t *testing.T) {
	e := newCodeEnv(t, AppBakery, AppHotPot)
	e.rules(map[string]any{"delay": "1h"})
	id := e.draft(map[string]any{"user_version": "2.0.0", "privacy_keys": []string{"PhoneNumber", "Location"}})
	wantErr(t, e.post("", "/wxa/addtotemplate", map[string]any{"draft_id": id, "template_type": 0}), 0)
	var tid int64
	for _, it := range list(e.get("", "/wxa/gettemplatelist"), "template_list") {
		if num(it, "draft_id") == id {
			tid = num(it, "template_id")
		}
	}
	e.commit(AppBakery, tid, "2.0.0", 0)
	wantErr(t, e.post(AppBakery, "/wxa/submit_audit", map[string]any{}), 61040) // no guide at all
	owner := map[string]any{"contact_email": "dev@shop.example", "notice_method": "弹窗"}
	wantErr(t, e.post(AppBakery, "/cgi-bin/component/setprivacysetting", map[string]any{"owner_setting": owner,
		"setting_list": []any{map[string]any{"privacy_key": "PhoneNumber", "privacy_text": "会员登录"}}}), 0)
	wantErr(t, e.post(AppBakery, "/wxa/submit_audit", map[string]any{}), 61040) // Location is not covered
	wantErr(t, e.post(AppBakery, "/cgi-bin/component/setprivacysetting", map[string]any{"owner_setting": owner,
		"setting_list": []any{map[string]any{"privacy_key": "PhoneNumber", "privacy_text": "会员登录"},
			map[string]any{"privacy_key": "Location", "privacy_text": "附近门店"}}}), 0)
	wantErr(t, e.post(AppBakery, "/wxa/submit_audit", map[string]any{}), 0)

	e.commit(AppHotPot, tid, "2.0.0", 0)
	wantErr(t, e.post(AppHotPot, "/wxa/submit_audit", map[string]any{"privacy_api_not_use": true}), 0)
	wantErr(t, e.post(AppHotPot, "/wxa/undocodeaudit", nil), 0)

	e.control(http.MethodPost, "/sandbox/api/apps/"+AppHotPot+"/suspend", map[string]any{"suspended": true})
	wantErr(t, e.post(AppHotPot, "/wxa/submit_audit", map[string]any{"privacy_api_not_use": true}), 86007)
	e.control(http.MethodPost, "/sandbox/api/apps/"+AppHotPot+"/suspend", map[string]any{"suspended": false})
	wantErr(t, e.post(AppHotPot, "/wxa/submit_audit", map[string]any{"privacy_api_not_use": true}), 0)
}

// TestNothingElseDuringGrayRelease: while one version is in gray release,
// WeChat releases no other version, neither fully (release) nor in gray
// (grayrelease), and rolls nothing back (87011); the gray version itself can
// still go to 100%.
func TestNothingElseDuringGrayRelease(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	e.rules(map[string]any{"delay": "1h"})
	tid := e.template("1.0.0")
	e.approve(AppBakery, tid, "1.0.0")
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 0)
	e.approve(AppBakery, tid, "1.1.0")
	wantErr(t, e.post(AppBakery, "/wxa/grayrelease", map[string]any{"gray_percentage": 20}), 0)
	e.approve(AppBakery, tid, "1.2.0")
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 87011)
	wantErr(t, e.post(AppBakery, "/wxa/grayrelease", map[string]any{"gray_percentage": 50}), 87011)
	wantErr(t, e.get(AppBakery, "/wxa/revertcoderelease"), 87011)
	if v := e.online(AppBakery); v != "1.0.0" {
		t.Fatalf("online = %q", v)
	}
	wantErr(t, e.get(AppBakery, "/wxa/revertgrayrelease"), 0)
	wantErr(t, e.post(AppBakery, "/wxa/release", map[string]any{}), 0)
	if v := e.online(AppBakery); !strings.HasPrefix(v, "1.2") {
		t.Fatalf("online after the gray release was reverted = %q", v)
	}
}

// TestBindTesterPerUserLimit: a WeChat user can be a tester of only so many
// mini programs (85003, tester_apps_limit of POST /sandbox/api/code-limits),
// counted over every app; unbinding frees a place, and another user is not
// affected.
func TestBindTesterPerUserLimit(t *testing.T) {
	e := newCodeEnv(t, AppBakery, AppHotPot, AppBookshop)
	if l := e.control(http.MethodGet, "/sandbox/api/code-limits", nil); num(l, "tester_apps_limit") != defaultTesterApps {
		t.Fatalf("default limits = %v", l)
	}
	e.control(http.MethodPost, "/sandbox/api/code-limits", map[string]any{"tester_apps_limit": 2})
	bind := func(appid, user string) map[string]any {
		return e.post(appid, "/wxa/bind_tester", map[string]any{"wechatid": user})
	}
	wantErr(t, bind(AppBakery, "tester_li"), 0)
	wantErr(t, bind(AppHotPot, "tester_li"), 0)
	wantErr(t, bind(AppBakery, "tester_li"), 85004) // already bound comes first
	wantErr(t, bind(AppBookshop, "tester_li"), 85003)
	wantErr(t, bind(AppBookshop, "tester_wang"), 0)
	if n := len(list(e.post(AppBookshop, "/wxa/memberauth", map[string]any{"action": "get_experiencer"}), "members")); n != 1 {
		t.Fatalf("%s has %d testers after the refused bind, want 1", AppBookshop, n)
	}
	wantErr(t, e.post(AppHotPot, "/wxa/unbind_tester", map[string]any{"wechatid": "tester_li"}), 0)
	wantErr(t, bind(AppBookshop, "tester_li"), 0)
	if status, _ := e.do(http.MethodPost, "/sandbox/api/code-limits", map[string]any{"tester_apps_limit": -1}); status != http.StatusBadRequest {
		t.Fatalf("a negative limit: HTTP %d", status)
	}
}
