package token

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store"
)

// The schedule (see the package documentation for why it works this way).
const (
	// DefaultRate is api_authorizer_token calls per second per platform when
	// none is configured: 100,000 authorizers with two-hour tokens need 14 a
	// second; 50 refreshes a backlog of 60,000 within the 20 minutes of Margin.
	DefaultRate = 50.0
	// SweepInterval is how often the leader looks for tokens to refresh.
	SweepInterval = 10 * time.Second
	// horizon is how far ahead one sweep fills the schedule: two sweeps, so a
	// late sweep leaves no gap, and short, so what is due is re-read often
	// and a pause finds little already scheduled.
	horizon = 2 * SweepInterval
	// lead makes a job available this long before its slot, so that River's
	// scheduler (every 5 s) and fetch poll (1 s) never make it late; the
	// worker then waits for the slot itself.
	lead = 8 * time.Second
	// lateSlot: a job that starts this long after its slot gives the call
	// back instead of making it, so a pool that fell behind (a busy machine)
	// cannot catch up in a burst: over any window W calls stay within
	// rate·(W+lateSlot).
	lateSlot = time.Second
	// queuedGrace is how long after its slot a queued job keeps the sweep
	// off its authorizer: time to wait, run and retry the lease. A job lost
	// in between (a crash) only delays its authorizer by this much.
	queuedGrace = 2 * time.Minute
	// duePage is the store's page size when collecting due authorizers.
	duePage = 1000
)

// QueueName is the River queue of the authorizer refreshes, apart from
// other jobs, so that a burst of authorizations does not delay them.
const QueueName = "token_refresh"

// Workers is how many workers an instance gives QueueName at rate: a job is
// fetched up to lead before its slot and waits for it, so a second of
// slots per instance keeps the pool from lagging even on a slow machine.
func Workers(rate float64) int {
	if rate <= 0 {
		rate = DefaultRate
	}
	return min(max(20, int(rate)), 500)
}

// SweepStore is what the sweep reads and writes.
type SweepStore interface {
	Platforms(ctx context.Context) ([]*wxfleet.Platform, error)
	ComponentToken(ctx context.Context, componentAppID string) (*wxfleet.Token, error)
	RefreshDue(ctx context.Context, q store.RefreshDueQuery) ([]wxfleet.AuthorizerRef, error)
	MarkRefreshQueued(ctx context.Context, marks []store.RefreshMark) error
	PacerNext(ctx context.Context, name string) (time.Time, error)
	ReserveSlots(ctx context.Context, name string, span time.Duration, now time.Time) (time.Time, error)
	APIPause(ctx context.Context, componentAppID, api string) (store.APIPause, bool, error)
}

// PacerName is the pacer of a platform's api_authorizer_token calls.
func PacerName(componentAppID string) string { return APIAuthorizerToken + ":" + componentAppID }

// Sweep enqueues the component tokens due and, per platform not paused, the
// authorizer refreshes that fit in the schedule up to now+horizon at rate
// calls a second: healthy authorizers first, soonest expiry first, then
// failing ones whose backoff has passed. It returns how many jobs it
// enqueued.
func Sweep(ctx context.Context, st SweepStore, q queue.Queue, now time.Time, rate float64) (int, error) {
	return sweep(ctx, st, q, now, rate, lead)
}

// sweep is Sweep with the jobs' lead as a parameter, for tests.
func sweep(ctx context.Context, st SweepStore, q queue.Queue, now time.Time, rate float64, lead time.Duration) (int, error) {
	if rate <= 0 {
		rate = DefaultRate
	}
	platforms, err := st.Platforms(ctx)
	if err != nil {
		return 0, err
	}
	var params []river.InsertManyParams
	for _, p := range platforms {
		t, err := st.ComponentToken(ctx, p.AppID)
		if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
			return 0, err
		}
		if t == nil || !now.Add(Margin).Before(t.ExpiresAt) {
			params = append(params, river.InsertManyParams{Args: RefreshComponentArgs{ComponentAppID: p.AppID}})
		}
	}
	if err := q.InsertMany(ctx, params); err != nil {
		return 0, err
	}
	n := len(params)
	for _, p := range platforms {
		m, err := sweepPlatform(ctx, st, q, p.AppID, now, rate, lead)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func sweepPlatform(ctx context.Context, st SweepStore, q queue.Queue, componentAppID string, now time.Time, rate float64, lead time.Duration) (int, error) {
	if p, ok, err := st.APIPause(ctx, componentAppID, APIAuthorizerToken); err != nil || ok && p.Until.After(now) {
		return 0, err
	}
	pacer := PacerName(componentAppID)
	next, err := st.PacerNext(ctx, pacer)
	if err != nil {
		return 0, err
	}
	budget := int(now.Add(horizon).Sub(later(next, now)).Seconds() * rate)
	if budget <= 0 {
		return 0, nil
	}
	due, err := collectDue(ctx, st, componentAppID, now, false, budget)
	if err != nil {
		return 0, err
	}
	if len(due) < budget {
		failing, err := collectDue(ctx, st, componentAppID, now, true, budget-len(due))
		if err != nil {
			return 0, err
		}
		due = append(due, failing...)
	}
	if len(due) == 0 {
		return 0, nil
	}
	interval := time.Duration(float64(time.Second) / rate)
	first, err := st.ReserveSlots(ctx, pacer, time.Duration(len(due))*interval, now)
	if err != nil {
		return 0, err
	}
	params := make([]river.InsertManyParams, len(due))
	marks := make([]store.RefreshMark, len(due))
	for i, a := range due {
		slot := first.Add(time.Duration(i) * interval)
		var opts *river.InsertOpts
		if at := slot.Add(-lead); at.After(now) {
			opts = &river.InsertOpts{ScheduledAt: at}
		}
		params[i] = river.InsertManyParams{Args: RefreshAuthorizerArgs{ComponentAppID: componentAppID, AppID: a.AppID, Slot: slot}, InsertOpts: opts}
		marks[i] = store.RefreshMark{ComponentAppID: componentAppID, AppID: a.AppID, Until: slot.Add(queuedGrace)}
	}
	for len(params) > 0 {
		k := min(len(params), duePage)
		if err := q.InsertMany(ctx, params[:k]); err != nil {
			return 0, err
		}
		params = params[k:]
	}
	return len(due), st.MarkRefreshQueued(ctx, marks)
}

// collectDue pages through a platform's due authorizers, up to limit.
func collectDue(ctx context.Context, st SweepStore, componentAppID string, now time.Time, failing bool, limit int) ([]wxfleet.AuthorizerRef, error) {
	var out []wxfleet.AuthorizerRef
	var after *wxfleet.AuthorizerRef
	for len(out) < limit {
		want := min(duePage, limit-len(out))
		page, err := st.RefreshDue(ctx, store.RefreshDueQuery{ComponentAppID: componentAppID, Before: now.Add(Margin), Now: now,
			Failing: failing, After: after, Limit: want})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < want {
			break
		}
		after = &out[len(out)-1]
	}
	return out, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
