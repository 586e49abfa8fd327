package sandbox

import (
	"net/http"
	"testing"
)

// codeAPI is one emulated code-management API and what it takes.
type codeAPI struct {
	path      string
	get       bool // a GET API (which also takes POST {})
	component bool // takes the component token
	body      bool // reads a JSON body: empty → 44002, malformed → 47001
}

var codeAPIs = []codeAPI{
	{"/wxa/gettemplatedraftlist", true, true, false},
	{"/wxa/gettemplatelist", true, true, false},
	{"/wxa/addtotemplate", false, true, true},
	{"/wxa/deletetemplate", false, true, true},
	{"/wxa/commit", false, false, true},
	{"/wxa/get_page", true, false, false},
	{"/wxa/get_qrcode", true, false, false},
	{"/wxa/get_category", true, false, false},
	{"/wxa/submit_audit", false, false, true},
	{"/wxa/get_auditstatus", false, false, true},
	{"/wxa/get_latest_auditstatus", true, false, false},
	{"/wxa/undocodeaudit", true, false, false},
	{"/wxa/speedupaudit", false, false, true},
	{"/wxa/queryquota", true, false, false},
	{"/wxa/release", false, false, true},
	{"/wxa/revertcoderelease", true, false, false},
	{"/wxa/grayrelease", false, false, true},
	{"/wxa/revertgrayrelease", true, false, false},
	{"/wxa/getgrayreleaseplan", true, false, false},
	{"/wxa/change_visitstatus", false, false, true},
	{"/wxa/getversioninfo", false, false, true},
	{"/wxa/modify_domain", false, false, true},
	{"/wxa/setwebviewdomain", false, false, true},
	{"/wxa/bind_tester", false, false, true},
	{"/wxa/unbind_tester", false, false, true},
	{"/wxa/memberauth", false, false, true},
	{"/cgi-bin/component/setprivacysetting", false, false, true},
	{"/cgi-bin/component/getprivacysetting", false, false, true},
	{"/cgi-bin/component/modify_wxa_server_domain", false, true, true},
	{"/cgi-bin/component/modify_wxa_jump_domain", false, true, true},
}

// TestCodeAPIBadInput drives every code API through the bad-input classes
// of issue 15: token missing, bogus, of the wrong kind, expired; the wrong
// method; an empty and a malformed body; parameters in the query string
// instead of the body. The token is checked first on every path.
func TestCodeAPIBadInput(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	app := e.tokens[AppBakery]
	for _, api := range codeAPIs {
		t.Run(api.path, func(t *testing.T) {
			method := http.MethodPost
			if api.get {
				method = http.MethodGet
			}
			call := func(query string, body any) map[string]any {
				t.Helper()
				if method == http.MethodGet {
					body = nil
				}
				status, out := e.do(method, api.path+query, body)
				if status != http.StatusOK {
					t.Fatalf("HTTP %d %v", status, out)
				}
				return out
			}
			wantErr(t, call("", "not json"), 41001)
			wantErr(t, call("?access_token=", "not json"), 41001)
			wantErr(t, call("?access_token=bogus", "not json"), 40001)
			switch {
			case api.component:
				wantErr(t, call("?access_token="+app, "not json"), 61014)
			case api.path == "/wxa/speedupaudit":
				// Takes either token (WeChat's reference): the body is next.
				wantErr(t, call("?access_token="+e.ctok, "not json"), 47001)
			default:
				wantErr(t, call("?access_token="+e.ctok, "not json"), 61015)
				// The component's name for its token is not the authorizer's.
				wantErr(t, call("?component_access_token="+app, "not json"), 41001)
			}
			tok := app
			if api.component {
				tok = e.ctok
			}
			if api.body {
				wantErr(t, call("?access_token="+tok, ""), 44002)
				wantErr(t, call("?access_token="+tok, "{not json"), 47001)
				status, out := e.do(http.MethodGet, api.path+"?access_token="+tok, nil)
				if status != http.StatusOK || errcode(out) != 43002 {
					t.Fatalf("GET: HTTP %d %v", status, out)
				}
			} else {
				// A GET API also takes POST {}.
				status, out := e.do(http.MethodPost, api.path+"?access_token="+tok, map[string]any{})
				if status != http.StatusOK {
					t.Fatalf("POST {}: HTTP %d %v", status, out)
				}
				if c := errcode(out); c == 43002 || c == 44002 || c == 47001 || c == 40001 {
					t.Fatalf("POST {}: %v", out)
				}
			}
		})
	}
	// Parameters in the query string are not body fields.
	wantErr(t, e.wx("/wxa/get_auditstatus?auditid=1&access_token="+app, map[string]any{}), 85012)
	wantErr(t, e.wx("/wxa/change_visitstatus?action=close&access_token="+app, map[string]any{}), 85022)

	// Expired tokens: 42001 everywhere.
	e.advance("3h")
	for _, api := range codeAPIs {
		tok := app
		if api.component {
			tok = e.ctok
		}
		method := http.MethodPost
		if api.get {
			method = http.MethodGet
		}
		status, out := e.do(method, api.path+"?access_token="+tok, map[string]any{})
		if status != http.StatusOK || errcode(out) != 42001 {
			t.Errorf("%s with an expired token: HTTP %d %v", api.path, status, out)
		}
	}
}

// TestCodeAPIFaults: injected faults and daily quotas apply to the code
// APIs like to every emulated API.
func TestCodeAPIFaults(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	e.control(http.MethodPost, "/sandbox/api/faults", map[string]any{"path": "/wxa/get_category", "errcode": -1, "count": 1})
	wantErr(t, e.get(AppBakery, "/wxa/get_category"), -1)
	wantErr(t, e.get(AppBakery, "/wxa/get_category"), 0)
	e.control(http.MethodPost, "/sandbox/api/quotas", map[string]any{"path": "/wxa/queryquota", "daily_limit": 1})
	wantErr(t, e.get(AppBakery, "/wxa/queryquota"), 0)
	wantErr(t, e.get(AppBakery, "/wxa/queryquota"), 45009)
}
