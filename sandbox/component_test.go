package sandbox

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTicketPushUsesWallClock(t *testing.T) {
	e := newEnv(t)
	first := e.ticket()
	if !strings.HasPrefix(first, "ticket@@@") || len(first) < 40 {
		t.Errorf("ticket %q does not look like WeChat's", first)
	}
	// The platform's receive() rejects timestamps off the wall clock; a push
	// after moving the sandbox clock must still pass it.
	e.advance("30h")
	status, out := e.do(http.MethodPost, "/sandbox/api/ticket", nil)
	if status != http.StatusOK || num(out, "status") != 200 {
		t.Fatalf("ticket after advance: %d %v", status, out)
	}
	in := waitFor(t, e.plat.component, "InfoType", "component_verify_ticket")
	created, err := strconv.ParseInt(in.Fields["CreateTime"], 10, 64)
	if err != nil || time.Since(time.Unix(created, 0)).Abs() > time.Minute {
		t.Errorf("CreateTime %q is not the wall clock", in.Fields["CreateTime"])
	}
	if in.Fields["AppId"] != testComponent {
		t.Errorf("AppId = %q", in.Fields["AppId"])
	}
	if in.Fields["ComponentVerifyTicket"] == first {
		t.Error("a second push carried the same ticket")
	}
}

func TestRunPushesTicketsPeriodically(t *testing.T) {
	e := newEnv(t)
	e.sb.interval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.sb.Run(ctx) }()
	for range 3 { // the one at start, then two ticks
		waitFor(t, e.plat.component, "InfoType", "component_verify_ticket")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestStartPushTicket(t *testing.T) {
	e := newEnv(t)
	for _, field := range []string{"component_secret", "component_appsecret"} {
		out := e.wx("/cgi-bin/component/api_start_push_ticket", map[string]string{"component_appid": testComponent, field: testSecret})
		wantErr(t, out, 0)
		if str(out, "errmsg") != "ok" {
			t.Errorf("errmsg = %q", str(out, "errmsg"))
		}
		waitFor(t, e.plat.component, "InfoType", "component_verify_ticket")
	}
	out := e.wx("/cgi-bin/component/api_start_push_ticket", map[string]string{"component_appid": testComponent, "component_secret": "nope"})
	wantErr(t, out, 40125)
}

func TestComponentTokenValidation(t *testing.T) {
	e := newEnv(t)
	ticket := e.ticket()
	body := func(appid, secret, ticket string) map[string]string {
		return map[string]string{"component_appid": appid, "component_appsecret": secret, "component_verify_ticket": ticket}
	}
	tests := []struct {
		name string
		body any
		want int
	}{
		{"ok", body(testComponent, testSecret, ticket), 0},
		// component_secret is api_start_push_ticket's name; this API knows only component_appsecret.
		{"secret under component_secret", map[string]string{"component_appid": testComponent, "component_secret": testSecret, "component_verify_ticket": ticket}, 41004},
		{"missing component_appid", body("", testSecret, ticket), 41018},
		{"missing both", body("", "", ticket), 41018},
		{"missing secret, unknown component", body("wx0000000000000000", "", ticket), 41004},
		{"bad json", `{"component_appid":`, 47001},
		{"empty body", "", 44002},
		{"unknown component", body("wx0000000000000000", testSecret, ticket), 61011},
		{"malformed appid", body("not-an-appid", testSecret, ticket), 40013},
		{"missing secret", body(testComponent, "", ticket), 41004},
		{"wrong secret", body(testComponent, "wrong", ticket), 40125},
		{"garbled ticket", body(testComponent, testSecret, ticket+"x"), 61006},
		{"missing ticket", body(testComponent, testSecret, ""), 61006},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := e.wx("/cgi-bin/component/api_component_token", tt.body)
			wantErr(t, out, tt.want)
			if tt.want == 0 && (len(str(out, "component_access_token")) < 40 || num(out, "expires_in") != 7200) {
				t.Errorf("success body = %v", out)
			}
		})
	}

	// Tickets live 12 hours on the sandbox clock.
	e.advance("12h1m")
	wantErr(t, e.wx("/cgi-bin/component/api_component_token", body(testComponent, testSecret, ticket)), 61005)
}

func TestComponentTokenLifetime(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	create := func(query string) map[string]any {
		return e.wx("/cgi-bin/component/api_create_preauthcode"+query, map[string]string{"component_appid": testComponent})
	}
	wantErr(t, create(""), 41001)
	wantErr(t, create("?component_access_token=bogus"), 40001)
	out := create("?component_access_token=" + tok)
	wantErr(t, out, 0)
	if !strings.HasPrefix(str(out, "pre_auth_code"), "preauthcode@@@") || num(out, "expires_in") != 600 {
		t.Errorf("pre_auth_code body = %v", out)
	}
	wantErr(t, create("?access_token="+tok), 0) // the newer docs' parameter name

	// A newer token supersedes the old one, which keeps working 5 minutes.
	newer := e.componentToken()
	wantErr(t, create("?component_access_token="+tok), 0)
	e.advance("5m1s")
	wantErr(t, create("?component_access_token="+tok), 40001)
	wantErr(t, create("?component_access_token="+newer), 0)

	e.advance("2h1m")
	wantErr(t, create("?component_access_token="+newer), 42001)
}

func TestPreAuthCodeExpires(t *testing.T) {
	e := newEnv(t)
	pre := e.preAuthCode(e.componentToken())
	link := authURL(pathLoginPage, pre, nil)
	if status, _ := getPage(t, e.srv.URL+strings.TrimPrefix(link, "https://mp.weixin.qq.com")); status != http.StatusOK {
		t.Fatalf("fresh pre_auth_code: page HTTP %d", status)
	}
	e.advance("601s")
	status, page := getPage(t, e.srv.URL+strings.TrimPrefix(link, "https://mp.weixin.qq.com"))
	if status != http.StatusBadRequest || !strings.Contains(page, "授权链接已过期") || !strings.Contains(page, "expired") {
		t.Errorf("expired pre_auth_code: HTTP %d\n%s", status, page)
	}
	status, out := e.do(http.MethodPost, "/sandbox/api/authorize", map[string]any{"url": link, "appid": AppBakery})
	if status != http.StatusBadRequest || !strings.Contains(str(out, "error"), "expired") {
		t.Errorf("control authorize with expired code: %d %v", status, out)
	}
}

func TestCallCountsAndUnknownAPIs(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	e.wx("/cgi-bin/component/api_component_token", "{")
	status, out := e.do(http.MethodPost, "/wxa/getwxacodeunlimit?access_token="+tok, map[string]string{})
	if status != http.StatusNotFound || errcode(out) != -1 || !strings.Contains(str(out, "errmsg"), "api not emulated by the wxfleet sandbox: /wxa/getwxacodeunlimit") {
		t.Errorf("unknown API: %d %v", status, out)
	}
	status, out = e.do(http.MethodGet, "/cgi-bin/component/api_component_token", nil)
	if status != http.StatusOK || errcode(out) != 43002 {
		t.Errorf("GET on a POST API: %d %v", status, out)
	}
	_, out = e.do(http.MethodGet, "/sandbox/api/calls", nil)
	calls, _ := out["calls"].(map[string]any)
	if got := calls["/cgi-bin/component/api_component_token"]; got == nil || got.(interface{ String() string }).String() != "3" {
		t.Errorf("calls = %v, want 3 for api_component_token", calls)
	}
	if calls["/wxa/getwxacodeunlimit"] == nil {
		t.Errorf("calls = %v, want /wxa/getwxacodeunlimit counted", calls)
	}
	e.do(http.MethodDelete, "/sandbox/api/calls", nil)
	_, out = e.do(http.MethodGet, "/sandbox/api/calls", nil)
	if calls, _ := out["calls"].(map[string]any); len(calls) != 0 {
		t.Errorf("calls after reset = %v", calls)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t)
	ticket := e.ticket()
	path := "/cgi-bin/component/api_component_token"
	body := map[string]string{"component_appid": testComponent, "component_appsecret": testSecret, "component_verify_ticket": ticket}

	status, out := e.do(http.MethodPost, "/sandbox/api/faults", map[string]any{"path": path, "errcode": -1, "count": 2})
	if status != http.StatusOK || num(out, "id") == 0 {
		t.Fatalf("add fault: %d %v", status, out)
	}
	for i := range 2 {
		out := e.wx(path, map[string]string{}) // faults apply before validation
		wantErr(t, out, -1)
		if !strings.HasPrefix(str(out, "errmsg"), "system error rid: ") {
			t.Errorf("call %d: errmsg = %q", i, str(out, "errmsg"))
		}
	}
	wantErr(t, e.wx(path, body), 0) // count honoured
	if _, out := e.do(http.MethodGet, "/sandbox/api/faults", nil); len(out["items"].([]any)) != 0 {
		t.Errorf("exhausted fault still listed: %v", out)
	}

	// Latency only: the call is slow and then succeeds.
	e.do(http.MethodPost, "/sandbox/api/faults", map[string]any{"path": path, "latency": "150ms"})
	start := time.Now()
	wantErr(t, e.wx(path, body), 0)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("latency fault: call took %s", d)
	}
	// Rate 0 never fires; DELETE clears everything.
	e.do(http.MethodPost, "/sandbox/api/faults", map[string]any{"path": path, "errcode": 45009, "rate": 0})
	wantErr(t, e.wx(path, body), 0)
	e.do(http.MethodDelete, "/sandbox/api/faults", nil)
	if _, out := e.do(http.MethodGet, "/sandbox/api/faults", nil); len(out["items"].([]any)) != 0 {
		t.Errorf("faults after DELETE: %v", out)
	}

	for _, bad := range []map[string]any{
		{"path": path},
		{"path": "cgi-bin/x", "errcode": -1},
		{"path": path, "errcode": -1, "rate": 2},
		{"path": path, "latency": "soon"},
	} {
		if status, out := e.do(http.MethodPost, "/sandbox/api/faults", bad); status != http.StatusBadRequest || str(out, "error") == "" {
			t.Errorf("fault %v: %d %v", bad, status, out)
		}
	}
}
