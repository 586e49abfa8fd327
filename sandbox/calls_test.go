package sandbox

import (
	"net/http"
	"testing"
)

// authorizeTwo authorizes two apps and returns the component token and
// their refresh and access tokens.
func (e *testEnv) authorizeTwo(a, b string) (tok string, refresh, access map[string]string) {
	e.t.Helper()
	tok = e.componentToken()
	refresh, access = map[string]string{}, map[string]string{}
	for _, id := range []string{a, b} {
		redirect, _ := e.authorize(tok, id, nil)
		info := e.queryAuth(tok, redirect.Query().Get("auth_code"))
		refresh[id], access[id] = str(info, "authorizer_refresh_token"), str(info, "authorizer_access_token")
	}
	return tok, refresh, access
}

// A fault with appids fires only for calls about those authorizers: the
// body's authorizer_appid for the token API, the token's owner for an
// authorizer-token API.
func TestFaultsForSomeApps(t *testing.T) {
	e := newEnv(t)
	tok, refresh, access := e.authorizeTwo(AppBakery, AppHotPot)
	tokenPath := "/cgi-bin/component/api_authorizer_token"
	for _, f := range []map[string]any{
		{"path": tokenPath, "errcode": 45009, "appids": []string{AppBakery}},
		{"path": "/cgi-bin/message/custom/send", "errcode": -1, "appids": []string{AppHotPot}},
	} {
		if status, out := e.do(http.MethodPost, "/sandbox/api/faults", f); status != http.StatusOK {
			t.Fatalf("add fault %v: %d %v", f, status, out)
		}
	}
	refreshOf := func(id string) map[string]any {
		return e.wx(tokenPath+"?component_access_token="+tok, map[string]string{
			"component_appid": testComponent, "authorizer_appid": id, "authorizer_refresh_token": refresh[id]})
	}
	wantErr(t, refreshOf(AppBakery), 45009)
	wantErr(t, refreshOf(AppBakery), 45009)
	out := refreshOf(AppHotPot)
	wantErr(t, out, 0)
	refresh[AppHotPot] = str(out, "authorizer_refresh_token")

	// custom/send: the fault fires for HotPot's token only. Bakery's call
	// gets past the fault and fails on its own merits (unknown user, 40003).
	wantErr(t, e.wx("/cgi-bin/message/custom/send?access_token="+access[AppBakery], customText("oNobody", "x")), 40003)
	wantErr(t, e.wx("/cgi-bin/message/custom/send?access_token="+str(out, "authorizer_access_token"), customText("oNobody", "x")), -1)

	// The counts: per path and errcode, and per app for the token API.
	_, calls := e.do(http.MethodGet, "/sandbox/api/calls", nil)
	got := map[string]int64{}
	for _, it := range calls["items"].([]any) {
		m := it.(map[string]any)
		got[str(m, "path")+" "+string(m["errcode"].(interface{ String() string }).String())] = num(m, "count")
	}
	if got[tokenPath+" 45009"] != 2 || got[tokenPath+" 0"] != 1 {
		t.Errorf("calls items = %v", got)
	}
	if c, _ := calls["calls"].(map[string]any); num(c, tokenPath) != 3 {
		t.Errorf("calls totals = %v, want 3 for %s", c, tokenPath)
	}
	_, byApp := e.do(http.MethodGet, "/sandbox/api/calls?path="+tokenPath+"&by=appid", nil)
	perApp := map[string]int64{}
	for _, it := range byApp["items"].([]any) {
		m := it.(map[string]any)
		perApp[str(m, "appid")+" "+m["errcode"].(interface{ String() string }).String()] = num(m, "count")
	}
	if len(perApp) != 2 || perApp[AppBakery+" 45009"] != 2 || perApp[AppHotPot+" 0"] != 1 {
		t.Errorf("token calls by app = %v", perApp)
	}
	// api_query_auth is counted for the app its code was issued for.
	_, byApp = e.do(http.MethodGet, "/sandbox/api/calls?path=/cgi-bin/component/api_query_auth&by=appid", nil)
	exchanges := map[string]int64{}
	for _, it := range byApp["items"].([]any) {
		exchanges[str(it.(map[string]any), "appid")] += num(it.(map[string]any), "count")
	}
	if len(exchanges) != 2 || exchanges[AppBakery] != 1 || exchanges[AppHotPot] != 1 {
		t.Errorf("api_query_auth by app = %v, want one each", exchanges)
	}
	if status, _ := e.do(http.MethodGet, "/sandbox/api/calls?by=appid", nil); status != http.StatusBadRequest {
		t.Errorf("by=appid without path: HTTP %d, want 400", status)
	}
	e.do(http.MethodDelete, "/sandbox/api/calls", nil)
	if _, byApp := e.do(http.MethodGet, "/sandbox/api/calls?path="+tokenPath+"&by=appid", nil); len(byApp["items"].([]any)) != 0 {
		t.Errorf("by app after reset = %v", byApp)
	}
	if status, _ := e.do(http.MethodPost, "/sandbox/api/faults", map[string]any{"path": tokenPath, "errcode": -1, "appids": []string{}}); status != http.StatusBadRequest {
		t.Errorf("a fault with an empty appids list: HTTP %d, want 400", status)
	}
}
