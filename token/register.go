package token

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/queue"
)

// FeatureStore is what the token upkeep reads and writes besides the keeper's
// store: the sweep's work list and the pushed tickets.
type FeatureStore interface {
	SweepStore
	MarkStore
	SaveTicket(ctx context.Context, t *wxfleet.Ticket) error
}

// Feature is the token upkeep as the server wires it: the refresh workers,
// the periodic sweep and the component_verify_ticket push.
type Feature struct {
	Keeper *Keeper
	Store  FeatureStore
	Queue  func() queue.Queue
	Now    func() time.Time
	Logger *slog.Logger
	// Rate is api_authorizer_token calls per second per platform, for the
	// whole cluster; 0 means DefaultRate.
	Rate float64
}

// RegisterWorkers adds the refresh and sweep workers.
func (f *Feature) RegisterWorkers(w *queue.Workers) {
	queue.AddWorker(w, &RefreshAuthorizerWorker{Keeper: f.Keeper, Store: f.Store})
	queue.AddWorker(w, &RefreshComponentWorker{Keeper: f.Keeper})
	queue.AddWorker(w, &SweepWorker{Store: f.Store, Queue: f.Queue, Now: f.Now, Rate: f.Rate})
}

// PeriodicJobs is the sweep, every SweepInterval and once at start.
func (f *Feature) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(SweepInterval),
		func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})}
}

// RegisterPushes stores each pushed component_verify_ticket.
func (f *Feature) RegisterPushes(m *push.Mux) {
	m.HandleComponent("component_verify_ticket", f.ticket)
}

func (f *Feature) ticket(ctx context.Context, p push.Push) error {
	ev := p.Event
	t := &wxfleet.Ticket{
		ComponentAppID: ev.ComponentAppID,
		Value:          wxfleet.Secret(p.Message.Get("ComponentVerifyTicket")),
		CreateTime:     p.Message.Time("CreateTime"),
		ReceivedAt:     ev.ReceivedAt,
	}
	if t.Value == "" {
		f.Logger.Warn("component_verify_ticket push without a ticket", "component_appid", ev.ComponentAppID)
		return nil
	}
	if t.CreateTime.IsZero() {
		t.CreateTime = ev.ReceivedAt
	}
	return f.Store.SaveTicket(ctx, t)
}
