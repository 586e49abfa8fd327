package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// TestConsoleWeChatCall: the authorizer page's WeChat API form sends what
// the API's forward would (the app's token added, the query and JSON body
// as typed) and shows WeChat's answer — its errcode, its JSON, an image as
// an image; input the forward would refuse is refused before anything
// reaches WeChat, with the input kept; a form without its CSRF token sends
// nothing; each call is in the audit log with its path and not its body.
func TestConsoleWeChatCall(t *testing.T) {
	type seenCall struct{ method, path, query, body string }
	var mu sync.Mutex
	var seen []seenCall
	wx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cgi-bin/component/api_start_push_ticket" { // the server's own call at start
			w.Write([]byte(`{"errcode":0}`))
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, seenCall{r.Method, r.URL.Path, r.URL.RawQuery, string(b)})
		mu.Unlock()
		switch r.URL.Path {
		case "/wxa/get_qrcode":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write([]byte("\xff\xd8\xff\xe0 a jpeg"))
		case "/wxa/memberauth":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"errcode":85001,"errmsg":"no such user"}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"errcode":0,"errmsg":"ok","category_list":[{"first_class":"工具"}]}`))
		}
	}))
	defer wx.Close()
	srv := bootWith(t, storetest.SQLite, func(cfg *Config) { cfg.WeChatURL = wx.URL })
	ctx := context.Background()
	if err := srv.Store.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testAppID, AppID: "wxcall1", Status: wxfleet.StatusAuthorized,
		AccessToken: "AT-call", RefreshToken: "RT", TokenExpiresAt: time.Now().Add(time.Hour), AuthorizedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	session := login(t, srv)
	page := srv.URL() + "/authorizers/wxcall1/wechat/call"
	send := func(form url.Values) (int, string) {
		t.Helper()
		cookies, csrf := browserForm(t, page, session.Name+"="+session.Value)
		form.Set("csrf", csrf)
		resp := postForm(t, page, form, "Cookie", cookies)
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	calls := func() []seenCall {
		mu.Lock()
		defer mu.Unlock()
		return append([]seenCall(nil), seen...)
	}

	// Refused before WeChat: each with its reason and the input kept.
	for _, c := range []struct {
		name string
		form url.Values
		want string
	}{
		{"outside WeChat's API", url.Values{"method": {"GET"}, "path": {"/sandbox/api/apps"}}, "only WeChat API paths"},
		{"a dot segment", url.Values{"method": {"GET"}, "path": {"/wxa/../sandbox/api/apps"}}, ". or .. segments"},
		{"an escaped path", url.Values{"method": {"GET"}, "path": {"/wxa/..%2Fsandbox"}}, "must not contain"},
		{"a query in the path", url.Values{"method": {"GET"}, "path": {"/wxa/get_page?x=1"}}, "put the query in its own field"},
		{"a GET with a body", url.Values{"method": {"GET"}, "path": {"/wxa/get_page"}, "body": {`{"a":1}`}}, "a GET carries no body"},
		{"a body that is no JSON", url.Values{"method": {"POST"}, "path": {"/wxa/getversioninfo"}, "body": {`{"a":`}}, "not valid JSON"},
		{"the token typed in", url.Values{"method": {"GET"}, "path": {"/wxa/get_page"}, "query": {"access_token=x"}}, "leave access_token out"},
		{"another method", url.Values{"method": {"DELETE"}, "path": {"/wxa/get_page"}}, "GET or POST"},
	} {
		st, body := send(c.form)
		if st < 400 || st >= 500 || !strings.Contains(body, `id="call-error"`) || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d, want 4xx saying %q", c.name, st, c.want)
		}
		if !strings.Contains(body, `value="`+attrEscaped(c.form.Get("path"))+`"`) {
			t.Errorf("%s: the path typed is not kept", c.name)
		}
	}
	if got := calls(); len(got) != 0 {
		t.Fatalf("refused forms reached WeChat: %+v", got)
	}

	// Without its CSRF token: refused, nothing sent.
	resp := postForm(t, page, url.Values{"method": {"GET"}, "path": {"/wxa/get_category"}}, "Cookie", session.Name+"="+session.Value)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("no CSRF token: %d, want 403", resp.StatusCode)
	}
	if got := calls(); len(got) != 0 {
		t.Fatalf("a form without its CSRF token reached WeChat: %+v", got)
	}

	// A GET with a query: the app's token added, the answer indented with its errcode.
	st, body := send(url.Values{"method": {"GET"}, "path": {"/wxa/get_category"}, "query": {"lang=zh_CN"}})
	if st != http.StatusOK || !strings.Contains(body, `id="call-errcode">errcode 0<`) || !strings.Contains(body, "\n  &#34;category_list&#34;: [") {
		t.Errorf("a GET: %d, the answer not shown with its errcode and indented JSON:\n%s", st, body)
	}
	got := calls()
	if len(got) != 1 || got[0].method != "GET" || got[0].path != "/wxa/get_category" || got[0].body != "" {
		t.Fatalf("WeChat saw %+v", got)
	}
	if q, _ := url.ParseQuery(got[0].query); q.Get("access_token") != "AT-call" || q.Get("lang") != "zh_CN" {
		t.Errorf("the query WeChat saw: %s", got[0].query)
	}

	// A POST: the body as typed; WeChat's refusal shown as its errcode.
	st, body = send(url.Values{"method": {"POST"}, "path": {"/wxa/memberauth"}, "body": {`{"action":"get_experiencer","secret":"s3cr3t"}`}})
	if st != http.StatusOK || !strings.Contains(body, `id="call-errcode">errcode 85001<`) || !strings.Contains(body, "no such user") {
		t.Errorf("a POST refused by WeChat: %d, its errcode not shown", st)
	}
	if got := calls(); len(got) != 2 || got[1].method != "POST" || got[1].body != `{"action":"get_experiencer","secret":"s3cr3t"}` {
		t.Fatalf("WeChat saw %+v", got)
	}

	// An image answer is shown as an image.
	st, body = send(url.Values{"method": {"GET"}, "path": {"/wxa/get_qrcode"}})
	if st != http.StatusOK || !strings.Contains(body, `src="data:image/jpeg;base64,`) {
		t.Errorf("an image answer: %d, not shown as an image", st)
	}

	// Audited: three calls sent, each with its path; no body in the log.
	list, err := srv.Store.ListAudit(ctx, wxfleet.Scope{}, store.AuditFilter{Action: "wechat.forward", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("audit entries: %d, want 3 (refused forms record nothing)", len(list))
	}
	for _, e := range list {
		if e.AppID != "wxcall1" || !strings.Contains(e.Detail, `"path":"/wxa/`) || strings.Contains(e.Detail, "s3cr3t") {
			t.Errorf("audit entry %+v", e)
		}
	}
}

// attrEscaped is s as html/template writes it in an attribute.
func attrEscaped(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;")
	return r.Replace(s)
}
