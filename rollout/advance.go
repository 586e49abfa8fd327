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

// advance moves a running rollout on when its current cohort is done: it
// pauses the rollout when the cohort failed more than the limit allows,
// starts the next cohort, or completes the rollout. It is idempotent and
// safe to call from several places at once: the store's guarded updates let
// exactly one caller make each move.
func (s *Service) advance(ctx context.Context, componentAppID string, id int64) error {
	r, err := s.Store.Rollout(ctx, componentAppID, id)
	if err != nil || r.Status != wxfleet.RolloutRunning {
		return err
	}
	m, err := s.Store.CohortCounts(ctx, id, r.Cohort)
	if err != nil {
		return err
	}
	open := m[wxfleet.AppPending] + m[wxfleet.AppCommitted] + m[wxfleet.AppAuditing]
	if r.Release == wxfleet.ReleaseAuto {
		open += m[wxfleet.AppApproved]
	}
	if open > 0 {
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
		var pending []string
		moved, err := s.Store.AdvanceCohort(ctx, componentAppID, id, r.Cohort, now, func(ctx context.Context, tx *sql.Tx) error {
			cursor := ""
			for {
				apps, err := s.Store.RolloutApps(ctx, componentAppID, id, store.RolloutAppFilter{State: wxfleet.AppPending, Cohort: r.Cohort + 1, Limit: 1000, Cursor: cursor})
				if err != nil {
					return err
				}
				for _, a := range apps {
					pending = append(pending, a.AppID)
				}
				if len(apps) < 1000 {
					break
				}
				cursor = apps[len(apps)-1].AppID
			}
			return s.enqueue(ctx, tx, r, stepCommit, pending...)
		})
		if err != nil || !moved {
			return err
		}
		s.Logger.Info("rollout cohort started", "component_appid", componentAppID, "rollout", id, "cohort", r.Cohort+1, "apps", len(pending))
		if len(pending) == 0 {
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
