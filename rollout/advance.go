package rollout

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// advance moves a running rollout on when its current cohort is decided:
// it pauses the rollout when the cohort failed more than the limit allows,
// starts the next cohort, or completes the rollout. A cohort is decided once
// every app's audit is (approved, rejected, failed or skipped): its
// approved apps' releases are already queued, and the next cohort's commits
// queue behind them, so the calls to WeChat never stop between cohorts (a
// cohort boundary used to leave the call budget idle while the last
// releases ran and the next cohort's jobs were inserted; issue 9's
// benchmark). A release failing after that counts for the rollout's result,
// not for its cohort's limit. It is idempotent and safe to call from
// several places at once: the store's guarded updates let exactly one caller
// make each move.
func (s *Service) advance(ctx context.Context, componentAppID string, id int64) error {
	r, err := s.Store.Rollout(ctx, componentAppID, id)
	if err != nil || r.Status != wxfleet.RolloutRunning {
		return err
	}
	m, err := s.Store.CohortCounts(ctx, id, r.Cohort)
	if err != nil {
		return err
	}
	if m[wxfleet.AppPending]+m[wxfleet.AppCommitted]+m[wxfleet.AppAuditing] > 0 {
		return nil
	}
	failures, tried := 0, 0
	for st, n := range m {
		if st.Failure() {
			failures += n
		}
		if st != wxfleet.AppSkipped && st != wxfleet.AppCancelled {
			tried += n
		}
	}
	now := s.Now()
	if tried > 0 && float64(failures)/float64(tried) > r.MaxFailureRatio {
		reason := fmt.Sprintf("第 %d 批 %d 个小程序中 %d 个失败，超过上限 %.0f%%；处理后继续或重试失败项 / cohort %d: %d of %d mini programs failed, over the %.0f%% limit; resume or retry the failed ones",
			r.Cohort+1, tried, failures, r.MaxFailureRatio*100, r.Cohort+1, failures, tried, r.MaxFailureRatio*100)
		moved, err := s.Store.SetRolloutStatus(ctx, componentAppID, id, []wxfleet.RolloutStatus{wxfleet.RolloutRunning},
			wxfleet.RolloutPaused, reason, now, nil)
		if err == nil && moved {
			s.Logger.Warn("rollout paused: failure limit", "component_appid", componentAppID, "rollout", id, "cohort", r.Cohort, "failed", failures, "tried", tried)
		}
		return err
	}
	next, err := s.Store.CohortCounts(ctx, id, r.Cohort+1)
	if err != nil {
		return err
	}
	if len(next) > 0 {
		pending := next[wxfleet.AppPending]
		moved, err := s.Store.AdvanceCohort(ctx, componentAppID, id, r.Cohort, now, func(ctx context.Context, tx *sql.Tx) error {
			if pending == 0 {
				return nil
			}
			return s.startCohort(ctx, tx, r, r.Cohort+1)
		})
		if err != nil || !moved {
			return err
		}
		s.Logger.Info("rollout cohort started", "component_appid", componentAppID, "rollout", id, "cohort", r.Cohort+1, "apps", pending)
		if pending == 0 {
			return s.advance(ctx, componentAppID, id) // all skipped: on to the one after
		}
		return nil
	}
	all, err := s.Store.RolloutCounts(ctx, id)
	if err != nil {
		return err
	}
	if all[wxfleet.AppApproved] > 0 {
		return nil // approved apps wait for a manual release
	}
	moved, err := s.Store.SetRolloutStatus(ctx, componentAppID, id, []wxfleet.RolloutStatus{wxfleet.RolloutRunning},
		wxfleet.RolloutCompleted, "", now, nil)
	if err == nil && moved {
		c := countsOf(all)
		s.Logger.Info("rollout completed", "component_appid", componentAppID, "rollout", id,
			"released", c.Released, "rejected", c.Rejected, "failed", c.Failed, "skipped", c.Skipped)
	}
	return err
}

// CohortArgs starts one cohort of a rollout: its job enqueues the commit of
// every pending app of the cohort, cohortChunk jobs a transaction. The job
// itself is inserted in the transaction that moves the rollout to the
// cohort, so the move and the cohort's start commit together; inserting a
// thousand unique jobs in that one transaction held SQLite's single writer
// for seconds, and every other step's write (its paced slot, its state) and
// with them the calls to WeChat waited (issue 9's benchmark). A crash midway
// retries the job: apps already started are no longer pending, and a commit
// still waiting is not doubled (jobs are unique per app and step).
type CohortArgs struct {
	ComponentAppID string `json:"component_appid"`
	RolloutID      int64  `json:"rollout_id"`
	Cohort         int    `json:"cohort"`
}

// Kind implements river.JobArgs.
func (CohortArgs) Kind() string { return "rollout_cohort" }

// InsertOpts keeps one waiting start per cohort, tagged with the rollout.
func (a CohortArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: maxStepAttempts, Priority: 1, Tags: []string{RolloutTag(a.RolloutID)},
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: unfinished}}
}

// cohortChunk is how many commit jobs one transaction of a cohort's start
// inserts.
const cohortChunk = 100

// startCohort inserts, in tx, the job that starts cohort.
func (s *Service) startCohort(ctx context.Context, tx *sql.Tx, r *wxfleet.Rollout, cohort int) error {
	return s.Jobs().InsertTx(ctx, tx, CohortArgs{ComponentAppID: r.ComponentAppID, RolloutID: r.ID, Cohort: cohort}, nil)
}

// CohortWorker works CohortArgs.
type CohortWorker struct {
	river.WorkerDefaults[CohortArgs]
	Service *Service
}

// Timeout bounds one cohort's start, as long as a step's: the longest job
// timeout sets how soon River rescues a job its instance lost (queue), and
// a retry carries on where the last attempt stopped.
func (w *CohortWorker) Timeout(*river.Job[CohortArgs]) time.Duration { return 2 * time.Minute }

// Work enqueues the commits of the cohort's pending apps, a chunk at a time.
func (w *CohortWorker) Work(ctx context.Context, job *river.Job[CohortArgs]) error {
	s, a := w.Service, job.Args
	r, err := s.Store.Rollout(ctx, a.ComponentAppID, a.RolloutID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if r.Status != wxfleet.RolloutRunning || r.Cohort != a.Cohort {
		return nil // paused (the resume enqueues), or already past this cohort
	}
	cursor := ""
	for {
		apps, err := s.Store.RolloutApps(ctx, a.ComponentAppID, a.RolloutID, store.RolloutAppFilter{State: wxfleet.AppPending,
			Cohort: a.Cohort, Limit: cohortChunk, Cursor: cursor})
		if err != nil {
			return err
		}
		if len(apps) > 0 {
			params := make([]river.InsertManyParams, len(apps))
			for i, app := range apps {
				params[i] = river.InsertManyParams{Args: StepArgs{ComponentAppID: a.ComponentAppID, RolloutID: a.RolloutID, AppID: app.AppID, Step: stepCommit}}
			}
			if err := s.Jobs().InsertMany(ctx, params); err != nil {
				return err
			}
		}
		if len(apps) < cohortChunk {
			return nil
		}
		cursor = apps[len(apps)-1].AppID
	}
}

// RequeueArgs gives every unfinished app of a resumed rollout its step
// once more, a while after the resume. A step that read the rollout as
// paused just before the resume committed ends without doing anything;
// while it still ran, the resume's own requeue found it unfinished and did
// not double it, and the app would have waited for ever (seen on two
// PostgreSQL instances: a few approved apps never released, a few audits
// never polled). Once every such step has ended, this pass enqueues the
// app's step; steps already waiting are not doubled. Two passes: soon, and
// after the longest a step may run.
type RequeueArgs struct {
	ComponentAppID string `json:"component_appid"`
	RolloutID      int64  `json:"rollout_id"`
	Pass           int    `json:"pass"`
}

// Kind implements river.JobArgs.
func (RequeueArgs) Kind() string { return "rollout_requeue" }

// InsertOpts keeps one waiting pass of each kind per rollout.
func (a RequeueArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: maxStepAttempts, Priority: 1, Tags: []string{RolloutTag(a.RolloutID)},
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: unfinished}}
}

// requeuePasses are when, after a resume, the passes of RequeueArgs run: a
// step that saw the pause returns at once, and none runs longer than its
// timeout.
var requeuePasses = []time.Duration{10 * time.Second, stepTimeout + 10*time.Second}

// requeueLater inserts, in tx, the later passes of a resume's requeue.
func (s *Service) requeueLater(ctx context.Context, tx *sql.Tx, r *wxfleet.Rollout) error {
	for i, d := range requeuePasses {
		if err := s.Jobs().InsertTx(ctx, tx, RequeueArgs{ComponentAppID: r.ComponentAppID, RolloutID: r.ID, Pass: i + 1},
			&river.InsertOpts{ScheduledAt: s.Now().Add(d)}); err != nil {
			return err
		}
	}
	return nil
}

// RequeueWorker works RequeueArgs.
type RequeueWorker struct {
	river.WorkerDefaults[RequeueArgs]
	Service *Service
}

// Timeout bounds one pass, as long as a step's.
func (w *RequeueWorker) Timeout(*river.Job[RequeueArgs]) time.Duration { return stepTimeout }

// Work requeues the rollout's apps if it is still running: the guarded
// running → running move serializes the pass with a pause.
func (w *RequeueWorker) Work(ctx context.Context, job *river.Job[RequeueArgs]) error {
	s, a := w.Service, job.Args
	r, err := s.Store.Rollout(ctx, a.ComponentAppID, a.RolloutID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return river.JobCancel(err)
	}
	if err != nil || r.Status != wxfleet.RolloutRunning {
		return err
	}
	_, err = s.Store.SetRolloutStatus(ctx, a.ComponentAppID, a.RolloutID, []wxfleet.RolloutStatus{wxfleet.RolloutRunning},
		wxfleet.RolloutRunning, r.StatusReason, s.Now(), func(ctx context.Context, tx *sql.Tx) error { return s.requeue(ctx, tx, r) })
	return err
}

// CheckArgs is the periodic job that advances every running rollout: a crash
// between an app's last step and its advance, or an advance that lost a race,
// is caught up within a minute.
type CheckArgs struct{}

// Kind implements river.JobArgs.
func (CheckArgs) Kind() string { return "rollout_check" }

// InsertOpts keeps one check at a time.
func (CheckArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: CheckInterval}}
}

// CheckInterval is how often running rollouts are checked.
const CheckInterval = time.Minute

// CheckWorker works CheckArgs.
type CheckWorker struct {
	river.WorkerDefaults[CheckArgs]
	Service *Service
}

// Timeout bounds one check of every running rollout.
func (w *CheckWorker) Timeout(*river.Job[CheckArgs]) time.Duration { return time.Minute }

// Work advances every running rollout.
func (w *CheckWorker) Work(ctx context.Context, job *river.Job[CheckArgs]) error {
	rs, err := w.Service.Store.RunningRollouts(ctx)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if err := w.Service.advance(ctx, r.ComponentAppID, r.ID); err != nil {
			w.Service.Logger.Warn("rollout check failed", "component_appid", r.ComponentAppID, "rollout", r.ID, "err", err)
		}
	}
	// A fleet action whose last app finished in a crash is completed here.
	fa, err := w.Service.Store.RunningFleetActions(ctx)
	if err != nil {
		return err
	}
	for _, a := range fa {
		if _, err := w.Service.Store.CompleteFleetAction(ctx, a.ComponentAppID, a.ID, w.Service.Now()); err != nil {
			w.Service.Logger.Warn("fleet action check failed", "component_appid", a.ComponentAppID, "action", a.ID, "err", err)
		}
	}
	return nil
}

// HandleAuditEvent applies an audit result WeChat pushed for appID
// (weapp_audit_success, weapp_audit_fail, weapp_audit_delay) to every rollout
// waiting for that app's audit, and reports how many there were. The push
// names no auditid: it is about the app's latest submission, which is the
// one a rollout in auditing state made. The poll remains the fallback when
// a push is lost.
func (s *Service) HandleAuditEvent(ctx context.Context, componentAppID, appID, event, reason, screenshot string) (int, error) {
	status := -1
	switch event {
	case "weapp_audit_success":
		status = 0
	case "weapp_audit_fail":
		status = 1
	case "weapp_audit_delay":
		status = 4
	default:
		return 0, nil
	}
	apps, err := s.Store.AuditingApps(ctx, componentAppID, appID)
	if err != nil {
		return 0, err
	}
	for _, app := range apps {
		r, err := s.Store.Rollout(ctx, componentAppID, app.RolloutID)
		if err != nil {
			return 0, err
		}
		st := &step{s: s, r: r, app: app}
		if err := st.decided(ctx, status, reason, screenshot, "push"); err != nil && !isSnooze(err) {
			return 0, err
		}
	}
	return len(apps), nil
}

func isSnooze(err error) bool {
	var se *river.JobSnoozeError
	return errors.As(err, &se)
}
