package token

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store"
)

// RefreshAuthorizerArgs refreshes one authorizer's token.
type RefreshAuthorizerArgs struct {
	ComponentAppID string `json:"component_appid" river:"unique"`
	AppID          string `json:"appid" river:"unique"`
	// Slot is the call's time in the platform's schedule (see the package
	// documentation); zero means at once. It is not part of the job's
	// uniqueness: one pending refresh per authorizer, whenever it is due.
	Slot time.Time `json:"slot,omitzero"`
}

// Kind implements river.JobArgs.
func (RefreshAuthorizerArgs) Kind() string { return "refresh_authorizer_token" }

// InsertOpts makes the job unique while one for the same authorizer is pending,
// and tags it with the appid so revoking the authorization can cancel it.
func (a RefreshAuthorizerArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		MaxAttempts: 8,
		Queue:       QueueName,
		Tags:        []string{AppTag(a.AppID)},
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: unfinished},
	}
}

// unfinished are the states in which a refresh job makes another redundant.
// River's default also counts completed jobs (until they are cleaned out a day
// later), which would allow one refresh per token per day: tokens live two
// hours.
var unfinished = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// AppTag is the River tag every job about one authorizer carries.
func AppTag(appID string) string { return "app_" + appID }

// RefreshComponentArgs refreshes a platform's component token.
type RefreshComponentArgs struct {
	ComponentAppID string `json:"component_appid"`
}

// Kind implements river.JobArgs.
func (RefreshComponentArgs) Kind() string { return "refresh_component_token" }

// InsertOpts keeps one pending refresh per platform.
func (RefreshComponentArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 20, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: unfinished}}
}

// SweepArgs is the periodic job that finds tokens nearing expiry.
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "token_sweep" }

// InsertOpts keeps one sweep per interval.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: SweepInterval}}
}

// RefreshComponentWorker works RefreshComponentArgs.
type RefreshComponentWorker struct {
	river.WorkerDefaults[RefreshComponentArgs]
	Keeper *Keeper
}

// Work refreshes the component token unless it has more than Margin to live.
func (w *RefreshComponentWorker) Work(ctx context.Context, job *river.Job[RefreshComponentArgs]) error {
	_, err := w.Keeper.RefreshComponent(ctx, job.Args.ComponentAppID, "", Margin)
	return jobResult(err)
}

func jobResult(err error) error {
	switch wxfleet.ErrorCode(err) {
	case "":
		return nil
	case wxfleet.ECONFLICT, wxfleet.ENOTFOUND:
		return river.JobCancel(err)
	default:
		return err
	}
}

// MarkStore releases an authorizer to the next sweep.
type MarkStore interface {
	MarkRefreshQueued(ctx context.Context, marks []store.RefreshMark) error
}

// RefreshAuthorizerWorker works RefreshAuthorizerArgs.
type RefreshAuthorizerWorker struct {
	river.WorkerDefaults[RefreshAuthorizerArgs]
	Keeper *Keeper
	// Store, if set, releases the authorizer to the next sweep when the job
	// gives its call back (paused, or too late for its slot).
	Store MarkStore
	// Sleep waits for the job's slot; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Work waits for the job's slot and refreshes unless the token was
// refreshed meanwhile. It makes no call when the slot passed more than
// lateSlot ago (the schedule bounds the rate only if calls keep to their
// slots) or while the API is paused: it gives the authorizer back to the
// sweep, which gives it a new slot. An authorizer that is no longer usable
// (revoked, needs re-authorization) cancels the job: no retry can help.
// Other failures are recorded by the keeper's Guard, and the sweep retries
// them after their backoff; without a Guard, River retries them.
func (w *RefreshAuthorizerWorker) Work(ctx context.Context, job *river.Job[RefreshAuthorizerArgs]) error {
	a := job.Args
	if !a.Slot.IsZero() {
		switch d := a.Slot.Sub(w.Keeper.Now()); {
		case d > 0:
			if err := w.sleep(ctx, d); err != nil {
				return err
			}
		case -d > lateSlot:
			return w.giveBack(ctx, a)
		}
	}
	_, err := w.Keeper.RefreshAuthorizer(ctx, a.ComponentAppID, a.AppID, "", Margin)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrPaused):
		return w.giveBack(ctx, a)
	case wxfleet.ErrorCode(err) == wxfleet.ECONFLICT || wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND:
		return river.JobCancel(err)
	case w.Keeper.Guard != nil && ctx.Err() == nil:
		return nil
	}
	return err
}

func (w *RefreshAuthorizerWorker) giveBack(ctx context.Context, a RefreshAuthorizerArgs) error {
	if w.Store == nil {
		return nil
	}
	return w.Store.MarkRefreshQueued(ctx, []store.RefreshMark{{ComponentAppID: a.ComponentAppID, AppID: a.AppID}})
}

func (w *RefreshAuthorizerWorker) sleep(ctx context.Context, d time.Duration) error {
	if w.Sleep != nil {
		return w.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// SweepWorker enqueues the refreshes due, paced at Rate.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	Store SweepStore
	Queue func() queue.Queue // set once the River client exists
	Now   func() time.Time
	// Rate is api_authorizer_token calls per second per platform, for the
	// whole cluster; 0 means DefaultRate.
	Rate float64
}

// Work runs one sweep.
func (w *SweepWorker) Work(ctx context.Context, job *river.Job[SweepArgs]) error {
	_, err := Sweep(ctx, w.Store, w.Queue(), w.Now(), w.Rate)
	return err
}
