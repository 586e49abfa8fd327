// Package server wires a wxfleet platform the way main and the end-to-end
// tests boot it. It builds the shared core — store, vault, WeChat client,
// token keeper, authorization flow, push ingest — and then lets each feature
// (token, authorization, releasecheck, push's receiver, web) register its
// push handlers, River workers, periodic jobs and HTTP routes through the
// interfaces in features.go. What a feature does is in its own package.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxfleet/wxfleet/cards"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/authorization"
	"github.com/wxfleet/wxfleet/messaging"
	"github.com/wxfleet/wxfleet/metrics"
	"github.com/wxfleet/wxfleet/pay"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/runtimeapi"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/tenant"
	"github.com/wxfleet/wxfleet/token"
	"github.com/wxfleet/wxfleet/vault"
	"github.com/wxfleet/wxfleet/web"
	"github.com/wxfleet/wxfleet/webhook"
	"github.com/wxfleet/wxfleet/wechat"
)

// Config is everything a server needs, built once by main.
type Config struct {
	Addr       string         // listen address, e.g. 127.0.0.1:8080 or :0
	PublicURL  string         // how browsers and WeChat reach this server; "" → http://<listen address>
	Database   string         // postgres://... or a SQLite file path
	WeChatURL  string         // "" → WeChat's real hosts; else every WeChat host's calls and pages go here
	AdminToken wxfleet.Secret // bearer token of the API and the console
	MasterKey  []byte         // 32 bytes: seals secrets at rest
	// MasterKeyOld is the previous master key during a rotation (wxfleet
	// rotate-key): it opens what it sealed, and seals until the database
	// names MasterKey. nil otherwise.
	MasterKeyOld []byte
	Platforms    []wxfleet.Platform
	AuthType     int // default auth_type of authorization links
	// AuditPollInterval is how often a rollout polls an audit no push has
	// decided; 0 → 10 minutes (the demo sets seconds: its audits take seconds).
	AuditPollInterval time.Duration
	// RolloutWorkers is how many rollout steps run at once on this instance;
	// 0 → rollout.DefaultWorkers(RolloutRate): 10, or half the rate when more.
	RolloutWorkers int
	// RolloutRetryBase and RolloutQuotaWait shorten a rollout step's retry
	// delay and its wait after a quota error (see rollout.Service); 0 → the
	// production values. For the demo and tests.
	RolloutRetryBase, RolloutQuotaWait, RolloutSettleTime time.Duration
	// RolloutRate bounds rollouts' calls to WeChat per second, cluster-wide;
	// RolloutAPIRates bounds single APIs by path. 0 / absent: no bound.
	RolloutRate     float64
	RolloutAPIRates map[string]float64
	// WeChatTimeout bounds each attempt of a call to WeChat; 0 → 10 s.
	WeChatTimeout time.Duration
	// RefreshRate is api_authorizer_token calls a second per platform, for
	// the whole cluster; 0 → token.DefaultRate.
	RefreshRate float64
	// JobPollInterval is how often River looks for new jobs; 0 → River's default (1 s).
	JobPollInterval time.Duration
	// EventRetention is how long user messages are kept; 0 → 30 days,
	// negative → forever. Authorization and audit events are always kept.
	EventRetention time.Duration
	// RuntimeSessionTTL is how long a mini-program user's runtime session
	// lives (POST /runtime/v1/login); 0 → runtimeapi.DefaultSessionTTL (2 h).
	RuntimeSessionTTL time.Duration
	// Pay configures WeChat Pay for the first platform at Start (stored, its
	// keys sealed); nil leaves what the database holds. An empty NotifyURL
	// becomes PublicURL + "/pay/notify".
	Pay *wxfleet.PayMerchant
	// PayReconcileAfter is how long after its creation an unpaid order is
	// asked about at WeChat Pay, in case its notification was lost;
	// PayReconcileInterval how often that runs. 0 → 5 min, 1 min.
	PayReconcileAfter, PayReconcileInterval time.Duration
	// PayCloseAfter is how long after its creation an order still unpaid is
	// closed (asked about first, in case it was paid); 0 → 2 h, the life of
	// a prepay_id.
	PayCloseAfter time.Duration
	// MetricsAddr, if set, serves /metrics on its own listener (for a private
	// network) instead of the public one, where it needs MetricsToken.
	MetricsAddr string
	// MetricsToken is /metrics' bearer token on the public listener; "" → the admin token.
	MetricsToken wxfleet.Secret
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (per-client limits); nobody else's is believed.
	TrustedProxies []netip.Prefix
	// APIBodyCap caps a JSON API request's body; 0 → 1 MiB.
	APIBodyCap int64
	// HTTP bounds what one client can hold of the HTTP server; zero fields
	// take the defaults (see HTTPLimits).
	HTTP HTTPLimits
	// JobTimeoutScale shortens River's job timeout and stuck-job rescue delay,
	// for tests that kill a process and wait for its jobs to be taken back;
	// 0 → the real values (see queue.Configure).
	JobTimeoutScale float64
	// Webhooks are the settings of event delivery (see webhook.Service):
	// attempt timeout, attempts before dead-lettering, first retry delay
	// (doubling up to 8 h), and whether private addresses are refused.
	// Zero values take the defaults.
	WebhookTimeout       time.Duration
	WebhookMaxAttempts   int
	WebhookRetryBase     time.Duration
	WebhookRefusePrivate bool
	// TenantGrace is how long a tenant stays active after its subscription
	// expired, before it is suspended; 0 → 7 days.
	TenantGrace time.Duration
	// TenantCheckInterval is how often the subscription expiry policy runs;
	// 0 → daily.
	TenantCheckInterval time.Duration
	// ShutdownTimeout bounds Close (see shutdown.go); 0 → 25 s.
	ShutdownTimeout time.Duration
	// ShutdownDrain is how long Close keeps serving, with /readyz answering
	// 503 "draining", before it stops listening: the time a load balancer
	// needs to notice and send elsewhere. Part of ShutdownTimeout, at most
	// half of it; 0 → stop listening at once.
	ShutdownDrain time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
}

// HTTPLimits bound connections and requests, so that idle or trickling
// clients cannot keep WeChat's pushes out. Zero fields take the defaults.
type HTTPLimits struct {
	// ReadHeaderTimeout bounds reading a request's headers (default 10 s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default
	// 30 s): a body trickled a byte a second is cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds a response (default 60 s: a forwarded WeChat call
	// may take three 10-second attempts). Long-lived responses, such as the
	// rollout page's event stream, extend theirs per write.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long (default 30 s).
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers (default 64 KiB).
	MaxHeaderBytes int
	// MaxConnections caps open connections (default 4096); at the cap the
	// longest-idle connection is closed to make room (see connLimit).
	MaxConnections int
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.ReadHeaderTimeout, 10*time.Second)
	def(&l.ReadTimeout, 30*time.Second)
	def(&l.WriteTimeout, 60*time.Second)
	def(&l.IdleTimeout, 30*time.Second)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = 4096
	}
	return l
}

// Server is a running platform.
type Server struct {
	cfg         Config
	logger      *slog.Logger
	Store       *store.Store
	Metrics     *metrics.Metrics
	Keeper      *token.Keeper
	Auth        *authorization.Service
	Rollouts    *rollout.Service
	Webhooks    *webhook.Service
	Tenants     *tenant.Service
	Messaging   *messaging.Service
	Cards       *cards.Service
	Runtime     *runtimeapi.Service // /runtime/v1; features refine it through its Gate and Settings before serving
	Pay         *pay.Service        // WeChat Pay; configured by Config.Pay or by ConfigurePay
	WeChat      *wechat.Client
	vault       *vault.Vault
	ingest      *push.Ingest
	queue       queue.Queue
	handler     http.Handler
	mux         *http.ServeMux // the features' routes, under handler's middleware
	http        *http.Server
	listener    net.Listener
	conns       *connLimit
	metrics     *http.Server
	metricsAddr string
	diskFree    func(dir string) (uint64, error) // readiness; tests replace it
	bg          sync.WaitGroup
	stopBG      context.CancelFunc // ends what background runs (Close)
	closed      sync.Once
	draining    atomic.Bool // Close began: /readyz answers 503
	closeErr    error
}

// New opens the database, applies migrations, registers the platforms and
// wires the features; Start begins serving.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, Metrics: metrics.New(), diskFree: diskFree}
	// The router checks every platform's keys before the database is touched;
	// it reads the store only when pushes arrive.
	router, err := push.NewRouter(cfg.Platforms, func(ctx context.Context, appID string) ([]string, error) {
		return s.Store.AuthorizerPlatforms(ctx, appID)
	})
	if err != nil {
		return nil, err
	}
	if err := s.openStore(ctx); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.closeStorage(ctx)
		}
	}()
	s.watchTickets()
	s.buildCore()
	if s.ingest, err = push.OpenIngest(ctx, s.Store, push.IngestOptions{
		Observe: func(n int) { s.Metrics.IngestBatch.Observe(float64(n)) },
		Now:     cfg.Now, Logger: cfg.Logger,
	}); err != nil {
		return nil, err
	}
	s.Metrics.WatchIngestBacklog(func() float64 { return float64(s.ingest.Backlog()) })
	pushes := push.NewMux(cfg.Logger)
	if err := s.wire(pushes, s.features(router, pushes)); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// withDefaults fills in the logger and clock and refuses a config that
// cannot serve.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if _, ok := cfg.Logger.Handler().(web.ContextLogHandler); !ok {
		// Lines logged with a request's context name its X-Request-Id.
		cfg.Logger = slog.New(web.ContextLogHandler{Handler: cfg.Logger.Handler()})
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Platforms) == 0 {
		return cfg, errors.New("no platform configured: set WXFLEET_COMPONENT_APPID (and _SECRET, _TOKEN, _AES_KEY) or --platforms FILE")
	}
	if cfg.AdminToken == "" {
		return cfg, errors.New("no admin token: set WXFLEET_ADMIN_TOKEN or WXFLEET_ADMIN_TOKEN_FILE")
	}
	return cfg, nil
}

// openStore opens and migrates the database and records the platforms.
func (s *Server) openStore(ctx context.Context) error {
	keys := [][]byte{s.cfg.MasterKey}
	if s.cfg.MasterKeyOld != nil {
		keys = append(keys, s.cfg.MasterKeyOld)
	}
	v, err := vault.NewRing(keys...)
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	s.vault = v
	if s.Store, err = store.Open(ctx, s.cfg.Database, v, s.logger); err != nil {
		return err
	}
	if err := s.Store.Migrate(ctx); err != nil {
		s.Store.Close()
		return fmt.Errorf("migrating the database: %w", err)
	}
	// Before anything is sealed or opened: a wrong key must not re-seal.
	if err := s.Store.CheckVaultKey(ctx, s.cfg.Now()); err != nil {
		s.Store.Close()
		return err
	}
	for i := range s.cfg.Platforms {
		if err := s.Store.UpsertPlatform(ctx, &s.cfg.Platforms[i]); err != nil {
			s.Store.Close()
			return err
		}
	}
	return nil
}

// closeStorage undoes what New opened when a later step fails.
func (s *Server) closeStorage(ctx context.Context) {
	if s.ingest != nil {
		s.ingest.Close(ctx)
	}
	s.Store.Close()
}

// watchTickets exports each platform's ticket age.
func (s *Server) watchTickets() {
	for _, p := range s.cfg.Platforms {
		appID := p.AppID
		s.Metrics.WatchTicketAge(appID, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			t, err := s.Store.Ticket(ctx, appID)
			if err != nil {
				return -1
			}
			return s.cfg.Now().Sub(t.CreateTime).Seconds()
		})
	}
}

// buildCore makes what several features share: the WeChat client, the token
// keeper and the authorization flow.
func (s *Server) buildCore() {
	cfg := s.cfg
	hosts := wechat.DefaultHosts()
	if cfg.WeChatURL != "" {
		hosts = wechat.SingleHost(cfg.WeChatURL)
	}
	s.WeChat = wechat.New(wechat.Options{Hosts: hosts, Logger: cfg.Logger, Observe: s.Metrics.ObserveWeChat, Timeout: cfg.WeChatTimeout})
	s.Keeper = &token.Keeper{
		Store: s.Store, WeChat: s.WeChat, Now: cfg.Now, Owner: instanceID(), Logger: cfg.Logger,
		Observe: func(kind, result string) { s.Metrics.TokenRefreshes.WithLabelValues(kind, result).Inc() },
		Guard:   &token.Breaker{Store: s.Store, Now: cfg.Now, Logger: cfg.Logger},
	}
	s.Metrics.WatchTokenHealth(token.HealthSource(s.Store, cfg.Now))
	s.Webhooks = &webhook.Service{
		Store: s.Store, Jobs: func() webhook.Jobs { return s.queue }, Timeout: cfg.WebhookTimeout,
		MaxAttempts: cfg.WebhookMaxAttempts, RetryBase: cfg.WebhookRetryBase, RefusePrivate: cfg.WebhookRefusePrivate,
		Now: cfg.Now, Logger: cfg.Logger,
	}
	s.Auth = &authorization.Service{
		Store: s.Store, WeChat: s.WeChat, Keeper: s.Keeper, Queue: s.jobs, AuthType: cfg.AuthType, Now: cfg.Now, Logger: cfg.Logger,
		Events: s.Webhooks,
	}
	s.Rollouts = &rollout.Service{
		Store: s.Store, WeChat: s.WeChat, Tokens: s.Keeper, Jobs: func() rollout.Jobs { return s.queue },
		Now: cfg.Now, Logger: cfg.Logger, PollInterval: cfg.AuditPollInterval,
		RetryBase: cfg.RolloutRetryBase, QuotaWait: cfg.RolloutQuotaWait, SettleTime: cfg.RolloutSettleTime,
		Rate: cfg.RolloutRate, APIRates: cfg.RolloutAPIRates,
		Observe: func(step, result string) { s.Metrics.RolloutSteps.WithLabelValues(step, result).Inc() },
		Events:  s.Webhooks,
	}
	s.Auth.OnAuthorized = s.Rollouts.Authorized
	s.Messaging = &messaging.Service{
		Store: s.Store, WeChat: s.WeChat, Tokens: s.Keeper, Jobs: func() messaging.Jobs { return s.queue },
		Now: cfg.Now, Logger: cfg.Logger, Rate: cfg.RolloutRate,
	}
	s.Cards = &cards.Service{Store: s.Store, WeChat: s.WeChat, Tokens: s.Keeper, Now: cfg.Now, Logger: cfg.Logger}
	s.Tenants = &tenant.Service{Store: s.Store, Links: s.Auth, Grace: cfg.TenantGrace, Now: cfg.Now, Logger: cfg.Logger,
		Notifier: tenantNotices{s.Webhooks}}
	s.Runtime = &runtimeapi.Service{
		Store: s.Store, WeChat: s.WeChat, Tokens: s.Keeper, SessionTTL: cfg.RuntimeSessionTTL, Now: cfg.Now, Logger: cfg.Logger,
		// A tenant's mini program reads its tenant's settings and is refused
		// once the tenant is suspended (402 subscription_expired).
		Gate: s.Tenants.RuntimeGate, Settings: s.Tenants,
	}
	s.Pay = &pay.Service{Store: s.Store, Now: cfg.Now, Logger: cfg.Logger, Events: s.Webhooks}
}

// ConfigurePay stores the first platform's WeChat Pay merchant: m's
// ComponentAppID and an empty NotifyURL are filled in (call after Listen).
func (s *Server) ConfigurePay(ctx context.Context, m wxfleet.PayMerchant) error {
	m.ComponentAppID = s.cfg.Platforms[0].AppID
	if m.NotifyURL == "" {
		m.NotifyURL = s.cfg.PublicURL + "/pay/notify"
	}
	return s.Pay.Configure(ctx, &m)
}

// jobs is the queue, made once every feature registered its workers.
func (s *Server) jobs() queue.Queue { return s.queue }

// background runs f in a goroutine Close waits for.
func (s *Server) background(f func()) {
	s.bg.Add(1)
	go func() { defer s.bg.Done(); f() }()
}

// Listen binds the address so the URL is known before serving (":0" in tests).
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Addr, err)
	}
	s.listener = ln
	if s.cfg.PublicURL == "" {
		s.cfg.PublicURL = "http://" + ln.Addr().String()
	}
	s.cfg.PublicURL = strings.TrimRight(s.cfg.PublicURL, "/")
	s.Auth.PublicURL = s.cfg.PublicURL
	return nil
}

// URL is the server's public base URL (after Listen).
func (s *Server) URL() string { return s.cfg.PublicURL }

// Handler is the HTTP surface, for tests that serve it themselves.
func (s *Server) Handler() http.Handler { return s.handler }

// Start serves HTTP on the bound listener and starts the job workers. It
// returns at once; Close stops everything.
func (s *Server) Start(ctx context.Context) error {
	if s.listener == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	if s.cfg.Pay != nil {
		if err := s.ConfigurePay(ctx, *s.cfg.Pay); err != nil {
			return fmt.Errorf("WeChat Pay settings: %w", err)
		}
	}
	if err := s.queue.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	lim := s.cfg.HTTP.withDefaults()
	s.conns = newConnLimit(s.listener, lim.MaxConnections, s.cfg.Now, s.logger)
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ConnState:         s.conns.track,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	if err := s.serveMetrics(lim); err != nil {
		return err
	}
	go func() {
		if err := s.http.Serve(s.conns); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "err", err)
		}
	}()
	// Without a valid ticket nothing works: ask WeChat to push one now rather
	// than wait up to 10 minutes.
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	s.stopBG = stopBG
	s.background(func() { s.ensureTickets(bgCtx) })
	s.background(func() { s.watchVaultKey(bgCtx) })
	return nil
}

// vaultKeyPoll is how often an instance looks which master key the database
// names (a rotation switches it; see store.KeyRotation). rotate-key's
// --settle waits longer than this before its final sweep.
const vaultKeyPoll = 5 * time.Second

// watchVaultKey seals with the key the database names once a rotation
// switched it. An instance lacking that key says so every poll: it can
// no longer open what the others seal.
func (s *Server) watchVaultKey(ctx context.Context) {
	t := time.NewTicker(vaultKeyPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.Store.RefreshVaultKey(ctx); err != nil && ctx.Err() == nil {
			s.logger.Error("master key", "err", err)
		}
	}
}

func (s *Server) ensureTickets(ctx context.Context) {
	for _, p := range s.cfg.Platforms {
		if ctx.Err() != nil {
			return // shutting down
		}
		t, err := s.Store.Ticket(ctx, p.AppID)
		if err == nil && t.ValidAt(s.cfg.Now()) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := s.WeChat.StartPushTicket(cctx, p.AppID, p.Secret.Reveal()); err != nil {
			s.logger.Warn("no valid component_verify_ticket and api_start_push_ticket failed; waiting for WeChat's next push", "component_appid", p.AppID, "err", err)
		} else {
			s.logger.Info("no valid component_verify_ticket: asked WeChat to push one", "component_appid", p.AppID)
		}
		cancel()
	}
}

func instanceID() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// quietRiver keeps River's own info chatter out of the operator's log.
func quietRiver(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{l.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}
func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(a), f.min}
}
func (f levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(n), f.min}
}
