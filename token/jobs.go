package token

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/queue"
)

// RefreshAuthorizerArgs refreshes one authorizer's token.
type RefreshAuthorizerArgs struct {
	ComponentAppID string `json:"component_appid"`
	AppID          string `json:"appid"`
}

// Kind implements river.JobArgs.
func (RefreshAuthorizerArgs) Kind() string { return "refresh_authorizer_token" }

// InsertOpts makes the job unique while one for the same authorizer is pending,
// and tags it with the appid so revoking the authorization can cancel it.
func (a RefreshAuthorizerArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		MaxAttempts: 8,
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

// InsertOpts keeps one sweep at a time.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Minute}}
}

// SweepInterval is how often the leader looks for tokens to refresh.
const SweepInterval = time.Minute

// sweepBatch bounds one sweep; at 100k authorizers with 2 h tokens about 830
// fall due per minute, so one batch of 5000 keeps well ahead.
const sweepBatch = 5000

// SweepStore is what the sweep reads.
type SweepStore interface {
	Platforms(ctx context.Context) ([]*wxfleet.Platform, error)
	ComponentToken(ctx context.Context, componentAppID string) (*wxfleet.Token, error)
	AuthorizersDue(ctx context.Context, before time.Time, limit int) ([]wxfleet.AuthorizerRef, error)
}

// RefreshAuthorizerWorker works RefreshAuthorizerArgs.
type RefreshAuthorizerWorker struct {
	river.WorkerDefaults[RefreshAuthorizerArgs]
	Keeper *Keeper
}

// Work refreshes unless the token was refreshed meanwhile. An authorizer that
// is no longer usable (revoked, needs re-authorization) cancels the job: no
// retry can help.
func (w *RefreshAuthorizerWorker) Work(ctx context.Context, job *river.Job[RefreshAuthorizerArgs]) error {
	_, err := w.Keeper.RefreshAuthorizer(ctx, job.Args.ComponentAppID, job.Args.AppID, "", Margin)
	return jobResult(err)
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

// SweepWorker enqueues refreshes for every token expiring within Margin.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	Store SweepStore
	Queue func() queue.Queue // set once the River client exists
	Now   func() time.Time
}

// Work runs one sweep.
func (w *SweepWorker) Work(ctx context.Context, job *river.Job[SweepArgs]) error {
	_, err := Sweep(ctx, w.Store, w.Queue(), w.Now())
	return err
}

// Sweep enqueues the refreshes due at now and returns how many it enqueued.
func Sweep(ctx context.Context, st SweepStore, q queue.Queue, now time.Time) (int, error) {
	var params []river.InsertManyParams
	platforms, err := st.Platforms(ctx)
	if err != nil {
		return 0, err
	}
	for _, p := range platforms {
		t, err := st.ComponentToken(ctx, p.AppID)
		if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
			return 0, err
		}
		if t == nil || !now.Add(Margin).Before(t.ExpiresAt) {
			params = append(params, river.InsertManyParams{Args: RefreshComponentArgs{ComponentAppID: p.AppID}})
		}
	}
	due, err := st.AuthorizersDue(ctx, now.Add(Margin), sweepBatch)
	if err != nil {
		return 0, err
	}
	for _, a := range due {
		params = append(params, river.InsertManyParams{Args: RefreshAuthorizerArgs{ComponentAppID: a.ComponentAppID, AppID: a.AppID}})
	}
	return len(params), q.InsertMany(ctx, params)
}
