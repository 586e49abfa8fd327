package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet/web"
)

// authorizeApps authorizes the first n mini programs of the sandbox through
// authorization links and waits until the platform has them.
func (d *testDemo) authorizeApps(n int) []sbApp {
	d.t.Helper()
	apps := d.miniPrograms()[:n]
	for _, a := range apps {
		var link struct {
			PCURL string `json:"pc_url"`
		}
		if st := d.api("POST", "/api/v1/authorization-links", map[string]any{}, &link); st != 201 {
			d.t.Fatalf("authorization link: %d", st)
		}
		if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": a.AppID}, nil); st != 200 {
			d.t.Fatalf("sandbox authorize %s: %d", a.AppID, st)
		}
	}
	for _, a := range apps {
		d.eventually("authorizer "+a.AppID, func() bool {
			got, st := d.authorizer(a.AppID)
			return st == 200 && got.Status == "authorized"
		})
	}
	return apps
}

// loginCode is what wx.login returns inside appid (the sandbox plays the phone).
type loginCode struct {
	Code       string `json:"code"`
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
}

func (d *testDemo) loginCode(appid string, body any) loginCode {
	d.t.Helper()
	var c loginCode
	if st := d.sandbox("POST", "/sandbox/api/apps/"+appid+"/login-code", body, &c); st != 200 || c.Code == "" || c.SessionKey == "" {
		d.t.Fatalf("login-code %s: %d %+v", appid, st, c)
	}
	return c
}

// runtime calls the runtime API as a mini program does: no admin token.
func (d *testDemo) runtime(method, path, token string, header map[string]string, body any) (int, http.Header, []byte) {
	d.t.Helper()
	rd := strings.NewReader("")
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, d.Platform.URL()+path, rd)
	if err != nil {
		d.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return res.StatusCode, res.Header, raw
}

func (d *testDemo) runtimeLogin(appid, code string) (int, web.ErrorBody, string) {
	d.t.Helper()
	st, _, raw := d.runtime("POST", "/runtime/v1/login", "", nil, map[string]string{"appid": appid, "code": code})
	var ok struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	var e web.ErrorBody
	if st == 200 {
		if err := json.Unmarshal(raw, &ok); err != nil || ok.Token == "" || ok.ExpiresIn != 7200 {
			d.t.Fatalf("login answer %s", raw)
		}
		return st, e, ok.Token
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		d.t.Fatalf("login error %d %s", st, raw)
	}
	return st, e, ""
}

// The sample mini program's calls against the sandbox: an authorized app
// with settings, a wx.login code from the sandbox, POST /runtime/v1/login
// (through the component jscode2session), GET /runtime/v1/config with its
// ETag and 304; used, foreign and expired codes; a revoked app; no token or
// session_key in plaintext anywhere in the data directory or the log. Then
// examples/miniprogram's page list goes up as a sandbox draft, becomes a
// template and is committed to the app, whose pages are then the sample's.
func TestRuntimeEndToEnd(t *testing.T) { runtimeEndToEnd(t, bootDemo(t), "") }

// The same on PostgreSQL, whose rows are read back to find no plaintext.
func TestRuntimeEndToEndOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	runtimeEndToEnd(t, bootDemoWith(t, func(o *demoOptions) { o.Database = dsn }), dsn)
}

// runtimeEndToEnd drives the demo d; postgres is its database's DSN, "" for SQLite.
func runtimeEndToEnd(t *testing.T, d *testDemo, postgres string) {
	apps := d.authorizeApps(2)
	shop, other := apps[0].AppID, apps[1].AppID
	settings := map[string]any{"theme": "red", "shop": map[string]any{"name": "麦香坊", "phone": "0571-88886666"}}
	if st := d.api("PUT", "/api/v1/authorizers/"+shop+"/settings", settings, nil); st != 200 {
		t.Fatalf("settings: %d", st)
	}

	user := d.loginCode(shop, map[string]string{"openid": "oE2EUSER00000000000000000001"})
	st, e, token := d.runtimeLogin(shop, user.Code)
	if st != 200 {
		t.Fatalf("login: %d %+v", st, e)
	}
	st, _, raw := d.runtime("GET", "/runtime/v1/me", token, nil, nil)
	if st != 200 || !strings.Contains(string(raw), `"openid":"oE2EUSER00000000000000000001"`) || strings.Contains(string(raw), user.SessionKey) {
		t.Fatalf("me: %d %s", st, raw)
	}
	st, h, raw := d.runtime("GET", "/runtime/v1/config", token, nil, nil)
	var got map[string]any
	if err := json.Unmarshal(raw, &got); st != 200 || err != nil || fmt.Sprint(got) != fmt.Sprint(settings) {
		t.Fatalf("config: %d %s, want %v", st, raw, settings)
	}
	etag := h.Get("ETag")
	if etag == "" || h.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("config headers %v", h)
	}
	if st, h2, raw := d.runtime("GET", "/runtime/v1/config", token, map[string]string{"If-None-Match": etag}, nil); st != http.StatusNotModified || len(raw) != 0 || h2.Get("ETag") != etag {
		t.Fatalf("config with If-None-Match: %d %q %v", st, raw, h2)
	}

	// The same code again, another app's code, a code past five minutes on
	// the sandbox clock: 401, the mini program calls wx.login again.
	if st, e, _ := d.runtimeLogin(shop, user.Code); st != 401 || e.Code != "unauthorized" {
		t.Errorf("reused code: %d %+v", st, e)
	}
	if st, e, _ := d.runtimeLogin(shop, d.loginCode(other, nil).Code); st != 401 || e.Code != "unauthorized" {
		t.Errorf("another app's code: %d %+v", st, e)
	}
	late := d.loginCode(shop, nil)
	if st := d.sandbox("POST", "/sandbox/api/clock", map[string]string{"advance": "5m1s"}, nil); st != 200 {
		t.Fatalf("clock: %d", st)
	}
	if st, e, _ := d.runtimeLogin(shop, late.Code); st != 401 || e.Code != "unauthorized" {
		t.Errorf("expired code: %d %+v", st, e)
	}
	if st, _, _ := d.runtime("GET", "/runtime/v1/config", "wxrt_forged", nil, nil); st != 401 {
		t.Errorf("forged token: %d", st)
	}
	var calls struct {
		Items []struct {
			AppID   string `json:"appid"`
			Errcode int    `json:"errcode"`
			Count   int    `json:"count"`
		} `json:"items"`
	}
	d.sandbox("GET", "/sandbox/api/calls?by=appid&path="+url.QueryEscape("/sns/component/jscode2session"), nil, &calls)
	byCode := map[int]int{}
	for _, it := range calls.Items {
		if it.AppID == shop {
			byCode[it.Errcode] += it.Count
		}
	}
	if byCode[0] != 1 || byCode[40163] != 1 || byCode[40029] != 2 {
		t.Errorf("jscode2session calls for %s by errcode: %v", shop, byCode)
	}

	// A revoked app cannot log in, and says so; its code is not spent.
	if st := d.sandbox("POST", "/sandbox/api/apps/"+other+"/unauthorize", map[string]any{}, nil); st != 200 {
		t.Fatalf("unauthorize: %d", st)
	}
	d.eventually(other+" revoked", func() bool { a, _ := d.authorizer(other); return a.Status == "revoked" })
	if st, e, _ := d.runtimeLogin(other, d.loginCode(other, nil).Code); st != 403 || e.Code != "forbidden" || !strings.Contains(e.MessageEN, "authoriz") {
		t.Errorf("revoked app: %d %+v", st, e)
	}

	// Neither the token nor the session_key rests or is logged in plaintext:
	// the row holds the token's digest and the key sealed.
	assertNotInDir(t, d.data, token)
	assertNotInDir(t, d.data, user.SessionKey)
	if postgres != "" {
		db, err := sql.Open("pgx", postgres)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sum := sha256.Sum256([]byte(token))
		var digests, plain int
		if err := db.QueryRow(`SELECT
			(SELECT COUNT(*) FROM runtime_sessions WHERE token_digest = $1),
			(SELECT COUNT(*) FROM runtime_sessions WHERE token_digest = $2 OR strpos(session_key_sealed || openid || unionid, $3) > 0)`,
			hex.EncodeToString(sum[:]), token, user.SessionKey).Scan(&digests, &plain); err != nil {
			t.Fatal(err)
		}
		if digests != 1 || plain != 0 {
			t.Errorf("runtime_sessions: %d rows by the token's digest (want 1), %d with the token or session_key in plaintext", digests, plain)
		}
	}
	if logs := d.log.String(); strings.Contains(logs, token) || strings.Contains(logs, user.SessionKey) {
		t.Error("the runtime token or the session_key appears in the log")
	}

	// The sample template's page list is what the sandbox's draft upload takes.
	appJSON, err := os.ReadFile(filepath.Join("..", "..", "examples", "miniprogram", "app.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Pages []string `json:"pages"`
	}
	if err := json.Unmarshal(appJSON, &sample); err != nil || len(sample.Pages) == 0 {
		t.Fatalf("examples/miniprogram/app.json: %v %+v", err, sample)
	}
	for _, p := range sample.Pages {
		for _, ext := range []string{".js", ".wxml", ".wxss", ".json"} {
			if _, err := os.Stat(filepath.Join("..", "..", "examples", "miniprogram", p+ext)); err != nil {
				t.Errorf("page %s lacks its %s file: %v", p, ext, err)
			}
		}
	}
	var draft struct {
		DraftID int64 `json:"draft_id"`
	}
	if st := d.sandbox("POST", "/sandbox/api/drafts", map[string]any{"user_version": "1.0.0", "user_desc": "wxfleet sample", "pages": sample.Pages}, &draft); st != 200 || draft.DraftID == 0 {
		t.Fatalf("draft: %d %+v", st, draft)
	}
	ext := `{"extEnable":true,"ext":{"api_base":"` + d.Platform.URL() + `","shop":"${settings.shop.name}"}}`
	var tmpl struct {
		TemplateID int64 `json:"template_id"`
	}
	if st := d.api("POST", "/api/v1/templates", map[string]any{"draft_id": draft.DraftID, "ext_json": ext}, &tmpl); st != 201 {
		t.Fatalf("template: %d", st)
	}
	var preview struct {
		ExtJSON string `json:"ext_json"`
	}
	if st := d.api("GET", fmt.Sprintf("/api/v1/templates/%d/ext-json?appid=%s", tmpl.TemplateID, shop), nil, &preview); st != 200 ||
		!strings.Contains(preview.ExtJSON, `"api_base":"`+d.Platform.URL()+`"`) || !strings.Contains(preview.ExtJSON, "麦香坊") {
		t.Fatalf("ext_json preview: %d %s", st, preview.ExtJSON)
	}
	var out map[string]any
	if st := d.api("POST", "/api/v1/authorizers/"+shop+"/wechat/wxa/commit", map[string]any{"template_id": tmpl.TemplateID,
		"ext_json": preview.ExtJSON, "user_version": "1.0.0", "user_desc": "wxfleet sample"}, &out); st != 200 || out["errcode"] != 0.0 {
		t.Fatalf("commit: %d %v", st, out)
	}
	var pages struct {
		Errcode  int      `json:"errcode"`
		PageList []string `json:"page_list"`
	}
	if st := d.api("GET", "/api/v1/authorizers/"+shop+"/wechat/wxa/get_page", nil, &pages); st != 200 || pages.Errcode != 0 || !slices.Equal(pages.PageList, sample.Pages) {
		t.Fatalf("get_page: %d %+v, want %v", st, pages, sample.Pages)
	}
}
