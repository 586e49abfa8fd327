package sandbox

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// loginCode asks the sandbox for what wx.login returns inside appid.
func (e *codeEnv) loginCode(appid string, body any) (code, openid string) {
	e.t.Helper()
	out := e.control(http.MethodPost, "/sandbox/api/apps/"+appid+"/login-code", body)
	if str(out, "code") == "" || num(out, "expires_in") != 300 {
		e.t.Fatalf("login-code answer %v", out)
	}
	return str(out, "code"), str(out, "openid")
}

// session calls jscode2session with the query parameters in q (GET, as
// WeChat documents it).
func (e *codeEnv) session(q url.Values) map[string]any {
	e.t.Helper()
	status, out := e.do(http.MethodGet, pathJSCode2Session+"?"+q.Encode(), nil)
	if status != http.StatusOK {
		e.t.Fatalf("GET jscode2session: HTTP %d %v", status, out)
	}
	return out
}

// sessionQuery is a correct jscode2session query for appid and code.
func (e *codeEnv) sessionQuery(appid, code string) url.Values {
	return url.Values{"appid": {appid}, "js_code": {code}, "grant_type": {"authorization_code"},
		"component_appid": {testComponent}, "component_access_token": {e.ctok}}
}

// TestJSCode2Session exchanges codes from wx.login as the platform would:
// the answer, single use (40163), the five-minute lifetime on the sandbox
// clock (40029), codes of another app, and the call counts. Sources:
// docs/wechat-runtime.md.
func TestJSCode2Session(t *testing.T) {
	e := newCodeEnv(t, AppBakery, AppHotPot)

	code, openid := e.loginCode(AppBakery, map[string]string{"openid": "oUSER000000000000000000000A1"})
	if openid != "oUSER000000000000000000000A1" {
		t.Fatalf("openid %q, want the one given", openid)
	}
	status, issued := e.do(http.MethodPost, "/sandbox/api/apps/"+AppBakery+"/login-code", map[string]string{"openid": openid})
	if status != http.StatusOK {
		t.Fatalf("login-code: %d", status)
	}
	out := e.session(e.sessionQuery(AppBakery, code))
	wantErr(t, out, 0)
	if str(e.session(e.sessionQuery(AppBakery, str(issued, "code"))), "session_key") != str(issued, "session_key") {
		t.Error("jscode2session's session_key is not the one login-code announced")
	}
	if str(out, "openid") != openid {
		t.Errorf("openid %q, want %q", str(out, "openid"), openid)
	}
	if key, err := base64.StdEncoding.DecodeString(str(out, "session_key")); err != nil || len(key) != 16 {
		t.Errorf("session_key %q is not base64 of 16 bytes", str(out, "session_key"))
	}
	if _, has := out["unionid"]; has {
		t.Errorf("unionid present without an Open Platform binding: %v", out)
	}
	if _, has := out["errcode"]; has {
		t.Errorf("success carries errcode: %v", out)
	}
	// Single use: the same code again is 40163, also after a restart.
	wantErr(t, e.session(e.sessionQuery(AppBakery, code)), 40163)
	e.restart()
	wantErr(t, e.session(e.sessionQuery(AppBakery, code)), 40163)

	// The same user logs in again: the same openid, a new session_key.
	again, _ := e.loginCode(AppBakery, map[string]string{"openid": openid})
	out2 := e.session(e.sessionQuery(AppBakery, again))
	if str(out2, "openid") != openid || str(out2, "session_key") == str(out, "session_key") {
		t.Errorf("second login %v, want openid %s and a new session_key", out2, openid)
	}
	// No openid: a new simulated user each time. A unionid when given.
	_, u1 := e.loginCode(AppBakery, nil)
	c2, u2 := e.loginCode(AppBakery, map[string]string{"unionid": "oUNION00000000000000000000B2"})
	if u1 == "" || u2 == "" || u1 == u2 || u1 == openid || len(u1) != 28 {
		t.Errorf("new users %q, %q", u1, u2)
	}
	if out := e.session(e.sessionQuery(AppBakery, c2)); str(out, "openid") != u2 || str(out, "unionid") != "oUNION00000000000000000000B2" {
		t.Errorf("with unionid: %v", out)
	}

	// A code of another app is invalid for this one, and stays usable there.
	hot, _ := e.loginCode(AppHotPot, nil)
	wantErr(t, e.session(e.sessionQuery(AppBakery, hot)), 40029)
	wantErr(t, e.session(e.sessionQuery(AppBakery, "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d")), 40029)
	wantErr(t, e.session(e.sessionQuery(AppHotPot, hot)), 0)

	// Five minutes on the sandbox clock: a code 4m59s old works, 5m is gone.
	fresh, _ := e.loginCode(AppBakery, nil)
	old, _ := e.loginCode(AppBakery, nil)
	e.advance("4m59s")
	wantErr(t, e.session(e.sessionQuery(AppBakery, fresh)), 0)
	e.advance("1s")
	wantErr(t, e.session(e.sessionQuery(AppBakery, old)), 40029)

	// POST with the same query is taken too.
	c3, _ := e.loginCode(AppBakery, nil)
	wantErr(t, e.wx(pathJSCode2Session+"?"+e.sessionQuery(AppBakery, c3).Encode(), nil), 0)

	// Every call is counted by path, errcode and app.
	status, raw := e.do(http.MethodGet, "/sandbox/api/calls?by=appid&path="+url.QueryEscape(pathJSCode2Session), nil)
	if status != http.StatusOK {
		t.Fatalf("calls: %d", status)
	}
	got := map[string]int64{}
	items, _ := raw["items"].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		got[fmt.Sprintf("%s/%d", str(m, "appid"), num(m, "errcode"))] = num(m, "count")
	}
	// Counts are in memory: the restart above reset them.
	if got[AppBakery+"/0"] != 4 || got[AppBakery+"/40029"] != 3 || got[AppBakery+"/40163"] != 1 || got[AppHotPot+"/0"] != 1 {
		t.Errorf("calls by app = %v", got)
	}
}

// TestJSCode2SessionBadInput drives the parameters, the token and the
// authorization through WeChat's errcodes, each before the code is spent.
// Sources: docs/wechat-runtime.md (40029, 40163, 61003, 61004), WeChat's
// global return-code table (41001, 40001, 42001, 61014, 41002, 41008,
// 41018, 40013, 40002).
func TestJSCode2SessionBadInput(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	code, _ := e.loginCode(AppBakery, nil)
	with := func(key, value string) url.Values {
		q := e.sessionQuery(AppBakery, code)
		if value == "" {
			q.Del(key)
		} else {
			q.Set(key, value)
		}
		return q
	}
	tests := []struct {
		name string
		q    url.Values
		want int
	}{
		{"no token", with("component_access_token", ""), 41001},
		{"bogus token", with("component_access_token", "bogus"), 40001},
		{"authorizer token", with("component_access_token", e.tokens[AppBakery]), 61014},
		{"no component_appid", with("component_appid", ""), 41018},
		{"another component_appid", with("component_appid", "wxc0ffee0000000002"), 61011},
		{"no appid", with("appid", ""), 41002},
		{"unknown appid", with("appid", "wx0000000000000000"), 40013},
		{"app not authorized", with("appid", AppBookshop), 61003},
		{"no grant_type", with("grant_type", ""), 40002},
		{"wrong grant_type", with("grant_type", "client_credential"), 40002},
		{"no js_code", with("js_code", ""), 41008},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, e.session(tt.q), tt.want) })
	}
	// The newer docs' ?access_token= name for the component token works too.
	q := e.sessionQuery(AppBakery, code)
	q.Del("component_access_token")
	q.Set("access_token", e.ctok)
	wantErr(t, e.session(q), 0)

	// A revoked app: 61003, even with a fresh code.
	code2, _ := e.loginCode(AppBakery, nil)
	e.control(http.MethodPost, "/sandbox/api/apps/"+AppBakery+"/unauthorize", nil)
	wantErr(t, e.session(e.sessionQuery(AppBakery, code2)), 61003)

	// An expired component token: 42001, before anything else is read.
	code3, _ := e.loginCode(AppHotPot, nil)
	e.advance("2h1m")
	wantErr(t, e.session(e.sessionQuery(AppHotPot, code3)), 42001)

	// The control API: unknown apps, official accounts, bad openids.
	for _, c := range []struct {
		path   string
		body   any
		status int
	}{
		{"/sandbox/api/apps/wx0000000000000000/login-code", nil, http.StatusNotFound},
		{"/sandbox/api/apps/" + AppLifeOA + "/login-code", nil, http.StatusBadRequest},
		{"/sandbox/api/apps/" + AppBakery + "/login-code", map[string]string{"openid": "has space"}, http.StatusBadRequest},
		{"/sandbox/api/apps/" + AppBakery + "/login-code", "{", http.StatusBadRequest},
	} {
		if status, out := e.do(http.MethodPost, c.path, c.body); status != c.status || str(out, "error") == "" {
			t.Errorf("POST %s %v: HTTP %d %v, want %d with an error", c.path, c.body, status, out, c.status)
		}
	}
}

// TestJSCode2SessionWhitelist: a component with an IP whitelist gets 61004
// on jscode2session from any other address, as on its component APIs.
func TestJSCode2SessionWhitelist(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	code, _ := e.loginCode(AppBakery, nil)
	e.control(http.MethodPost, "/sandbox/api/ip-whitelist", map[string]any{"ips": []string{"203.0.113.7"}})
	wantErr(t, e.session(e.sessionQuery(AppBakery, code)), 61004)
	e.control(http.MethodPost, "/sandbox/api/ip-whitelist", map[string]any{"ips": []string{}})
	wantErr(t, e.session(e.sessionQuery(AppBakery, code)), 0) // the refused call did not spend the code
}
