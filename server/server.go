// Package server assembles a wxfleet platform server from its parts — store,
// WeChat client, token keeper, authorization flow, push receiver, River jobs
// and the HTTP surface — the way main and the end-to-end tests boot it.
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
	"os"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/authorization"
	"github.com/wxfleet/wxfleet/ingest"
	"github.com/wxfleet/wxfleet/metrics"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/token"
	"github.com/wxfleet/wxfleet/vault"
	"github.com/wxfleet/wxfleet/web"
	"github.com/wxfleet/wxfleet/wechat"
	"github.com/wxfleet/wxfleet/wxcrypt"
)

// Config is everything a server needs, built once by main.
type Config struct {
	Addr       string         // listen address, e.g. 127.0.0.1:8080 or :0
	PublicURL  string         // how browsers and WeChat reach this server; "" → http://<listen address>
	Database   string         // postgres://... or a SQLite file path
	WeChatURL  string         // "" → WeChat's real hosts; else every WeChat host's calls and pages go here
	AdminToken wxfleet.Secret // bearer token of the API and the console
	MasterKey  []byte         // 32 bytes: seals secrets at rest
	Platforms  []wxfleet.Platform
	AuthType   int // default auth_type of authorization links
	// RefreshRate is api_authorizer_token calls a second per platform, for
	// the whole cluster; 0 → token.DefaultRate.
	RefreshRate float64
	// JobPollInterval is how often River looks for new jobs; 0 → River's default (1 s).
	JobPollInterval time.Duration
	Logger          *slog.Logger
	Now             func() time.Time
}

// Server is a running platform.
type Server struct {
	cfg       Config
	logger    *slog.Logger
	Store     *store.Store
	Metrics   *metrics.Metrics
	Keeper    *token.Keeper
	Auth      *authorization.Service
	WeChat    *wechat.Client
	committer *push.Committer
	journal   *ingest.Journal // SQLite only
	queue     queue.Queue
	web       *web.Server
	http      *http.Server
	listener  net.Listener
	bg        sync.WaitGroup
}

// New opens the database, applies migrations, registers the platforms and
// prepares everything; Start begins serving.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Platforms) == 0 {
		return nil, errors.New("no platform configured: set WXFLEET_COMPONENT_APPID (and _SECRET, _TOKEN, _AES_KEY) or --platforms FILE")
	}
	if cfg.AdminToken == "" {
		return nil, errors.New("no admin token: set WXFLEET_ADMIN_TOKEN or WXFLEET_ADMIN_TOKEN_FILE")
	}
	crypters := map[string]*wxcrypt.Crypter{}
	var order []string
	for _, p := range cfg.Platforms {
		if p.AppID == "" || p.Secret == "" {
			return nil, fmt.Errorf("platform %q: component appid and secret are required", p.AppID)
		}
		c, err := wxcrypt.New(p.Token.Reveal(), p.AESKey.Reveal(), p.AppID)
		if err != nil {
			return nil, fmt.Errorf("platform %s: %w", p.AppID, err)
		}
		if _, dup := crypters[p.AppID]; dup {
			return nil, fmt.Errorf("platform %s is configured twice", p.AppID)
		}
		crypters[p.AppID] = c
		order = append(order, p.AppID)
	}
	v, err := vault.New(cfg.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	st, err := store.Open(ctx, cfg.Database, v, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, Store: st, Metrics: metrics.New()}
	ok := false
	defer func() {
		if !ok {
			if s.journal != nil {
				s.journal.Close(ctx)
			}
			st.Close()
		}
	}()
	if err := st.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrating the database: %w", err)
	}
	for i := range cfg.Platforms {
		if err := st.UpsertPlatform(ctx, &cfg.Platforms[i]); err != nil {
			return nil, err
		}
	}

	for _, p := range cfg.Platforms {
		appID := p.AppID
		s.Metrics.WatchTicketAge(appID, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			t, err := st.Ticket(ctx, appID)
			if err != nil {
				return -1
			}
			return cfg.Now().Sub(t.CreateTime).Seconds()
		})
	}

	hosts := wechat.DefaultHosts()
	if cfg.WeChatURL != "" {
		hosts = wechat.SingleHost(cfg.WeChatURL)
	}
	s.WeChat = wechat.New(wechat.Options{Hosts: hosts, Logger: cfg.Logger, Observe: s.Metrics.ObserveWeChat})
	s.Keeper = &token.Keeper{
		Store: st, WeChat: s.WeChat, Now: cfg.Now, Owner: instanceID(), Logger: cfg.Logger,
		Observe: func(kind, result string) { s.Metrics.TokenRefreshes.WithLabelValues(kind, result).Inc() },
		Guard:   &token.Breaker{Store: st, Now: cfg.Now, Logger: cfg.Logger},
	}
	s.Metrics.WatchTokenHealth(token.HealthSource(st, cfg.Now))
	q := func() queue.Queue { return s.queue }
	s.Auth = &authorization.Service{
		Store: st, WeChat: s.WeChat, Keeper: s.Keeper, Queue: q, AuthType: cfg.AuthType, Now: cfg.Now, Logger: cfg.Logger,
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &token.RefreshAuthorizerWorker{Keeper: s.Keeper, Store: st})
	river.AddWorker(workers, &token.RefreshComponentWorker{Keeper: s.Keeper})
	river.AddWorker(workers, &token.SweepWorker{Store: st, Queue: q, Now: cfg.Now, Rate: cfg.RefreshRate})
	river.AddWorker(workers, &authorization.CompleteWorker{Service: s.Auth, Sealer: v})
	riverCfg := &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 20}, token.QueueName: {MaxWorkers: token.Workers(cfg.RefreshRate)}},
		Workers:           workers,
		Logger:            quietRiver(cfg.Logger),
		FetchPollInterval: cfg.JobPollInterval,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(token.SweepInterval),
			func() (river.JobArgs, *river.InsertOpts) { return token.SweepArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true})},
	}
	if cfg.JobPollInterval > 0 && cfg.JobPollInterval < river.FetchCooldownDefault {
		riverCfg.FetchCooldown = cfg.JobPollInterval
	}
	if s.queue, err = queue.New(st, riverCfg); err != nil {
		return nil, err
	}

	// On SQLite the pushes go through the ingest journal: an acknowledged push
	// costs one file append, and the database gets them in large transactions
	// (see package ingest). PostgreSQL is shared by several instances, so each
	// commit goes to the database itself: a journal on one machine's disk
	// would tie acknowledged pushes to that machine.
	var recorder push.Recorder
	observe := func(n int) { s.Metrics.IngestBatch.Observe(float64(n)) }
	if st.Dialect() == store.DialectSQLite {
		j, err := ingest.Open(ctx, st, ingest.Options{
			Path: st.Path() + "-ingest",
			Sync: st.SyncFull(),
			Recent: func(ctx context.Context, since time.Time) ([]string, error) {
				return st.RecentEventKeys(ctx, since, 200_000)
			},
			Observe: observe,
			Now:     cfg.Now,
			Logger:  cfg.Logger,
		})
		if err != nil {
			return nil, err
		}
		s.journal = j
		recorder = j
		s.Metrics.WatchIngestBacklog(func() float64 { return float64(j.Backlog()) })
	} else {
		s.committer = push.NewCommitter(st, 256, observe)
		recorder = s.committer
	}
	handler := &pushHandler{
		store: st, auth: s.Auth, sealer: v, queue: q, keeper: s.Keeper, wechat: s.WeChat, now: cfg.Now, logger: cfg.Logger,
		background: func(f func()) {
			s.bg.Add(1)
			go func() { defer s.bg.Done(); f() }()
		},
	}
	receiver := &push.Receiver{
		Router:   newRouter(crypters, order, st.AuthorizerPlatforms),
		Recorder: recorder,
		Handler:  handler,
		Now:      cfg.Now,
		Logger:   cfg.Logger,
		Count:    func(endpoint, typ, result string) { s.Metrics.Pushes.WithLabelValues(endpoint, typ, result).Inc() },
	}
	s.web = &web.Server{
		Store: st, Auth: s.Auth, Keeper: s.Keeper, WeChat: s.WeChat, Receiver: receiver, Metrics: s.Metrics,
		EventsSync: s.syncEvents,
		AdminToken: cfg.AdminToken, DefaultPlatform: order[0], WeChatURL: cfg.WeChatURL, Now: cfg.Now, Logger: cfg.Logger,
	}
	ok = true
	return s, nil
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
func (s *Server) Handler() http.Handler { return s.web.Handler() }

// Start serves HTTP on the bound listener and starts the job workers. It
// returns at once; Close stops everything.
func (s *Server) Start(ctx context.Context) error {
	if s.listener == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	if err := s.queue.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	s.http = &http.Server{Handler: s.web.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn)}
	go func() {
		if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "err", err)
		}
	}()
	// Without a valid ticket nothing works: ask WeChat to push one now rather
	// than wait up to 10 minutes.
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.ensureTickets(context.WithoutCancel(ctx))
	}()
	return nil
}

func (s *Server) ensureTickets(ctx context.Context) {
	for _, p := range s.cfg.Platforms {
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

// Close stops serving, lets in-flight pushes commit, stops the workers and
// closes the database.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if s.http != nil {
		s.http.Shutdown(ctx)
	} else if s.listener != nil {
		s.listener.Close()
	}
	if s.committer != nil {
		s.committer.Close()
	}
	if s.journal != nil {
		if err := s.journal.Close(ctx); err != nil {
			s.logger.Warn("closing the ingest journal", "err", err)
		}
	}
	s.bg.Wait()
	if s.http != nil {
		if err := s.queue.Stop(ctx); err != nil {
			s.logger.Warn("stopping the job queue", "err", err)
		}
	}
	return s.Store.Close()
}

// syncEvents waits until every acknowledged push is in the database, so a
// read of the events sees them all.
func (s *Server) syncEvents(ctx context.Context) error {
	if s.journal == nil {
		return nil
	}
	return s.journal.Sync(ctx)
}

func instanceID() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

func newRouter(crypters map[string]*wxcrypt.Crypter, order []string, lookup func(ctx context.Context, appID string) ([]string, error)) *router {
	r := &router{crypters: crypters, order: order, lookup: lookup, cache: map[string][]*wxcrypt.Crypter{}}
	for _, c := range order {
		r.allList = append(r.allList, crypters[c])
	}
	return r
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
