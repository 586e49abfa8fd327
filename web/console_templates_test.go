package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/wechat"
)

// templateTokens gives the rollout service fixed tokens (the fake WeChat
// below does not check them).
type templateTokens struct{}

func (templateTokens) ComponentSource(string) wechat.TokenSource { return wechat.StaticToken("CAT") }
func (templateTokens) AuthorizerSource(string, string) wechat.TokenSource {
	return wechat.StaticToken("AAT")
}

// fakeTemplateLibrary is WeChat's /wxa/deletetemplate: it records the ids
// it was asked to delete.
type fakeTemplateLibrary struct {
	mu      sync.Mutex
	deleted []int64
}

func (f *fakeTemplateLibrary) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/wxa/deletetemplate" {
		w.Write([]byte(`{"errcode":-1,"errmsg":"the test's WeChat knows only deletetemplate"}`))
		return
	}
	var in struct {
		TemplateID int64 `json:"template_id"`
	}
	b, _ := io.ReadAll(r.Body)
	json.Unmarshal(b, &in)
	f.mu.Lock()
	f.deleted = append(f.deleted, in.TemplateID)
	f.mu.Unlock()
	w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
}

func (f *fakeTemplateLibrary) calls() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.deleted...)
}

// TestConsoleTemplatePage: the template page shows a template and does what
// the API's /api/v1/templates/{id} routes do. An operator edits the
// ext_json and notes (a bad ext_json is refused in words with the input
// kept), previews the ext_json for an app with its settings, declares a
// policy (a bad domain refused in words, the input kept) and clears it, and
// deletes the template only on the confirmed post. A merchant is refused
// every route, and a post without the CSRF token changes nothing.
func TestConsoleTemplatePage(t *testing.T) { storetest.Run(t, testConsoleTemplatePage) }

func testConsoleTemplatePage(t *testing.T, b storetest.Backend) {
	lib := &fakeTemplateLibrary{}
	wx := httptest.NewServer(lib)
	t.Cleanup(wx.Close)
	ts := newTestServer(t, b, func(s *Server) {
		s.Rollouts = &rollout.Service{Store: s.Store, WeChat: wechat.New(wechat.Options{Hosts: wechat.SingleHost(wx.URL), Retries: -1}),
			Tokens: templateTokens{}, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
	})
	ctx := context.Background()
	now := time.Now()
	if err := ts.st.SyncTemplates(ctx, testPlatform, []wxfleet.Template{{TemplateID: 41, DraftID: 9, UserVersion: "1.2.0",
		UserDesc: "spring-desc", CreateTime: now.Add(-time.Hour)}}, now); err != nil {
		t.Fatal(err)
	}
	if err := ts.st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testPlatform, AppID: "wxshop1", Status: wxfleet.StatusAuthorized}); err != nil {
		t.Fatal(err)
	}
	if err := ts.st.SetAuthorizerSettings(ctx, testPlatform, "wxshop1", map[string]any{"shop_name": "花店-preview"}, now); err != nil {
		t.Fatal(err)
	}
	// A rollout of it still running: the delete confirmation names it.
	ro := &wxfleet.Rollout{ComponentAppID: testPlatform, TemplateID: 41, UserVersion: "1.2.0", Targets: wxfleet.RolloutTargets{All: true},
		Release: wxfleet.ReleaseAuto, BatchSize: 10, MaxFailureRatio: 0.5, Status: wxfleet.RolloutRunning, CreatedAt: now, UpdatedAt: now}
	if err := ts.st.CreateRollout(ctx, ro, []string{"wxshop1"}, nil, nil); err != nil {
		t.Fatal(err)
	}

	_, opsTok := ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, ops := ts.signIn("ops@isv.example", testPassword)
	const page = "/templates/41"
	post := func(session, path string, form url.Values) (int, string) {
		t.Helper()
		cookies, csrf := ts.page(page, session)
		form.Set("csrf", csrf)
		return ts.call("POST", path, form.Encode(), "Cookie", cookies)
	}
	api := func() templateJSON {
		t.Helper()
		st, body := ts.call("GET", "/api/v1/templates/41", nil, bearer(opsTok)...)
		if st != http.StatusOK {
			t.Fatalf("GET /api/v1/templates/41: %d %s", st, body)
		}
		var v templateJSON
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	// The list links to the page; the page shows the template's fields.
	if _, list := ts.call("GET", "/templates", nil, "Cookie", ops); !strings.Contains(list, `href="/templates/41?platform=`+testPlatform+`"`) {
		t.Error("the templates list does not link to the template's page")
	}
	st, body := ts.call("GET", page, nil, "Cookie", ops)
	if st != http.StatusOK || !strings.Contains(body, "1.2.0") || !strings.Contains(body, "spring-desc") || !strings.Contains(body, `id="deleted-field">否`) ||
		!strings.Contains(body, `href="/rollouts/new?platform=`+testPlatform+`&template_id=41"`) || !strings.Contains(body, `/fleet-actions/new?platform=`+testPlatform+`&kind=setup&template_id=41`) {
		t.Fatalf("the template page: %d, want its fields, the rollout link and the setup note: %s", st, body)
	}

	// Edit: what the API then returns.
	ext := `{"shop":"${settings.shop_name}","id":"${appid}"}`
	if st, body := post(ops, page+"/edit", url.Values{"ext_json": {ext}, "notes": {"春季版"}}); st != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", st, body)
	}
	if v := api(); v.ExtJSON != ext || v.Notes != "春季版" {
		t.Errorf("after the edit the API returns ext_json %q notes %q", v.ExtJSON, v.Notes)
	}
	// The answer goes back to the page, which says it was saved.
	cookies, csrf := ts.page(page, ops)
	req, _ := http.NewRequest("POST", ts.url+page+"/edit", strings.NewReader(url.Values{"csrf": {csrf}, "ext_json": {ext}, "notes": {"春季版"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", cookies)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(back, page+"?") {
		t.Fatalf("edit: %d to %q, want 303 back to the page", resp.StatusCode, back)
	}
	if _, body := ts.call("GET", back, nil, "Cookie", ops); !strings.Contains(body, `role="status" id="done"`) {
		t.Error("no status line after the edit")
	}
	// A bad ext_json (and an unknown placeholder): refused in words, the input kept, nothing saved.
	for bad, words := range map[string]string{`{"shop": "${settings.shop_name}"`: "not valid JSON", `{"shop":"${who}"}`: "unknown placeholder ${who}"} {
		st, body := post(ops, page+"/edit", url.Values{"ext_json": {bad}, "notes": {"坏的备注"}})
		if st != http.StatusBadRequest || !strings.Contains(body, `id="edit-error"`) || !strings.Contains(body, words) ||
			!strings.Contains(body, htmlText(bad)) || !strings.Contains(body, "坏的备注") {
			t.Errorf("bad ext_json %s: %d, want 400 saying %q with the input kept: %s", bad, st, words, body)
		}
	}
	if v := api(); v.ExtJSON != ext || v.Notes != "春季版" {
		t.Errorf("a refused edit changed the template: %q %q", v.ExtJSON, v.Notes)
	}

	// The preview renders with the app's settings; an unknown app is said in words.
	if _, body := ts.call("GET", page+"?appid=wxshop1", nil, "Cookie", ops); !strings.Contains(body, `id="preview-result"`) ||
		!strings.Contains(body, `&#34;shop&#34;: &#34;花店-preview&#34;`) || !strings.Contains(body, `&#34;extAppid&#34;: &#34;wxshop1&#34;`) {
		t.Errorf("the preview does not show the ext_json rendered for wxshop1: %s", body)
	}
	if _, body := ts.call("GET", page+"?appid=wxnobody", nil, "Cookie", ops); !strings.Contains(body, `id="preview-error"`) || strings.Contains(body, `id="preview-result"`) {
		t.Errorf("the preview for an unknown app: want the error in words: %s", body)
	}

	// The policy: saved as the API reads it, shown back in the form.
	form := url.Values{"manage_domains": {"1"}, "requestdomain": {"https://api.shop.example\r\nhttps://img.shop.example\r\n"}, "wsrequestdomain": {"wss://ws.shop.example"},
		"manage_webviewdomain": {"1"}, "webviewdomain": {"https://h5.shop.example"},
		"manage_privacy": {"1"}, "notice_method": {"弹窗提示"}, "contact_email": {"privacy@shop.example"},
		"setting_list": {"UserInfo: 展示会员昵称\nLocation：查找附近门店"}}
	if st, body := post(ops, page+"/policy", form); st != http.StatusSeeOther {
		t.Fatalf("policy: %d %s", st, body)
	}
	want := &wxfleet.TemplatePolicy{
		Domains: &wxfleet.DomainPolicy{RequestDomain: []string{"https://api.shop.example", "https://img.shop.example"}, WSRequestDomain: []string{"wss://ws.shop.example"},
			UploadDomain: []string{}, DownloadDomain: []string{}, UDPDomain: []string{}, TCPDomain: []string{}},
		WebviewDomain: &[]string{"https://h5.shop.example"},
		Privacy: &wxfleet.PrivacyPolicy{OwnerSetting: wxfleet.PrivacyOwner{NoticeMethod: "弹窗提示", ContactEmail: "privacy@shop.example"},
			SettingList: []wxfleet.PrivacyItem{{PrivacyKey: "UserInfo", PrivacyText: "展示会员昵称"}, {PrivacyKey: "Location", PrivacyText: "查找附近门店"}}},
	}
	wantJSON, _ := json.Marshal(want)
	if got, _ := json.Marshal(api().Policy); string(got) != string(wantJSON) {
		t.Errorf("the API's policy after the form:\n got %s\nwant %s", got, wantJSON)
	}
	_, body = ts.call("GET", page, nil, "Cookie", ops)
	for _, shown := range []string{`name="manage_domains" value="1" checked`, "https://api.shop.example\nhttps://img.shop.example</textarea>",
		`name="manage_privacy" value="1" checked`, "UserInfo: 展示会员昵称\nLocation: 查找附近门店</textarea>", `value="弹窗提示"`, `id="policy-current"`} {
		if !strings.Contains(body, shown) {
			t.Errorf("the page does not show the saved policy: no %q", shown)
		}
	}
	// A bad domain, a setting_list line without its key: refused in words, the input kept, nothing saved.
	for field, c := range map[string]struct{ value, words string }{
		"requestdomain": {"http://insecure.shop.example", "must start with https://"},
		"setting_list":  {"UserInfo 没有冒号", "setting_list line 1 must read"},
	} {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set(field, c.value)
		st, body := post(ops, page+"/policy", bad)
		if st != http.StatusBadRequest || !strings.Contains(body, `id="policy-error"`) || !strings.Contains(body, c.words) || !strings.Contains(body, c.value) {
			t.Errorf("bad %s: %d, want 400 saying %q with the input kept: %s", field, st, c.words, body)
		}
	}
	if got, _ := json.Marshal(api().Policy); string(got) != string(wantJSON) {
		t.Errorf("a refused policy changed it: %s", got)
	}
	// Clear: the form's second button, whatever the fields hold.
	form.Set("clear", "1")
	if st, body := post(ops, page+"/policy", form); st != http.StatusSeeOther {
		t.Fatalf("clear the policy: %d %s", st, body)
	}
	if p := api().Policy; p != nil {
		t.Errorf("after clearing the API's policy is %+v", p)
	}

	// Delete: asks first (naming the running rollout), changes nothing until confirmed.
	st, body = post(ops, page+"/delete", url.Values{})
	if st != http.StatusOK || !strings.Contains(body, `id="confirm-action"`) || !strings.Contains(body, `action="/templates/41/delete?platform=`+testPlatform+`"`) ||
		!strings.Contains(body, "85014") || !strings.Contains(body, "#"+itoa(ro.ID)) {
		t.Fatalf("delete without confirming: %d, want the confirmation naming the running rollout: %s", st, body)
	}
	if api().Deleted || len(lib.calls()) != 0 {
		t.Fatalf("the template was deleted before the confirmation (WeChat asked %v)", lib.calls())
	}
	cookies, csrf = ts.page(page, ops)
	if st, body := ts.call("POST", page+"/delete?platform="+testPlatform, url.Values{"csrf": {csrf}, "confirm": {"yes"}}.Encode(), "Cookie", cookies); st != http.StatusSeeOther {
		t.Fatalf("confirmed delete: %d %s", st, body)
	}
	if !api().Deleted || len(lib.calls()) != 1 || lib.calls()[0] != 41 {
		t.Errorf("after the confirmed delete: deleted %v, WeChat asked %v", api().Deleted, lib.calls())
	}
	if _, body := ts.call("GET", page+"?done=deleted", nil, "Cookie", ops); !strings.Contains(body, `id="deleted"`) || strings.Contains(body, `id="roll-out"`) {
		t.Error("the page of a deleted template does not say so, or still offers a rollout")
	}

	// Each form recorded once, under the API's action, naming the template.
	for _, action := range []string{"template.update", "template.policy", "template.delete"} {
		want := map[string]int{"template.update": 2, "template.policy": 2, "template.delete": 1}[action]
		entries := ts.audit(store.AuditFilter{Action: action, Limit: 50})
		if len(entries) != want {
			t.Errorf("%s recorded %d times, want %d (refusals and the question record nothing)", action, len(entries), want)
		}
		for _, e := range entries {
			if e.Target != "41" || e.ComponentAppID != testPlatform {
				t.Errorf("%s recorded target %q platform %q", action, e.Target, e.ComponentAppID)
			}
		}
	}

	// A post without the CSRF token: refused, nothing changed.
	if st, _ := ts.call("POST", page+"/edit", url.Values{"ext_json": {"{}"}, "notes": {"no-csrf"}}.Encode(), "Cookie", ops); st != http.StatusForbidden {
		t.Errorf("edit without the CSRF token: %d, want 403", st)
	}
	if v := api(); v.Notes != "春季版" {
		t.Errorf("a post without the CSRF token changed the notes to %q", v.Notes)
	}

	// A merchant: the page and every form refused, nothing changed.
	tn := &wxfleet.Tenant{Name: "shop", Status: wxfleet.TenantActive, CreatedAt: now}
	if err := ts.st.CreateTenant(ctx, wxfleet.Scope{}, tn); err != nil {
		t.Fatal(err)
	}
	ts.account("m@shop.example", wxfleet.RoleMerchant, tn.ID)
	_, merchant := ts.signIn("m@shop.example", testPassword)
	if st, _ := ts.call("GET", page, nil, "Cookie", merchant); st != http.StatusForbidden {
		t.Errorf("merchant GET %s: %d, want 403", page, st)
	}
	cookies, csrf = ts.page("/tenants/"+itoa(tn.ID), merchant)
	for path, form := range map[string]url.Values{
		page + "/edit":   {"ext_json": {"{}"}, "notes": {"merchant"}},
		page + "/policy": {"clear": {"1"}},
		page + "/delete": {"confirm": {"yes"}},
	} {
		form.Set("csrf", csrf)
		if st, _ := ts.call("POST", path, form.Encode(), "Cookie", cookies); st != http.StatusForbidden {
			t.Errorf("merchant POST %s: %d, want 403", path, st)
		}
	}
	if v := api(); v.Notes != "春季版" || len(lib.calls()) != 1 {
		t.Errorf("the merchant changed the template: notes %q, WeChat asked %v", v.Notes, lib.calls())
	}
}

// htmlText is s as html/template writes it in a text node.
func htmlText(s string) string {
	return strings.NewReplacer(`"`, "&#34;", "<", "&lt;", ">", "&gt;", "&", "&amp;", "'", "&#39;").Replace(s)
}

// TestTemplatesPageFilters: the templates page finds templates by id,
// version or description, saying how many it did not show, and leaves out
// templates deleted on WeChat's side.
func TestTemplatesPageFilters(t *testing.T) { storetest.Run(t, testTemplatesPageFilters) }

func testTemplatesPageFilters(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, func(s *Server) { s.Rollouts = &rollout.Service{Store: s.Store, Now: time.Now} })
	ctx := context.Background()
	now := time.Now()
	all := []wxfleet.Template{
		{TemplateID: 41, UserVersion: "1.2.0", UserDesc: "春季菜单 spring", CreateTime: now.Add(-3 * time.Hour)},
		{TemplateID: 42, UserVersion: "2.0.0", UserDesc: "夏季菜单 Summer", CreateTime: now.Add(-2 * time.Hour)},
		{TemplateID: 43, UserVersion: "3.0.0", UserDesc: "秋季菜单 autumn", CreateTime: now.Add(-time.Hour)},
	}
	if err := ts.st.SyncTemplates(ctx, testPlatform, all, now); err != nil {
		t.Fatal(err)
	}
	if err := ts.st.SyncTemplates(ctx, testPlatform, all[:2], now); err != nil { // 43 deleted on WeChat's side
		t.Fatal(err)
	}
	ts.account("viewer@isv.example", wxfleet.RoleViewer, 0)
	_, viewer := ts.signIn("viewer@isv.example", testPassword)
	shown := func(query string) []string {
		t.Helper()
		st, page := ts.call("GET", "/templates"+query, nil, "Cookie", viewer)
		if st != http.StatusOK {
			t.Fatalf("GET /templates%s: %d", query, st)
		}
		var ids []string
		for _, id := range []string{"41", "42", "43"} {
			if strings.Contains(page, `data-template="`+id+`"`) {
				ids = append(ids, id)
			}
		}
		return ids
	}
	for query, want := range map[string]string{
		"":                      "41,42",
		"?q=summer":             "42",
		"?q=%E6%98%A5%E5%AD%A3": "41", // 春季
		"?q=41":                 "41",
		"?q=autumn":             "",
		"?q=nothing":            "",
	} {
		if got := strings.Join(shown(query), ","); got != want {
			t.Errorf("/templates%s shows %q, want %q", query, got, want)
		}
	}
	if _, page := ts.call("GET", "/templates?q=summer", nil, "Cookie", viewer); !strings.Contains(page, `id="templates-hidden"`) || !strings.Contains(page, "1 / 2") {
		t.Error("the filtered page does not say how many templates it left out")
	}
	if _, page := ts.call("GET", "/templates?q=nothing", nil, "Cookie", viewer); !strings.Contains(page, "No template matches") {
		t.Error("a search that finds nothing does not say so")
	}
}
