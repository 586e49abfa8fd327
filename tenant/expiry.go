package tenant

import (
	"context"
	"database/sql"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// window is one reminder before expiry: sent once per term, when the time
// left falls in (lo, hi]. The windows meet, so a daily check sends each as
// the term comes near, and a term made late (5 days left) gets only the
// reminders still ahead of it.
type window struct {
	kind   string
	lo, hi time.Duration
}

const day = 24 * time.Hour

var windows = []window{
	{wxfleet.Remind30Days, 7 * day, 30 * day},
	{wxfleet.Remind7Days, 1 * day, 7 * day},
	{wxfleet.Remind1Day, 0, 1 * day},
}

// duePage is how many terms one store call returns; the check goes on
// until none is left.
const duePage = 500

// CheckResult counts what one expiry check did.
type CheckResult struct {
	Reminded  int `json:"reminded"`
	Expired   int `json:"expired"`
	Suspended int `json:"suspended"`
}

// Check applies the expiry policy at now: a reminder for each term entering
// its 30-, 7- or 1-day window, a notice for each term that ended, and the
// suspension of each tenant whose term ended more than the grace period
// ago. Each is recorded once per term, so checks may run as often as wanted,
// on any instance.
func (s *Service) Check(ctx context.Context) (CheckResult, error) {
	now := s.Now()
	var res CheckResult
	for _, w := range windows {
		n, err := s.each(ctx, now.Add(w.lo), now.Add(w.hi), w.kind, func(t store.Term) (bool, error) {
			return s.Store.RecordReminder(ctx, t.TenantID, t.ExpiresAt, w.kind, now, s.notice(NoticeExpiring, t, now, w.kind))
		})
		res.Reminded += n
		if err != nil {
			return res, err
		}
	}
	n, err := s.each(ctx, time.UnixMilli(1), now, wxfleet.RemindExpired, func(t store.Term) (bool, error) {
		return s.Store.RecordReminder(ctx, t.TenantID, t.ExpiresAt, wxfleet.RemindExpired, now, s.notice(NoticeExpired, t, now, ""))
	})
	res.Expired = n
	if err != nil {
		return res, err
	}
	n, err = s.each(ctx, time.UnixMilli(1), now.Add(-s.grace()), wxfleet.RemindSuspended, func(t store.Term) (bool, error) {
		ok, err := s.Store.SuspendExpired(ctx, t.TenantID, t.ExpiresAt, now, s.notice(NoticeSuspended, t, now, ""))
		if ok {
			s.Logger.Info("tenant suspended: its subscription expired and the grace period is over",
				"tenant_id", t.TenantID, "expired_at", t.ExpiresAt, "grace", s.grace())
		}
		return ok, err
	})
	res.Suspended = n
	return res, err
}

// each runs do on every live term due for kind in (after, before], page by
// page, and counts the ones it did. A term do records drops out of the next
// page; one that another instance recorded first does too.
func (s *Service) each(ctx context.Context, after, before time.Time, kind string, do func(store.Term) (bool, error)) (int, error) {
	done := 0
	for {
		terms, err := s.Store.TermsDue(ctx, after, before, kind, true, duePage)
		if err != nil {
			return done, err
		}
		progress := false
		for _, t := range terms {
			ok, err := do(t)
			if err != nil {
				return done, err
			}
			if ok {
				done++
				progress = true
			}
		}
		if len(terms) < duePage || !progress {
			return done, nil
		}
	}
}

// notice is the notice for t, sent in the transaction that records it.
func (s *Service) notice(kind string, t store.Term, now time.Time, window string) store.Then {
	data := map[string]any{"plan_id": t.PlanID, "expires_at": t.ExpiresAt}
	if window != "" {
		data["window"] = window
		data["days_left"] = int((t.ExpiresAt.Sub(now) + day - 1) / day)
	}
	if kind == NoticeSuspended {
		data["grace_seconds"] = int64(s.grace() / time.Second)
	}
	n := Notice{Kind: kind, TenantID: t.TenantID, Data: data}
	return func(ctx context.Context, tx *sql.Tx) error {
		s.Logger.Debug("tenant notice", "kind", n.Kind, "tenant_id", n.TenantID, "expires_at", t.ExpiresAt, "window", window)
		return s.notify(ctx, tx, n)
	}
}

// CheckArgs is the periodic expiry check.
type CheckArgs struct{}

// Kind implements river.JobArgs.
func (CheckArgs) Kind() string { return "tenant_expiry_check" }

// CheckWorker runs the expiry check.
type CheckWorker struct {
	river.WorkerDefaults[CheckArgs]
	Service *Service
}

// Work implements river.Worker.
func (w *CheckWorker) Work(ctx context.Context, job *river.Job[CheckArgs]) error {
	res, err := w.Service.Check(ctx)
	if res != (CheckResult{}) {
		w.Service.Logger.Info("subscription expiry check", "reminded", res.Reminded, "expired", res.Expired, "suspended", res.Suspended)
	}
	return err
}
