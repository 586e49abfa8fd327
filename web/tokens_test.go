package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/metrics"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/token"
)

// GET /api/v1/tokens/health and the wxfleet_authorizer_tokens metric count
// the same tokens, with the platform's pause.
func TestTokenHealth(t *testing.T) { storetest.Run(t, testTokenHealth) }

func testTokenHealth(t *testing.T, b storetest.Backend) {
	ctx := context.Background()
	st := b.New(t)
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for _, c := range []string{"wxA", "wxB"} {
		if err := st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: c, Token: "t", AESKey: "k", Secret: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	for app, left := range map[string]time.Duration{"fresh1": time.Hour, "fresh2": 30 * time.Minute, "due": 5 * time.Minute, "expired": -time.Minute} {
		err := st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: "wxA", AppID: app, Status: wxfleet.StatusAuthorized,
			AccessToken: "x", TokenExpiresAt: now.Add(left), RefreshToken: "r"})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.RecordRefreshFailure(ctx, store.RefreshFailure{ComponentAppID: "wxA", AppID: "expired", Errcode: 45009, At: now}); err != nil {
		t.Fatal(err)
	}
	until := now.Add(token.PauseFor)
	if err := st.PauseAPI(ctx, store.APIPause{ComponentAppID: "wxA", API: token.APIAuthorizerToken, Until: until, Since: now, Errcode: 45009, Reason: "quota"}); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	clock := func() time.Time { return now }
	m.WatchTokenHealth(token.HealthSource(st, clock))
	s := &Server{Store: st, Metrics: m, AdminToken: "admin-token-for-the-web-tests-32ch", DefaultPlatform: "wxA", Now: clock, Logger: slog.New(slog.DiscardHandler)}
	mux := http.NewServeMux()
	s.RegisterRoutes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	get := func(path, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, _ := get("/api/v1/tokens/health", ""); code != http.StatusUnauthorized {
		t.Fatalf("without the admin token: %d", code)
	}
	code, body := get("/api/v1/tokens/health", "admin-token-for-the-web-tests-32ch")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/tokens/health: %d %s", code, body)
	}
	var out struct {
		Platforms []platformTokensJSON `json:"platforms"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Platforms) != 2 {
		t.Fatalf("platforms: %s", body)
	}
	a, b2 := out.Platforms[0], out.Platforms[1]
	if a.ComponentAppID != "wxA" || a.Fresh != 2 || a.Due != 1 || a.Expired != 1 || a.Failing != 1 ||
		a.PausedUntil == nil || !a.PausedUntil.Equal(until) || a.PauseErrcode != 45009 {
		t.Fatalf("wxA = %+v", a)
	}
	if b2.ComponentAppID != "wxB" || b2.Fresh+b2.Due+b2.Expired+b2.Failing != 0 || b2.PausedUntil != nil || strings.Contains(body, `"paused_until":null`) {
		t.Fatalf("wxB = %+v in %s", b2, body)
	}
	_, metricsText := get("/metrics", "admin-token-for-the-web-tests-32ch")
	for _, want := range []string{
		`wxfleet_authorizer_tokens{component_appid="wxA",state="fresh"} 2`,
		`wxfleet_authorizer_tokens{component_appid="wxA",state="due"} 1`,
		`wxfleet_authorizer_tokens{component_appid="wxA",state="expired"} 1`,
		`wxfleet_authorizer_tokens{component_appid="wxA",state="failing"} 1`,
		`wxfleet_authorizer_tokens{component_appid="wxB",state="fresh"} 0`,
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
