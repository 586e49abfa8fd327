package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/metrics"
	"github.com/wxfleet/wxfleet/runtimeapi"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/wechat"
)

// fakeLogin is WeChat's jscode2session for the runtime tests: each code
// once, for the app it was made for (the sandbox's own tests check the real
// emulation; here the point is the runtime API).
type fakeLogin struct {
	mu    sync.Mutex
	codes map[string]string // code → appid
	used  map[string]bool
	calls int
}

func (f *fakeLogin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	w.Header().Set("Content-Type", "application/json")
	code := q.Get("js_code")
	switch {
	case r.URL.Path != "/sns/component/jscode2session" || q.Get("component_access_token") != "CAT" || q.Get("component_appid") != "wxA":
		io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential rid: 1-2-3"}`)
	case f.codes[code] != q.Get("appid"):
		io.WriteString(w, `{"errcode":40029,"errmsg":"invalid code rid: 1-2-3"}`)
	case f.used[code]:
		io.WriteString(w, `{"errcode":40163,"errmsg":"code been used rid: 1-2-3"}`)
	default:
		f.used[code] = true
		io.WriteString(w, `{"openid":"o-`+code+`","session_key":"SESSIONKEY-`+code+`"}`)
	}
}

type staticComponent struct{}

func (staticComponent) ComponentSource(string) wechat.TokenSource { return wechat.StaticToken("CAT") }

type runtimeEnv struct {
	t     *testing.T
	srv   *httptest.Server
	wx    *fakeLogin
	svc   *runtimeapi.Service
	now   time.Time
	mu    sync.Mutex
	raw   func(query string) []string
	store interface {
		SetAuthorizerSettings(ctx context.Context, componentAppID, appID string, settings map[string]any, now time.Time) error
		SetAuthorizerStatus(ctx context.Context, componentAppID, appID string, status wxfleet.AuthorizerStatus, now time.Time) error
	}
}

func (e *runtimeEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *runtimeEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func newRuntimeEnv(t *testing.T, b storetest.Backend) *runtimeEnv {
	ctx := context.Background()
	dsn := b.DSN(t)
	st := storetest.Migrated(t, dsn, storetest.NewVault(t))
	e := &runtimeEnv{t: t, wx: &fakeLogin{codes: map[string]string{}, used: map[string]bool{}},
		now: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), store: st}
	if err := st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxA", Token: "t", AESKey: "k", Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"wxshop1", "wxshop2"} {
		if err := st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: "wxA", AppID: app, Status: wxfleet.StatusAuthorized,
			IsMiniProgram: true, AccessToken: "x", RefreshToken: "r", TokenExpiresAt: e.now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	wx := httptest.NewServer(e.wx)
	t.Cleanup(wx.Close)
	e.svc = &runtimeapi.Service{Store: st, WeChat: wechat.New(wechat.Options{Hosts: wechat.SingleHost(wx.URL), Retries: -1}),
		Tokens: staticComponent{}, Now: e.clock}
	s := &Server{Store: st, Runtime: e.svc, Metrics: metrics.New(), AdminToken: "admin-token-for-the-web-tests-32ch", DefaultPlatform: "wxA",
		Now: e.clock, Logger: slog.New(slog.DiscardHandler)}
	mux := http.NewServeMux()
	s.RegisterRoutes(mux)
	e.srv = httptest.NewServer(RequestID(s.Logger, mux))
	t.Cleanup(e.srv.Close)
	e.raw = func(query string) []string { return rawStrings(t, st.Dialect(), dsn, query) }
	return e
}

// rawStrings reads one text column straight from the database.
func rawStrings(t *testing.T, dialect, dsn, query string) []string {
	t.Helper()
	driver, src := "sqlite", strings.TrimPrefix(dsn, "sqlite:")
	if dialect == store.DialectPostgres {
		driver, src = "pgx", dsn
	}
	db, err := sql.Open(driver, src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rows", query)
	}
	return out
}

// code is what wx.login would return in appid.
func (e *runtimeEnv) code(appid, code string) string {
	e.wx.mu.Lock()
	e.wx.codes[code] = appid
	e.wx.mu.Unlock()
	return code
}

type runtimeResp struct {
	status int
	header http.Header
	body   string
}

func (r runtimeResp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("HTTP %d, body %q: %v", r.status, r.body, err)
	}
}

func (r runtimeResp) wantError(t *testing.T, status int, code string) {
	t.Helper()
	var e ErrorBody
	r.decode(t, &e)
	if r.status != status || e.Code != code || e.Message == "" || e.RequestID == "" {
		t.Fatalf("HTTP %d %s, want %d with code %q, a message and a request_id", r.status, r.body, status, code)
	}
}

func (e *runtimeEnv) do(method, path, token, body string, header map[string]string) runtimeResp {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return runtimeResp{res.StatusCode, res.Header, string(b)}
}

func (e *runtimeEnv) login(appid, code string) runtimeResp {
	e.t.Helper()
	b, _ := json.Marshal(map[string]string{"appid": appid, "code": code})
	return e.do(http.MethodPost, "/runtime/v1/login", "", string(b), nil)
}

func (e *runtimeEnv) mustLogin(appid, code string) string {
	e.t.Helper()
	r := e.login(appid, e.code(appid, code))
	var out struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	r.decode(e.t, &out)
	if r.status != http.StatusOK || !strings.HasPrefix(out.Token, "wxrt_") || out.ExpiresIn != 7200 || r.header.Get("Cache-Control") != "no-store" {
		e.t.Fatalf("login: HTTP %d %s %v", r.status, r.body, r.header)
	}
	return out.Token
}

func TestRuntimeAPI(t *testing.T) { storetest.Run(t, testRuntimeAPI) }

func testRuntimeAPI(t *testing.T, b storetest.Backend) {
	e := newRuntimeEnv(t, b)
	ctx := context.Background()
	if err := e.store.SetAuthorizerSettings(ctx, "wxA", "wxshop1", map[string]any{"theme": "red", "shop": map[string]any{"name": "张记"}}, e.now); err != nil {
		t.Fatal(err)
	}
	tok := e.mustLogin("wxshop1", "c1")

	// The database keeps the token's digest and the session_key sealed.
	for _, v := range e.raw(`SELECT token_digest || ' ' || session_key_sealed || ' ' || openid FROM runtime_sessions`) {
		if strings.Contains(v, tok) || strings.Contains(v, "SESSIONKEY") || !strings.Contains(v, "o-c1") {
			t.Errorf("stored session row %q", v)
		}
	}

	// me: who, never the session_key.
	r := e.do(http.MethodGet, "/runtime/v1/me", tok, "", nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"openid":"o-c1"`) || !strings.Contains(r.body, `"appid":"wxshop1"`) || strings.Contains(r.body, "SESSIONKEY") {
		t.Fatalf("me: %d %s", r.status, r.body)
	}

	// config: the settings, an ETag, then 304 for the same ETag.
	r = e.do(http.MethodGet, "/runtime/v1/config", tok, "", nil)
	var cfg map[string]any
	r.decode(t, &cfg)
	etag := r.header.Get("ETag")
	if r.status != http.StatusOK || cfg["theme"] != "red" || etag == "" || r.header.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("config: %d %s %v", r.status, r.body, r.header)
	}
	r = e.do(http.MethodGet, "/runtime/v1/config", tok, "", map[string]string{"If-None-Match": etag})
	if r.status != http.StatusNotModified || r.body != "" || r.header.Get("ETag") != etag {
		t.Fatalf("config with If-None-Match: %d %q %v", r.status, r.body, r.header)
	}
	if r = e.do(http.MethodGet, "/runtime/v1/config", tok, "", map[string]string{"If-None-Match": `"other", W/` + etag}); r.status != http.StatusNotModified {
		t.Fatalf("a list naming the weak tag: %d", r.status)
	}
	// Changed settings: a new ETag and the new body.
	if err := e.store.SetAuthorizerSettings(ctx, "wxA", "wxshop1", map[string]any{"theme": "blue"}, e.now); err != nil {
		t.Fatal(err)
	}
	r = e.do(http.MethodGet, "/runtime/v1/config", tok, "", map[string]string{"If-None-Match": etag})
	if r.status != http.StatusOK || !strings.Contains(r.body, "blue") || r.header.Get("ETag") == etag {
		t.Fatalf("after a change: %d %s %v", r.status, r.body, r.header)
	}
	// The other mini program has its own settings ({}), never shop1's.
	tok2 := e.mustLogin("wxshop2", "c2")
	if r = e.do(http.MethodGet, "/runtime/v1/config", tok2, "", nil); r.status != http.StatusOK || strings.TrimSpace(r.body) != "{}" {
		t.Fatalf("shop2's config: %d %s", r.status, r.body)
	}

	// Codes WeChat refuses: 401, the mini program calls wx.login again.
	e.login("wxshop1", "c1").wantError(t, http.StatusUnauthorized, wxfleet.EUNAUTHORIZED) // used (40163)
	e.login("wxshop1", e.code("wxshop2", "c3")).wantError(t, http.StatusUnauthorized, wxfleet.EUNAUTHORIZED)
	e.login("wxnobody", "c4").wantError(t, http.StatusNotFound, wxfleet.ENOTFOUND)
	e.login("", "c5").wantError(t, http.StatusBadRequest, wxfleet.EINVALID)
	e.login("wxshop1", "").wantError(t, http.StatusBadRequest, wxfleet.EINVALID)
	e.do(http.MethodPost, "/runtime/v1/login", "", `{"appid":"wxshop1","code":"x","extra":1}`, nil).wantError(t, http.StatusBadRequest, wxfleet.EINVALID)

	// Unknown, garbled and missing tokens: 401 with a challenge.
	for _, bad := range []string{"", "wxrt_nope", "admin-token-for-the-web-tests-32ch"} {
		r := e.do(http.MethodGet, "/runtime/v1/config", bad, "", nil)
		r.wantError(t, http.StatusUnauthorized, wxfleet.EUNAUTHORIZED)
		if !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without a Bearer challenge: %v", r.header)
		}
	}

	// A revoked app: its sessions stop reading config; it cannot log in.
	if err := e.store.SetAuthorizerStatus(ctx, "wxA", "wxshop2", wxfleet.StatusRevoked, e.now); err != nil {
		t.Fatal(err)
	}
	calls := e.wx.calls
	e.do(http.MethodGet, "/runtime/v1/config", tok2, "", nil).wantError(t, http.StatusForbidden, wxfleet.EFORBIDDEN)
	e.login("wxshop2", e.code("wxshop2", "c6")).wantError(t, http.StatusForbidden, wxfleet.EFORBIDDEN)
	if e.wx.calls != calls {
		t.Error("a revoked app's login spent its code at WeChat")
	}

	// Logout, then the token is dead.
	if r := e.do(http.MethodPost, "/runtime/v1/logout", tok2, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	e.do(http.MethodGet, "/runtime/v1/me", tok2, "", nil).wantError(t, http.StatusUnauthorized, wxfleet.EUNAUTHORIZED)

	// Two hours later the session expired.
	e.advance(2*time.Hour - time.Second)
	if r := e.do(http.MethodGet, "/runtime/v1/me", tok, "", nil); r.status != http.StatusOK {
		t.Fatalf("just before expiry: %d %s", r.status, r.body)
	}
	e.advance(time.Second)
	e.do(http.MethodGet, "/runtime/v1/config", tok, "", nil).wantError(t, http.StatusUnauthorized, wxfleet.EUNAUTHORIZED)
	e.do(http.MethodGet, "/runtime/v1/nothing", "", "", nil).wantError(t, http.StatusNotFound, wxfleet.ENOTFOUND)
}

// A gate that refuses answers 402 subscription_expired on login (before the
// code is spent) and on config, in the API's one error shape.
func TestRuntimeGate(t *testing.T) {
	e := newRuntimeEnv(t, storetest.SQLite)
	tok := e.mustLogin("wxshop1", "c1")
	var asked []string
	var mu sync.Mutex
	e.svc.Gate = func(ctx context.Context, componentAppID, appID string) error {
		mu.Lock()
		asked = append(asked, componentAppID+"/"+appID)
		mu.Unlock()
		return wxfleet.Errorf(wxfleet.ESUBSCRIPTIONEXPIRED, "订阅已到期，请联系服务商续费 / the subscription has expired: ask your provider to renew it")
	}
	calls := e.wx.calls
	r := e.login("wxshop1", e.code("wxshop1", "c2"))
	r.wantError(t, http.StatusPaymentRequired, "subscription_expired")
	var body map[string]any
	r.decode(t, &body)
	if !strings.Contains(body["message"].(string), "订阅已到期") || !strings.Contains(body["message_en"].(string), "expired") {
		t.Errorf("402 body %s", r.body)
	}
	if e.wx.calls != calls {
		t.Error("a refused login spent its code at WeChat")
	}
	e.do(http.MethodGet, "/runtime/v1/config", tok, "", nil).wantError(t, http.StatusPaymentRequired, "subscription_expired")
	if len(asked) != 2 || asked[0] != "wxA/wxshop1" {
		t.Errorf("the gate was asked %v", asked)
	}
	// The gate relents: config again.
	e.svc.Gate = nil
	if r := e.do(http.MethodGet, "/runtime/v1/config", tok, "", nil); r.status != http.StatusOK {
		t.Fatalf("after the gate: %d %s", r.status, r.body)
	}
}

// Logins are limited per mini program and address (fake clock, no sleep).
func TestRuntimeLoginLimit(t *testing.T) {
	e := newRuntimeEnv(t, storetest.SQLite)
	n := 0
	for ; n < 200; n++ {
		if r := e.login("wxshop1", "never-valid"); r.status == http.StatusTooManyRequests {
			r.wantError(t, http.StatusTooManyRequests, wxfleet.ETOOMANY)
			break
		}
	}
	if n != 60 {
		t.Fatalf("limited after %d logins, want the burst of 60", n)
	}
	// Another mini program from the same address is not held up.
	if r := e.login("wxshop2", "never-valid"); r.status != http.StatusUnauthorized {
		t.Fatalf("another app: %d %s", r.status, r.body)
	}
	e.advance(time.Second) // 120 a minute: two more
	for i := range 3 {
		want := http.StatusUnauthorized
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if r := e.login("wxshop1", "never-valid"); r.status != want {
			t.Fatalf("after a second, login %d: %d, want %d", i, r.status, want)
		}
	}
}
