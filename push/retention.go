package push

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store"
)

// DefaultRetention is how long user messages and events are kept unless the
// operator says otherwise (WXFLEET_EVENT_RETENTION).
const DefaultRetention = 30 * 24 * time.Hour

// retentionInterval is how often the prune runs.
const retentionInterval = time.Hour

// keptTypes are pushes on the message URL that are not about users: the
// outcome of code audits, kept as the record of what was released.
var keptTypes = []string{"weapp_audit_success", "weapp_audit_fail", "weapp_audit_delay"}

// userMessages are the events Retention prunes: everything that came to the
// message URL (dedup keys "m:" for messages, "e:" for events, see
// messageDedupKey) — users' messages and OpenIDs — except keptTypes; and the
// component_verify_ticket pushes, redacted and worthless after 12 hours.
// Authorization events (component URL, "c:") are kept.
func userMessages(before time.Time) store.EventPrune {
	return store.EventPrune{Before: before, Prefixes: []string{"m:", "e:"}, Types: []string{"component_verify_ticket"}, Keep: keptTypes}
}

// RetentionStore is what pruning needs of the store.
type RetentionStore interface {
	Platforms(ctx context.Context) ([]*wxfleet.Platform, error)
	PruneEvents(ctx context.Context, componentAppID string, p store.EventPrune) (int, error)
}

// Retention is the feature that prunes old user messages: a River job every
// hour (and at start) deletes those received longer than Keep ago.
type Retention struct {
	Store RetentionStore
	// Keep is how long user messages are kept; 0 → DefaultRetention,
	// negative → forever (no job is scheduled).
	Keep   time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// PruneEventsArgs is the periodic prune.
type PruneEventsArgs struct{}

// Kind implements river.JobArgs.
func (PruneEventsArgs) Kind() string { return "prune_events" }

// InsertOpts: a failed prune is tried again by the next hour's anyway.
func (PruneEventsArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 3} }

func (f *Retention) keep() time.Duration {
	if f.Keep == 0 {
		return DefaultRetention
	}
	return f.Keep
}

// RegisterWorkers adds the prune worker.
func (f *Retention) RegisterWorkers(w *queue.Workers) {
	queue.AddWorker(w, &pruneWorker{f: f})
}

// PeriodicJobs schedules the prune every hour and once at start, unless
// events are kept forever.
func (f *Retention) PeriodicJobs() []*river.PeriodicJob {
	if f.keep() < 0 {
		return nil
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(retentionInterval),
		func() (river.JobArgs, *river.InsertOpts) { return PruneEventsArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})}
}

// Prune deletes, platform by platform and in batches, the user messages
// received before now minus Keep, and returns how many it deleted.
func (f *Retention) Prune(ctx context.Context) (int, error) {
	if f.keep() < 0 {
		return 0, nil
	}
	ps, err := f.Store.Platforms(ctx)
	if err != nil {
		return 0, err
	}
	p := userMessages(f.Now().Add(-f.keep()))
	total := 0
	for _, pl := range ps {
		for {
			n, err := f.Store.PruneEvents(ctx, pl.AppID, p)
			total += n
			if err != nil {
				return total, err
			}
			if n < 1000 { // the store's default batch
				break
			}
		}
	}
	if total > 0 {
		f.Logger.Info("pruned old user messages", "events", total, "retention", f.keep().String())
	}
	return total, nil
}

type pruneWorker struct {
	river.WorkerDefaults[PruneEventsArgs]
	f *Retention
}

func (w *pruneWorker) Work(ctx context.Context, job *river.Job[PruneEventsArgs]) error {
	_, err := w.f.Prune(ctx)
	return err
}

// Timeout is the queue's default: a run that does not finish a large
// backlog in time leaves the rest to the next hour's (each batch commits).
func (w *pruneWorker) Timeout(*river.Job[PruneEventsArgs]) time.Duration { return queue.JobTimeout }
