package sandbox

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Every emulated API names its token kind (tokens.go), so that none skips
// the check; every listed path is emulated.
func TestEveryEmulatedAPINamesItsToken(t *testing.T) {
	e := newEnv(t)
	for path := range e.sb.apiPaths {
		if _, ok := apiTokens[path]; !ok {
			t.Errorf("%s is emulated but not in apiTokens", path)
		}
	}
	for path := range apiTokens {
		if !e.sb.apiPaths[path] {
			t.Errorf("%s is in apiTokens but not emulated", path)
		}
	}
}

// notEmulated are paths the sandbox does not emulate, one per API root and
// token kind a platform uses there.
var notEmulated = []string{
	"/cgi-bin/user/info",
	"/cgi-bin/component/fastregisterweapp",
	"/wxa/getwxacodeunlimit",
	"/wxa/business/getuserphonenumber",
	"/sns/userinfo",
}

// TestTokenCheckedFirstOnEveryPath drives every path under /cgi-bin/, /wxa/
// and /sns/ that takes a token, emulated or not, through the token classes
// of issue 15 with a malformed body: missing 41001, bogus 40001, expired
// 42001, the wrong kind 61014 / 61015 (emulated APIs), all HTTP 200. A
// valid token on a path the sandbox does not emulate gets the plain "not
// emulated" answer. Sources: sandbox/doc.go, "Strictness".
func TestTokenCheckedFirstOnEveryPath(t *testing.T) {
	e := newCodeEnv(t, AppBakery)
	app := e.tokens[AppBakery]
	type row struct {
		path string
		kind tokenKind
	}
	var rows []row
	for path, kind := range apiTokens {
		if kind != tokenNone {
			rows = append(rows, row{path, kind})
		}
	}
	for _, path := range notEmulated {
		rows = append(rows, row{path, tokenOf(path)})
	}
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.path, b.path) })
	call := func(t *testing.T, path, query string) map[string]any {
		t.Helper()
		status, out := e.do(http.MethodPost, path+query, "{not json")
		if status != http.StatusOK {
			t.Fatalf("POST %s%s: HTTP %d %v, want 200", path, query, status, out)
		}
		return out
	}
	for _, r := range rows {
		t.Run(r.path, func(t *testing.T) {
			wantErr(t, call(t, r.path, ""), 41001)
			wantErr(t, call(t, r.path, "?access_token="), 41001)
			wantErr(t, call(t, r.path, "?access_token=bogus"), 40001)
			switch r.kind {
			case tokenComponent:
				wantErr(t, call(t, r.path, "?access_token="+app), 61014)
				wantErr(t, call(t, r.path, "?component_access_token="+app), 61014)
				wantErr(t, call(t, r.path, "?component_access_token=bogus"), 40001)
			case tokenAuthorizer:
				wantErr(t, call(t, r.path, "?access_token="+e.ctok), 61015)
				wantErr(t, call(t, r.path, "?component_access_token="+app), 41001) // not this API's name for it
			}
		})
	}
	// A valid token on a path the sandbox does not emulate: "not emulated".
	for _, path := range notEmulated {
		for _, tok := range []string{app, e.ctok} {
			status, out := e.do(http.MethodPost, path+"?access_token="+tok, map[string]any{})
			if status != http.StatusNotFound || errcode(out) != -1 || !strings.Contains(str(out, "errmsg"), "not emulated") {
				t.Errorf("%s with a valid token: HTTP %d %v", path, status, out)
			}
		}
	}
	// The APIs that take a secret instead of a token do not ask for one.
	for _, path := range append([]string{"/cgi-bin/token", "/sns/jscode2session"}, "/cgi-bin/stable_token") {
		if status, out := e.do(http.MethodGet, path+"?appid=wx0000000000000000&secret=x", nil); status != http.StatusNotFound || errcode(out) != -1 {
			t.Errorf("%s: HTTP %d %v, want the not-emulated answer", path, status, out)
		}
	}
	for _, path := range []string{"/cgi-bin/component/api_component_token", "/cgi-bin/component/clear_quota/v2", "/cgi-bin/component/api_start_push_ticket"} {
		wantErr(t, call(t, path, ""), 47001)
	}

	// Expired tokens: 42001 on every path, before the method and the body.
	e.advance("3h")
	for _, r := range rows {
		tok := app
		if r.kind == tokenComponent {
			tok = e.ctok
		}
		wantErr(t, call(t, r.path, "?access_token="+tok), 42001)
		if status, out := e.do(http.MethodGet, r.path+"?access_token="+tok, nil); status != http.StatusOK || errcode(out) != 42001 {
			t.Errorf("GET %s with an expired token: HTTP %d %v", r.path, status, out)
		}
	}
}
