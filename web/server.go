// Package web is wxfleet's HTTP surface for people and the ISV's systems: the
// REST API under /api/v1 (admin bearer token), the merchant-facing
// authorization pages, a minimal server-rendered console, health and metrics.
// WeChat's push endpoints are package push's (push.Receiver.RegisterRoutes).
package web

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/authorization"
	"github.com/wxfleet/wxfleet/metrics"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/token"
	"github.com/wxfleet/wxfleet/wechat"
)

// Server holds what the handlers use. Build it once in main and call Handler.
type Server struct {
	Store    *store.Store
	Auth     *authorization.Service
	Keeper   *token.Keeper
	WeChat   *wechat.Client
	Metrics  *metrics.Metrics
	Rollouts *rollout.Service
	// Events reads the stored pushes; it is the ingest (push.Ingest), which
	// waits for every acknowledged push before it reads.
	Events     EventReader
	AdminToken wxfleet.Secret
	// DefaultPlatform is the component appid used when a request names none.
	DefaultPlatform string
	// WeChatURL is where WeChat's hosts point ("" = WeChat itself); shown on the status page.
	WeChatURL string
	// APIBodyCap caps a JSON API request body; 0 → DefaultAPIBodyCap (1 MiB).
	APIBodyCap int64
	// MetricsToken is the bearer token of /metrics; "" → the admin token.
	MetricsToken wxfleet.Secret
	// MetricsElsewhere leaves /metrics off these routes: it is served on its
	// own address (--metrics-addr).
	MetricsElsewhere bool
	// TrustedProxies are the peers whose X-Forwarded-For is believed (see clientIP).
	TrustedProxies []netip.Prefix
	// SecureCookies marks the console cookie Secure (the site is served over HTTPS).
	SecureCookies bool
	// Ready, if set, adds the server's own readiness checks to /readyz: an
	// error (coded, with a sentence) says what is wrong.
	Ready  func(ctx context.Context) error
	Now    func() time.Time
	Logger *slog.Logger

	limitOnce      sync.Once
	authorizeLimit *limiter
	logins         *loginGuard
}

// EventReader reads stored pushes. Its reads include every push
// acknowledged before the call.
type EventReader interface {
	ListEvents(ctx context.Context, componentAppID string, f store.EventFilter) ([]*wxfleet.Event, int, error)
}

// RegisterRoutes adds health, metrics, the REST API and the pages to mux.
func (s *Server) RegisterRoutes(mux *http.ServeMux) {
	// 30 links a minute per address, bursts of 10: far above any merchant.
	// One limiter however often the routes are registered: a second mux must
	// not hand every address a fresh allowance.
	s.limitOnce.Do(func() {
		s.authorizeLimit = newLimiter(30, 10, s.Now)
		s.logins = newLoginGuard(s.Now, s.Logger)
	})
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if !s.MetricsElsewhere {
		mux.Handle("GET /metrics", s.requireMetricsToken(s.Metrics.Handler()))
	}

	// REST API. Every body is capped before the handler reads it.
	apiCap := s.APIBodyCap
	if apiCap <= 0 {
		apiCap = DefaultAPIBodyCap
	}
	api := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, capBody(apiCap, s.requireToken(h)))
	}
	api("GET /api/v1/platforms", s.listPlatforms)
	api("POST /api/v1/authorization-links", s.createAuthorizationLink)
	api("GET /api/v1/authorizers", s.listAuthorizers)
	api("GET /api/v1/authorizers/{appid}", s.getAuthorizer)
	api("GET /api/v1/authorizers/{appid}/access-token", s.getAccessToken)
	api("POST /api/v1/authorizers/{appid}/wechat/{path...}", s.forward)
	api("GET /api/v1/authorizers/{appid}/wechat/{path...}", s.forward)
	api("GET /api/v1/events", s.listEvents)
	s.rolloutRoutes(api)
	api("GET /api/v1/tokens/health", s.tokenHealth)
	// The API description is public (see serveOpenAPI); every route above
	// is in it (web/openapi/, docs/api.md), which a test checks.
	mux.HandleFunc("GET /api/v1/openapi.json", s.serveOpenAPI)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.apiError(w, r, wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个接口 / no such API: %s %s", r.Method, r.URL.Path))
	})

	// Pages. The forms are a few fields: a few KiB.
	form := func(h http.HandlerFunc) http.Handler { return capBody(formBodyCap, h) }
	mux.Handle("GET /{$}", s.requireSession(s.homePage))
	mux.HandleFunc("GET /authorize", s.authorizePage)
	mux.Handle("POST /authorize/{kind}", form(s.authorizeStart))
	mux.HandleFunc("GET /authorize/callback", s.authorizeCallback)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.Handle("POST /login", form(s.login))
	mux.Handle("POST /logout", form(s.logout))
	mux.HandleFunc("GET /static/rollout.js", serveStatic("rollout.js", "text/javascript; charset=utf-8"))
	mux.Handle("GET /authorizers", s.requireSession(s.authorizersPage))
	mux.Handle("GET /rollouts", s.requireSession(s.rolloutsPage))
	mux.Handle("GET /rollouts/{id}", s.requireSession(s.rolloutPage))
	mux.Handle("GET /rollouts/{id}/events", s.requireSession(s.rolloutEvents))
	mux.Handle("GET /docs/api", s.requireSession(s.apiDocsPage))
}

// Recover serves next, and answers 500 (and logs) for a handler that panics,
// whichever feature registered it.
func Recover(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz: the database answers and every migration is applied.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		s.Logger.Warn("readyz: database unreachable", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database unreachable"})
		return
	}
	ok, err := s.Store.MigrationStatus(ctx)
	if err != nil || !ok {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "migrations not applied: run wxfleet migrate"})
		return
	}
	if s.Ready != nil {
		if err := s.Ready(ctx); err != nil {
			s.Logger.Warn("readyz: not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": wxfleet.ErrorMessage(err)})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// requireMetricsToken guards /metrics: it names every platform and shows
// ticket and token state, so it takes a bearer token like the API.
func (s *Server) requireMetricsToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := s.MetricsToken
		if want == "" {
			want = s.AdminToken
		}
		tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !found || want == "" || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(want.Reveal())) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wxfleet metrics"`)
			s.apiError(w, r, wxfleet.Errorf(wxfleet.EUNAUTHORIZED, "缺少或错误的指标令牌 / missing or wrong metrics token (Authorization: Bearer <token>)"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// requireToken guards the API with the admin bearer token.
func (s *Server) requireToken(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		tok, found := strings.CutPrefix(auth, "Bearer ")
		if !found || !s.tokenOK(strings.TrimSpace(tok)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wxfleet"`)
			s.apiError(w, r, wxfleet.Errorf(wxfleet.EUNAUTHORIZED, "缺少或错误的管理令牌（Authorization: Bearer <token>）/ missing or wrong admin token (Authorization: Bearer <token>)"))
			return
		}
		r = r.WithContext(wxfleet.WithActor(r.Context(), wxfleet.Actor{Name: "admin token", Role: wxfleet.RoleOwner, Via: "admin_token"}))
		if err := h(w, r); err != nil {
			s.apiError(w, r, err)
		}
	})
}

func (s *Server) tokenOK(tok string) bool {
	want := s.AdminToken.Reveal()
	return want != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1
}

// platform resolves the ?platform= parameter, defaulting to the only or
// first configured platform.
func (s *Server) platform(r *http.Request) (string, error) {
	p := r.URL.Query().Get("platform")
	if p == "" {
		p = s.DefaultPlatform
	}
	if _, err := s.Store.Platform(r.Context(), p); err != nil {
		if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
			return "", wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个第三方平台 / no platform with component appid %q", p)
		}
		return "", err
	}
	return p, nil
}
