package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
)

// Then runs inside a store transaction, after the store's own writes: it is
// where the caller enqueues the job that follows a state change, so the two
// commit or roll back together. nil does nothing.
type Then func(ctx context.Context, tx *sql.Tx) error

func (t Then) run(ctx context.Context, tx *sql.Tx) error {
	if t == nil {
		return nil
	}
	return t(ctx, tx)
}

const rolloutColumns = `id, component_appid, template_id, user_version, user_desc, targets, release_mode,
	gray_percentage, batch_size, max_failure_ratio, status, status_reason, cohort, created_at, updated_at`

func scanRollout(row interface{ Scan(...any) error }) (*wxfleet.Rollout, error) {
	var r wxfleet.Rollout
	var targets, status string
	var created, updated int64
	if err := row.Scan(&r.ID, &r.ComponentAppID, &r.TemplateID, &r.UserVersion, &r.UserDesc, &targets, &r.Release,
		&r.GrayPercentage, &r.BatchSize, &r.MaxFailureRatio, &status, &r.StatusReason, &r.Cohort, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(targets), &r.Targets); err != nil {
		return nil, err
	}
	r.Status = wxfleet.RolloutStatus(status)
	r.CreatedAt, r.UpdatedAt = fromMillis(created), fromMillis(updated)
	return &r, nil
}

// rolloutAppBatch is how many rollout_apps rows one INSERT carries (SQLite
// allows 32766 parameters; 5 a row).
const rolloutAppBatch = 500

// CreateRollout stores a rollout with its apps, cohort i holding apps
// [i*BatchSize, (i+1)*BatchSize) in the order given, every app pending except
// those in skipped (appid → reason), which start skipped. then runs in the
// same transaction. It sets r.ID.
func (s *Store) CreateRollout(ctx context.Context, r *wxfleet.Rollout, appIDs []string, skipped map[string]string, then Then) error {
	if r.BatchSize <= 0 {
		return invalid("batch_size 必须大于 0 / batch_size must be positive")
	}
	if !r.Status.Valid() {
		return invalid("未知的发布状态 %q / unknown rollout status %q", r.Status, r.Status)
	}
	targets, err := json.Marshal(r.Targets)
	if err != nil {
		return invalid("targets 无法编码 / targets cannot be encoded: %v", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO rollouts (component_appid, template_id, user_version, user_desc, targets,
			release_mode, gray_percentage, batch_size, max_failure_ratio, status, status_reason, cohort, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
			r.ComponentAppID, r.TemplateID, r.UserVersion, r.UserDesc, string(targets), r.Release, r.GrayPercentage,
			r.BatchSize, r.MaxFailureRatio, string(r.Status), r.StatusReason, r.Cohort, toMillis(r.CreatedAt), toMillis(r.UpdatedAt),
		).Scan(&r.ID); err != nil {
			return err
		}
		for start := 0; start < len(appIDs); start += rolloutAppBatch {
			end := min(start+rolloutAppBatch, len(appIDs))
			var q strings.Builder
			q.WriteString(`INSERT INTO rollout_apps (rollout_id, component_appid, appid, cohort, state, reason, updated_at) VALUES `)
			args := make([]any, 0, 7*(end-start))
			for i := start; i < end; i++ {
				if i > start {
					q.WriteString(", ")
				}
				n := len(args)
				q.WriteString(placeholders(n+1, 7))
				state, reason := wxfleet.AppPending, ""
				if why, ok := skipped[appIDs[i]]; ok {
					state, reason = wxfleet.AppSkipped, why
				}
				args = append(args, r.ID, r.ComponentAppID, appIDs[i], i/r.BatchSize, string(state), reason, toMillis(r.CreatedAt))
			}
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return err
			}
		}
		return then.run(ctx, tx)
	})
	return platformErr("create rollout", r.ComponentAppID, err)
}

// placeholders returns "($first, ..., $first+n-1)".
func placeholders(first, n int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(first + i))
	}
	b.WriteByte(')')
	return b.String()
}

func rolloutNotFound(componentAppID string, id int64) error {
	return notFound("平台 %s 没有发布任务 %d / platform %s has no rollout %d", componentAppID, id, componentAppID, id)
}

// Rollout returns one rollout of a platform.
func (s *Store) Rollout(ctx context.Context, componentAppID string, id int64) (*wxfleet.Rollout, error) {
	r, err := scanRollout(s.read.QueryRowContext(ctx, `SELECT `+rolloutColumns+` FROM rollouts
		WHERE component_appid = $1 AND id = $2`, componentAppID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rolloutNotFound(componentAppID, id)
	}
	return r, dbErr("get rollout", err)
}

// RolloutFilter selects rollouts for ListRollouts: Status and TemplateID
// when set, Before (an id) the cursor, newest first.
type RolloutFilter struct {
	Status     wxfleet.RolloutStatus
	TemplateID int64
	Before     int64
	Limit      int
}

// ListRollouts returns a platform's rollouts that f selects, newest first.
func (s *Store) ListRollouts(ctx context.Context, componentAppID string, f RolloutFilter) ([]*wxfleet.Rollout, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	if f.Status != "" {
		w.and("status = $%d", string(f.Status))
	}
	if f.TemplateID > 0 {
		w.and("template_id = $%d", f.TemplateID)
	}
	if f.Before > 0 {
		w.and("id < $%d", f.Before)
	}
	return queryAll(ctx, s, "list rollouts", `SELECT `+rolloutColumns+` FROM rollouts`+w.sql.String()+
		` ORDER BY id DESC LIMIT `+w.next(clampLimit(f.Limit)), scanRollout, w.args...)
}

// SetRolloutStatus moves a rollout to status (with reason) if it is in one
// of from, and runs then in the same transaction. It reports whether the
// rollout moved; a rollout in another state is left alone. The cohort is
// AdvanceCohort's alone.
func (s *Store) SetRolloutStatus(ctx context.Context, componentAppID string, id int64, from []wxfleet.RolloutStatus,
	to wxfleet.RolloutStatus, reason string, now time.Time, then Then) (bool, error) {
	if !to.Valid() {
		return false, invalid("未知的发布状态 %q / unknown rollout status %q", to, to)
	}
	moved := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		args := []any{string(to), reason, toMillis(now), componentAppID, id}
		var in []string
		for _, f := range from {
			args = append(args, string(f))
			in = append(in, "$"+strconv.Itoa(len(args)))
		}
		res, err := tx.ExecContext(ctx, `UPDATE rollouts SET status = $1, status_reason = $2, updated_at = $3
			WHERE component_appid = $4 AND id = $5 AND status IN (`+strings.Join(in, ", ")+`)`, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		moved = true
		return then.run(ctx, tx)
	})
	if err != nil {
		return false, dbErr("set rollout status", err)
	}
	if !moved {
		if _, err := s.Rollout(ctx, componentAppID, id); err != nil {
			return false, err
		}
	}
	return moved, nil
}

// RolloutCounts returns how many of a rollout's apps are in each state.
func (s *Store) RolloutCounts(ctx context.Context, id int64) (map[wxfleet.AppState]int, error) {
	return s.stateCounts(ctx, `SELECT state, COUNT(*) FROM rollout_apps WHERE rollout_id = $1 GROUP BY state`, id)
}

// CohortCounts returns how many of one cohort's apps are in each state.
func (s *Store) CohortCounts(ctx context.Context, id int64, cohort int) (map[wxfleet.AppState]int, error) {
	return s.stateCounts(ctx, `SELECT state, COUNT(*) FROM rollout_apps WHERE rollout_id = $1 AND cohort = $2 GROUP BY state`, id, cohort)
}

func (s *Store) stateCounts(ctx context.Context, q string, args ...any) (map[wxfleet.AppState]int, error) {
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr("count rollout apps", err)
	}
	defer rows.Close()
	out := map[wxfleet.AppState]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, dbErr("count rollout apps", err)
		}
		out[wxfleet.AppState(st)] = n
	}
	return out, dbErr("count rollout apps", rows.Err())
}

const rolloutAppColumns = `rollout_id, appid, cohort, state, audit_id, reason, screenshot, last_errcode, last_error,
	attempts, commit_sent_at, submit_sent_at, updated_at`

func scanRolloutApp(row interface{ Scan(...any) error }) (*wxfleet.RolloutApp, error) {
	var a wxfleet.RolloutApp
	var state string
	var commit, submit, updated int64
	if err := row.Scan(&a.RolloutID, &a.AppID, &a.Cohort, &state, &a.AuditID, &a.Reason, &a.ScreenShot, &a.LastErrcode,
		&a.LastError, &a.Attempts, &commit, &submit, &updated); err != nil {
		return nil, err
	}
	a.State = wxfleet.AppState(state)
	a.CommitSentAt, a.SubmitSentAt, a.UpdatedAt = fromMillis(commit), fromMillis(submit), fromMillis(updated)
	return &a, nil
}

// RolloutAppFilter selects a page of a rollout's apps.
type RolloutAppFilter struct {
	State  wxfleet.AppState // "" for all
	Cohort int              // -1 for all
	Limit  int              // 0 means 50, at most 1000
	Cursor string           // appids after this one
}

// RolloutApps returns a page of a rollout's apps ordered by appid.
func (s *Store) RolloutApps(ctx context.Context, componentAppID string, id int64, f RolloutAppFilter) ([]*wxfleet.RolloutApp, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("rollout_id = $%d", id)
	if f.State != "" {
		w.and("state = $%d", string(f.State))
	}
	if f.Cohort >= 0 {
		w.and("cohort = $%d", f.Cohort)
	}
	if f.Cursor != "" {
		w.and("appid > $%d", f.Cursor)
	}
	return queryAll(ctx, s, "list rollout apps", `SELECT `+rolloutAppColumns+` FROM rollout_apps`+w.sql.String()+
		` ORDER BY appid LIMIT `+w.next(clampLimit(f.Limit)), scanRolloutApp, w.args...)
}

// RolloutApp returns one app of a rollout.
func (s *Store) RolloutApp(ctx context.Context, componentAppID string, id int64, appID string) (*wxfleet.RolloutApp, error) {
	a, err := scanRolloutApp(s.read.QueryRowContext(ctx, `SELECT `+rolloutAppColumns+` FROM rollout_apps
		WHERE component_appid = $1 AND rollout_id = $2 AND appid = $3`, componentAppID, id, appID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("发布任务 %d 不包含小程序 %s / rollout %d has no mini program %s", id, appID, id, appID)
	}
	return a, dbErr("get rollout app", err)
}

// UpdateRolloutApp writes a's state and details if the app is still in
// state from, and runs then in the same transaction. It reports whether it
// wrote: a job that runs twice finds the app moved on and does nothing.
func (s *Store) UpdateRolloutApp(ctx context.Context, componentAppID string, a *wxfleet.RolloutApp, from wxfleet.AppState, then Then) (bool, error) {
	wrote := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE rollout_apps SET state = $1, audit_id = $2, reason = $3, screenshot = $4,
			last_errcode = $5, last_error = $6, attempts = $7, commit_sent_at = $8, submit_sent_at = $9, updated_at = $10
			WHERE component_appid = $11 AND rollout_id = $12 AND appid = $13 AND state = $14`,
			string(a.State), a.AuditID, a.Reason, a.ScreenShot, a.LastErrcode, a.LastError, a.Attempts,
			toMillis(a.CommitSentAt), toMillis(a.SubmitSentAt), toMillis(a.UpdatedAt),
			componentAppID, a.RolloutID, a.AppID, string(from))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		wrote = true
		return then.run(ctx, tx)
	})
	return wrote, dbErr("update rollout app", err)
}

// CancelRolloutApps marks every app of a rollout that is not final
// cancelled, and returns how many.
func (s *Store) CancelRolloutApps(ctx context.Context, componentAppID string, id int64, now time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE rollout_apps SET state = $1, updated_at = $2
		WHERE component_appid = $3 AND rollout_id = $4 AND state IN ($5, $6, $7, $8)`,
		string(wxfleet.AppCancelled), toMillis(now), componentAppID, id,
		string(wxfleet.AppPending), string(wxfleet.AppCommitted), string(wxfleet.AppAuditing), string(wxfleet.AppApproved))
	if err != nil {
		return 0, dbErr("cancel rollout apps", err)
	}
	n, err := res.RowsAffected()
	return int(n), dbErr("cancel rollout apps", err)
}

// AuditingApps returns the rollout apps of one mini program waiting for an
// audit result: where an audit push (which names no auditid) belongs.
func (s *Store) AuditingApps(ctx context.Context, componentAppID, appID string) ([]*wxfleet.RolloutApp, error) {
	return queryAll(ctx, s, "auditing apps", `SELECT `+rolloutAppColumns+` FROM rollout_apps
		WHERE component_appid = $1 AND appid = $2 AND state = $3 ORDER BY rollout_id`,
		scanRolloutApp, componentAppID, appID, string(wxfleet.AppAuditing))
}

// AdvanceCohort moves a running rollout from cohort from to from+1 and runs
// then in the same transaction. It reports whether it moved: of two callers
// that saw the same cohort finish, only one starts the next.
func (s *Store) AdvanceCohort(ctx context.Context, componentAppID string, id int64, from int, now time.Time, then Then) (bool, error) {
	moved := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE rollouts SET cohort = $1, updated_at = $2
			WHERE component_appid = $3 AND id = $4 AND status = $5 AND cohort = $6`,
			from+1, toMillis(now), componentAppID, id, string(wxfleet.RolloutRunning), from)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		moved = true
		return then.run(ctx, tx)
	})
	return moved, dbErr("advance rollout cohort", err)
}

// RunningRollouts returns the ids of every running rollout (of all
// platforms): the periodic check advances each.
func (s *Store) RunningRollouts(ctx context.Context) ([]wxfleet.Rollout, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, component_appid FROM rollouts WHERE status = $1 ORDER BY id`, string(wxfleet.RolloutRunning))
	if err != nil {
		return nil, dbErr("running rollouts", err)
	}
	defer rows.Close()
	var out []wxfleet.Rollout
	for rows.Next() {
		var r wxfleet.Rollout
		if err := rows.Scan(&r.ID, &r.ComponentAppID); err != nil {
			return nil, dbErr("running rollouts", err)
		}
		out = append(out, r)
	}
	return out, dbErr("running rollouts", rows.Err())
}

// queryAll runs q on the read pool and scans every row with scan.
func queryAll[T any](ctx context.Context, s *Store, op, q string, scan func(interface{ Scan(...any) error }) (T, error), args ...any) ([]T, error) {
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, v)
	}
	return out, dbErr(op, rows.Err())
}

// AppVersion is one rollout's part in one mini program's history.
type AppVersion struct {
	RolloutID   int64
	TemplateID  int64
	UserVersion string
	UserDesc    string
	App         *wxfleet.RolloutApp
}

// AppVersions returns what the rollouts did to one mini program, newest
// first: the version history the platform made (WeChat's own is
// revertcoderelease's get_history_version).
func (s *Store) AppVersions(ctx context.Context, componentAppID, appID string, limit int) ([]AppVersion, error) {
	return queryAll(ctx, s, "app versions", `SELECT r.template_id, r.user_version, r.user_desc, `+prefixed("a.", rolloutAppColumns)+`
		FROM rollout_apps a JOIN rollouts r ON r.id = a.rollout_id
		WHERE a.component_appid = $1 AND a.appid = $2 AND r.component_appid = $1
		ORDER BY a.rollout_id DESC LIMIT $3`, func(row interface{ Scan(...any) error }) (AppVersion, error) {
		var v AppVersion
		var a wxfleet.RolloutApp
		var state string
		var commit, submit, updated int64
		err := row.Scan(&v.TemplateID, &v.UserVersion, &v.UserDesc, &a.RolloutID, &a.AppID, &a.Cohort, &state, &a.AuditID, &a.Reason,
			&a.ScreenShot, &a.LastErrcode, &a.LastError, &a.Attempts, &commit, &submit, &updated)
		a.State = wxfleet.AppState(state)
		a.CommitSentAt, a.SubmitSentAt, a.UpdatedAt = fromMillis(commit), fromMillis(submit), fromMillis(updated)
		v.RolloutID, v.App = a.RolloutID, &a
		return v, err
	}, componentAppID, appID, clampLimit(limit))
}

// prefixed qualifies each column of a column list with p.
func prefixed(p, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
