package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// codeEnv is a sandbox with a component token and mini programs authorized
// with every permission set, for the code-management tests.
type codeEnv struct {
	*testEnv
	ctok    string            // component_access_token
	tokens  map[string]string // appid → authorizer_access_token
	refresh map[string]string // appid → authorizer_refresh_token
}

func newCodeEnv(t *testing.T, apps ...string) *codeEnv {
	t.Helper()
	e := &codeEnv{testEnv: newEnv(t), tokens: map[string]string{}, refresh: map[string]string{}}
	e.ctok = e.componentToken()
	for _, appid := range apps {
		e.authorizeApp(appid, nil)
	}
	return e
}

// authorizeApp authorizes appid (with funcs, nil = all) and keeps its token.
func (e *codeEnv) authorizeApp(appid string, funcs []int) string {
	e.t.Helper()
	redirect, _ := e.authorize(e.ctok, appid, funcs)
	info := e.queryAuth(e.ctok, redirect.Query().Get("auth_code"))
	e.tokens[appid], e.refresh[appid] = str(info, "authorizer_access_token"), str(info, "authorizer_refresh_token")
	return e.tokens[appid]
}

// later moves the sandbox clock and fetches fresh tokens, as a platform
// keeps them fresh while the time passes.
func (e *codeEnv) later(d string) {
	e.t.Helper()
	e.advance(d)
	e.ctok = e.componentToken()
	for appid, rt := range e.refresh {
		out := e.wx("/cgi-bin/component/api_authorizer_token?component_access_token="+e.ctok, map[string]string{
			"component_appid": testComponent, "authorizer_appid": appid, "authorizer_refresh_token": rt})
		wantErr(e.t, out, 0)
		e.tokens[appid], e.refresh[appid] = str(out, "authorizer_access_token"), str(out, "authorizer_refresh_token")
	}
}

// call sends method to an emulated API with the app's token (appid "" =
// the component token) and returns the answer.
func (e *codeEnv) call(method, appid, path string, body any) map[string]any {
	e.t.Helper()
	tok := e.ctok
	if appid != "" {
		tok = e.tokens[appid]
	}
	sep := "?"
	for _, c := range path {
		if c == '?' {
			sep = "&"
		}
	}
	status, out := e.do(method, path+sep+"access_token="+tok, body)
	if status != http.StatusOK {
		e.t.Fatalf("%s %s: HTTP %d %v", method, path, status, out)
	}
	return out
}

func (e *codeEnv) post(appid, path string, body any) map[string]any {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	return e.call(http.MethodPost, appid, path, body)
}

func (e *codeEnv) get(appid, path string) map[string]any {
	e.t.Helper()
	return e.call(http.MethodGet, appid, path, nil)
}

// control calls the control API and fails on a non-200 answer.
func (e *codeEnv) control(method, path string, body any) map[string]any {
	e.t.Helper()
	status, out := e.do(method, path, body)
	if status != http.StatusOK {
		e.t.Fatalf("%s %s: HTTP %d %v", method, path, status, out)
	}
	return out
}

// draft uploads a draft and returns its id.
func (e *codeEnv) draft(body map[string]any) int64 {
	e.t.Helper()
	return num(e.control(http.MethodPost, "/sandbox/api/drafts", body), "draft_id")
}

// template makes a template from a new draft with pages and returns its id.
func (e *codeEnv) template(version string, pages ...string) int64 {
	e.t.Helper()
	body := map[string]any{"user_version": version, "user_desc": "模板 " + version}
	if pages != nil {
		body["pages"] = pages
	}
	id := e.draft(body)
	wantErr(e.t, e.post("", "/wxa/addtotemplate", map[string]any{"draft_id": id, "template_type": 0}), 0)
	for _, it := range list(e.get("", "/wxa/gettemplatelist"), "template_list") {
		if num(it, "draft_id") == id {
			return num(it, "template_id")
		}
	}
	e.t.Fatalf("no template for draft %d", id)
	return 0
}

// ext renders an ext_json string for appid with extra keys.
func ext(appid string, extra map[string]any) string {
	m := map[string]any{"extEnable": true, "extAppid": appid, "ext": map[string]any{"shop": appid}}
	for k, v := range extra {
		m[k] = v
	}
	return string(must(json.Marshal(m)))
}

// commit commits template tid to appid and wants errcode want.
func (e *codeEnv) commit(appid string, tid int64, version string, want int) {
	e.t.Helper()
	wantErr(e.t, e.post(appid, "/wxa/commit", map[string]any{"template_id": tid, "ext_json": ext(appid, nil),
		"user_version": version, "user_desc": "发布 " + version}), want)
}

func list(m map[string]any, key string) []map[string]any {
	raw, _ := m[key].([]any)
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i], _ = v.(map[string]any)
	}
	return out
}

// TestTemplateLibrary: drafts, templates, their errcodes, and that they
// survive a restart.
func TestTemplateLibrary(t *testing.T) {
	e := newCodeEnv(t)
	d1 := e.draft(map[string]any{"user_version": "1.0.0", "user_desc": "首版", "pages": []string{"pages/index/index", "pages/shop/shop"}})
	d2 := e.draft(map[string]any{"user_version": "1.1.0", "user_desc": "第二版"})
	if status, _ := e.do(http.MethodPost, "/sandbox/api/drafts", map[string]any{"user_desc": "no version"}); status != http.StatusBadRequest {
		t.Fatalf("draft without user_version: HTTP %d", status)
	}

	// GET, and POST {} as the reference allows.
	for _, out := range []map[string]any{e.get("", "/wxa/gettemplatedraftlist"), e.post("", "/wxa/gettemplatedraftlist", nil)} {
		drafts := list(out, "draft_list")
		if len(drafts) != 2 || num(drafts[0], "draft_id") != d1 || str(drafts[1], "user_version") != "1.1.0" || num(drafts[0], "create_time") == 0 {
			t.Fatalf("draft list = %v", out)
		}
	}

	wantErr(t, e.post("", "/wxa/addtotemplate", map[string]any{"draft_id": 999999}), 85064)
	wantErr(t, e.post("", "/wxa/addtotemplate", map[string]any{"template_type": 0}), 85064)
	wantErr(t, e.post("", "/wxa/addtotemplate", map[string]any{"draft_id": d1, "template_type": 7}), 47001)
	wantErr(t, e.post("", "/wxa/addtotemplate", map[string]any{"draft_id": d1}), 0)
	wantErr(t, e.post("", "/wxa/addtotemplate", map[string]any{"draft_id": d2, "template_type": 1}), 0)

	all := list(e.get("", "/wxa/gettemplatelist"), "template_list")
	if len(all) != 2 || num(all[0], "draft_id") != d1 || str(all[0], "user_desc") != "首版" ||
		num(all[1], "template_type") != 1 || str(all[0], "source_miniprogram_appid") == "" {
		t.Fatalf("template list = %v", all)
	}
	std := list(e.get("", "/wxa/gettemplatelist?template_type=1"), "template_list")
	if len(std) != 1 || num(std[0], "draft_id") != d2 {
		t.Fatalf("standard templates = %v", std)
	}

	// The library is full at the configured limit.
	e.control(http.MethodPost, "/sandbox/api/code-limits", map[string]any{"template_limit": 2})
	wantErr(t, e.post("", "/wxa/addtotemplate", map[string]any{"draft_id": d1}), 85065)

	// deletetemplate takes a number or a numeric string.
	t1, t2 := num(all[0], "template_id"), num(all[1], "template_id")
	wantErr(t, e.post("", "/wxa/deletetemplate", map[string]any{"template_id": t1}), 0)
	wantErr(t, e.post("", "/wxa/deletetemplate", map[string]any{"template_id": t1}), 85064)
	wantErr(t, e.post("", "/wxa/deletetemplate", map[string]any{"template_id": "abc"}), 85064)
	wantErr(t, e.post("", "/wxa/deletetemplate", map[string]any{}), 85064)
	e.restart()
	e.ctok = e.componentToken()
	if got := list(e.get("", "/wxa/gettemplatelist"), "template_list"); len(got) != 1 || num(got[0], "template_id") != t2 {
		t.Fatalf("after restart: %v", got)
	}
	wantErr(t, e.post("", "/wxa/deletetemplate", map[string]any{"template_id": fmt.Sprint(t2)}), 0)
	if got := list(e.get("", "/wxa/gettemplatelist"), "template_list"); len(got) != 0 {
		t.Fatalf("after deleting all: %v", got)
	}
	if lim := e.control(http.MethodGet, "/sandbox/api/code-limits", nil); num(lim, "template_limit") != 2 {
		t.Fatalf("limits after restart = %v", lim)
	}
}

// TestTemplateTokens: the template library takes the component token only.
func TestTemplateTokens(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	for _, path := range []string{"/wxa/gettemplatedraftlist", "/wxa/gettemplatelist", "/wxa/addtotemplate", "/wxa/deletetemplate"} {
		wantErr(t, e.wx(path, map[string]any{"draft_id": 1, "template_id": 1}), 41001)
		wantErr(t, e.wx(path+"?access_token=bogus", map[string]any{"draft_id": 1, "template_id": 1}), 40001)
		wantErr(t, e.wx(path+"?access_token="+e.tokens[AppBakery], map[string]any{"draft_id": 1, "template_id": 1}), 61014)
	}
	// The token is checked before the body.
	wantErr(t, e.wx("/wxa/addtotemplate", "not json"), 41001)
	wantErr(t, e.wx("/wxa/addtotemplate?access_token="+e.ctok, "not json"), 47001)
	wantErr(t, e.wx("/wxa/addtotemplate?access_token="+e.ctok, ""), 44002)
	// Parameters in the query string are not body fields.
	d := e.draft(map[string]any{"user_version": "1.0.0"})
	wantErr(t, e.wx(fmt.Sprintf("/wxa/addtotemplate?access_token=%s&draft_id=%d", e.ctok, d), map[string]any{}), 85064)
	// A POST-only API refuses GET.
	if status, out := e.do(http.MethodGet, "/wxa/addtotemplate?access_token="+e.ctok, nil); status != http.StatusOK || errcode(out) != 43002 {
		t.Fatalf("GET addtotemplate: HTTP %d %v", status, out)
	}
	// An expired token: 42001, before the method.
	e.advance("3h")
	wantErr(t, e.wx("/wxa/gettemplatelist?access_token="+e.ctok, map[string]any{}), 42001)
	if status, out := e.do(http.MethodGet, "/wxa/addtotemplate?access_token="+e.ctok, nil); status != http.StatusOK || errcode(out) != 42001 {
		t.Fatalf("GET addtotemplate, expired token: HTTP %d %v", status, out)
	}
}
