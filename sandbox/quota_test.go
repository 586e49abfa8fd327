package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// TestQuotas sets a daily limit, runs into 45009, resets it with each form
// of clear_quota, and runs into the monthly limit of resets.
func TestQuotas(t *testing.T) {
	e := newEnv(t)
	const pre = "/cgi-bin/component/api_create_preauthcode"
	setLimit := func(path string, n int) {
		t.Helper()
		if status, out := e.do(http.MethodPost, "/sandbox/api/quotas", map[string]any{"path": path, "daily_limit": n}); status != http.StatusOK {
			t.Fatalf("set quota: HTTP %d %v", status, out)
		}
	}
	tok := e.componentToken()
	create := func() map[string]any {
		return e.wx(pre+"?component_access_token="+tok, map[string]string{"component_appid": testComponent})
	}
	create() // counted before any limit is set, as WeChat always counts
	setLimit(pre, 3)
	wantErr(t, create(), 0)
	wantErr(t, create(), 0)
	wantErr(t, create(), 45009)
	if n := usedCount(t, e, testComponent, pre); n != 3 {
		t.Fatalf("used = %d, want 3", n)
	}
	// Other APIs are limited apart.
	tok = e.componentToken()
	setLimit(pre, 2)

	// The component resets its own quota.
	wantErr(t, e.wx("/cgi-bin/component/clear_quota?component_access_token="+tok, map[string]string{"component_appid": testComponent}), 0)
	wantErr(t, create(), 0)
	wantErr(t, create(), 0)
	wantErr(t, create(), 45009)

	// A new day in Beijing starts afresh.
	e.advance("24h")
	tok = e.componentToken()
	wantErr(t, create(), 0)

	// clear_quota/v2 takes the secret instead of a token; with appid, the
	// quota of a mini program authorized to the component.
	v2 := func(body map[string]string) map[string]any { return e.wx("/cgi-bin/component/clear_quota/v2", body) }
	wantErr(t, v2(map[string]string{"component_appid": testComponent, "appsecret": "wrong"}), 40125)
	wantErr(t, v2(map[string]string{"component_appid": testComponent, "appsecret": testSecret, "appid": AppBakery}), 61003)
	redirect, _ := e.authorize(tok, AppBakery, nil)
	access := str(e.queryAuth(tok, redirect.Query().Get("auth_code")), "authorizer_access_token")
	wantErr(t, v2(map[string]string{"component_appid": testComponent, "appsecret": testSecret, "appid": AppBakery}), 0)
	wantErr(t, v2(map[string]string{"component_appid": testComponent, "appsecret": testSecret}), 0)

	// A mini program's own quota: message/custom/send counts against it.
	const send = "/cgi-bin/message/custom/send"
	setLimit(send, 1)
	e.plat.setMessageHandler(func(in inbound) (int, string) { return http.StatusOK, "" })
	openid := str(e.userMessage(AppBakery, map[string]any{"content": "在吗"}), "openid")
	msg := map[string]any{"touser": openid, "msgtype": "text", "text": map[string]string{"content": "在的"}}
	wantErr(t, e.wx(send+"?access_token="+access, msg), 0)
	wantErr(t, e.wx(send+"?access_token="+access, msg), 45009)
	wantErr(t, e.wx("/cgi-bin/clear_quota?access_token="+access, map[string]string{"appid": AppNoodles}), 40013)
	wantErr(t, e.wx("/cgi-bin/clear_quota?access_token="+access, map[string]string{"appid": AppBakery}), 0)
	wantErr(t, e.wx(send+"?access_token="+access, msg), 0)

	// Ten resets a month per account: the component has used 2.
	for range 8 {
		wantErr(t, v2(map[string]string{"component_appid": testComponent, "appsecret": testSecret}), 0)
	}
	wantErr(t, v2(map[string]string{"component_appid": testComponent, "appsecret": testSecret}), 48006)

	// The limits and counts survive a restart, like the rest of the state.
	e.restart()
	_, q := e.do(http.MethodGet, "/sandbox/api/quotas", nil)
	if lim := q["limits"].(map[string]any); fmt.Sprint(lim[pre]) != "2" || fmt.Sprint(lim[send]) != "1" {
		t.Fatalf("limits after restart = %v", q)
	}
	wantErr(t, v2(map[string]string{"component_appid": testComponent, "appsecret": testSecret}), 48006)

	// Removing a limit; refusing nonsense.
	setLimit(pre, 0)
	for range 3 {
		wantErr(t, create(), 0)
	}
	for _, body := range []any{
		map[string]any{"path": "/cgi-bin/not/an/api", "daily_limit": 1},
		map[string]any{"path": pre, "daily_limit": -1},
		map[string]any{"path": pre},
	} {
		if status, out := e.do(http.MethodPost, "/sandbox/api/quotas", body); status != http.StatusBadRequest {
			t.Errorf("%v: HTTP %d %v, want 400", body, status, out)
		}
	}
}

// usedCount is today's count of account's calls of path in GET /sandbox/api/quotas.
func usedCount(t *testing.T, e *testEnv, account, path string) int {
	t.Helper()
	_, q := e.do(http.MethodGet, "/sandbox/api/quotas", nil)
	for _, u := range q["used"].([]any) {
		if m := u.(map[string]any); m["account"] == account && m["path"] == path {
			n, _ := m["count"].(json.Number).Int64()
			return int(n)
		}
	}
	return 0
}

// TestQuotaGet: /cgi-bin/openapi/quota/get reads the counts 45009 and
// clear_quota use, for the component's APIs with its token and for an
// app's with the app's token; the limits WeChat documents are on by
// default.
func TestQuotaGet(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	app := e.tokens[AppBakery]
	const get = "/cgi-bin/openapi/quota/get"
	quota := func(tok, path string) (limit, used, remain int) {
		t.Helper()
		out := e.wx(get+"?access_token="+tok, map[string]string{"cgi_path": path})
		wantErr(t, out, 0)
		q, _ := out["quota"].(map[string]any)
		if q == nil || str(out, "errmsg") != "ok" {
			t.Fatalf("quota/get %s = %v", path, out)
		}
		return int(num(q, "daily_limit")), int(num(q, "used")), int(num(q, "remain"))
	}
	// On by default where WeChat's figure is known.
	const ctoken = "/cgi-bin/component/api_component_token"
	if limit, used, remain := quota(e.ctok, ctoken); limit != 10000 || used != 1 || remain != 9999 {
		t.Errorf("api_component_token quota = %d %d %d, want 10000 1 9999", limit, used, remain)
	}
	const send = "/cgi-bin/message/custom/send"
	if limit, used, remain := quota(app, send); limit != 500000 || used != 0 || remain != 500000 {
		t.Errorf("custom/send quota = %d %d %d", limit, used, remain)
	}
	// Counted with or without a limit; no limit answers 0 and 0.
	const pre = "/cgi-bin/component/api_create_preauthcode"
	before := int(usedCount(t, e.testEnv, testComponent, pre))
	e.preAuthCode(e.ctok)
	if limit, used, remain := quota(e.ctok, pre); limit != 0 || used != before+1 || remain != 0 {
		t.Errorf("pre_auth_code quota = %d %d %d, want 0 %d 0", limit, used, remain, before+1)
	}
	// A limit, the count up to it, 45009, and clear_quota.
	e.control(http.MethodPost, "/sandbox/api/quotas", map[string]any{"path": pre, "daily_limit": before + 3})
	e.preAuthCode(e.ctok)
	if limit, used, remain := quota(e.ctok, pre); limit != before+3 || used != before+2 || remain != 1 {
		t.Errorf("quota = %d %d %d, want %d %d 1", limit, used, remain, before+3, before+2)
	}
	e.preAuthCode(e.ctok)
	wantErr(t, e.wx(pre+"?access_token="+e.ctok, map[string]string{"component_appid": testComponent}), 45009)
	if _, used, remain := quota(e.ctok, pre); used != before+3 || remain != 0 {
		t.Errorf("at the limit: used %d remain %d", used, remain)
	}
	wantErr(t, e.wx("/cgi-bin/component/clear_quota?access_token="+e.ctok, map[string]string{"component_appid": testComponent}), 0)
	if _, used, remain := quota(e.ctok, pre); used != 0 || remain != before+3 {
		t.Errorf("after clear_quota: used %d remain %d", used, remain)
	}
	// The app's own: get_category counted against the app.
	wantErr(t, e.get(AppBakery, "/wxa/get_category"), 0)
	wantErr(t, e.get(AppBakery, "/wxa/get_category"), 0)
	if _, used, _ := quota(app, "/wxa/get_category"); used != 2 {
		t.Errorf("get_category used %d, want 2", used)
	}
	// reset brings back the default, "*" sets every API.
	e.control(http.MethodPost, "/sandbox/api/quotas", map[string]any{"path": "*", "daily_limit": 7})
	if limit, _, _ := quota(app, send); limit != 7 {
		t.Errorf("after *: limit %d", limit)
	}
	e.control(http.MethodPost, "/sandbox/api/quotas", map[string]any{"path": "*", "reset": true})
	if limit, _, _ := quota(app, send); limit != 500000 {
		t.Errorf("after reset: limit %d", limit)
	}
	// The token of the wrong account, a /sns/ path: 76022; unknown paths 76021.
	for _, tt := range []struct {
		tok, path string
		want      int
	}{
		{app, ctoken, 76022},
		{app, pre, 76022},
		{e.ctok, send, 76022},
		{e.ctok, "/wxa/commit", 76022},
		{app, "/sns/component/jscode2session", 76022},
		{app, "/wxa/no_such_api", 76021},
		{app, "https://api.weixin.qq.com/wxa/commit", 76021},
		{app, "", 76021},
	} {
		wantErr(t, e.wx(get+"?access_token="+tt.tok, map[string]string{"cgi_path": tt.path}), tt.want)
	}
	wantErr(t, e.wx(get+"?access_token="+app, ""), 44002)
	wantErr(t, e.wx(get+"?access_token="+app, "{"), 47001)
	// The component's token also under its classic name.
	wantErr(t, e.wx(get+"?component_access_token="+e.ctok, map[string]string{"cgi_path": ctoken}), 0)
}
