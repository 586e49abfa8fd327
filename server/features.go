package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/wxfleet/wxfleet/cards"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet/authorization"
	"github.com/wxfleet/wxfleet/messaging"
	"github.com/wxfleet/wxfleet/pay"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/releasecheck"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/tenant"
	"github.com/wxfleet/wxfleet/token"
	"github.com/wxfleet/wxfleet/web"
	"github.com/wxfleet/wxfleet/webhook"
)

// A feature extends the server through any of these interfaces. They name
// only push, River and net/http types, so a feature package never imports
// server: adding a feature is its constructor in features, nothing more.
type (
	// pushFeature handles kinds of WeChat pushes.
	pushFeature interface{ RegisterPushes(m *push.Mux) }
	// workerFeature works kinds of River jobs.
	workerFeature interface{ RegisterWorkers(w *queue.Workers) }
	// periodicFeature schedules River jobs at intervals.
	periodicFeature interface{ PeriodicJobs() []*river.PeriodicJob }
	// routeFeature serves HTTP routes.
	routeFeature interface{ RegisterRoutes(mux *http.ServeMux) }
)

// features are the platform's parts, each built on the shared core; the
// receiver hands the pushes it stored to the features through pushes.
func (s *Server) features(router push.Router, pushes *push.Mux) []any {
	cfg := s.cfg
	return []any{
		&token.Feature{Keeper: s.Keeper, Store: s.Store, Queue: s.jobs, Now: cfg.Now, Logger: cfg.Logger, Rate: cfg.RefreshRate},
		&authorization.Feature{Service: s.Auth, Sealer: s.vault},
		&rollout.Feature{Service: s.Rollouts},
		&tenant.Feature{Service: s.Tenants, Interval: cfg.TenantCheckInterval},
		&messaging.Feature{Service: s.Messaging},
		&cards.Feature{Service: s.Cards},
		&pay.Feature{Service: s.Pay, After: cfg.PayReconcileAfter, CloseAfter: cfg.PayCloseAfter, Interval: cfg.PayReconcileInterval},
		&releasecheck.Responder{WeChat: s.WeChat, Tokens: s.Keeper, Now: cfg.Now, Logger: cfg.Logger, Background: s.background},
		&webhook.Feature{Service: s.Webhooks},
		&push.Retention{Store: s.Store, Keep: cfg.EventRetention, Now: cfg.Now, Logger: cfg.Logger},
		&push.Receiver{
			Router: router, Recorder: s.ingest, Handler: pushes, Now: cfg.Now, Logger: cfg.Logger,
			Count: func(endpoint, typ, result string) { s.Metrics.Pushes.WithLabelValues(endpoint, typ, result).Inc() },
		},
		&web.Server{
			Store: s.Store, Auth: s.Auth, Keeper: s.Keeper, WeChat: s.WeChat, Metrics: s.Metrics, Events: s.ingest, Rollouts: s.Rollouts, Tenants: s.Tenants,
			Runtime: s.Runtime, Messaging: s.Messaging, Cards: s.Cards, Webhooks: s.Webhooks, Pay: s.Pay,
			AdminToken: cfg.AdminToken, DefaultPlatform: cfg.Platforms[0].AppID, WeChatURL: cfg.WeChatURL,
			APIBodyCap: cfg.APIBodyCap, MetricsToken: cfg.MetricsToken, MetricsElsewhere: cfg.MetricsAddr != "",
			TrustedProxies: cfg.TrustedProxies, SecureCookies: cfg.https(), Ready: s.ready, Draining: s.draining.Load,
			Now: cfg.Now, Logger: cfg.Logger,
		},
	}
}

// wire lets every feature register its pushes, jobs and routes, then makes
// the job queue and the HTTP handler from what they registered.
func (s *Server) wire(pushes *push.Mux, features []any) error {
	workers := queue.NewWorkers(s.cfg.JobTimeoutScale)
	var periodic []*river.PeriodicJob
	mux := http.NewServeMux()
	for _, f := range features {
		used := false
		if f, ok := f.(pushFeature); ok {
			f.RegisterPushes(pushes)
			used = true
		}
		if f, ok := f.(workerFeature); ok {
			f.RegisterWorkers(workers)
			used = true
		}
		if f, ok := f.(periodicFeature); ok {
			periodic = append(periodic, f.PeriodicJobs()...)
			used = true
		}
		if f, ok := f.(routeFeature); ok {
			f.RegisterRoutes(mux)
			used = true
		}
		if !used {
			// A method whose signature drifted from these interfaces would
			// otherwise leave the feature silently switched off.
			return fmt.Errorf("server: feature %T registers nothing: its methods match none of the feature interfaces", f)
		}
	}
	q, err := queue.New(s.Store, riverConfig(s.cfg, workers, periodic))
	if err != nil {
		return err
	}
	s.queue = q
	// An /api/ route some feature put on the mux without declaring its
	// access (web.Access) is refused, not served.
	s.mux = mux
	var routes http.Handler = mux
	for _, f := range features {
		if w, ok := f.(*web.Server); ok {
			routes = w.GuardAPI(mux)
		}
	}
	s.handler = web.RequestID(s.logger, web.Recover(s.logger, web.SecurityHeaders(s.cfg.https(), s.cfg.WeChatURL, routes)))
	return nil
}

// riverConfig is the job queue's configuration: the default queue and the
// rollouts' own (a fleet rollout never starves token upkeep), the registered
// workers and periodic jobs, River's chatter kept out of the log.
func riverConfig(cfg Config, workers *queue.Workers, periodic []*river.PeriodicJob) *river.Config {
	rolloutWorkers := cfg.RolloutWorkers
	if rolloutWorkers <= 0 {
		rolloutWorkers = rollout.DefaultWorkers(cfg.RolloutRate)
	}
	rc := &river.Config{
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: 20},
			token.QueueName:    {MaxWorkers: token.Workers(cfg.RefreshRate)},
			rollout.Queue:      {MaxWorkers: rolloutWorkers},
			webhook.Queue:      {MaxWorkers: 20},
		},
		Logger:            quietRiver(cfg.Logger),
		FetchPollInterval: cfg.JobPollInterval,
		PeriodicJobs:      periodic,
	}
	if cfg.JobPollInterval > 0 && cfg.JobPollInterval < river.FetchCooldownDefault {
		rc.FetchCooldown = cfg.JobPollInterval
	}
	// The workers, with the job timeouts and stuck-job rescue delay they imply.
	queue.Configure(rc, workers)
	return rc
}

// https reports whether browsers reach the server over HTTPS (directly or
// through a TLS-terminating proxy): HSTS and Secure cookies follow.
func (cfg Config) https() bool { return strings.HasPrefix(cfg.PublicURL, "https://") }
