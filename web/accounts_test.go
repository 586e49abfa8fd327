package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/cards"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/messaging"
	"github.com/wxfleet/wxfleet/metrics"
	"github.com/wxfleet/wxfleet/password"
	"github.com/wxfleet/wxfleet/pay"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/webhook"
)

const (
	testAdminToken = "admin-token-for-the-web-tests-32ch"
	testPlatform   = "wxplatformaccounts"
	testPassword   = "a long enough password"
)

// testServer is the web server alone on a real database: no WeChat, no
// rollout service; the routes these tests call need only the store.
type testServer struct {
	*Server
	t   *testing.T
	url string
	st  *store.Store
	mux *http.ServeMux
}

func newTestServer(t *testing.T, b storetest.Backend, edit func(*Server)) *testServer {
	t.Helper()
	st := b.New(t)
	ctx := context.Background()
	if err := st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: testPlatform, Token: "t", AESKey: "k", Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: st, Metrics: metrics.New(), AdminToken: testAdminToken, DefaultPlatform: testPlatform, Now: time.Now, Logger: slog.New(slog.DiscardHandler),
		Cards: &cards.Service{Store: st, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}, // routes registered: the sweep covers them
		Pay:   &pay.Service{Store: st, Logger: slog.New(slog.DiscardHandler)}}
	s.Webhooks = &webhook.Service{Store: st, Now: time.Now, Logger: s.Logger}
	// No WeChat client: a handler that reached WeChat for a caller it should
	// have refused fails the test loudly.
	s.Messaging = &messaging.Service{Store: st, Now: time.Now, Logger: s.Logger}
	if edit != nil {
		edit(s)
	}
	mux := http.NewServeMux()
	s.RegisterRoutes(mux)
	srv := httptest.NewServer(s.GuardAPI(mux))
	t.Cleanup(srv.Close)
	return &testServer{Server: s, t: t, url: srv.URL, st: st, mux: mux}
}

// account makes an account with testPassword and an API token of its role.
func (ts *testServer) account(email string, role wxfleet.Role, tenant int64) (*wxfleet.Account, string) {
	ts.t.Helper()
	hash, err := password.Hash(testPassword)
	if err != nil {
		ts.t.Fatal(err)
	}
	a := &wxfleet.Account{Email: email, Role: role, TenantID: tenant, PasswordHash: hash, CreatedAt: time.Now()}
	if err := ts.st.CreateAccount(context.Background(), a, nil); err != nil {
		ts.t.Fatal(err)
	}
	tok := newAPIToken()
	t := &wxfleet.APIToken{AccountID: a.ID, Name: "test " + email, Role: role, TenantID: tenant, Prefix: tok[:10], CreatedBy: email, CreatedAt: time.Now()}
	if err := ts.st.CreateAPIToken(context.Background(), t, store.APITokenDigest(tok), nil); err != nil {
		ts.t.Fatal(err)
	}
	return a, tok
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// call sends a request with hdr (name, value pairs) and returns the status and body.
func (ts *testServer) call(method, path string, body any, hdr ...string) (int, string) {
	ts.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ts.url+path, r)
	if err != nil {
		ts.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if _, ok := body.(string); ok {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func (ts *testServer) audit(f store.AuditFilter) []*wxfleet.AuditEntry {
	ts.t.Helper()
	l, err := ts.st.ListAudit(context.Background(), wxfleet.Scope{}, f)
	if err != nil {
		ts.t.Fatal(err)
	}
	return l
}

var csrfField_ = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// page GETs a page with cookie and returns the cookies to send back with
// its forms and the form's CSRF token.
func (ts *testServer) page(path, cookie string) (string, string) {
	ts.t.Helper()
	req, _ := http.NewRequest("GET", ts.url+path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := csrfField_.FindSubmatch(b)
	if m == nil {
		ts.t.Fatalf("GET %s: %d, no CSRF field", path, resp.StatusCode)
	}
	jar := []string{}
	if cookie != "" {
		jar = append(jar, cookie)
	}
	for _, c := range resp.Cookies() {
		jar = append(jar, c.Name+"="+c.Value)
	}
	return strings.Join(jar, "; "), string(m[1])
}

// signIn logs in through the form and returns the session cookie.
func (ts *testServer) signIn(email, pw string, hdr ...string) (status int, session string) {
	ts.t.Helper()
	cookies, csrf := ts.page("/login", "")
	form := url.Values{"email": {email}, "password": {pw}, "csrf": {csrf}}.Encode()
	req, _ := http.NewRequest("POST", ts.url+"/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", cookies)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			return resp.StatusCode, c.Name + "=" + c.Value
		}
	}
	return resp.StatusCode, ""
}

// Roles are enforced per route: a viewer reads but is refused every write
// (403, nothing recorded), an operator writes (and the audit log names
// them), only an owner manages accounts, and a merchant is refused the
// staff routes.
func TestRolesEnforced(t *testing.T) { storetest.Run(t, testRolesEnforced) }

func testRolesEnforced(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	ctx := context.Background()
	if err := ts.st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testPlatform, AppID: "wxapp1", Status: wxfleet.StatusAuthorized}); err != nil {
		t.Fatal(err)
	}
	_, viewer := ts.account("viewer@isv.example", wxfleet.RoleViewer, 0)
	_, operator := ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, owner := ts.account("owner@isv.example", wxfleet.RoleOwner, 0)
	_, merchant := ts.account("shop@tenant1.example", wxfleet.RoleMerchant, 1)
	tags := map[string]any{"tags": []string{"beta"}}

	for _, c := range []struct {
		who, tok, method, path string
		body                   any
		want                   int
	}{
		{"viewer", viewer, "GET", "/api/v1/authorizers/wxapp1/settings", nil, 200},
		{"viewer", viewer, "PUT", "/api/v1/authorizers/wxapp1/tags", tags, 403},
		{"viewer", viewer, "POST", "/api/v1/api-tokens", map[string]any{"name": "x"}, 403},
		{"viewer", viewer, "GET", "/api/v1/authorizers/wxapp1/access-token", nil, 403}, // a credential: operators only
		{"operator", operator, "PUT", "/api/v1/authorizers/wxapp1/tags", tags, 200},
		{"operator", operator, "GET", "/api/v1/accounts", nil, 403},
		{"operator", operator, "POST", "/api/v1/accounts", map[string]any{"email": "x@y.z", "role": "viewer", "password": testPassword}, 403},
		{"owner", owner, "POST", "/api/v1/accounts", map[string]any{"email": "new@isv.example", "role": "viewer", "password": testPassword}, 201},
		{"owner", owner, "POST", "/api/v1/accounts", map[string]any{"email": "weak@isv.example", "role": "viewer", "password": "short"}, 400},
		{"merchant", merchant, "GET", "/api/v1/authorizers", nil, 403},
		{"merchant", merchant, "GET", "/api/v1/events", nil, 403},
		{"merchant", merchant, "PUT", "/api/v1/authorizers/wxapp1/tags", tags, 403},
		{"merchant", merchant, "GET", "/api/v1/audit-log", nil, 200},
		{"nobody", "wxf_not-a-token", "GET", "/api/v1/audit-log", nil, 401},
	} {
		st, body := ts.call(c.method, c.path, c.body, bearer(c.tok)...)
		if st != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", c.who, c.method, c.path, st, body, c.want)
		}
		if st == 403 && !strings.Contains(body, `"code":"forbidden"`) {
			t.Errorf("%s %s %s: 403 without the error shape: %s", c.who, c.method, c.path, body)
		}
	}
	// One tags.update, by the operator, with what it set; the viewer's and
	// the merchant's refusals recorded nothing.
	l := ts.audit(store.AuditFilter{Action: "tags.update"})
	if len(l) != 1 || l[0].ActorName != "ops@isv.example" || l[0].Via != "api_token" || l[0].AppID != "wxapp1" ||
		l[0].ComponentAppID != testPlatform || l[0].Detail != `{"tags":["beta"]}` || l[0].ClientIP == "" {
		t.Fatalf("tags.update entries: %+v", l)
	}
	if l := ts.audit(store.AuditFilter{Action: "account.create"}); len(l) != 1 || l[0].ActorName != "owner@isv.example" ||
		strings.Contains(l[0].Detail, testPassword) {
		t.Fatalf("account.create entries: %+v", l)
	}
}

// A token is shown once: the answer that makes it carries it, the list
// never does, and the database holds its SHA-256 only. It acts with the
// role asked for, never above its maker's; a merchant's is bound to its tenant.
func TestAPITokenShownOnceStoredHashed(t *testing.T) { storetest.Run(t, testAPITokenShownOnce) }

func testAPITokenShownOnce(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	_, operator := ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, merchant := ts.account("shop@tenant1.example", wxfleet.RoleMerchant, 1)

	st, body := ts.call("POST", "/api/v1/api-tokens", map[string]any{"name": "ci", "role": "viewer"}, bearer(operator)...)
	var made struct {
		ID    int64        `json:"id"`
		Token string       `json:"token"`
		Role  wxfleet.Role `json:"role"`
	}
	json.Unmarshal([]byte(body), &made)
	if st != 201 || made.ID == 0 || !strings.HasPrefix(made.Token, "wxf_") || made.Role != wxfleet.RoleViewer {
		t.Fatalf("create: %d %s", st, body)
	}
	if st, body := ts.call("GET", "/api/v1/api-tokens", nil, bearer(operator)...); st != 200 || strings.Contains(body, made.Token) ||
		strings.Contains(body, `"token"`) || !strings.Contains(body, `"ci"`) {
		t.Fatalf("list shows the token or lacks it: %d %s", st, body)
	}
	// The new token reads, as a viewer: it cannot write.
	if st, _ := ts.call("GET", "/api/v1/tokens/health", nil, bearer(made.Token)...); st != 200 {
		t.Fatalf("the new token cannot read: %d", st)
	}
	if st, _ := ts.call("POST", "/api/v1/api-tokens", map[string]any{"name": "escalate"}, bearer(made.Token)...); st != 403 {
		t.Fatalf("a viewer token made a token: %d", st)
	}
	// Not above its maker.
	if st, _ := ts.call("POST", "/api/v1/api-tokens", map[string]any{"name": "up", "role": "owner"}, bearer(operator)...); st != 403 {
		t.Fatalf("an operator made an owner token: %d", st)
	}
	rows, err := ts.st.WriteDB().QueryContext(context.Background(), `SELECT * FROM api_tokens`)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	secret := strings.TrimPrefix(made.Token, "wxf_")
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var s string
			switch x := v.(type) {
			case string:
				s = x
			case []byte:
				s = string(x)
			}
			if strings.Contains(s, secret) {
				t.Fatalf("api_tokens.%s holds the token in plain text", cols[i])
			}
		}
	}
	rows.Close()
	if l := ts.audit(store.AuditFilter{Action: "api_token.create"}); len(l) != 1 || strings.Contains(l[0].Detail, secret) {
		t.Fatalf("api_token.create entries: %+v", l)
	}

	// A merchant's token is bound to its tenant.
	st, body = ts.call("POST", "/api/v1/api-tokens", map[string]any{"name": "shop script"}, bearer(merchant)...)
	var mt struct {
		Token    string `json:"token"`
		TenantID int64  `json:"tenant_id"`
	}
	json.Unmarshal([]byte(body), &mt)
	if st != 201 || mt.TenantID != 1 {
		t.Fatalf("merchant token: %d %s", st, body)
	}
	if st, _ := ts.call("GET", "/api/v1/authorizers", nil, bearer(mt.Token)...); st != 403 {
		t.Fatalf("a merchant's token reached a staff route: %d", st)
	}
	// Revoked: it stops working at once; another's token is 404 to a non-owner.
	if st, _ := ts.call("DELETE", "/api/v1/api-tokens/"+itoa(made.ID), nil, bearer(mt.Token)...); st != 404 {
		t.Fatalf("a merchant revoked the operator's token: %d", st)
	}
	if st, _ := ts.call("DELETE", "/api/v1/api-tokens/"+itoa(made.ID), nil, bearer(operator)...); st != 204 {
		t.Fatalf("revoke: %d", st)
	}
	if st, _ := ts.call("GET", "/api/v1/audit-log", nil, bearer(made.Token)...); st != 401 {
		t.Fatalf("a revoked token still works: %d", st)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Every console form carries its CSRF token: the login without it is
// refused with 403, and so are the session's writes (a form post, an API
// call with the cookie) without the session's token.
func TestCSRFRefused(t *testing.T) { storetest.Run(t, testCSRFRefused) }

func testCSRFRefused(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)

	// The login form without its token (or with another browser's) is refused.
	cookies, csrf := ts.page("/login", "")
	form := url.Values{"email": {"ops@isv.example"}, "password": {testPassword}}
	if st, _ := ts.call("POST", "/login", form.Encode(), "Cookie", cookies); st != 403 {
		t.Fatalf("login without the CSRF field: %d, want 403", st)
	}
	other, _ := ts.page("/login", "")
	form.Set("csrf", csrf)
	if st, _ := ts.call("POST", "/login", form.Encode(), "Cookie", other); st != 403 {
		t.Fatalf("login with another browser's CSRF token: %d, want 403", st)
	}
	st, session := ts.signIn("ops@isv.example", testPassword)
	if st != http.StatusSeeOther || session == "" {
		t.Fatalf("sign-in: %d", st)
	}
	_, token := ts.page("/audit-log", session)
	if token == csrf {
		t.Fatal("the session's CSRF token is the login form's")
	}
	// The API with the session cookie: reads need nothing, writes the header.
	if st, _ := ts.call("GET", "/api/v1/api-tokens", nil, "Cookie", session); st != 200 {
		t.Fatalf("session read: %d", st)
	}
	if st, _ := ts.call("POST", "/api/v1/api-tokens", map[string]any{"name": "x"}, "Cookie", session); st != 403 {
		t.Fatalf("session write without X-CSRF-Token: %d, want 403", st)
	}
	if st, _ := ts.call("POST", "/api/v1/api-tokens", map[string]any{"name": "x"}, "Cookie", session, "X-CSRF-Token", "wrong"); st != 403 {
		t.Fatalf("session write with a wrong X-CSRF-Token: %d, want 403", st)
	}
	if st, _ := ts.call("POST", "/api/v1/api-tokens", map[string]any{"name": "x"}, "Cookie", session, "X-CSRF-Token", token); st != 201 {
		t.Fatalf("session write with its token: %d", st)
	}
	// The logout form.
	if st, _ := ts.call("POST", "/logout", "", "Cookie", session); st != 403 {
		t.Fatalf("logout without the CSRF field: %d, want 403", st)
	}
	if st, _ := ts.call("GET", "/audit-log", nil, "Cookie", session); st != 200 {
		t.Fatalf("the refused logout ended the session: %d", st)
	}
	if st, _ := ts.call("POST", "/logout", url.Values{"csrf": {token}}.Encode(), "Cookie", session); st != http.StatusSeeOther {
		t.Fatalf("logout: %d", st)
	}
	if st, _ := ts.call("GET", "/audit-log", nil, "Cookie", session); st != http.StatusSeeOther {
		t.Fatalf("after logout: %d, want a redirect to the login", st)
	}
	// The merchant-facing 授权 forms carry one too.
	if st, _ := ts.call("POST", "/authorize/pc", "", ""); st != 403 {
		t.Fatalf("授权 form without the CSRF field: %d, want 403", st)
	}
}

// Failed sign-ins are throttled per account as well as per address: five
// wrong passwords from five addresses, and the sixth address is refused
// even with the right password; another account from that address is not.
// Each try let through is in the audit log; a session ends when the
// password changes or the account is disabled.
func TestLoginThrottledPerAccount(t *testing.T) { storetest.Run(t, testLoginThrottled) }

func testLoginThrottled(t *testing.T, b storetest.Backend) {
	frozen := time.Now()
	ts := newTestServer(t, b, func(s *Server) {
		s.Now = func() time.Time { return frozen }
		s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	a, _ := ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	ts.account("other@isv.example", wxfleet.RoleOperator, 0)
	from := func(i int) []string { return []string{"X-Forwarded-For", "203.0.113." + itoa(int64(i))} }
	for i := range 5 {
		if st, _ := ts.signIn("ops@isv.example", "wrong password!!", from(i)...); st != 401 {
			t.Fatalf("wrong password %d: %d, want 401", i, st)
		}
	}
	if st, _ := ts.signIn("ops@isv.example", testPassword, from(9)...); st != 429 {
		t.Fatalf("right password after 5 failures for the account: %d, want 429", st)
	}
	if st, _ := ts.signIn("OPS@isv.example", testPassword, from(10)...); st != 429 {
		t.Fatalf("the same account spelled in capitals: %d, want 429", st)
	}
	st, session := ts.signIn("other@isv.example", testPassword, from(9)...)
	if st != http.StatusSeeOther || session == "" {
		t.Fatalf("another account: %d", st)
	}
	if l := ts.audit(store.AuditFilter{Action: "login.failure"}); len(l) != 5 || l[0].ActorName != "ops@isv.example" || l[0].ClientIP != "203.0.113.4" {
		t.Fatalf("login.failure entries: %d %+v", len(l), l)
	}
	if l := ts.audit(store.AuditFilter{Action: "login.success"}); len(l) != 1 || l[0].ActorName != "other@isv.example" {
		t.Fatalf("login.success entries: %+v", l)
	}
	// An unknown account fails the same way (401), and is recorded with the email tried.
	if st, _ := ts.signIn("nobody@isv.example", testPassword, from(20)...); st != 401 {
		t.Fatalf("unknown account: %d", st)
	}

	// The owner resets other's password (admin token): the session ends.
	if st, _ := ts.call("GET", "/audit-log", nil, "Cookie", session); st != 200 {
		t.Fatalf("session: %d", st)
	}
	other, err := ts.st.AccountByEmail(context.Background(), "other@isv.example")
	if err != nil {
		t.Fatal(err)
	}
	if st, body := ts.call("PATCH", "/api/v1/accounts/"+itoa(other.ID), map[string]any{"password": "another long password"}, bearer(testAdminToken)...); st != 200 || strings.Contains(body, "password_hash") {
		t.Fatalf("reset: %d %s", st, body)
	}
	if st, _ := ts.call("GET", "/audit-log", nil, "Cookie", session); st != http.StatusSeeOther {
		t.Fatalf("session after the password changed: %d, want a redirect to the login", st)
	}
	if st, _ := ts.signIn("other@isv.example", "another long password", from(30)...); st != http.StatusSeeOther {
		t.Fatalf("sign-in with the new password: %d", st)
	}
	// Disabled: no sign-in, its tokens stop.
	if st, _ := ts.call("PATCH", "/api/v1/accounts/"+itoa(a.ID), map[string]any{"disabled": true}, bearer(testAdminToken)...); st != 200 {
		t.Fatalf("disable: %d", st)
	}
	frozen = frozen.Add(time.Hour) // the throttle refills
	if st, _ := ts.signIn("ops@isv.example", testPassword, from(40)...); st != 401 {
		t.Fatalf("a disabled account signed in: %d", st)
	}
}

// The last enabled owner cannot be demoted or disabled.
func TestLastOwnerKept(t *testing.T) {
	ts := newTestServer(t, storetest.SQLite, nil)
	a, _ := ts.account("owner@isv.example", wxfleet.RoleOwner, 0)
	if st, _ := ts.call("PATCH", "/api/v1/accounts/"+itoa(a.ID), map[string]any{"role": "viewer"}, bearer(testAdminToken)...); st != 409 {
		t.Fatalf("demoting the last owner: %d, want 409", st)
	}
	ts.account("owner2@isv.example", wxfleet.RoleOwner, 0)
	if st, _ := ts.call("PATCH", "/api/v1/accounts/"+itoa(a.ID), map[string]any{"role": "viewer"}, bearer(testAdminToken)...); st != 200 {
		t.Fatalf("demoting one of two owners: %d", st)
	}
}

// A merchant reads the audit log of its own tenant only, whatever it asks for.
func TestMerchantAuditLogOwnTenant(t *testing.T) { storetest.Run(t, testMerchantAudit) }

func testMerchantAudit(t *testing.T, b storetest.Backend) {
	ts := newTestServer(t, b, nil)
	_, m1 := ts.account("shop@tenant1.example", wxfleet.RoleMerchant, 1)
	_, staff := ts.account("viewer@isv.example", wxfleet.RoleViewer, 0)
	for i, tenant := range []int64{1, 2, 2, 0, 1} {
		e := &wxfleet.AuditEntry{At: time.Now(), Action: "settings.update", TenantID: tenant, Target: "entry-" + itoa(int64(i))}
		if err := ts.st.WriteAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	type page struct {
		Items []struct {
			TenantID int64  `json:"tenant_id"`
			Target   string `json:"target"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	get := func(tok, query string) page {
		t.Helper()
		st, body := ts.call("GET", "/api/v1/audit-log"+query, nil, bearer(tok)...)
		if st != 200 {
			t.Fatalf("audit-log%s: %d %s", query, st, body)
		}
		var p page
		json.Unmarshal([]byte(body), &p)
		return p
	}
	for _, q := range []string{"", "?tenant_id=2", "?tenant_id=0", "?action=settings."} {
		for _, it := range get(m1, q).Items {
			if it.TenantID != 1 {
				t.Fatalf("merchant of tenant 1 sees %+v with %q", it, q)
			}
		}
	}
	if p := get(m1, ""); len(p.Items) != 2 {
		t.Fatalf("merchant: %d entries, want its 2", len(p.Items))
	}
	if p := get(staff, "?tenant_id=2"); len(p.Items) != 2 {
		t.Fatalf("staff filter tenant 2: %d entries", len(p.Items))
	}
	// Cursor paging: two pages of two, then one.
	p1 := get(staff, "?limit=2&action=settings.update")
	p2 := get(staff, "?limit=2&action=settings.update&cursor="+p1.NextCursor)
	p3 := get(staff, "?limit=2&action=settings.update&cursor="+p2.NextCursor)
	if len(p1.Items) != 2 || len(p2.Items) != 2 || len(p3.Items) != 1 || p3.NextCursor != "" || p1.Items[0].Target != "entry-4" || p3.Items[0].Target != "entry-0" {
		t.Fatalf("pages: %+v %+v %+v", p1, p2, p3)
	}
	// The console page, as the merchant: its own tenant's entries only.
	_, session := ts.signIn("shop@tenant1.example", testPassword)
	st, body := ts.call("GET", "/audit-log", nil, "Cookie", session)
	if st != 200 || !strings.Contains(body, "entry-4") || strings.Contains(body, "entry-1") || strings.Contains(body, "entry-3") {
		t.Fatalf("audit page for the merchant: %d\n%s", st, body)
	}
}

// A route put on the mux without an access declaration is refused, and
// declarations that do not fit their method do not register.
func TestUndeclaredRoutesRefused(t *testing.T) {
	ts := newTestServer(t, storetest.SQLite, nil)
	ts.mux.HandleFunc("GET /api/v1/sneaky", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("open")) })
	if st, body := ts.call("GET", "/api/v1/sneaky", nil, bearer(testAdminToken)...); st != 403 || strings.Contains(body, "open") {
		t.Fatalf("undeclared route: %d %s", st, body)
	}
	for _, c := range []struct {
		pattern string
		a       Access
	}{
		{"POST /api/v1/x", StaffRead()},                                  // a write without an audit action (and open to viewers)
		{"GET /api/v1/x", StaffWrite("x.y")},                             // a read with one
		{"/api/v1/x", StaffRead()},                                       // no method
		{"GET /api/v1/x", Access{}},                                      // nobody
		{"DELETE /api/v1/x", Access{roles: staffAll, audit: "x.delete"}}, // viewers on a write
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with %+v registered", c.pattern, c.a)
				}
			}()
			checkDeclaration(c.pattern, c.a)
		}()
	}
}

// A console form registered with Server.page: refused without the
// session's CSRF token (field or htmx's header), refused to a viewer, and
// audited when it succeeds (not when it shows an error).
func TestConsoleFormCSRFAndAudit(t *testing.T) {
	ts := newTestServer(t, storetest.SQLite, nil)
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	ts.account("viewer@isv.example", wxfleet.RoleViewer, 0)
	ran := 0
	ts.Server.page(ts.mux, "POST /test/form", StaffWrite("test.form"), func(w http.ResponseWriter, r *http.Request) {
		if r.PostForm.Get("fail") != "" {
			s := ts.Server
			s.errorPage(w, r, "x", wxfleet.Errorf(wxfleet.ECONFLICT, "no / no"), "/")
			return
		}
		ran++
		auditTarget(r, "", "", "thing-1")
		w.WriteHeader(http.StatusNoContent)
	})
	_, ops := ts.signIn("ops@isv.example", testPassword)
	_, csrf := ts.page("/audit-log", ops)
	for _, c := range []struct {
		name, form string
		hdr        []string
		want       int
	}{
		{"no token", "", nil, 403},
		{"wrong token", url.Values{"csrf": {"nope"}}.Encode(), nil, 403},
		{"field", url.Values{"csrf": {csrf}}.Encode(), nil, 204},
		{"htmx header", "", []string{"X-CSRF-Token", csrf}, 204},
		{"handler fails", url.Values{"csrf": {csrf}, "fail": {"1"}}.Encode(), nil, 409},
	} {
		if st, body := ts.call("POST", "/test/form", c.form, append([]string{"Cookie", ops}, c.hdr...)...); st != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, st, c.want, body)
		}
	}
	_, viewer := ts.signIn("viewer@isv.example", testPassword)
	_, vcsrf := ts.page("/audit-log", viewer)
	if st, _ := ts.call("POST", "/test/form", url.Values{"csrf": {vcsrf}}.Encode(), "Cookie", viewer); st != 403 {
		t.Errorf("viewer: %d, want 403", st)
	}
	if st, _ := ts.call("POST", "/test/form", url.Values{"csrf": {csrf}}.Encode(), "Cookie", viewer); st != 403 {
		t.Errorf("viewer with the operator's CSRF token: %d, want 403", st)
	}
	if ran != 2 {
		t.Fatalf("the form ran %d times, want 2", ran)
	}
	l := ts.audit(store.AuditFilter{Action: "test.form"})
	if len(l) != 2 || l[0].ActorName != "ops@isv.example" || l[0].Via != "session" || l[0].Target != "thing-1" {
		t.Fatalf("test.form entries: %+v", l)
	}
}

// A password hashed with weaker costs than today's is re-hashed at the next
// sign-in, and that sign-in's session works.
func TestWeakHashUpgradedAtSignIn(t *testing.T) {
	ts := newTestServer(t, storetest.SQLite, nil)
	weak, err := password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}.Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	a := &wxfleet.Account{Email: "old@isv.example", Role: wxfleet.RoleOperator, PasswordHash: weak, CreatedAt: time.Now()}
	if err := ts.st.CreateAccount(context.Background(), a, nil); err != nil {
		t.Fatal(err)
	}
	st, session := ts.signIn("old@isv.example", testPassword)
	if st != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", st)
	}
	if st, _ := ts.call("GET", "/audit-log", nil, "Cookie", session); st != 200 {
		t.Fatalf("the session after the re-hash: %d", st)
	}
	got, _ := ts.st.AccountByEmail(context.Background(), "old@isv.example")
	if got.PasswordHash == weak || password.NeedsRehash(got.PasswordHash) {
		t.Fatalf("hash not upgraded: %s", got.PasswordHash)
	}
	if ok, _ := password.Verify(got.PasswordHash, testPassword); !ok {
		t.Fatal("the upgraded hash does not verify the password")
	}
}

// The owners' accounts page: create an account and disable it through its
// forms (each with the CSRF token, each audited as the signed-in owner);
// an operator is refused the page.
func TestAccountsPage(t *testing.T) {
	ts := newTestServer(t, storetest.SQLite, nil)
	ts.account("owner@isv.example", wxfleet.RoleOwner, 0)
	ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, owner := ts.signIn("owner@isv.example", testPassword)
	_, csrf := ts.page("/accounts", owner)
	form := url.Values{"email": {"New@Shop.cn"}, "role": {"merchant"}, "tenant_id": {"5"}, "password": {testPassword}, "name": {"店员"}}
	if st, _ := ts.call("POST", "/accounts", form.Encode(), "Cookie", owner); st != 403 {
		t.Fatalf("create without the CSRF token: %d, want 403", st)
	}
	form.Set("csrf", csrf)
	if st, _ := ts.call("POST", "/accounts", form.Encode(), "Cookie", owner); st != http.StatusSeeOther {
		t.Fatalf("create: %d", st)
	}
	a, err := ts.st.AccountByEmail(context.Background(), "new@shop.cn")
	if err != nil || a.Role != wxfleet.RoleMerchant || a.TenantID != 5 || a.Name != "店员" {
		t.Fatalf("created: %+v %v", a, err)
	}
	form.Set("password", "short")
	form.Set("email", "weak@shop.cn")
	if st, _ := ts.call("POST", "/accounts", form.Encode(), "Cookie", owner); st != 400 {
		t.Fatalf("a short password: %d, want 400", st)
	}
	if st, _ := ts.call("POST", "/accounts/"+itoa(a.ID)+"/disable", url.Values{"csrf": {csrf}}.Encode(), "Cookie", owner); st != http.StatusSeeOther {
		t.Fatalf("disable: %d", st)
	}
	if a, _ := ts.st.AccountByEmail(context.Background(), "new@shop.cn"); !a.Disabled {
		t.Fatal("not disabled")
	}
	if st, body := ts.call("GET", "/accounts", nil, "Cookie", owner); st != 200 || !strings.Contains(body, "new@shop.cn") || !strings.Contains(body, "/accounts/"+itoa(a.ID)+"/enable") {
		t.Fatalf("page: %d", st)
	}
	if l := ts.audit(store.AuditFilter{ActorName: "owner@isv.example", Action: "account."}); len(l) != 2 || l[0].Action != "account.update" ||
		l[0].Via != "session" || l[0].TenantID != 5 || l[1].Action != "account.create" || strings.Contains(l[1].Detail, testPassword) {
		t.Fatalf("audit: %+v", l)
	}
	_, ops := ts.signIn("ops@isv.example", testPassword)
	if st, _ := ts.call("GET", "/accounts", nil, "Cookie", ops); st != 403 {
		t.Fatalf("operator on the accounts page: %d, want 403", st)
	}
}

// The console's API tokens page: a merchant makes a token there, sees it on
// that one answer only, uses it (bound to its tenant) and revokes it; a
// viewer sees the list without the forms.
func TestAPITokensPage(t *testing.T) {
	ts := newTestServer(t, storetest.SQLite, nil)
	ts.account("shop@tenant1.example", wxfleet.RoleMerchant, 1)
	ts.account("viewer@isv.example", wxfleet.RoleViewer, 0)
	_, m := ts.signIn("shop@tenant1.example", testPassword)
	_, csrf := ts.page("/api-tokens", m)
	st, body := ts.call("POST", "/api-tokens", url.Values{"csrf": {csrf}, "name": {"till"}}.Encode(), "Cookie", m)
	tok := regexp.MustCompile(`<code id="token">(wxf_[A-Z0-9]+)</code>`).FindStringSubmatch(body)
	if st != 201 || tok == nil {
		t.Fatalf("make: %d\n%s", st, body)
	}
	if _, body := ts.call("GET", "/api-tokens", nil, "Cookie", m); strings.Contains(body, tok[1]) || !strings.Contains(body, "till") {
		t.Fatal("the list shows the token again, or not its name")
	}
	if st, body := ts.call("GET", "/api/v1/api-tokens", nil, bearer(tok[1])...); st != 200 || !strings.Contains(body, `"tenant_id":1`) {
		t.Fatalf("the page's token: %d %s", st, body)
	}
	l, _ := ts.st.ListAPITokens(context.Background(), -1)
	var id int64
	for _, x := range l {
		if x.Name == "till" {
			id = x.ID
		}
	}
	if st, _ := ts.call("POST", "/api-tokens/"+itoa(id)+"/delete", url.Values{"csrf": {csrf}}.Encode(), "Cookie", m); st != http.StatusSeeOther {
		t.Fatalf("revoke: %d", st)
	}
	if st, _ := ts.call("GET", "/api/v1/api-tokens", nil, bearer(tok[1])...); st != 401 {
		t.Fatalf("the revoked token: %d", st)
	}
	_, v := ts.signIn("viewer@isv.example", testPassword)
	if st, body := ts.call("GET", "/api-tokens", nil, "Cookie", v); st != 200 || strings.Contains(body, `id="new-token"`) {
		t.Fatalf("viewer's page: %d (forms shown: %v)", st, strings.Contains(body, `id="new-token"`))
	}
	_, vcsrf := ts.page("/api-tokens", v)
	if st, _ := ts.call("POST", "/api-tokens", url.Values{"csrf": {vcsrf}, "name": {"x"}}.Encode(), "Cookie", v); st != 403 {
		t.Fatalf("viewer makes a token: %d, want 403", st)
	}
}
