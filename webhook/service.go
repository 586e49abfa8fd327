package webhook

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// Jobs enqueues delivery jobs inside a store transaction (queue.Queue).
type Jobs interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) error
}

// Emitter is what a feature needs to send events out: Emit writes ev to the
// outbox with one delivery job per matching endpoint, inside tx (a store
// transaction, e.g. the one a store.Then hook runs in) so the event commits
// with what it reports; tx nil runs it in a transaction of its own. A
// feature keeps a nil Emitter when webhooks are not wired (tests).
type Emitter interface {
	Emit(ctx context.Context, tx *sql.Tx, ev Event) error
}

// Defaults of the settings.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 12
	DefaultRetryBase   = time.Minute
	DefaultRetryMax    = 8 * time.Hour
)

// Service keeps endpoints, emits events and delivers them.
type Service struct {
	Store *store.Store
	Jobs  func() Jobs // set once the River client exists
	// Timeout bounds one delivery attempt (connect to last byte read);
	// 0 → DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts is how many attempts a delivery gets before it is
	// dead-lettered; 0 → DefaultMaxAttempts (12: about a day with the
	// default backoff).
	MaxAttempts int
	// RetryBase is the delay after the first failed attempt, doubling each
	// time up to RetryMax; 0 → DefaultRetryBase, DefaultRetryMax.
	RetryBase, RetryMax time.Duration
	// RefusePrivate refuses endpoints on loopback, private and link-local
	// addresses, when they are created and at every connection (so a name
	// that resolves there later is refused too). Off by default.
	RefusePrivate bool
	Now           func() time.Time
	Logger        *slog.Logger

	clientOnce sync.Once
	client     *http.Client // built on first use (see httpClient)

	// none remembers, for noneFor, the (platform, event type) pairs found
	// without an enabled endpoint subscribed (component appid NUL type →
	// until when): the message URL is the hot path, and a read for every
	// user message measured 128 µs on SQLite (BenchmarkEmitWithoutEndpoints).
	// Endpoints made or changed here clear it; another instance's are seen
	// within noneFor.
	none sync.Map
}

// noneFor is how long "no endpoint of this platform wants this type" is believed.
const noneFor = time.Second

func (s *Service) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s *Service) maxAttempts() int {
	if s.MaxAttempts > 0 {
		return s.MaxAttempts
	}
	return DefaultMaxAttempts
}

// retryDelay is the wait after attempt n failed (n from 1).
func (s *Service) retryDelay(n int) time.Duration {
	base, most := s.RetryBase, s.RetryMax
	if base <= 0 {
		base = DefaultRetryBase
	}
	if most <= 0 {
		most = DefaultRetryMax
	}
	d := base << min(max(n-1, 0), 30)
	if d <= 0 || d > most {
		d = most
	}
	return d
}

// Emit implements Emitter. An event no enabled endpoint subscribes to is
// not written at all, and costs no read either while that is remembered
// (see none): the message URL's hot path pays nothing on platforms whose
// webhooks do not take message.received.
func (s *Service) Emit(ctx context.Context, tx *sql.Tx, ev Event) error {
	if !knownType(ev.Type) || (ev.ComponentAppID == "" && ev.TenantID == 0) {
		s.Logger.Error("webhook event of an unknown type, or with neither platform nor tenant: not sent", "type", ev.Type)
		return nil
	}
	now, key := s.Now(), ev.ComponentAppID+"\x00"+ev.Type
	if until, ok := s.none.Load(key); ok && now.Before(until.(time.Time)) {
		return nil
	}
	has, err := s.Store.HasWebhookEndpoints(ctx, ev.ComponentAppID, ev.Type)
	if err != nil {
		return err
	}
	if !has {
		s.none.Store(key, now.Add(noneFor))
		return nil
	}
	if tx != nil {
		return s.emit(ctx, s.Store.TxOf(tx), ev)
	}
	return s.Store.InTx(ctx, func(tx *store.Tx) error { return s.emit(ctx, tx, ev) })
}

// changed forgets what none remembers: an endpoint was made, enabled or moved.
func (s *Service) changed() { s.none.Clear() }

func (s *Service) emit(ctx context.Context, tx *store.Tx, ev Event) error {
	now := s.Now()
	if ev.ID == "" {
		ev.ID = newID("evt_", now)
	}
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = now
	}
	if ev.TenantID == 0 {
		t, err := tx.AuthorizerTenant(ctx, ev.ComponentAppID, ev.AppID)
		if err != nil {
			return err
		}
		ev.TenantID = t
	}
	endpoints, err := tx.WebhookEndpointsFor(ctx, ev.ComponentAppID, ev.TenantID)
	if err != nil {
		return err
	}
	var to []*wxfleet.WebhookEndpoint
	for _, e := range endpoints {
		if e.Wants(ev.Type) {
			to = append(to, e)
		}
	}
	if len(to) == 0 {
		return nil
	}
	body, err := ev.body()
	if err != nil {
		return err
	}
	inserted, err := tx.InsertWebhookEvent(ctx, &wxfleet.WebhookEvent{ID: ev.ID, ComponentAppID: ev.ComponentAppID, Type: ev.Type,
		AppID: ev.AppID, TenantID: ev.TenantID, Payload: body, CreatedAt: ev.CreatedAt})
	if err != nil || !inserted {
		return err // !inserted: emitted before, with its deliveries
	}
	ds := make([]*wxfleet.WebhookDelivery, len(to))
	jobs := make([]river.InsertManyParams, len(to))
	for i, e := range to {
		ds[i] = &wxfleet.WebhookDelivery{ID: newID("dlv_", now), EndpointID: e.ID, ComponentAppID: e.ComponentAppID,
			TenantID: e.TenantID, EventID: ev.ID, EventType: ev.Type, CreatedAt: now}
		args := DeliverArgs{DeliveryID: ds[i].ID}
		jobs[i] = river.InsertManyParams{Args: args, InsertOpts: s.insertOpts()}
	}
	if err := tx.InsertWebhookDeliveries(ctx, ds); err != nil {
		return err
	}
	return s.Jobs().InsertManyTx(ctx, tx.SQL(), jobs)
}
