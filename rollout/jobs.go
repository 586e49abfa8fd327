package rollout

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/webhook"
	"github.com/wxfleet/wxfleet/wechat"
)

// The steps of one app, each a River job keyed to (rollout, app, step).
const (
	stepPrepare = "prepare" // part of the commit job: checks and settings before the commit
	stepCommit  = "commit"
	stepSubmit  = "submit_audit"
	stepPoll    = "audit_status"
	stepRelease = "release"
	// Actions a person starts on apps that already went some way.
	stepRollback = "rollback"
	stepUndo     = "undo_audit"
	stepSpeedup  = "speedup_audit"
)

// Queue is the River queue rollout steps run on, apart from token upkeep:
// a fleet rollout must never starve the token refreshes.
const Queue = "rollout"

// StepArgs is one step of one app of a rollout.
type StepArgs struct {
	ComponentAppID string `json:"component_appid"`
	RolloutID      int64  `json:"rollout_id"`
	AppID          string `json:"appid"`
	Step           string `json:"step"`
	ToVersion      string `json:"to_version,omitempty"` // rollback: the user_version to go back to; "" the one before
}

// Kind implements river.JobArgs.
func (StepArgs) Kind() string { return "rollout_step" }

// unfinished are the job states in which a step makes another identical one
// redundant.
var unfinished = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// stepPriority is River's priority of a step (1 is first): below a cohort's
// start (CohortArgs, 1), so that the next cohort's commits are queued while
// the last releases of the one before still run.
const stepPriority = 2

// maxStepAttempts bounds the retries of one step; the last attempt marks the
// app failed instead of leaving it stuck.
const maxStepAttempts = 12

// InsertOpts keeps one waiting job per (rollout, app, step), tagged so that
// cancelling the rollout or revoking the app removes it.
func (a StepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       Queue,
		MaxAttempts: maxStepAttempts,
		Priority:    stepPriority,
		Tags:        []string{"app_" + a.AppID, RolloutTag(a.RolloutID)},
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: unfinished},
	}
}

// StepWorker works StepArgs.
type StepWorker struct {
	river.WorkerDefaults[StepArgs]
	Service *Service
}

// Timeout bounds one step: one or two WeChat calls with their retries.
func (w *StepWorker) Timeout(*river.Job[StepArgs]) time.Duration { return stepTimeout }

// stepTimeout is the longest one step runs.
const stepTimeout = 2 * time.Minute

// NextRetry backs off from RetryBase (5 s) to at most 5 minutes: WeChat's
// transient errors (-1, timeouts) clear in seconds to minutes, and a rollout
// should not sit for hours on River's default schedule.
func (w *StepWorker) NextRetry(job *river.Job[StepArgs]) time.Time {
	d := w.Service.retryBase() << min(job.Attempt-1, 6)
	return time.Now().Add(min(d, 5*time.Minute))
}

// Work runs the step unless the rollout stopped or the app moved on (a step
// that runs twice finds nothing to do).
func (w *StepWorker) Work(ctx context.Context, job *river.Job[StepArgs]) error {
	s, a := w.Service, job.Args
	r, err := s.Store.Rollout(ctx, a.ComponentAppID, a.RolloutID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	manual := a.Step == stepRollback || a.Step == stepUndo || a.Step == stepSpeedup
	if r.Status != wxfleet.RolloutRunning && !(manual && r.Status != wxfleet.RolloutCancelled) {
		return nil // paused: Resume enqueues again; final: nothing to do
	}
	app, err := s.Store.RolloutApp(ctx, a.ComponentAppID, a.RolloutID, a.AppID)
	if err != nil {
		return err
	}
	st := &step{s: s, r: r, app: app, last: job.Attempt >= job.MaxAttempts}
	switch a.Step {
	case stepCommit:
		err = st.commit(ctx)
	case stepSubmit:
		err = st.submit(ctx)
	case stepPoll:
		err = st.poll(ctx)
	case stepRelease:
		err = st.release(ctx)
	case stepRollback:
		err = st.rollback(ctx, a.ToVersion)
	case stepUndo:
		err = st.undo(ctx)
	case stepSpeedup:
		err = st.speedup(ctx)
	default:
		return river.JobCancel(errors.New("unknown rollout step " + a.Step))
	}
	return err
}

// step is one step's work on one app.
type step struct {
	s    *Service
	r    *wxfleet.Rollout
	app  *wxfleet.RolloutApp
	last bool // the job's last attempt: a failure is final
}

func (st *step) ts() wechat.TokenSource {
	return st.s.Tokens.AuthorizerSource(st.r.ComponentAppID, st.app.AppID)
}

// move writes the app's new state if it is still in from, with then in the
// same transaction; a final state also checks whether the cohort is done.
func (st *step) move(ctx context.Context, from wxfleet.AppState, then func(ctx context.Context, tx *sql.Tx) error) error {
	st.app.UpdatedAt = st.s.Now()
	ok, err := st.s.Store.UpdateRolloutApp(ctx, st.r.ComponentAppID, st.app, from, then)
	if err != nil || !ok {
		return err
	}
	st.s.observe("move", string(st.app.State))
	if st.app.State.Final() || st.app.State == wxfleet.AppApproved {
		return st.s.advance(ctx, st.r.ComponentAppID, st.r.ID)
	}
	return nil
}

// next returns a then that enqueues the app's next step.
func (st *step) next(step string) func(ctx context.Context, tx *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error { return st.s.enqueue(ctx, tx, st.r, step, st.app.AppID) }
}

// fail records err. A transient error, before the last attempt, is returned
// for River to retry (a daily quota snoozes instead); anything else ends the
// app's part as failed.
func (st *step) fail(ctx context.Context, stepName string, err error) error {
	code, transient := classify(err)
	st.app.LastErrcode, st.app.LastError = code, err.Error()
	st.app.Attempts++
	from := st.app.State
	if transient && !st.last {
		st.s.observe(stepName, "retry")
		if _, werr := st.s.Store.UpdateRolloutApp(ctx, st.r.ComponentAppID, st.app, from, nil); werr != nil {
			return werr
		}
		st.s.Logger.Warn("rollout step failed; retrying", "component_appid", st.r.ComponentAppID, "rollout", st.r.ID,
			"appid", st.app.AppID, "step", stepName, "errcode", code, "err", err)
		if code == 45009 {
			// The day's quota is gone: try again in a while, without using up attempts.
			return river.JobSnooze(st.s.quotaWait())
		}
		return err
	}
	st.s.observe(stepName, "failed")
	st.s.Logger.Warn("rollout step failed for good", "component_appid", st.r.ComponentAppID, "rollout", st.r.ID,
		"appid", st.app.AppID, "step", stepName, "errcode", code, "err", err)
	st.app.State = wxfleet.AppFailed
	return st.move(ctx, from, nil)
}

// classify returns WeChat's errcode in err (0 for none) and whether trying
// again later can help.
func classify(err error) (int, bool) {
	var we *wechat.Error
	if errors.As(err, &we) {
		switch we.Code {
		case wechat.CodeSystemBusy, 45009, wechat.CodeCommitThrottled, 40001, 42001, 9402202:
			return we.Code, true
		}
		return we.Code, false
	}
	switch wxfleet.ErrorCode(err) {
	case wxfleet.ECONFLICT, wxfleet.ENOTFOUND, wxfleet.EINVALID:
		return 0, false // revoked, needs re-authorization, gone: no retry helps
	}
	return 0, true // network, timeouts, the database: transient
}

// commit renders the app's ext_json and commits the template. When an
// earlier attempt may have reached WeChat (CommitSentAt is set), it asks
// getversioninfo first and does not commit again if the 体验版 is already ours.
func (st *step) commit(ctx context.Context) error {
	if st.app.State != wxfleet.AppPending {
		return nil
	}
	t, err := st.s.Store.Template(ctx, st.r.ComponentAppID, st.r.TemplateID)
	if err != nil {
		return st.fail(ctx, stepCommit, err)
	}
	if reason := st.s.skipReason(ctx, st.r.ComponentAppID, st.app.AppID, t); reason != "" {
		st.app.State, st.app.Reason = wxfleet.AppSkipped, reason
		return st.move(ctx, wxfleet.AppPending, nil)
	}
	// The plan skipped the apps of tenants blocked then; a tenant suspended
	// since (its subscription ran out while the rollout waited its cohort)
	// is not shipped to either.
	b, err := st.s.Store.BlockedTenantApp(ctx, st.r.ComponentAppID, st.app.AppID)
	if err != nil {
		return st.fail(ctx, stepCommit, err)
	}
	if b != nil {
		st.app.State, st.app.Reason = wxfleet.AppSkipped, blockedReason(*b)
		return st.move(ctx, wxfleet.AppPending, nil)
	}
	ext, err := st.s.extJSON(ctx, st.r.ComponentAppID, st.app.AppID, t)
	if err != nil {
		return st.fail(ctx, stepCommit, err)
	}
	if st.app.CommitSentAt.IsZero() {
		// Nothing sent yet: the prepare step first (gray release, settings).
		skipped, err := st.prepare(ctx, t)
		if isSnooze(err) || skipped {
			return err
		}
		if err != nil {
			return st.fail(ctx, stepPrepare, err)
		}
	}
	if !st.app.CommitSentAt.IsZero() {
		done, err := st.committed(ctx)
		if err != nil {
			return st.fail(ctx, stepCommit, err)
		}
		if done {
			st.app.State = wxfleet.AppCommitted
			return st.move(ctx, wxfleet.AppPending, st.next(stepSubmit))
		}
		if wait := st.unsettled(st.app.CommitSentAt); wait > 0 {
			return river.JobSnooze(wait) // the earlier commit may still land
		}
	}
	if err := st.s.pace(ctx, "/wxa/commit"); err != nil {
		return err
	}
	st.app.CommitSentAt = st.s.Now()
	if _, err := st.s.Store.UpdateRolloutApp(ctx, st.r.ComponentAppID, st.app, wxfleet.AppPending, nil); err != nil {
		return err
	}
	err = st.s.WeChat.Commit(ctx, st.ts(), wechat.CommitRequest{
		TemplateID: st.r.TemplateID, ExtJSON: ext, UserVersion: st.r.UserVersion, UserDesc: st.r.UserDesc,
	})
	if err != nil {
		return st.fail(ctx, stepCommit, err)
	}
	st.app.State, st.app.LastErrcode, st.app.LastError = wxfleet.AppCommitted, 0, ""
	return st.move(ctx, wxfleet.AppPending, st.next(stepSubmit))
}

// unsettled returns how much longer a call sent at sent may still land on
// WeChat's side (0 when it can no longer), polling at least every RetryBase.
func (st *step) unsettled(sent time.Time) time.Duration {
	left := sent.Add(st.s.settleTime()).Sub(st.s.Now())
	if left <= 0 {
		return 0
	}
	return min(left, max(st.s.retryBase(), time.Second))
}

// committed tells whether the app's 体验版 is this rollout's version,
// committed at or after CommitSentAt.
func (st *step) committed(ctx context.Context) (bool, error) {
	if err := st.s.pace(ctx, "/wxa/getversioninfo"); err != nil {
		return false, err
	}
	v, err := st.s.WeChat.Versions(ctx, st.ts())
	if err != nil {
		return false, err
	}
	return v.Exp != nil && v.Exp.Version == st.r.UserVersion &&
		v.Exp.Time >= st.app.CommitSentAt.Add(-time.Minute).Unix(), nil
}

// submit submits the committed code for audit. When an earlier attempt may
// have reached WeChat, or WeChat says a version is already under audit, the
// latest submission is adopted if it is this rollout's.
func (st *step) submit(ctx context.Context) error {
	if st.app.State != wxfleet.AppCommitted {
		return nil
	}
	if !st.app.SubmitSentAt.IsZero() {
		if ok, err := st.adoptLatest(ctx); err != nil || ok {
			return err
		}
		if wait := st.unsettled(st.app.SubmitSentAt); wait > 0 {
			return river.JobSnooze(wait) // the earlier submission may still land
		}
	}
	rest, err := st.s.auditQuota(ctx, st.r.ComponentAppID, st.ts())
	if err != nil {
		return st.fail(ctx, stepSubmit, err)
	}
	if rest <= 0 {
		return st.waitForQuota(ctx, rest)
	}
	if err := st.s.pace(ctx, "/wxa/submit_audit"); err != nil {
		return err
	}
	st.app.SubmitSentAt = st.s.Now()
	if _, err := st.s.Store.UpdateRolloutApp(ctx, st.r.ComponentAppID, st.app, wxfleet.AppCommitted, nil); err != nil {
		return err
	}
	id, err := st.s.WeChat.SubmitAudit(ctx, st.ts(), wechat.SubmitAuditRequest{VersionDesc: st.r.UserDesc})
	var we *wechat.Error
	switch {
	case errors.As(err, &we) && we.Code == wechat.CodeAuditInProgress:
		if ok, aerr := st.adoptLatest(ctx); aerr != nil || ok {
			return aerr
		}
		return st.fail(ctx, stepSubmit, wxfleet.WrapError(wxfleet.ECONFLICT,
			"另一个版本正在审核，请先撤回 / another version is under audit: withdraw it first", err))
	case errors.As(err, &we) && we.Code == wechat.CodeAuditQuotaReached:
		st.app.LastErrcode, st.app.LastError = we.Code, err.Error()
		st.app.SubmitSentAt = time.Time{} // refused: nothing to settle
		st.s.Store.UpdateRolloutApp(ctx, st.r.ComponentAppID, st.app, wxfleet.AppCommitted, nil)
		st.s.Logger.Warn("monthly audit quota used up; the rollout waits", "component_appid", st.r.ComponentAppID, "rollout", st.r.ID, "appid", st.app.AppID)
		st.s.quotas.mu.Lock()
		delete(st.s.quotas.m, st.r.ComponentAppID)
		st.s.quotas.mu.Unlock()
		return st.waitForQuota(ctx, 0)
	case errors.As(err, &we) && we.Code == wechat.CodeSubmitForbidden:
		// WeChat holds the app: later rollouts skip it until an operator clears it.
		if herr := st.s.Store.HoldApp(ctx, st.r.ComponentAppID, st.app.AppID, we.Code, we.Error(), st.s.Now()); herr != nil {
			return herr
		}
		st.app.SubmitSentAt = time.Time{}
		return st.fail(ctx, stepSubmit, err)
	case err != nil:
		return st.fail(ctx, stepSubmit, err)
	}
	st.s.tookQuota(st.r.ComponentAppID)
	st.quotaCleared(ctx)
	st.app.State, st.app.AuditID, st.app.LastErrcode, st.app.LastError = wxfleet.AppAuditing, id, 0, ""
	return st.move(ctx, wxfleet.AppCommitted, st.poll0())
}

// poll0 enqueues the first audit poll one poll interval from now.
func (st *step) poll0() func(ctx context.Context, tx *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		return st.s.Jobs().InsertTx(ctx, tx, StepArgs{ComponentAppID: st.r.ComponentAppID, RolloutID: st.r.ID, AppID: st.app.AppID, Step: stepPoll},
			&river.InsertOpts{ScheduledAt: st.s.Now().Add(st.s.pollInterval())})
	}
}

// adoptLatest takes the latest submission as this rollout's when it is of
// this version and was made after SubmitSentAt (less a minute of clock
// difference). It reports whether it did.
func (st *step) adoptLatest(ctx context.Context) (bool, error) {
	if err := st.s.pace(ctx, "/wxa/get_latest_auditstatus"); err != nil {
		return false, err
	}
	l, err := st.s.WeChat.LatestAuditStatus(ctx, st.ts())
	var we *wechat.Error
	if errors.As(err, &we) && (we.Code == wechat.CodeInvalidAuditID || we.Code == wechat.CodeNoCommittedCode) {
		return false, nil // never submitted
	}
	if err != nil {
		return false, st.fail(ctx, stepSubmit, err)
	}
	if l.AuditID == 0 || (l.UserVersion != "" && l.UserVersion != st.r.UserVersion) ||
		(l.SubmitTime != 0 && !st.app.SubmitSentAt.IsZero() && l.SubmitTime < st.app.SubmitSentAt.Add(-time.Minute).Unix()) {
		return false, nil
	}
	st.app.State, st.app.AuditID = wxfleet.AppAuditing, l.AuditID
	return true, st.move(ctx, wxfleet.AppCommitted, st.poll0())
}

// poll asks for the audit's result and snoozes until it is decided.
func (st *step) poll(ctx context.Context) error {
	if st.app.State != wxfleet.AppAuditing {
		return nil
	}
	if err := st.s.pace(ctx, "/wxa/get_auditstatus"); err != nil {
		return err
	}
	a, err := st.s.WeChat.AuditStatusOf(ctx, st.ts(), st.app.AuditID)
	if err != nil {
		return st.fail(ctx, stepPoll, err)
	}
	return st.decided(ctx, a.Status, a.Reason, a.ScreenShot, "poll")
}

// decided applies an audit result, from a poll or a push (source "poll"
// or "push"). The audit event goes out with the move out of auditing: of
// the poll and the push, only the one that moves the app sends it.
func (st *step) decided(ctx context.Context, status int, reason, screenshot, source string) error {
	switch status {
	case wechat.AuditApproved:
		st.app.State = wxfleet.AppApproved
		var then func(ctx context.Context, tx *sql.Tx) error
		if st.r.Release == wxfleet.ReleaseAuto {
			then = st.next(stepRelease)
		}
		return st.move(ctx, wxfleet.AppAuditing, both(then, st.auditEvent(webhook.AuditSuccess, reason, screenshot, source)))
	case wechat.AuditRejected:
		st.app.State, st.app.Reason, st.app.ScreenShot = wxfleet.AppRejected, reason, screenshot
		return st.move(ctx, wxfleet.AppAuditing, st.auditEvent(webhook.AuditFail, reason, screenshot, source))
	case wechat.AuditWithdrawn:
		st.app.State, st.app.Reason = wxfleet.AppFailed, "审核已撤回 / the audit was withdrawn"
		return st.move(ctx, wxfleet.AppAuditing, nil)
	default: // auditing or delayed
		if reason != "" && reason != st.app.Reason {
			st.app.Reason = reason
			st.s.Store.UpdateRolloutApp(ctx, st.r.ComponentAppID, st.app, wxfleet.AppAuditing, nil)
		}
		return river.JobSnooze(st.s.pollInterval())
	}
}

// release publishes the approved version, or gray-releases it at the
// rollout's percentage. "Already released" (85052) is success: an earlier
// attempt got through.
func (st *step) release(ctx context.Context) error {
	if st.app.State != wxfleet.AppApproved {
		return nil
	}
	if err := st.s.pace(ctx, "/wxa/release"); err != nil {
		return err
	}
	var err error
	if p := st.r.GrayPercentage; p > 0 && p < 100 {
		err = st.s.WeChat.GrayRelease(ctx, st.ts(), wechat.GrayReleaseRequest{GrayPercentage: p})
	} else {
		err = st.s.WeChat.Release(ctx, st.ts())
	}
	var we *wechat.Error
	if err != nil && !(errors.As(err, &we) && we.Code == wechat.CodeAlreadyReleased) {
		return st.fail(ctx, stepRelease, err)
	}
	st.app.State, st.app.LastErrcode, st.app.LastError = wxfleet.AppReleased, 0, ""
	return st.move(ctx, wxfleet.AppApproved, st.releaseEvent())
}

// rollback reverts the released version. 87012 (nothing to roll back to)
// fails the app with WeChat's reason; the release stays online. A gray
// release still running is reverted (revertgrayrelease); one WeChat has
// released fully since (getgrayreleaseplan no longer running: after 15 days
// it does so itself) is rolled back as any release.
func (st *step) rollback(ctx context.Context, toVersion string) error {
	if st.app.State != wxfleet.AppReleased {
		return nil
	}
	if err := st.s.pace(ctx, "/wxa/revertcoderelease"); err != nil {
		return err
	}
	var err error
	gray := false
	if p := st.r.GrayPercentage; p > 0 && p < 100 && toVersion == "" {
		// WeChat releases a gray release fully on its 15th day (or someone
		// did in its console): then there is no gray release to revert, and
		// the version is rolled back as a full release.
		if gray, err = st.s.grayInProgress(ctx, st.ts(), st.s.pace); err != nil {
			var we *wechat.Error
			switch {
			case isSnooze(err):
				return err
			case errors.As(err, &we) && !isTransient(err):
				return st.keep(ctx, stepRollback, err.Error())
			}
			return st.fail(ctx, stepRollback, err)
		}
	}
	switch {
	case gray:
		err = st.s.WeChat.RevertGrayRelease(ctx, st.ts())
	case toVersion != "":
		var hist []wechat.HistoryVersion
		if hist, err = st.s.WeChat.ReleaseHistory(ctx, st.ts()); err == nil {
			var target int64
			for _, h := range hist {
				if h.UserVersion == toVersion && h.AppVersion > target {
					target = h.AppVersion
				}
			}
			if target == 0 {
				return st.keep(ctx, stepRollback, "历史版本中没有 "+toVersion+" / version "+toVersion+" is not in the release history")
			}
			err = st.s.WeChat.RevertRelease(ctx, st.ts(), target)
		}
	default:
		err = st.s.WeChat.RevertRelease(ctx, st.ts(), 0)
	}
	var we *wechat.Error
	if errors.As(err, &we) && !isTransient(err) {
		return st.keep(ctx, stepRollback, err.Error())
	}
	if err != nil {
		return st.fail(ctx, stepRollback, err)
	}
	st.app.State, st.app.LastErrcode, st.app.LastError = wxfleet.AppRolledBack, 0, ""
	return st.move(ctx, wxfleet.AppReleased, nil)
}

// keep records why an action on the app failed without changing its state:
// a rollback WeChat refuses leaves the release online, and says why.
func (st *step) keep(ctx context.Context, stepName, why string) error {
	st.app.LastError = why
	st.s.observe(stepName, "refused")
	_, err := st.s.Store.UpdateRolloutApp(ctx, st.r.ComponentAppID, st.app, st.app.State, nil)
	return err
}

func isTransient(err error) bool {
	_, t := classify(err)
	return t
}

// undo withdraws the audit; the app fails with that reason and can be
// retried (retry-failed commits and submits again).
func (st *step) undo(ctx context.Context) error {
	if st.app.State != wxfleet.AppAuditing {
		return nil
	}
	if err := st.s.pace(ctx, "/wxa/undocodeaudit"); err != nil {
		return err
	}
	err := st.s.WeChat.UndoAudit(ctx, st.ts())
	if err != nil && !isTransient(err) {
		return st.keep(ctx, stepUndo, err.Error())
	}
	if err != nil {
		return st.fail(ctx, stepUndo, err)
	}
	st.app.State, st.app.Reason = wxfleet.AppFailed, "操作员撤回了审核 / the audit was withdrawn by an operator"
	return st.move(ctx, wxfleet.AppAuditing, nil)
}

// speedup asks for an expedited audit; the app's state does not change.
func (st *step) speedup(ctx context.Context) error {
	if st.app.State != wxfleet.AppAuditing {
		return nil
	}
	if err := st.s.pace(ctx, "/wxa/speedupaudit"); err != nil {
		return err
	}
	err := st.s.WeChat.SpeedupAudit(ctx, st.ts(), st.app.AuditID)
	if err != nil && isTransient(err) && !st.last {
		return err
	}
	if err != nil {
		return st.keep(ctx, stepSpeedup, err.Error())
	}
	st.s.observe(stepSpeedup, "ok")
	return nil
}
