package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/store/storetest"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, method, u string, body io.Reader, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func postForm(t *testing.T, u string, form url.Values, hdr ...string) *http.Response {
	t.Helper()
	return do(t, "POST", u, strings.NewReader(form.Encode()), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, hdr...)...)
}

// login signs in and returns the session cookie.
func login(t *testing.T, srv *Server) *http.Cookie {
	t.Helper()
	cookies, csrf := browserForm(t, srv.URL()+"/login", "")
	resp := postForm(t, srv.URL()+"/login", url.Values{"token": {testAdmin}, "next": {"/authorizers"}, "csrf": {csrf}}, "Cookie", cookies)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	return sessionCookieOf(t, resp)
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// An unauthenticated login of 9 MB is refused before it is read, and so is
// an oversized API body; a chunked body is cut at the cap.
func TestBodiesAreCappedPerRoute(t *testing.T) {
	srv := bootWith(t, storetest.SQLite, func(cfg *Config) { cfg.APIBodyCap = 8 << 10 })
	conn := dial(t, srv)
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", 9<<20)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("9 MB login: no answer before the body was sent: %v", err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("9 MB login: %d, want 413", resp.StatusCode)
	}

	// Chunked: no declared length, cut off while reading.
	req, _ := http.NewRequest("POST", srv.URL()+"/login", io.MultiReader(strings.NewReader("token="), strings.NewReader(strings.Repeat("a", 64<<10))))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.ContentLength = -1
	r2, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked 64 KiB login: %d, want 413", r2.StatusCode)
	}

	big := `{"merchant":"` + strings.Repeat("m", 10<<10) + `"}`
	if resp := do(t, "POST", srv.URL()+"/api/v1/authorization-links", strings.NewReader(big), "Authorization", "Bearer "+testAdmin); resp.StatusCode != 413 {
		t.Fatalf("10 KiB API body with an 8 KiB cap: %d, want 413", resp.StatusCode)
	}
}

// A JSON body with a second value after the first is refused before
// anything acts on it.
func TestJSONWithTrailingDataRefused(t *testing.T) {
	srv := bootWith(t, storetest.SQLite, func(*Config) {})
	for _, body := range []string{`{"merchant":"a"} {"merchant":"b"}`, `{"merchant":"a"}x`, `{}[]`} {
		resp := do(t, "POST", srv.URL()+"/api/v1/authorization-links", strings.NewReader(body), "Authorization", "Bearer "+testAdmin)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), `"invalid"`) {
			t.Errorf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
}

// After login the browser goes back only to a path of this site, however
// next is spelled.
func TestLoginRedirectStaysOnSite(t *testing.T) {
	srv := bootWith(t, storetest.SQLite, func(*Config) {})
	cookies, csrf := browserForm(t, srv.URL()+"/login", "")
	for _, next := range []string{"//evil.example", `/\evil.example`, "/\t/evil.example", "%2F%2Fevil.example", "https:evil.example",
		"https://evil.example/", " //evil.example", "/\n/evil.example", `\/evil.example`, "javascript:alert(1)", "/\x00/evil.example"} {
		resp := postForm(t, srv.URL()+"/login", url.Values{"token": {testAdmin}, "next": {next}, "csrf": {csrf}}, "Cookie", cookies)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/authorizers" {
			t.Errorf("next=%q: %d Location %q, want /authorizers", next, resp.StatusCode, loc)
		}
	}
	resp := postForm(t, srv.URL()+"/login", url.Values{"token": {testAdmin}, "next": {"/rollouts?platform=" + testAppID}, "csrf": {csrf}}, "Cookie", cookies)
	if loc := resp.Header.Get("Location"); loc != "/rollouts?platform="+testAppID {
		t.Errorf("a path of this site: Location %q", loc)
	}
}

// The status page needs the console login; logout is POST only and ends the
// session in the database, so the old cookie opens nothing afterwards.
func TestConsoleSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		srv := bootWith(t, b, func(*Config) {})
		if resp := do(t, "GET", srv.URL()+"/", nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("status page without login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		c := login(t, srv)
		if resp := do(t, "GET", srv.URL()+"/", nil, "Cookie", c.String()); resp.StatusCode != 200 {
			t.Fatalf("status page with login: %d", resp.StatusCode)
		}
		if resp := do(t, "GET", srv.URL()+"/logout", nil, "Cookie", c.String()); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET /logout: %d, want 405", resp.StatusCode)
		}
		// Without the session's CSRF token, another site cannot sign anyone out.
		if resp := do(t, "POST", srv.URL()+"/logout", nil, "Cookie", c.String()); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("logout without the CSRF token: %d, want 403", resp.StatusCode)
		}
		_, csrf := browserForm(t, srv.URL()+"/", c.String())
		if resp := postForm(t, srv.URL()+"/logout", url.Values{"csrf": {csrf}}, "Cookie", c.String()); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		if resp := do(t, "GET", srv.URL()+"/authorizers", nil, "Cookie", c.String()); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("the logged-out cookie still opens the console: %d", resp.StatusCode)
		}
	})
}

// Failed logins are throttled per client and logged once per burst; the
// client is the peer, or the address a trusted proxy names.
func TestFailedLoginsThrottledAndLoggedOnce(t *testing.T) {
	logs := &syncBuffer{}
	srv := bootWith(t, storetest.SQLite, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	cookies, csrf := browserForm(t, srv.URL()+"/login", "")
	client := func(ip string) []string {
		return []string{"X-Forwarded-For", "198.51.100.99, " + ip, "Cookie", cookies}
	}
	for i := range 5 {
		if resp := postForm(t, srv.URL()+"/login", url.Values{"token": {"guess"}, "csrf": {csrf}}, client("203.0.113.1")...); resp.StatusCode != 401 {
			t.Fatalf("failure %d: %d, want 401", i, resp.StatusCode)
		}
	}
	for i := range 20 {
		if resp := postForm(t, srv.URL()+"/login", url.Values{"token": {"guess"}, "csrf": {csrf}}, client("203.0.113.1")...); resp.StatusCode != 429 {
			t.Fatalf("failure %d past the burst: %d, want 429", 5+i, resp.StatusCode)
		}
	}
	// Throttled means no try at all, even with the right token.
	if resp := postForm(t, srv.URL()+"/login", url.Values{"token": {testAdmin}, "csrf": {csrf}}, client("203.0.113.1")...); resp.StatusCode != 429 {
		t.Fatalf("right token while throttled: %d, want 429", resp.StatusCode)
	}
	// Another client behind the same proxy is not punished for the first.
	if resp := postForm(t, srv.URL()+"/login", url.Values{"token": {testAdmin}, "csrf": {csrf}}, client("203.0.113.2")...); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("another client: %d, want a login", resp.StatusCode)
	}
	if n := strings.Count(logs.String(), "console login failed"); n != 1 {
		t.Fatalf("%d log lines for one burst of 26 failures, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "client=203.0.113.1") {
		t.Fatalf("the log line does not name the client behind the proxy:\n%s", logs.String())
	}
}

// An X-Forwarded-For from a peer that is not a trusted proxy is ignored:
// fresh addresses in it do not buy fresh allowances.
func TestForwardedForIgnoredFromUntrustedPeers(t *testing.T) {
	// The clock stands still: the limiter refills by it, and a slow run
	// (the race detector) must not refill the allowance between requests.
	frozen := time.Now()
	srv := bootWith(t, storetest.SQLite, func(cfg *Config) { cfg.Now = func() time.Time { return frozen } })
	limited := 0
	cookies, csrf := browserForm(t, srv.URL()+"/authorize", "")
	for i := range 15 {
		resp := postForm(t, srv.URL()+"/authorize/pc", url.Values{"csrf": {csrf}}, "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i), "Cookie", cookies)
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("15 authorization starts from one peer with 15 forged X-Forwarded-For were never limited (burst 10)")
	}
}

// /metrics needs a bearer token, or is served on its own address only.
func TestMetricsNeedATokenOrTheirOwnAddress(t *testing.T) {
	srv := bootWith(t, storetest.SQLite, func(*Config) {})
	if resp := do(t, "GET", srv.URL()+"/metrics", nil); resp.StatusCode != 401 {
		t.Fatalf("/metrics without a token: %d, want 401", resp.StatusCode)
	}
	if resp := do(t, "GET", srv.URL()+"/metrics", nil, "Authorization", "Bearer "+testAdmin); resp.StatusCode != 200 {
		t.Fatalf("/metrics with the admin token: %d", resp.StatusCode)
	}
	own := bootWith(t, storetest.SQLite, func(cfg *Config) { cfg.MetricsAddr = "127.0.0.1:0"; cfg.MetricsToken = "metrics-token-for-scrapers" })
	if resp := do(t, "GET", own.URL()+"/metrics", nil, "Authorization", "Bearer "+testAdmin); resp.StatusCode == 200 {
		t.Fatal("/metrics still served on the public address with --metrics-addr set")
	}
	resp := do(t, "GET", own.MetricsURL(), nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "wxfleet_pushes_total") && !strings.Contains(string(b), "go_goroutines") {
		t.Fatalf("metrics address: %d", resp.StatusCode)
	}
}

// Every response carries the security headers; HSTS when the public URL is HTTPS.
func TestSecurityHeadersOnEveryPage(t *testing.T) {
	srv := bootWith(t, storetest.SQLite, func(*Config) {})
	for _, path := range []string{"/", "/login", "/authorize", "/api/v1/platforms", "/wechat/component", "/healthz", "/nope"} {
		resp := do(t, "GET", srv.URL()+path, nil)
		h := resp.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			!strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") ||
			h.Get("Referrer-Policy") != "strict-origin-when-cross-origin" {
			t.Errorf("%s: headers %v", path, h)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP", path)
		}
	}
	// WeChat's hosts point at a plain-HTTP sandbox here: its avatars, from
	// that one origin, are allowed; plain HTTP in general is not.
	csp := do(t, "GET", srv.URL()+"/login", nil).Header.Get("Content-Security-Policy")
	if origin := strings.TrimSuffix(srv.cfg.WeChatURL, "/"); !strings.Contains(csp, "img-src 'self' https: data: "+origin+";") || strings.Contains(csp, " http:;") || strings.Contains(csp, " http: ") {
		t.Errorf("CSP %q: want img-src with the sandbox's origin %s only", csp, origin)
	}
	tls := bootWith(t, storetest.SQLite, func(cfg *Config) { cfg.PublicURL = "https://wxfleet.example" })
	rec := httptest.NewRecorder()
	tls.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	if !strings.HasPrefix(rec.Header().Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS behind an HTTPS public URL: %v", rec.Header())
	}
}

// /readyz says not ready, and why, when the disk is full.
func TestReadyzReportsAFullDisk(t *testing.T) {
	srv := bootWith(t, storetest.SQLite, func(*Config) {})
	if resp := do(t, "GET", srv.URL()+"/readyz", nil); resp.StatusCode != 200 {
		t.Fatalf("readyz: %d", resp.StatusCode)
	}
	srv.diskFree = func(string) (uint64, error) { return 1 << 20, nil } // the edge: what statfs would say
	resp := do(t, "GET", srv.URL()+"/readyz", nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(b), "disk full") {
		t.Fatalf("readyz with 1 MiB free: %d %s", resp.StatusCode, b)
	}
}
