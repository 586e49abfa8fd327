package sandbox

import (
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
	create() // before any limit: not counted against one
	setLimit(pre, 2)
	wantErr(t, create(), 0)
	wantErr(t, create(), 0)
	wantErr(t, create(), 45009)
	_, q := e.do(http.MethodGet, "/sandbox/api/quotas", nil)
	if used := q["used"].([]any); len(used) != 1 || fmt.Sprint(used[0].(map[string]any)["count"]) != "2" ||
		used[0].(map[string]any)["account"] != testComponent {
		t.Fatalf("quotas = %v", q)
	}
	// Other APIs, and the token itself, are not limited.
	tok = e.componentToken()

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
	_, q = e.do(http.MethodGet, "/sandbox/api/quotas", nil)
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
