// Package web is wxfleet's HTTP surface: WeChat's push endpoints, the REST
// API under /api/v1 (admin bearer token), the merchant-facing authorization
// pages, a minimal server-rendered console, health and metrics.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/authorization"
	"github.com/wxfleet/wxfleet/metrics"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/token"
	"github.com/wxfleet/wxfleet/wechat"
)

// Server holds what the handlers use. Build it once in main and call Handler.
type Server struct {
	Store      *store.Store
	Auth       *authorization.Service
	Keeper     *token.Keeper
	WeChat     *wechat.Client
	Receiver   *push.Receiver
	Metrics    *metrics.Metrics
	AdminToken wxfleet.Secret
	// DefaultPlatform is the component appid used when a request names none.
	DefaultPlatform string
	// WeChatURL is where WeChat's hosts point ("" = WeChat itself); shown on the status page.
	WeChatURL string
	Now       func() time.Time
	Logger    *slog.Logger
	// EventsSync, if set, is called before events are read: it waits until
	// every acknowledged push is in the database (the ingest journal).
	EventsSync func(ctx context.Context) error

	limitOnce      sync.Once
	authorizeLimit *limiter
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	// 30 links a minute per address, bursts of 10: far above any merchant.
	// One limiter however often Handler is called: a second call must not
	// hand every address a fresh allowance.
	s.limitOnce.Do(func() { s.authorizeLimit = newLimiter(30, 10, s.Now) })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.Metrics.Handler())

	// WeChat's pushes: verified by signature, not by our token.
	mux.HandleFunc("/wechat/component", s.Receiver.ServeComponent)
	mux.HandleFunc("/wechat/apps/{appid}", func(w http.ResponseWriter, r *http.Request) {
		s.Receiver.ServeApp(w, r, r.PathValue("appid"))
	})

	// REST API.
	api := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.requireToken(h))
	}
	api("GET /api/v1/platforms", s.listPlatforms)
	api("POST /api/v1/authorization-links", s.createAuthorizationLink)
	api("GET /api/v1/authorizers", s.listAuthorizers)
	api("GET /api/v1/authorizers/{appid}", s.getAuthorizer)
	api("GET /api/v1/authorizers/{appid}/access-token", s.getAccessToken)
	api("POST /api/v1/authorizers/{appid}/wechat/{path...}", s.forward)
	api("GET /api/v1/authorizers/{appid}/wechat/{path...}", s.forward)
	api("GET /api/v1/events", s.listEvents)
	api("GET /api/v1/tokens/health", s.tokenHealth)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.apiError(w, r, wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个接口 / no such API: %s %s", r.Method, r.URL.Path))
	})

	// Pages.
	mux.HandleFunc("GET /{$}", s.homePage)
	mux.HandleFunc("GET /authorize", s.authorizePage)
	mux.HandleFunc("POST /authorize/{kind}", s.authorizeStart)
	mux.HandleFunc("GET /authorize/callback", s.authorizeCallback)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.Handle("GET /authorizers", s.requireSession(s.authorizersPage))
	return s.recoverer(mux)
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
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
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
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
		if err := h(w, r); err != nil {
			s.apiError(w, r, err)
		}
	})
}

func (s *Server) tokenOK(tok string) bool {
	want := s.AdminToken.Reveal()
	return want != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1
}

const sessionCookie = "wxfleet_session"

// sessionValue is derived from the admin token, so changing the token logs
// every browser out; the token itself never reaches the browser.
func (s *Server) sessionValue() string {
	m := hmac.New(sha256.New, []byte(s.AdminToken.Reveal()))
	m.Write([]byte("wxfleet console session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) requireSession(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.sessionValue())) != 1 {
			http.Redirect(w, r, "/login?next="+r.URL.Path, http.StatusSeeOther)
			return
		}
		h(w, r)
	})
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
