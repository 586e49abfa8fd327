package sandbox

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Every API of the component family needs component_appid in its JSON body:
// without it WeChat answers 41018, and a component_appid in the query string
// does not count (sandbox/doc.go, "Strictness").
func TestComponentFamilyRequiresComponentAppID(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	redirect, _ := e.authorize(tok, AppBakery, nil)
	info := e.queryAuth(tok, redirect.Query().Get("auth_code"))
	full := map[string]map[string]string{
		"/cgi-bin/component/api_create_preauthcode":  {},
		"/cgi-bin/component/api_query_auth":          {"authorization_code": redirect.Query().Get("auth_code")},
		"/cgi-bin/component/api_authorizer_token":    {"authorizer_appid": AppBakery, "authorizer_refresh_token": str(info, "authorizer_refresh_token")},
		"/cgi-bin/component/api_get_authorizer_info": {"authorizer_appid": AppBakery},
		"/cgi-bin/component/api_get_authorizer_list": {"offset": "0", "count": "10"},
		"/cgi-bin/component/clear_quota":             {},
	}
	for path, fields := range full {
		t.Run(strings.TrimPrefix(path, "/cgi-bin/component/"), func(t *testing.T) {
			body := map[string]any{}
			for k, v := range fields {
				body[k] = v
			}
			if path == "/cgi-bin/component/api_get_authorizer_list" {
				body["offset"], body["count"] = 0, 10
			}
			q := url.Values{"component_access_token": {tok}}
			wantErr(t, e.wx(path+"?"+q.Encode(), body), 41018)
			q.Set("component_appid", testComponent) // the query is not the body
			wantErr(t, e.wx(path+"?"+q.Encode(), body), 41018)
			// The token is checked first: without one the answer is 41001.
			wantErr(t, e.wx(path, body), 41001)
			body["component_appid"] = "wx0000000000000000"
			wantErr(t, e.wx(path+"?component_access_token="+tok, body), 61011)
		})
	}
	for _, tt := range []struct {
		path string
		body map[string]string
		want int
	}{
		{"/cgi-bin/component/api_start_push_ticket", map[string]string{"component_secret": testSecret}, 41018},
		{"/cgi-bin/component/api_start_push_ticket", map[string]string{"component_appid": testComponent}, 41004},
		{"/cgi-bin/component/clear_quota/v2", map[string]string{"appsecret": testSecret}, 41018},
		{"/cgi-bin/component/clear_quota/v2", map[string]string{"component_appid": testComponent}, 41004},
	} {
		wantErr(t, e.wx(tt.path, tt.body), tt.want)
	}
}

// A pre_auth_code one account authorized cannot authorize another; the same
// account may use it again (sandbox/doc.go, "Strictness").
func TestPreAuthCodeIsSingleUse(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	link := authURL(pathLoginPage, e.preAuthCode(tok), nil)
	authorize := func(appid string) (int, map[string]any) {
		return e.do(http.MethodPost, "/sandbox/api/authorize", map[string]any{"url": link, "appid": appid})
	}
	if status, out := authorize(AppBakery); status != http.StatusOK {
		t.Fatalf("first use: HTTP %d %v", status, out)
	}
	waitFor(t, e.plat.component, "AuthorizerAppid", AppBakery)
	status, out := authorize(AppHotPot)
	if status != http.StatusBadRequest || !strings.Contains(str(out, "error"), "预授权码已经被授权过，不能重复使用") {
		t.Errorf("another account on a used pre_auth_code: HTTP %d %v", status, out)
	}
	if _, app := e.do(http.MethodGet, "/sandbox/api/apps/"+AppHotPot, nil); app["authorized"] != false {
		t.Errorf("the refused account is authorized: %v", app)
	}
	// The page itself refuses the second account too.
	form := url.Values{"appid": {AppHotPot}, "func": {"17", "18"}}
	u := must(url.Parse(link))
	for k, v := range u.Query() {
		form[k] = v
	}
	resp := must(fromPage{http.DefaultClient, e.srv.URL + strings.TrimPrefix(link, "https://mp.weixin.qq.com")}.PostForm(e.srv.URL+pathLoginPage, form))
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(page), "预授权码已经被授权过") {
		t.Errorf("page confirm for another account: HTTP %d, want 400 with WeChat's message\n%s", resp.StatusCode, page)
	}
	// The same account again: allowed (updateauthorized), and it survives a restart.
	e.restart()
	if status, out := authorize(AppBakery); status != http.StatusOK {
		t.Errorf("the same account again: HTTP %d %v", status, out)
	}
	if status, _ := authorize(AppHotPot); status != http.StatusBadRequest {
		t.Errorf("after restart another account: HTTP %d, want 400", status)
	}
}

// Moving the clock by 49 hours pushes the ticket WeChat would have pushed
// last, so that a platform keeping the latest ticket can still get a
// component token; the ticket it had before has expired (sandbox/doc.go,
// "Clocks").
func TestClockMovePushesTheLatestTicket(t *testing.T) {
	e := newEnv(t)
	old := e.ticket()
	status, out := e.do(http.MethodPost, "/sandbox/api/clock", map[string]string{"advance": "49h"})
	if status != http.StatusOK {
		t.Fatalf("clock: HTTP %d %v", status, out)
	}
	// The push arrived before the clock call answered.
	var latest string
	select {
	case in := <-e.plat.component:
		latest = in.Fields["ComponentVerifyTicket"]
	default:
		t.Fatal("no ticket pushed by the time the clock call answered")
	}
	if latest == "" || latest == old {
		t.Fatalf("pushed ticket %q (the old one was %q)", latest, old)
	}
	token := func(ticket string) map[string]any {
		return e.wx("/cgi-bin/component/api_component_token", map[string]string{
			"component_appid": testComponent, "component_appsecret": testSecret, "component_verify_ticket": ticket})
	}
	// Expired (61005), or forgotten after 48 h like all old state (61006).
	if c := errcode(token(old)); c != 61005 && c != 61006 {
		t.Errorf("the old ticket: errcode %d, want 61005 or 61006", c)
	}
	wantErr(t, token(latest), 0)
	// A move shorter than the push interval pushes nothing.
	e.do(http.MethodPost, "/sandbox/api/clock", map[string]string{"advance": "1m"})
	select {
	case in := <-e.plat.component:
		t.Fatalf("a one-minute move pushed %v", in.Fields)
	default:
	}
}

// Error texts as WeChat writes them, since operators search for them:
// 61004 names the caller's address, 61009 says "code is invalid", and every
// errmsg ends with " rid: <hex>-<hex>-<hex>" (sandbox/doc.go, "Error texts").
func TestErrorTextsAsWeChatWritesThem(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	rid := regexp.MustCompile(` rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)
	for _, tt := range []struct {
		path string
		body any
		want string
	}{
		{"/cgi-bin/component/api_query_auth?component_access_token=" + tok,
			map[string]string{"component_appid": testComponent, "authorization_code": "queryauthcode@@@forged"}, "code is invalid"},
		{"/cgi-bin/component/api_create_preauthcode", map[string]string{"component_appid": testComponent}, "access_token missing"},
		{"/cgi-bin/component/api_create_preauthcode?component_access_token=" + tok, "{", "data format error"},
		{"/wxa/getwxacodeunlimit?access_token=bogus", map[string]any{}, "invalid credential, access_token is invalid or not latest"},
	} {
		out := e.wx(tt.path, tt.body)
		msg := str(out, "errmsg")
		if !strings.HasPrefix(msg, tt.want+" rid: ") || !rid.MatchString(msg) {
			t.Errorf("%s: errmsg %q, want %q and a rid", tt.path, msg, tt.want)
		}
	}
	if status, out := e.do(http.MethodPost, "/sandbox/api/ip-whitelist", map[string]any{"ips": []string{"203.0.113.7"}}); status != http.StatusOK {
		t.Fatalf("whitelist: HTTP %d %v", status, out)
	}
	out := e.wx("/cgi-bin/component/api_create_preauthcode?component_access_token="+tok, map[string]string{"component_appid": testComponent})
	msg := str(out, "errmsg")
	if !strings.HasPrefix(msg, "access clientip is not registered requestIP: 127.0.0.1 rid: ") || !rid.MatchString(msg) {
		t.Errorf("61004 errmsg %q, want the caller's address (the one to whitelist) and a rid", msg)
	}
}
