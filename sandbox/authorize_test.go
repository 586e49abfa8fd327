package sandbox

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestAuthorizeFlow(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	pre := e.preAuthCode(tok)
	status, out := e.do(http.MethodPost, "/sandbox/api/authorize", map[string]any{
		"url":   authURL(pathBindComponent, pre, url.Values{"action": {"bindcomponent"}, "no_scan": {"1"}, "auth_type": {"2"}}) + "#wechat_redirect",
		"appid": AppHotPot})
	if status != http.StatusOK {
		t.Fatalf("authorize: %d %v", status, out)
	}
	redirect := must(url.Parse(str(out, "redirect_url")))
	q := redirect.Query()
	code := q.Get("auth_code")
	if redirect.Host != "platform.example" || q.Get("merchant") != "42" || q.Get("expires_in") != "3600" ||
		!strings.HasPrefix(code, "queryauthcode@@@") {
		t.Fatalf("redirect_url = %s", redirect)
	}

	push := waitFor(t, e.plat.component, "AuthorizerAppid", AppHotPot)
	f := push.Fields
	created, _ := strconv.ParseInt(f["CreateTime"], 10, 64)
	expired, _ := strconv.ParseInt(f["AuthorizationCodeExpiredTime"], 10, 64)
	if f["InfoType"] != "authorized" || f["AppId"] != testComponent || f["AuthorizationCode"] != code ||
		f["PreAuthCode"] != pre || created == 0 || expired != created+3600 {
		t.Errorf("authorized push = %v", f)
	}
	if len(f) != 7 {
		t.Errorf("authorized push has %d fields, want 7: %v", len(f), f)
	}

	// The code works twice (push and redirect both exchange it) and yields
	// the same token both times.
	info1 := e.queryAuth(tok, code)
	info2 := e.queryAuth(tok, code)
	if str(info1, "authorizer_appid") != AppHotPot || str(info1, "authorizer_access_token") == "" ||
		str(info1, "authorizer_refresh_token") == "" || num(info1, "expires_in") < 7000 || num(info1, "expires_in") > 7200 {
		t.Errorf("authorization_info = %v", info1)
	}
	if str(info1, "authorizer_access_token") != str(info2, "authorizer_access_token") {
		t.Error("a second exchange of the same code returned another access token")
	}
	var ids []int
	for _, fi := range info1["func_info"].([]any) {
		id, _ := fi.(map[string]any)["funcscope_category"].(map[string]any)["id"].(interface{ Int64() (int64, error) }).Int64()
		ids = append(ids, int(id))
	}
	if !slices.Equal(ids, funcIDs(funcSetsFor(true))) {
		t.Errorf("func_info ids = %v", ids)
	}

	// The control API shows the authorization.
	_, app := e.do(http.MethodGet, "/sandbox/api/apps/"+AppHotPot, nil)
	if app["authorized"] != true || str(app, "authorizer_refresh_token") != str(info1, "authorizer_refresh_token") {
		t.Errorf("app = %v", app)
	}

	queryAuth := func(code string) map[string]any {
		return e.wx("/cgi-bin/component/api_query_auth?component_access_token="+tok,
			map[string]string{"component_appid": testComponent, "authorization_code": code})
	}
	wantErr(t, queryAuth("queryauthcode@@@unknown"), 61009)
	e.advance("3601s")
	wantErr(t, queryAuth(code), 61010)
}

func TestAuthorizerInfoAndList(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	e.authorize(tok, AppBookshop, nil)
	e.authorize(tok, AppLifeOA, nil)
	info := func(appid string) map[string]any {
		return e.wx("/cgi-bin/component/api_get_authorizer_info?component_access_token="+tok,
			map[string]string{"component_appid": testComponent, "authorizer_appid": appid})
	}
	mini := info(AppBookshop)
	wantErr(t, mini, 0)
	ai := mini["authorizer_info"].(map[string]any)
	mpi, ok := ai["MiniProgramInfo"].(map[string]any)
	if !ok || str(ai, "nick_name") != "拾光书店" || str(ai, "user_name") != "gh_1e58f26e93d4" ||
		!strings.HasSuffix(str(ai, "head_img"), "/sandbox/static/icons/"+AppBookshop+".svg") {
		t.Errorf("mini program info = %v", ai)
	}
	if cats := mpi["categories"].([]any); len(cats) == 0 || cats[0].(map[string]any)["first"] == "" {
		t.Errorf("categories = %v", mpi["categories"])
	}
	authz := mini["authorization_info"].(map[string]any)
	if _, has := authz["authorizer_access_token"]; has || str(authz, "authorizer_refresh_token") == "" {
		t.Errorf("authorization_info = %v", authz)
	}
	oa := info(AppLifeOA)
	if _, has := oa["authorizer_info"].(map[string]any)["MiniProgramInfo"]; has {
		t.Error("official account has MiniProgramInfo")
	}
	if st := oa["authorizer_info"].(map[string]any)["service_type_info"].(map[string]any); num(st, "id") != 2 {
		t.Errorf("service_type_info = %v", st)
	}
	wantErr(t, info(AppFitness), 61003)

	list := func(offset, count int) map[string]any {
		return e.wx("/cgi-bin/component/api_get_authorizer_list?component_access_token="+tok,
			map[string]any{"component_appid": testComponent, "offset": offset, "count": count})
	}
	all := list(0, 500)
	wantErr(t, all, 0)
	items := all["list"].([]any)
	if num(all, "total_count") != 2 || len(items) != 2 || str(items[0].(map[string]any), "refresh_token") == "" ||
		num(items[0].(map[string]any), "auth_time") == 0 {
		t.Errorf("list = %v", all)
	}
	if page := list(1, 1); len(page["list"].([]any)) != 1 || num(page, "total_count") != 2 {
		t.Errorf("page = %v", page)
	}
	wantErr(t, list(0, 501), 40170)
}

func TestAuthorizerTokenRotation(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	redirect, _ := e.authorize(tok, AppBakery, nil)
	info := e.queryAuth(tok, redirect.Query().Get("auth_code"))
	oldRefresh, oldAccess := str(info, "authorizer_refresh_token"), str(info, "authorizer_access_token")
	openid := str(e.userMessage(AppBakery, map[string]any{"content": "在吗"}), "openid")

	refresh := func(rt string) map[string]any {
		return e.wx("/cgi-bin/component/api_authorizer_token?component_access_token="+tok,
			map[string]string{"component_appid": testComponent, "authorizer_appid": AppBakery, "authorizer_refresh_token": rt})
	}
	send := func(access string) map[string]any {
		return e.wx("/cgi-bin/message/custom/send?access_token="+access, customText(openid, "您好"))
	}
	out := refresh(oldRefresh)
	wantErr(t, out, 0)
	newRefresh, newAccess := str(out, "authorizer_refresh_token"), str(out, "authorizer_access_token")
	if newRefresh == oldRefresh || newAccess == oldAccess || num(out, "expires_in") != 7200 {
		t.Fatalf("refresh answer = %v", out)
	}
	wantErr(t, refresh(oldRefresh), 61023)
	wantErr(t, refresh("refreshtoken@@@made-up"), 61023)
	wantErr(t, send(oldAccess), 0) // 5 minutes of grace
	e.advance("5m1s")
	wantErr(t, send(oldAccess), 40001)
	wantErr(t, send(newAccess), 0)
	e.advance("2h")
	wantErr(t, send(newAccess), 42001)
	wantErr(t, refresh(newRefresh), 42001) // the component token expired too

	tok = e.componentToken()
	out = refresh(newRefresh)
	wantErr(t, out, 0)
	wantErr(t, send(str(out, "authorizer_access_token")), 0)
}

func TestReauthorizeAndUnauthorize(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	redirect, _ := e.authorize(tok, AppFlorist, nil)
	first := e.queryAuth(tok, redirect.Query().Get("auth_code"))
	openid := str(e.userMessage(AppFlorist, map[string]any{"content": "订花"}), "openid")

	redirect, push := e.authorize(tok, AppFlorist, []int{17, 18})
	if push.Fields["InfoType"] != "updateauthorized" || len(push.Fields) != 7 {
		t.Errorf("re-authorization push = %v", push.Fields)
	}
	second := e.queryAuth(tok, redirect.Query().Get("auth_code"))
	refresh := func(rt string) map[string]any {
		return e.wx("/cgi-bin/component/api_authorizer_token?component_access_token="+tok,
			map[string]string{"component_appid": testComponent, "authorizer_appid": AppFlorist, "authorizer_refresh_token": rt})
	}
	wantErr(t, refresh(str(first, "authorizer_refresh_token")), 61023)
	// Without 客服消息管理权限 (19) the platform may not send customer-service messages.
	wantErr(t, e.wx("/cgi-bin/message/custom/send?access_token="+str(second, "authorizer_access_token"), customText(openid, "hi")), 61007)

	status, out := e.do(http.MethodPost, "/sandbox/api/apps/"+AppFlorist+"/unauthorize", nil)
	if status != http.StatusOK || out["ok"] != true || num(out, "status") != 200 {
		t.Fatalf("unauthorize: %d %v", status, out)
	}
	un := waitFor(t, e.plat.component, "InfoType", "unauthorized")
	if un.Fields["AuthorizerAppid"] != AppFlorist || len(un.Fields) != 4 {
		t.Errorf("unauthorized push = %v", un.Fields)
	}
	wantErr(t, refresh(str(second, "authorizer_refresh_token")), 61003)
	wantErr(t, e.wx("/cgi-bin/message/custom/send?access_token="+str(second, "authorizer_access_token"), customText(openid, "hi")), 40001)
	_, app := e.do(http.MethodGet, "/sandbox/api/apps/"+AppFlorist, nil)
	if app["authorized"] != false || str(app, "authorizer_refresh_token") != "" {
		t.Errorf("app after revoke = %v", app)
	}
	if status, _ := e.do(http.MethodPost, "/sandbox/api/apps/"+AppFlorist+"/unauthorize", nil); status != http.StatusConflict {
		t.Errorf("second unauthorize: HTTP %d, want 409", status)
	}
	if status, _ := e.do(http.MethodPost, "/sandbox/api/apps/"+AppFlorist+"/messages", map[string]any{"content": "x"}); status != http.StatusConflict {
		t.Errorf("message to a revoked app: HTTP %d, want 409", status)
	}
}

// radioValues lists the appids a page offers.
func radioValues(page string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<input type="radio" name="appid" value="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return out
}

func TestAuthorizationPages(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	pre := e.preAuthCode(tok)
	var minis, officials, all []string
	for _, a := range seedAccounts() {
		if a.Hidden {
			continue
		}
		all = append(all, a.AppID)
		if a.MiniProgram {
			minis = append(minis, a.AppID)
		} else {
			officials = append(officials, a.AppID)
		}
	}
	slices.Sort(minis)
	slices.Sort(officials)
	slices.Sort(all)
	tests := []struct {
		name  string
		path  string
		extra url.Values
		want  []string
	}{
		{"pc, official accounts", pathLoginPage, url.Values{"auth_type": {"1"}}, officials},
		{"pc, mini programs", pathLoginPage, url.Values{"auth_type": {"2"}}, minis},
		{"pc, both", pathLoginPage, url.Values{"auth_type": {"3"}}, all},
		{"pc, auth_type missing", pathLoginPage, nil, all},
		{"biz_appid wins over auth_type", pathLoginPage, url.Values{"auth_type": {"1"}, "biz_appid": {AppTeaHouse}}, []string{AppTeaHouse}},
		{"h5", pathBindComponent, url.Values{"action": {"bindcomponent"}, "no_scan": {"1"}, "auth_type": {"2"}}, minis},
		{"old h5", pathBindOld, url.Values{"action": {"bindcomponent"}, "no_scan": {"1"}, "auth_type": {"1"}}, officials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link := authURL(tt.path, pre, tt.extra)
			status, page := getPage(t, e.srv.URL+strings.TrimPrefix(link, "https://mp.weixin.qq.com"))
			if status != http.StatusOK {
				t.Fatalf("HTTP %d\n%s", status, page)
			}
			if got := radioValues(page); !slices.Equal(got, tt.want) {
				t.Errorf("offered %v, want %v", got, tt.want)
			}
			for _, want := range []string{`<button id="confirm" type="submit">确认授权</button>`, `<form method="post" action="` + tt.path + `"`,
				`name="func"`, `name="pre_auth_code" value="` + pre + `"`, "测试服务商平台", "扫码已模拟"} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if strings.Contains(page, TestOfficialAccount) || strings.Contains(page, TestMiniProgram) {
				t.Error("page offers a 全网发布 test account")
			}
		})
	}

	errorCases := []struct {
		name, link, want string
	}{
		{"bad pre_auth_code", authURL(pathLoginPage, "preauthcode@@@forged", nil), "invalid pre_auth_code"},
		{"unknown component", strings.Replace(authURL(pathLoginPage, pre, nil), testComponent, "wx0000000000000000", 1), "invalid component_appid"},
		{"relative redirect_uri", authURL(pathLoginPage, pre, url.Values{"redirect_uri": {"/callback"}}), "redirect_uri"},
		{"unknown biz_appid", authURL(pathLoginPage, pre, url.Values{"biz_appid": {"wx0000000000000000"}}), "biz_appid"},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			status, page := getPage(t, e.srv.URL+strings.TrimPrefix(tt.link, "https://mp.weixin.qq.com"))
			if status != http.StatusBadRequest || !strings.Contains(page, tt.want) || !strings.Contains(page, "无法完成授权") {
				t.Errorf("HTTP %d, want 400 with %q\n%s", status, tt.want, page)
			}
		})
	}
}

// TestAuthorizationDomain checks the 授权发起页域名: the redirect_uri and the
// page the merchant came from must be on it.
func TestAuthorizationDomain(t *testing.T) {
	e := newEnv(t) // the test component's domain is platform.example
	pre := e.preAuthCode(e.componentToken())
	page := func(redirect, referer string) (int, string) {
		extra := url.Values{}
		if redirect != "" {
			extra.Set("redirect_uri", redirect)
		}
		link := authURL(pathLoginPage, pre, extra)
		return getPageFrom(t, e.srv.URL+strings.TrimPrefix(link, "https://mp.weixin.qq.com"), referer)
	}
	const entry = "https://platform.example/merchants/42/authorize"
	for _, tt := range []struct {
		name, redirect, referer string
		want                    string // "" allowed, else a text of the refusal
	}{
		{"on the domain", "", entry, ""},
		{"origin-only referer", "", "https://platform.example/", ""},
		{"no referer (opened by hand)", "", "", "授权入口页所在域名：空；授权发起页域名：platform.example"},
		{"upper case", "https://PLATFORM.example/cb", entry, ""},
		{"redirect_uri elsewhere", "https://evil.example/cb", entry, "授权后回调页所在域名：evil.example"},
		{"redirect_uri on a subdomain", "https://www.platform.example/cb", entry, "www.platform.example"},
		{"linked from elsewhere", "", "https://evil.example/page", "授权入口页所在域名：evil.example"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := page(tt.redirect, tt.referer)
			if tt.want == "" && status != http.StatusOK {
				t.Fatalf("HTTP %d, want 200\n%s", status, body)
			}
			if tt.want != "" && (status != http.StatusBadRequest || !strings.Contains(body, "授权发起页域名") || !strings.Contains(body, tt.want)) {
				t.Fatalf("HTTP %d, want 400 with %q\n%s", status, tt.want, body)
			}
		})
	}
	// Without a Referer the H5 pages are refused too; the confirmation posted
	// without one is refused.
	for _, p := range []string{pathBindComponent, pathBindOld} {
		if status, _ := getPageFrom(t, e.srv.URL+strings.TrimPrefix(authURL(p, pre, nil), "https://mp.weixin.qq.com"), ""); status != http.StatusBadRequest {
			t.Errorf("%s without a Referer: HTTP %d, want 400", p, status)
		}
	}
	form := url.Values{"component_appid": {testComponent}, "pre_auth_code": {pre}, "appid": {AppNoodles},
		"redirect_uri": {"https://platform.example/wechat/authorized"}}
	if resp := must(http.PostForm(e.srv.URL+pathLoginPage, form)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("confirmation without a Referer: HTTP %d, want 400", resp.StatusCode)
	}
	// The headless confirmation checks the redirect_uri too.
	link := authURL(pathLoginPage, pre, url.Values{"redirect_uri": {"https://evil.example/cb"}})
	status, out := e.do(http.MethodPost, "/sandbox/api/authorize", map[string]any{"url": link, "appid": AppNoodles})
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), "授权发起页域名") {
		t.Fatalf("headless authorize: HTTP %d %v", status, out)
	}

	// Without an AuthDomain the platform URL's host is the domain, and the
	// loopback names stand for one another; "*" turns the check off.
	for _, tt := range []struct {
		domain, redirect string
		ok               bool
	}{
		{"", "http://localhost:8080/authorize/callback", true}, // the fake platform listens on 127.0.0.1
		{"", "http://[::1]:8080/authorize/callback", true},
		{"", "https://platform.example/cb", false},
		{"*", "https://anywhere.example/cb", true},
	} {
		e.cfg.Components[0].AuthDomain = tt.domain
		e.restart()
		pre := e.preAuthCode(e.componentToken())
		link := authURL(pathLoginPage, pre, url.Values{"redirect_uri": {tt.redirect}})
		entry := strings.Replace(tt.redirect, "/authorize/callback", "/authorize", 1) // the entry page beside the callback
		status, body := getPageFrom(t, e.srv.URL+strings.TrimPrefix(link, "https://mp.weixin.qq.com"), entry)
		if (status == http.StatusOK) != tt.ok {
			t.Errorf("AuthDomain %q, redirect_uri %s: HTTP %d, want ok=%v\n%s", tt.domain, tt.redirect, status, tt.ok, body)
		}
	}

	// A platform listening on every interface names no domain to check.
	tok := e.componentToken() // before pushes have nowhere to go
	e.cfg.Components[0].AuthDomain = ""
	e.cfg.PlatformURL = "http://0.0.0.0:8080"
	e.restart()
	pre = e.preAuthCode(tok)
	link = authURL(pathLoginPage, pre, url.Values{"redirect_uri": {"http://192.168.1.5:8080/authorize/callback"}})
	if status, body := getPageFrom(t, e.srv.URL+strings.TrimPrefix(link, "https://mp.weixin.qq.com"), "http://192.168.1.5:8080/authorize"); status != http.StatusOK {
		t.Errorf("platform on 0.0.0.0: HTTP %d\n%s", status, body)
	}
}

// TestAuthorizationPagePost submits the page's form as a browser without
// JavaScript would.
func TestAuthorizationPagePost(t *testing.T) {
	e := newEnv(t)
	pre := e.preAuthCode(e.componentToken())
	link := authURL(pathLoginPage, pre, url.Values{"auth_type": {"2"}})
	_, page := getPage(t, e.srv.URL+strings.TrimPrefix(link, "https://mp.weixin.qq.com"))
	form := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	client := fromPage{noRedirect, e.srv.URL + strings.TrimPrefix(link, "https://mp.weixin.qq.com")}

	// Confirming without choosing an account re-renders the page with an error.
	resp := must(client.PostForm(e.srv.URL+pathLoginPage, form))
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("no appid: HTTP %d, want 400", resp.StatusCode)
	}

	form.Set("appid", AppNoodles)
	form["func"] = []string{"17", "19"}
	resp = must(client.PostForm(e.srv.URL+pathLoginPage, form))
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("confirm: HTTP %d", resp.StatusCode)
	}
	loc := must(url.Parse(resp.Header.Get("Location")))
	if loc.Query().Get("expires_in") != "3600" || loc.Query().Get("merchant") != "42" {
		t.Errorf("Location = %s", loc)
	}
	push := waitFor(t, e.plat.component, "AuthorizerAppid", AppNoodles)
	if push.Fields["AuthorizationCode"] != loc.Query().Get("auth_code") {
		t.Errorf("push code %q, redirect code %q", push.Fields["AuthorizationCode"], loc.Query().Get("auth_code"))
	}
	_, app := e.do(http.MethodGet, "/sandbox/api/apps/"+AppNoodles, nil)
	funcs := app["authorizations"].([]any)[0].(map[string]any)["func_info"].([]any)
	if len(funcs) != 2 {
		t.Errorf("func_info = %v, want the two ticked sets", funcs)
	}
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'").Replace(s)
}

func TestControlAuthorizeValidation(t *testing.T) {
	e := newEnv(t)
	pre := e.preAuthCode(e.componentToken())
	tests := []struct {
		name string
		body map[string]any
		want string
	}{
		{"not an authorization link", map[string]any{"url": "https://mp.weixin.qq.com/cgi-bin/other?pre_auth_code=" + pre, "appid": AppBakery}, "authorization link"},
		{"no appid", map[string]any{"url": authURL(pathLoginPage, pre, nil)}, "choose the account"},
		{"filtered out by auth_type", map[string]any{"url": authURL(pathLoginPage, pre, url.Values{"auth_type": {"1"}}), "appid": AppBakery}, "not offered"},
		{"hidden test account", map[string]any{"url": authURL(pathLoginPage, pre, nil), "appid": TestMiniProgram}, "not offered"},
		{"official account permission for a mini program", map[string]any{"url": authURL(pathLoginPage, pre, nil), "appid": AppBakery, "func": []int{1}}, "permission set 1"},
		{"no permission", map[string]any{"url": authURL(pathLoginPage, pre, nil), "appid": AppBakery, "func": []int{}}, "at least one"},
		{"bad pre_auth_code", map[string]any{"url": authURL(pathLoginPage, "nope", nil), "appid": AppBakery}, "invalid pre_auth_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.do(http.MethodPost, "/sandbox/api/authorize", tt.body)
			if status != http.StatusBadRequest || !strings.Contains(str(out, "error"), tt.want) {
				t.Errorf("HTTP %d %v, want 400 mentioning %q", status, out, tt.want)
			}
		})
	}
	// Pushes are asynchronous, so this only catches a push that was quick.
	select {
	case in := <-e.plat.component:
		t.Errorf("a rejected authorization pushed %v", in.Fields)
	default:
	}
}

// fromPage posts a form as a browser does from the page at referer.
type fromPage struct {
	client  *http.Client
	referer string
}

func (c fromPage) PostForm(u string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", c.referer)
	return c.client.Do(req)
}
