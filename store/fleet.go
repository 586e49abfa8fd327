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

// Fleet actions: one setting change (a template's policy, a tester) applied
// to many mini programs, one River job per app, as rollouts are.

const fleetActionColumns = `id, component_appid, kind, template_id, wechatid, userstr, targets, status, created_at, updated_at`

func scanFleetAction(row interface{ Scan(...any) error }) (*wxfleet.FleetAction, error) {
	var a wxfleet.FleetAction
	var targets string
	var created, updated int64
	if err := row.Scan(&a.ID, &a.ComponentAppID, &a.Kind, &a.TemplateID, &a.WeChatID, &a.UserStr, &targets, &a.Status,
		&created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(targets), &a.Targets); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = fromMillis(created), fromMillis(updated)
	return &a, nil
}

// CreateFleetAction stores a fleet action with its apps, all pending but
// those in skipped (appid → reason), and runs then in the same transaction
// (where the jobs are enqueued). It sets a.ID.
func (s *Store) CreateFleetAction(ctx context.Context, a *wxfleet.FleetAction, appIDs []string, skipped map[string]string, then Then) error {
	targets, err := json.Marshal(a.Targets)
	if err != nil {
		return invalid("targets 无法编码 / targets cannot be encoded: %v", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO fleet_actions (component_appid, kind, template_id, wechatid, userstr,
			targets, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			a.ComponentAppID, a.Kind, a.TemplateID, a.WeChatID, a.UserStr, string(targets), a.Status,
			toMillis(a.CreatedAt), toMillis(a.UpdatedAt)).Scan(&a.ID); err != nil {
			return err
		}
		for start := 0; start < len(appIDs); start += rolloutAppBatch {
			end := min(start+rolloutAppBatch, len(appIDs))
			var q strings.Builder
			q.WriteString(`INSERT INTO fleet_action_apps (action_id, component_appid, appid, state, result, updated_at) VALUES `)
			args := make([]any, 0, 6*(end-start))
			for i := start; i < end; i++ {
				if i > start {
					q.WriteString(", ")
				}
				q.WriteString(placeholders(len(args)+1, 6))
				state, why := wxfleet.FleetAppPending, ""
				if r, ok := skipped[appIDs[i]]; ok {
					state, why = wxfleet.FleetAppSkipped, r
				}
				args = append(args, a.ID, a.ComponentAppID, appIDs[i], state, why, toMillis(a.CreatedAt))
			}
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return err
			}
		}
		return then.run(ctx, tx)
	})
	return platformErr("create fleet action", a.ComponentAppID, err)
}

// FleetAction returns one fleet action of a platform.
func (s *Store) FleetAction(ctx context.Context, componentAppID string, id int64) (*wxfleet.FleetAction, error) {
	a, err := scanFleetAction(s.read.QueryRowContext(ctx, `SELECT `+fleetActionColumns+` FROM fleet_actions
		WHERE component_appid = $1 AND id = $2`, componentAppID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("平台 %s 没有批量操作 %d / platform %s has no fleet action %d", componentAppID, id, componentAppID, id)
	}
	return a, dbErr("get fleet action", err)
}

// ListFleetActions returns a platform's fleet actions newest first, those
// with an id below before (0: from the newest).
func (s *Store) ListFleetActions(ctx context.Context, componentAppID string, before int64, limit int) ([]*wxfleet.FleetAction, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	if before > 0 {
		w.and("id < $%d", before)
	}
	return queryAll(ctx, s, "list fleet actions", `SELECT `+fleetActionColumns+` FROM fleet_actions`+w.sql.String()+
		` ORDER BY id DESC LIMIT `+w.next(clampLimit(limit)), scanFleetAction, w.args...)
}

// RunningFleetActions returns every running fleet action of every platform.
func (s *Store) RunningFleetActions(ctx context.Context) ([]*wxfleet.FleetAction, error) {
	return queryAll(ctx, s, "running fleet actions", `SELECT `+fleetActionColumns+` FROM fleet_actions
		WHERE status = $1 ORDER BY id`, scanFleetAction, wxfleet.FleetRunning)
}

// FleetActionCounts returns how many of an action's apps are in each state.
func (s *Store) FleetActionCounts(ctx context.Context, componentAppID string, id int64) (map[string]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT state, COUNT(*) FROM fleet_action_apps
		WHERE component_appid = $1 AND action_id = $2 GROUP BY state`, componentAppID, id)
	if err != nil {
		return nil, dbErr("count fleet action apps", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, dbErr("count fleet action apps", err)
		}
		out[st] = n
	}
	return out, dbErr("count fleet action apps", rows.Err())
}

// CompleteFleetAction marks a running action completed once none of its
// apps is pending, and reports whether it did.
func (s *Store) CompleteFleetAction(ctx context.Context, componentAppID string, id int64, now time.Time) (bool, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE fleet_actions SET status = $1, updated_at = $2
		WHERE component_appid = $3 AND id = $4 AND status = $5
		AND NOT EXISTS (SELECT 1 FROM fleet_action_apps WHERE action_id = $4 AND state = $6)`,
		wxfleet.FleetCompleted, toMillis(now), componentAppID, id, wxfleet.FleetRunning, wxfleet.FleetAppPending)
	if err != nil {
		return false, dbErr("complete fleet action", err)
	}
	n, err := res.RowsAffected()
	return n > 0, dbErr("complete fleet action", err)
}

const fleetAppColumns = `action_id, appid, state, result, last_errcode, last_error, attempts, updated_at`

func scanFleetApp(row interface{ Scan(...any) error }) (*wxfleet.FleetActionApp, error) {
	var a wxfleet.FleetActionApp
	var updated int64
	if err := row.Scan(&a.ActionID, &a.AppID, &a.State, &a.Result, &a.LastErrcode, &a.LastError, &a.Attempts, &updated); err != nil {
		return nil, err
	}
	a.UpdatedAt = fromMillis(updated)
	return &a, nil
}

// FleetActionApps returns a page of an action's apps ordered by appid, of
// one state ("" for all), after cursor.
func (s *Store) FleetActionApps(ctx context.Context, componentAppID string, id int64, state, cursor string, limit int) ([]*wxfleet.FleetActionApp, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("action_id = $%d", id)
	if state != "" {
		w.and("state = $%d", state)
	}
	if cursor != "" {
		w.and("appid > $%d", cursor)
	}
	return queryAll(ctx, s, "list fleet action apps", `SELECT `+fleetAppColumns+` FROM fleet_action_apps`+w.sql.String()+
		` ORDER BY appid LIMIT `+w.next(clampLimit(limit)), scanFleetApp, w.args...)
}

// FleetActionApp returns one app of a fleet action.
func (s *Store) FleetActionApp(ctx context.Context, componentAppID string, id int64, appID string) (*wxfleet.FleetActionApp, error) {
	a, err := scanFleetApp(s.read.QueryRowContext(ctx, `SELECT `+fleetAppColumns+` FROM fleet_action_apps
		WHERE component_appid = $1 AND action_id = $2 AND appid = $3`, componentAppID, id, appID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("批量操作 %d 不包含小程序 %s / fleet action %d has no mini program %s", id, appID, id, appID)
	}
	return a, dbErr("get fleet action app", err)
}

// UpdateFleetActionApp writes a's state and details if the app is still in
// state from; it reports whether it wrote.
func (s *Store) UpdateFleetActionApp(ctx context.Context, componentAppID string, a *wxfleet.FleetActionApp, from string) (bool, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE fleet_action_apps SET state = $1, result = $2, last_errcode = $3,
		last_error = $4, attempts = $5, updated_at = $6
		WHERE component_appid = $7 AND action_id = $8 AND appid = $9 AND state = $10`,
		a.State, a.Result, a.LastErrcode, a.LastError, a.Attempts, toMillis(a.UpdatedAt),
		componentAppID, a.ActionID, a.AppID, from)
	if err != nil {
		return false, dbErr("update fleet action app", err)
	}
	n, err := res.RowsAffected()
	return n > 0, dbErr("update fleet action app", err)
}

// AppHold is WeChat's refusal to take submissions from a mini program
// (86007), as the platform last met it.
type AppHold struct {
	AppID   string
	Errcode int
	Reason  string
	HeldAt  time.Time
}

// HoldApp records that WeChat refuses the app's submissions.
func (s *Store) HoldApp(ctx context.Context, componentAppID, appID string, errcode int, reason string, now time.Time) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO app_holds (component_appid, appid, errcode, reason, held_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (component_appid, appid) DO UPDATE SET
		errcode = excluded.errcode, reason = excluded.reason, held_at = excluded.held_at`,
		componentAppID, appID, errcode, reason, toMillis(now))
	return dbErr("hold app", err)
}

// ReleaseHold clears an app's hold; it reports whether there was one.
func (s *Store) ReleaseHold(ctx context.Context, componentAppID, appID string) (bool, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM app_holds WHERE component_appid = $1 AND appid = $2`, componentAppID, appID)
	if err != nil {
		return false, dbErr("release hold", err)
	}
	n, err := res.RowsAffected()
	return n > 0, dbErr("release hold", err)
}

// AppHoldOf returns an app's hold, nil when it has none.
func (s *Store) AppHoldOf(ctx context.Context, componentAppID, appID string) (*AppHold, error) {
	var h AppHold
	var at int64
	err := s.read.QueryRowContext(ctx, `SELECT appid, errcode, reason, held_at FROM app_holds
		WHERE component_appid = $1 AND appid = $2`, componentAppID, appID).Scan(&h.AppID, &h.Errcode, &h.Reason, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr("get app hold", err)
	}
	h.HeldAt = fromMillis(at)
	return &h, nil
}

// GrayReleasedApps returns which of appIDs a rollout of the platform left
// in gray release (released at a percentage below 100) as the app's latest
// release, at since or later: WeChat takes no other release while it runs,
// and releases it fully by itself on its 15th day (the caller's since).
// The time is the app's last change in that rollout.
func (s *Store) GrayReleasedApps(ctx context.Context, componentAppID string, appIDs []string, since time.Time) (map[string]int64, error) {
	out := map[string]int64{}
	for start := 0; start < len(appIDs); start += rolloutAppBatch {
		end := min(start+rolloutAppBatch, len(appIDs))
		args := []any{componentAppID, string(wxfleet.AppReleased), string(wxfleet.AppRolledBack)}
		var ph []string
		for _, id := range appIDs[start:end] {
			args = append(args, id)
			ph = append(ph, "$"+strconv.Itoa(len(args)))
		}
		// The newest rollout that released or rolled back each app decides.
		rows, err := s.read.QueryContext(ctx, `SELECT ra.appid, ra.rollout_id, ra.state, r.gray_percentage, ra.updated_at
			FROM rollout_apps ra JOIN rollouts r ON r.id = ra.rollout_id
			WHERE ra.component_appid = $1 AND ra.state IN ($2, $3) AND ra.appid IN (`+strings.Join(ph, ", ")+`)
			ORDER BY ra.appid, ra.rollout_id DESC`, args...)
		if err != nil {
			return nil, dbErr("gray released apps", err)
		}
		seen := map[string]bool{}
		for rows.Next() {
			var appID, state string
			var id int64
			var gray int
			var at int64
			if err := rows.Scan(&appID, &id, &state, &gray, &at); err != nil {
				rows.Close()
				return nil, dbErr("gray released apps", err)
			}
			if seen[appID] {
				continue
			}
			seen[appID] = true
			if state == string(wxfleet.AppReleased) && gray > 0 && gray < 100 && at >= toMillis(since) {
				out[appID] = id
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, dbErr("gray released apps", err)
		}
	}
	return out, nil
}
