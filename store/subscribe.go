package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/wxfleet/wxfleet"
)

// Subscribe templates (订阅消息模板) per mini program, and fleet-wide applies.

const subTemplateColumns = `component_appid, appid, template_id, tid, title, content, example, type, synced_at`

// SyncSubscribeTemplates makes a mini program's stored templates match
// list, WeChat's gettemplate at now; the tid of a template stays once known.
func (s *Store) SyncSubscribeTemplates(ctx context.Context, componentAppID, appID string, list []wxfleet.SubscribeTemplate, now time.Time) error {
	return dbErr("sync subscribe templates", s.inTx(ctx, func(tx *sql.Tx) error {
		keep := map[string]bool{}
		for _, t := range list {
			keep[t.TemplateID] = true
			if err := upsertSubTemplate(ctx, tx, componentAppID, appID, t, now); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT template_id FROM subscribe_templates WHERE component_appid = $1 AND appid = $2`, componentAppID, appID)
		if err != nil {
			return err
		}
		var gone []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			if !keep[id] {
				gone = append(gone, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range gone {
			if _, err := tx.ExecContext(ctx, `DELETE FROM subscribe_templates WHERE component_appid = $1 AND appid = $2 AND template_id = $3`,
				componentAppID, appID, id); err != nil {
				return err
			}
		}
		return nil
	}))
}

func upsertSubTemplate(ctx context.Context, tx *sql.Tx, componentAppID, appID string, t wxfleet.SubscribeTemplate, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO subscribe_templates (`+subTemplateColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (component_appid, appid, template_id) DO UPDATE SET
			tid = CASE WHEN excluded.tid <> 0 THEN excluded.tid ELSE subscribe_templates.tid END,
			title = excluded.title, content = excluded.content, example = excluded.example, type = excluded.type,
			synced_at = excluded.synced_at`,
		componentAppID, appID, t.TemplateID, t.TID, t.Title, t.Content, t.Example, t.Type, toMillis(now))
	return err
}

// PutSubscribeTemplate stores one template a mini program just added.
func (s *Store) PutSubscribeTemplate(ctx context.Context, t wxfleet.SubscribeTemplate, now time.Time) error {
	return dbErr("put subscribe template", s.inTx(ctx, func(tx *sql.Tx) error {
		return upsertSubTemplate(ctx, tx, t.ComponentAppID, t.AppID, t, now)
	}))
}

func scanSubTemplate(row interface{ Scan(...any) error }) (*wxfleet.SubscribeTemplate, error) {
	var t wxfleet.SubscribeTemplate
	var synced int64
	if err := row.Scan(&t.ComponentAppID, &t.AppID, &t.TemplateID, &t.TID, &t.Title, &t.Content, &t.Example, &t.Type, &synced); err != nil {
		return nil, err
	}
	t.SyncedAt = fromMillis(synced)
	return &t, nil
}

// SubscribeTemplates lists a mini program's stored templates.
func (s *Store) SubscribeTemplates(ctx context.Context, componentAppID, appID string) ([]*wxfleet.SubscribeTemplate, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+subTemplateColumns+` FROM subscribe_templates
		WHERE component_appid = $1 AND appid = $2 ORDER BY template_id`, componentAppID, appID)
	if err != nil {
		return nil, dbErr("list subscribe templates", err)
	}
	defer rows.Close()
	var out []*wxfleet.SubscribeTemplate
	for rows.Next() {
		t, err := scanSubTemplate(rows)
		if err != nil {
			return nil, dbErr("list subscribe templates", err)
		}
		out = append(out, t)
	}
	return out, dbErr("list subscribe templates", rows.Err())
}

// SubscribeTemplate returns one of a mini program's stored templates.
func (s *Store) SubscribeTemplate(ctx context.Context, componentAppID, appID, templateID string) (*wxfleet.SubscribeTemplate, error) {
	t, err := scanSubTemplate(s.read.QueryRowContext(ctx, `SELECT `+subTemplateColumns+` FROM subscribe_templates
		WHERE component_appid = $1 AND appid = $2 AND template_id = $3`, componentAppID, appID, templateID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("小程序没有这个订阅消息模板 / the mini program has no subscribe template %s", templateID)
	}
	return t, dbErr("read subscribe template", err)
}

// CreateSubscribeApply stores a fleet-wide apply with its apps, all
// pending, and runs then in the same transaction (the jobs that do it).
func (s *Store) CreateSubscribeApply(ctx context.Context, a *wxfleet.SubscribeApply, appIDs []string, then Then) error {
	if len(appIDs) == 0 {
		return invalid("没有要添加模板的小程序 / no mini programs to add the template to")
	}
	kids, _ := json.Marshal(a.KIDs)
	kws, _ := json.Marshal(a.Keywords)
	return dbErr("create subscribe apply", s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO subscribe_applies (component_appid, tid, kid_list, scene_desc, keywords, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, a.ComponentAppID, a.TID, string(kids), a.SceneDesc, string(kws),
			toMillis(a.CreatedAt)).Scan(&a.ID); err != nil {
			return err
		}
		for _, id := range appIDs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO subscribe_apply_apps (apply_id, appid, status, updated_at) VALUES ($1, $2, $3, $4)`,
				a.ID, id, wxfleet.ApplyPending, toMillis(a.CreatedAt)); err != nil {
				return err
			}
		}
		return then.run(ctx, tx)
	}))
}

// SubscribeApply returns a fleet-wide apply of the platform.
func (s *Store) SubscribeApply(ctx context.Context, componentAppID string, id int64) (*wxfleet.SubscribeApply, error) {
	var a wxfleet.SubscribeApply
	var kids, kws string
	var at int64
	err := s.read.QueryRowContext(ctx, `SELECT id, component_appid, tid, kid_list, scene_desc, keywords, created_at
		FROM subscribe_applies WHERE component_appid = $1 AND id = $2`, componentAppID, id).
		Scan(&a.ID, &a.ComponentAppID, &a.TID, &kids, &a.SceneDesc, &kws, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("没有这个批量添加 / no subscribe apply %d", id)
	}
	if err != nil {
		return nil, dbErr("read subscribe apply", err)
	}
	a.CreatedAt = fromMillis(at)
	if err := json.Unmarshal([]byte(kids), &a.KIDs); err != nil {
		return nil, dbErr("read subscribe apply", err)
	}
	if err := json.Unmarshal([]byte(kws), &a.Keywords); err != nil {
		return nil, dbErr("read subscribe apply", err)
	}
	return &a, nil
}

// SubscribeApplyApps lists the apps of a fleet-wide apply of the platform.
func (s *Store) SubscribeApplyApps(ctx context.Context, componentAppID string, id int64) ([]wxfleet.SubscribeApplyApp, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT p.appid, p.status, p.template_id, p.error, p.updated_at
		FROM subscribe_apply_apps p JOIN subscribe_applies a ON a.id = p.apply_id
		WHERE a.component_appid = $1 AND p.apply_id = $2 ORDER BY p.appid`, componentAppID, id)
	if err != nil {
		return nil, dbErr("list subscribe apply apps", err)
	}
	defer rows.Close()
	var out []wxfleet.SubscribeApplyApp
	for rows.Next() {
		var p wxfleet.SubscribeApplyApp
		var at int64
		if err := rows.Scan(&p.AppID, &p.Status, &p.TemplateID, &p.Error, &at); err != nil {
			return nil, dbErr("list subscribe apply apps", err)
		}
		p.UpdatedAt = fromMillis(at)
		out = append(out, p)
	}
	return out, dbErr("list subscribe apply apps", rows.Err())
}

// FinishSubscribeApplyApp records one app's outcome, only while it is
// pending: false when it was already decided (a job that ran twice).
func (s *Store) FinishSubscribeApplyApp(ctx context.Context, componentAppID string, id int64, p wxfleet.SubscribeApplyApp) (bool, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE subscribe_apply_apps SET status = $1, template_id = $2, error = $3, updated_at = $4
		WHERE apply_id = $5 AND appid = $6 AND status = $7
		AND apply_id IN (SELECT id FROM subscribe_applies WHERE component_appid = $8)`,
		p.Status, p.TemplateID, p.Error, toMillis(p.UpdatedAt), id, p.AppID, wxfleet.ApplyPending, componentAppID)
	if err != nil {
		return false, dbErr("finish subscribe apply app", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbErr("finish subscribe apply app", err)
}

// SubscribeApplyApp returns one app of a fleet-wide apply of the platform.
func (s *Store) SubscribeApplyApp(ctx context.Context, componentAppID string, id int64, appID string) (*wxfleet.SubscribeApplyApp, error) {
	var p wxfleet.SubscribeApplyApp
	var at int64
	err := s.read.QueryRowContext(ctx, `SELECT p.appid, p.status, p.template_id, p.error, p.updated_at
		FROM subscribe_apply_apps p JOIN subscribe_applies a ON a.id = p.apply_id
		WHERE a.component_appid = $1 AND p.apply_id = $2 AND p.appid = $3`, componentAppID, id, appID).
		Scan(&p.AppID, &p.Status, &p.TemplateID, &p.Error, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("批量添加 %d 不含小程序 %s / subscribe apply %d has no app %s", id, appID, id, appID)
	}
	if err != nil {
		return nil, dbErr("read subscribe apply app", err)
	}
	p.UpdatedAt = fromMillis(at)
	return &p, nil
}
