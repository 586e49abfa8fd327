// Package web is wxfleet's HTTP surface for people and the ISV's systems: the
// REST API under /api/v1 (the admin token, API tokens, or the console's
// session), the merchant-facing authorization pages, the server-rendered
// console (accounts sign in with a password), health and metrics. Every API
// route and console page declares who may call it (access.go).
// WeChat's push endpoints are package push's (push.Receiver.RegisterRoutes).
package web

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/wxfleet/wxfleet/cards"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/authorization"
	"github.com/wxfleet/wxfleet/messaging"
	"github.com/wxfleet/wxfleet/metrics"
	"github.com/wxfleet/wxfleet/pay"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/runtimeapi"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/tenant"
	"github.com/wxfleet/wxfleet/token"
	"github.com/wxfleet/wxfleet/webhook"
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
	// Webhooks keeps endpoints and deliveries; nil leaves the webhook API out.
	Webhooks *webhook.Service
	Tenants  *tenant.Service
	// Messaging is customer service and subscribe messages (messaging.go).
	Messaging *messaging.Service
	// Cards serves the card and Wi-Fi routes; nil leaves them off.
	Cards *cards.Service
	// Runtime serves /runtime/v1, what the mini programs call; nil leaves it off.
	Runtime *runtimeapi.Service
	// Pay serves WeChat Pay's routes (web/pay.go); nil leaves them off.
	Pay *pay.Service
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
	Ready func(ctx context.Context) error
	// Draining, if set and true, makes /readyz answer 503 "draining": the
	// server is stopping and finishes what it has (see server.Close).
	Draining func() bool
	Now      func() time.Time
	Logger   *slog.Logger

	limitOnce      sync.Once
	authorizeLimit *limiter
	runtimeLimit   *limiter
	logins         *loginGuard
	hashSlots      chan struct{} // password verifications running at once (see checkPassword)

	routesMu sync.Mutex
	routes   []Route
	declared map[string]Access
}

// maxConcurrentHashes bounds the password verifications running at once:
// 8 × 19 MiB of argon2id memory.
const maxConcurrentHashes = 8

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
		// Logins per mini program and address: a carrier's NAT puts many
		// users behind one address, so the allowance is generous.
		s.runtimeLimit = newLimiter(120, 60, s.Now)
		s.logins = newLoginGuard(s.Now, s.Logger)
		s.hashSlots = make(chan struct{}, maxConcurrentHashes)
	})
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if !s.MetricsElsewhere {
		mux.Handle("GET /metrics", s.requireMetricsToken(s.Metrics.Handler()))
	}

	// REST API. Every body is capped before the handler reads it; every
	// route declares who may call it (access.go).
	s.api(mux, "GET /api/v1/platforms", StaffRead(), s.listPlatforms)
	s.api(mux, "POST /api/v1/authorization-links", StaffWrite("authorization_link.create"), s.createAuthorizationLink)
	s.api(mux, "GET /api/v1/authorizers", StaffRead(), s.listAuthorizers)
	s.api(mux, "GET /api/v1/authorizers/{appid}", StaffRead(), s.getAuthorizer)
	s.api(mux, "GET /api/v1/authorizers/{appid}/access-token", OperatorRead(), s.getAccessToken)
	s.api(mux, "POST /api/v1/authorizers/{appid}/wechat/{path...}", StaffWrite("wechat.forward"), s.forward)
	s.api(mux, "GET /api/v1/authorizers/{appid}/wechat/{path...}", OperatorRead(), s.forward)
	s.api(mux, "GET /api/v1/events", StaffRead(), s.listEvents)
	s.rolloutRoutes(mux)
	s.webhookRoutes(mux)
	s.tenantRoutes(mux)
	s.messagingRoutes(mux)
	s.cardRoutes(mux) // cards.go
	s.api(mux, "GET /api/v1/tokens/health", StaffRead(), s.tokenHealth)
	s.accountRoutes(mux)
	s.payRoutes(mux) // pay.go
	// The API description is public (see serveOpenAPI); every route is in
	// it (web/openapi/, docs/api.md), which a test checks.
	s.publicAPI(mux, "GET /api/v1/openapi.json", s.serveOpenAPI)
	mux.HandleFunc(apiFallback, func(w http.ResponseWriter, r *http.Request) {
		s.apiError(w, r, wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个接口 / no such API: %s %s", r.Method, r.URL.Path))
	})

	s.runtimeRoutes(mux) // runtime.go

	// Pages. The forms are a few fields: a few KiB.
	form := func(h http.HandlerFunc) http.Handler { return capBody(formBodyCap, h) }
	s.page(mux, "GET /{$}", TenantRead(), s.homePage)
	mux.HandleFunc("GET /authorize", s.authorizePage)
	mux.Handle("POST /authorize/{kind}", form(s.authorizeStart))
	mux.HandleFunc("GET /authorize/callback", s.authorizeCallback)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.Handle("POST /login", form(s.login))
	mux.Handle("POST /logout", form(s.logout))
	mux.HandleFunc("GET /static/rollout.js", serveStatic("rollout.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /lang", s.setLang)
	mux.HandleFunc("GET /static/dashboard.js", serveStatic("dashboard.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /static/htmx.min.js", serveStatic("htmx.min.js", "text/javascript; charset=utf-8"))
	s.page(mux, "GET /dashboard/quota", StaffRead(), s.dashQuota)
	s.page(mux, "GET /authorizers", StaffRead(), s.authorizersPage)
	s.page(mux, "GET /tenants", StaffRead(), s.tenantsPage)
	s.page(mux, "GET /authorizers/{appid}", StaffRead(), s.authorizerPage)
	s.page(mux, "GET /authorizers/{appid}/wechat", StaffRead(), s.authorizerWeChat)
	s.page(mux, "GET /events", StaffRead(), s.eventsPage)
	s.page(mux, "GET /templates", StaffRead(), s.templatesPage)
	s.page(mux, "GET /templates/drafts", StaffRead(), s.templateDrafts)
	s.pageCap(mux, "POST /templates", StaffWrite("template.create"), formBodyCap*16, s.addTemplateForm)
	s.page(mux, "POST /templates/sync", StaffWrite("template.sync"), s.syncTemplatesForm)
	s.page(mux, "GET /rollouts/new", StaffRead(), s.newRolloutPage)
	s.pageCap(mux, "POST /rollouts", StaffWrite("rollout.create"), 64<<10, s.createRolloutForm)
	s.page(mux, "POST /rollouts/{id}/{action}", StaffWrite("rollout.action"), s.rolloutActionForm)
	s.page(mux, "GET /rollouts", StaffRead(), s.rolloutsPage)
	s.page(mux, "GET /rollouts/{id}", StaffRead(), s.rolloutPage)
	s.page(mux, "GET /rollouts/{id}/events", StaffRead(), s.rolloutEvents)
	s.page(mux, "GET /audit-log", TenantRead(), s.auditPage)
	s.page(mux, "POST /tenants", StaffWrite("tenant.create"), s.createTenantForm)
	s.page(mux, "GET /tenants/{id}", TenantRead(), s.tenantPage)
	s.pageCap(mux, "POST /tenants/{id}/settings", TenantWrite("tenant.settings"), 80<<10, s.tenantSettingsForm)
	s.page(mux, "POST /tenants/{id}/authorization-link", TenantWrite("tenant.authorization_link"), s.tenantLinkForm)
	s.page(mux, "POST /tenants/{id}/renew", StaffWrite("subscription.renew"), s.renewForm)
	s.page(mux, "POST /tenants/{id}/subscription", StaffWrite("subscription.create"), s.subscriptionForm)
	s.page(mux, "POST /tenants/{id}/edit", StaffWrite("tenant.update"), s.tenantEditForm)
	s.page(mux, "POST /tenants/{id}/status", StaffWrite("tenant.update"), s.tenantStatusForm)
	s.page(mux, "GET /tenants/{id}/apps/{appid}/qrcode", TenantRead(), s.appQRCode)
	s.page(mux, "GET /tenants/{id}/apps/{appid}/testers", TenantRead(), s.appTesters)
	s.page(mux, "POST /tenants/{id}/apps/{appid}/testers", TenantWrite("testers.update"), s.testersForm)
	s.page(mux, "GET /docs/api", StaffRead(), s.apiDocsPage)
	s.accountPages(mux)
	s.apiTokenPages(mux)
	s.webhookPages(mux)        // console_webhooks.go
	s.messagingPages(mux)      // console_messaging.go
	s.subscribeApplyPages(mux) // console_subscribe_apply.go
	s.cardPages(mux)           // console_cards.go
	s.payPages(mux)            // console_pay.go
	s.payOrderPages(mux)       // console_pay_order.go
	s.planPages(mux)           // console_plans.go
	s.authorizerForms(mux)     // console_authorizer_forms.go
	s.wechatCallRoutes(mux)    // console_wechat_call.go
	s.templatePages(mux)       // console_templates.go
	s.fleetPages(mux)          // console_fleet.go
}

// Recover serves next, and answers 500 (and logs) for a handler that panics,
// whichever feature registered it. An API path (/api/, /runtime/) gets the
// one error shape (ErrorBody, code internal, with the request id), a console
// page a short bilingual text with the id to quote. The log line has the
// method, the path (never the query nor a header: they carry codes and
// tokens), the panic and its stack; the request id comes from the context
// (ContextLogHandler). Nothing is written when the handler had already
// started its answer: the client sees a cut response instead.
func Recover(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &startedWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			logger.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if rec.started {
				return
			}
			const msg = "服务器内部错误，请稍后重试；如仍出错请提供请求标识 / internal error: try again later, and quote the request id if it persists"
			id := RequestIDFrom(r.Context())
			if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/runtime/") {
				writeJSON(w, http.StatusInternalServerError, NewErrorBody(wxfleet.EINTERNAL, msg, id))
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "%s\n请求标识 / request id: %s\n", msg, id)
		}()
		next.ServeHTTP(rec, r)
	})
}

// startedWriter notes whether a handler began its answer (Recover must not
// write a second one). It passes Flush and Unwrap through like
// statusRecorder.
type startedWriter struct {
	http.ResponseWriter
	started bool
}

func (w *startedWriter) WriteHeader(code int) {
	if code >= 200 {
		w.started = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *startedWriter) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}

func (w *startedWriter) Flush() {
	w.started = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *startedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz: the database answers and every migration is applied.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Draining != nil && s.Draining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining",
			"reason": "正在停止：不再接收新请求，进行中的请求会完成 / shutting down: send no more requests here; those under way finish"})
		return
	}
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
