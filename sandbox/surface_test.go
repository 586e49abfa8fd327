package sandbox

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// badInput is one row of the bad-input table: an emulated API, the class of
// bad input (issue 15's: missing field, bogus, expired, reused, wrong kind,
// wrong method, empty body, malformed JSON), the call and WeChat's answer,
// with the row's source as sandbox/doc.go ("Bad-input table") names them.
type badInput struct {
	path, class, source string
	query               string // the token parameter, "" for none
	body                any
	want                int
}

// TestComponentAPIBadInput drives every emulated API outside code
// management (those are in code_tokens_test.go; token classes on every path
// in tokens_test.go) through the bad-input classes.
func TestComponentAPIBadInput(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	ticket := e.ticket()
	ctok := "?component_access_token=" + e.ctok
	app := "?access_token=" + e.tokens[AppBakery]
	oldRefresh := e.refresh[AppBakery]
	e.later("1m") // rotates the refresh token: the old one is now reused
	ctok, app = "?component_access_token="+e.ctok, "?access_token="+e.tokens[AppBakery]
	redirect, _ := e.authorize(e.ctok, AppNoodles, nil)
	code := redirect.Query().Get("auth_code")
	openid := str(e.userMessage(AppBakery, map[string]any{"content": "在吗"}), "openid")
	comp := func(kv ...any) map[string]any {
		m := map[string]any{"component_appid": testComponent}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	const (
		cToken   = "/cgi-bin/component/api_component_token"
		cPush    = "/cgi-bin/component/api_start_push_ticket"
		cPre     = "/cgi-bin/component/api_create_preauthcode"
		cQuery   = "/cgi-bin/component/api_query_auth"
		cAuthTok = "/cgi-bin/component/api_authorizer_token"
		cInfo    = "/cgi-bin/component/api_get_authorizer_info"
		cList    = "/cgi-bin/component/api_get_authorizer_list"
		cGetOpt  = "/cgi-bin/component/api_get_authorizer_option"
		cSetOpt  = "/cgi-bin/component/api_set_authorizer_option"
		cClear   = "/cgi-bin/component/clear_quota"
		cClearV2 = "/cgi-bin/component/clear_quota/v2"
		aGetOpt  = "/cgi-bin/component/get_authorizer_option"
		aSetOpt  = "/cgi-bin/component/set_authorizer_option"
		aSend    = "/cgi-bin/message/custom/send"
		aClear   = "/cgi-bin/clear_quota"
		quotaGet = "/cgi-bin/openapi/quota/get"
	)
	secretBody := map[string]any{"component_appid": testComponent, "component_appsecret": testSecret, "component_verify_ticket": ticket}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(out, kv[i].(string))
			} else {
				out[kv[i].(string)] = kv[i+1]
			}
		}
		return out
	}
	rows := []badInput{
		{cToken, "missing field", "global", "", with(secretBody, "component_appid", nil), 41018},
		{cToken, "missing field", "global", "", with(secretBody, "component_appsecret", nil), 41004},
		{cToken, "missing field", "doc:api_component_token", "", with(secretBody, "component_appsecret", nil, "component_secret", testSecret), 41004},
		{cToken, "missing field", "doc:api_component_token", "", with(secretBody, "component_verify_ticket", nil), 61006},
		{cToken, "bogus", "doc:api_component_token", "", with(secretBody, "component_appid", "wx0000000000000000"), 61011},
		{cToken, "bogus", "doc:api_component_token", "", with(secretBody, "component_appid", "not-an-appid"), 40013},
		{cToken, "bogus", "doc:api_component_token", "", with(secretBody, "component_appsecret", "wrong"), 40125},
		{cToken, "bogus", "doc:api_component_token", "", with(secretBody, "component_verify_ticket", "ticket@@@forged"), 61006},
		{cPush, "missing field", "global", "", map[string]any{"component_secret": testSecret}, 41018},
		{cPush, "missing field", "global", "", map[string]any{"component_appid": testComponent}, 41004},
		{cPush, "bogus", "doc:api_component_token", "", map[string]any{"component_appid": testComponent, "component_secret": "wrong"}, 40125},
		{cPre, "missing field", "global", ctok, map[string]any{}, 41018},
		{cPre, "bogus", "doc:api_component_token", ctok, comp("component_appid", "wx0000000000000000"), 61011},
		{cQuery, "missing field", "global", ctok, map[string]any{"authorization_code": code}, 41018},
		{cQuery, "missing field", "wxjava", ctok, comp(), 61009},
		{cQuery, "bogus", "wxjava", ctok, comp("authorization_code", "queryauthcode@@@forged"), 61009},
		{cAuthTok, "missing field", "global", ctok, map[string]any{"authorizer_appid": AppBakery, "authorizer_refresh_token": e.refresh[AppBakery]}, 41018},
		{cAuthTok, "missing field", "doc:api_authorizer_token", ctok, comp("authorizer_appid", AppBakery), 61023},
		{cAuthTok, "bogus", "doc:api_authorizer_token", ctok, comp("authorizer_appid", AppBakery, "authorizer_refresh_token", "refreshtoken@@@forged"), 61023},
		{cAuthTok, "reused", "sandbox", ctok, comp("authorizer_appid", AppBakery, "authorizer_refresh_token", oldRefresh), 61023},
		{cAuthTok, "bogus", "wxjava", ctok, comp("authorizer_appid", AppHotPot, "authorizer_refresh_token", oldRefresh), 61003},
		{cInfo, "missing field", "global", ctok, map[string]any{"authorizer_appid": AppBakery}, 41018},
		{cInfo, "bogus", "wxjava", ctok, comp("authorizer_appid", AppHotPot), 61003},
		{cList, "missing field", "global", ctok, map[string]any{"offset": 0, "count": 10}, 41018},
		{cList, "bogus", "doc:api_get_authorizer_list", ctok, comp("offset", 0, "count", 501), 40170},
		{cGetOpt, "missing field", "global", ctok, map[string]any{"authorizer_appid": AppBakery, "option_name": "voice_recognize"}, 41018},
		{cGetOpt, "bogus", "wxjava", ctok, comp("authorizer_appid", AppBakery, "option_name", "menu"), 61012},
		{cSetOpt, "missing field", "wxjava", ctok, comp("authorizer_appid", AppBakery, "option_name", "voice_recognize"), 61013},
		{cSetOpt, "bogus", "wxjava", ctok, comp("authorizer_appid", AppBakery, "option_name", "voice_recognize", "option_value", "9"), 61013},
		{cClear, "missing field", "global", ctok, map[string]any{}, 41018},
		{cClearV2, "missing field", "global", "", map[string]any{"appsecret": testSecret}, 41018},
		{cClearV2, "missing field", "global", "", map[string]any{"component_appid": testComponent}, 41004},
		{cClearV2, "bogus", "doc:clear_quota", "", map[string]any{"component_appid": testComponent, "appsecret": "wrong"}, 40125},
		{cClearV2, "bogus", "wxjava", "", map[string]any{"component_appid": testComponent, "appsecret": testSecret, "appid": AppHotPot}, 61003},
		{aGetOpt, "bogus", "wxjava", app, map[string]any{"option_name": "menu"}, 61012},
		{aSetOpt, "missing field", "wxjava", app, map[string]any{"option_name": "voice_recognize"}, 61013},
		{aSend, "missing field", "doc:custom_send", app, map[string]any{"touser": openid, "msgtype": "text"}, 47001},
		{aSend, "bogus", "doc:custom_send", app, map[string]any{"touser": openid, "msgtype": "nonsense"}, 40008},
		{aSend, "bogus", "doc:custom_send", app, customText("o-nobody", "hi"), 40003},
		{aClear, "missing field", "global", app, map[string]any{}, 40013},
		{aClear, "bogus", "global", app, map[string]any{"appid": AppHotPot}, 40013},
		{quotaGet, "missing field", "doc:get_api_quota", app, map[string]any{}, 76021},
		{quotaGet, "bogus", "doc:get_api_quota", app, map[string]any{"cgi_path": "/cgi-bin/nothing"}, 76021},
		{quotaGet, "wrong kind", "doc:get_api_quota", app, map[string]any{"cgi_path": cPre}, 76022},
	}
	// Wrong method, empty body and malformed JSON on every one, with a token
	// of the right kind: WeChat's global table.
	for path, kind := range apiTokens {
		if strings.HasPrefix(path, "/wxa/") || strings.HasSuffix(path, "privacysetting") || path == pathJSCode2Session {
			continue // code management: code_tokens_test.go; jscode2session (GET, no body): login_test.go
		}
		q := map[tokenKind]string{tokenNone: "", tokenComponent: ctok, tokenAuthorizer: app, tokenEither: app}[kind]
		rows = append(rows,
			badInput{path, "wrong method", "global", q, nil, 43002},
			badInput{path, "empty body", "global", q, "", 44002},
			badInput{path, "malformed JSON", "global", q, "{not json", 47001},
		)
	}
	slices.SortStableFunc(rows, func(a, b badInput) int { return strings.Compare(a.path, b.path) })
	covered := map[string]bool{}
	for _, r := range rows {
		covered[r.path] = true
		t.Run(strings.TrimPrefix(r.path, "/cgi-bin/")+"/"+r.class, func(t *testing.T) {
			if r.class == "wrong method" {
				status, out := e.do(http.MethodGet, r.path+r.query, nil)
				if status != http.StatusOK || errcode(out) != r.want {
					t.Fatalf("GET: HTTP %d %v, want %d", status, out, r.want)
				}
				return
			}
			wantErr(t, e.wx(r.path+r.query, r.body), r.want)
		})
	}
	for path := range apiTokens {
		if !covered[path] && !strings.HasPrefix(path, "/wxa/") && !strings.HasSuffix(path, "privacysetting") && path != pathJSCode2Session {
			t.Errorf("%s has no row", path)
		}
	}

	// Expired: the ticket after 12 h, the authorization code after 1 h
	// (Open Platform docs; tokens in tokens_test.go).
	e.later("13h")
	wantErr(t, e.wx(cToken, secretBody), 61005)
	wantErr(t, e.wx(cQuery+"?component_access_token="+e.ctok, comp("authorization_code", code)), 61010)
}
