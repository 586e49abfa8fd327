package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"

	"github.com/wxfleet/wxfleet/store/storetest"
)

// pageWeChat answers what the public authorization page needs of WeChat; a
// fake at the edge that counts the calls.
type pageWeChat struct{ preAuth, queryAuth atomic.Int32 }

func (f *pageWeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/cgi-bin/component/api_component_token":
		io.WriteString(w, `{"component_access_token":"ctok","expires_in":7200}`)
	case "/cgi-bin/component/api_create_preauthcode":
		fmt.Fprintf(w, `{"pre_auth_code":"preauthcode@@@%d","expires_in":1800}`, f.preAuth.Add(1))
	case "/cgi-bin/component/api_query_auth":
		f.queryAuth.Add(1)
		io.WriteString(w, `{"authorization_info":{"authorizer_appid":"wxpageapp","authorizer_access_token":"at","expires_in":7200,"authorizer_refresh_token":"rt","func_info":[]}}`)
	default:
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}
}

// The public page takes no merchant from its visitor, reuses the browser's
// pre_auth_code on a second click, and its callback works only in the
// browser that started it.
func TestAuthorizePageBindsNothingAVisitorSays(t *testing.T) {
	wx := &pageWeChat{}
	fake := httptest.NewServer(wx)
	defer fake.Close()
	srv := bootWith(t, storetest.SQLite, func(cfg *Config) { cfg.WeChatURL = fake.URL })
	now := time.Now()
	if err := srv.Store.SaveTicket(context.Background(), &wxfleet.Ticket{ComponentAppID: testAppID, Value: "ticket@@@1", CreateTime: now, ReceivedAt: now}); err != nil {
		t.Fatal(err)
	}
	if resp := do(t, "GET", srv.URL()+"/authorize?merchant=evil-merchant", nil); resp.StatusCode != 200 {
		t.Fatalf("page: %d", resp.StatusCode)
	} else if b, _ := io.ReadAll(resp.Body); strings.Contains(string(b), "evil-merchant") {
		t.Fatal("the page carries a merchant its visitor named")
	}
	if n := wx.preAuth.Load(); n != 0 {
		t.Fatalf("viewing the page made %d pre_auth_codes", n)
	}
	form, csrf := browserForm(t, srv.URL()+"/authorize", "")
	resp := postForm(t, srv.URL()+"/authorize/pc", url.Values{"merchant": {"evil-merchant"}, "csrf": {csrf}}, "Cookie", form)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "wxfleet_authorize" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no browser cookie")
	}
	target, _ := url.Parse(resp.Header.Get("Location"))
	callback, _ := url.Parse(target.Query().Get("redirect_uri"))
	link, err := srv.Store.AuthLink(context.Background(), testAppID, callback.Query().Get("link"))
	if err != nil {
		t.Fatal(err)
	}
	if link.Merchant != "" {
		t.Fatalf("a visitor's merchant reached the link: %q", link.Merchant)
	}
	// A second click of the same browser reuses the code.
	again := postForm(t, srv.URL()+"/authorize/pc", url.Values{"csrf": {csrf}}, "Cookie", cookie.Name+"="+cookie.Value+"; "+form)
	if again.Header.Get("Location") != resp.Header.Get("Location") || wx.preAuth.Load() != 1 {
		t.Fatalf("a second click made a new pre_auth_code (%d)", wx.preAuth.Load())
	}
	// WeChat sends the browser back: from another browser (no cookie) the
	// callback is refused without a WeChat call; from this one it completes.
	cb := callback.String() + "&auth_code=queryauthcode@@@1&expires_in=3600"
	if resp := do(t, "GET", cb, nil); resp.StatusCode != http.StatusForbidden || wx.queryAuth.Load() != 0 {
		t.Fatalf("callback without the cookie: %d, %d exchanges", resp.StatusCode, wx.queryAuth.Load())
	}
	if resp := do(t, "GET", cb, nil, "Cookie", cookie.Name+"="+cookie.Value); resp.StatusCode != 200 || wx.queryAuth.Load() != 1 {
		t.Fatalf("callback from the browser: %d, %d exchanges", resp.StatusCode, wx.queryAuth.Load())
	}
	if resp := do(t, "GET", cb, nil, "Cookie", cookie.Name+"="+cookie.Value); resp.StatusCode != http.StatusConflict || wx.queryAuth.Load() != 1 {
		t.Fatalf("the same callback again: %d, %d exchanges", resp.StatusCode, wx.queryAuth.Load())
	}
}
