package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
)

const templateColumns = `component_appid, template_id, draft_id, user_version, user_desc, template_type,
	create_time, ext_json, notes, synced_at, deleted_at, policy`

func scanTemplate(row interface{ Scan(...any) error }) (*wxfleet.Template, error) {
	var t wxfleet.Template
	var created, synced, deleted int64
	var policy string
	if err := row.Scan(&t.ComponentAppID, &t.TemplateID, &t.DraftID, &t.UserVersion, &t.UserDesc, &t.TemplateType,
		&created, &t.ExtJSON, &t.Notes, &synced, &deleted, &policy); err != nil {
		return nil, err
	}
	if policy != "" {
		t.Policy = &wxfleet.TemplatePolicy{}
		if err := json.Unmarshal([]byte(policy), t.Policy); err != nil {
			return nil, err
		}
	}
	t.CreateTime, t.SyncedAt, t.DeletedAt = fromMillis(created), fromMillis(synced), fromMillis(deleted)
	return &t, nil
}

// SyncTemplates makes the stored template library match list, WeChat's
// gettemplatelist at now: listed templates are inserted or their WeChat
// fields updated (ext_json and notes are the platform's and stay), and stored
// ones missing from the list are marked deleted.
func (s *Store) SyncTemplates(ctx context.Context, componentAppID string, list []wxfleet.Template, now time.Time) error {
	return platformErr("sync templates", componentAppID, s.inTx(ctx, func(tx *sql.Tx) error {
		ids := make([]int64, 0, len(list))
		for _, t := range list {
			ids = append(ids, t.TemplateID)
			_, err := tx.ExecContext(ctx, `
				INSERT INTO templates (`+templateColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, '', '', $8, 0, '')
				ON CONFLICT (component_appid, template_id) DO UPDATE SET
					draft_id = excluded.draft_id, user_version = excluded.user_version,
					user_desc = excluded.user_desc, template_type = excluded.template_type,
					create_time = excluded.create_time, synced_at = excluded.synced_at, deleted_at = 0`,
				componentAppID, t.TemplateID, t.DraftID, t.UserVersion, t.UserDesc, t.TemplateType,
				toMillis(t.CreateTime), toMillis(now))
			if err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT template_id FROM templates WHERE component_appid = $1 AND deleted_at = 0`, componentAppID)
		if err != nil {
			return err
		}
		var gone []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			if !slices.Contains(ids, id) {
				gone = append(gone, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range gone {
			if _, err := tx.ExecContext(ctx, `UPDATE templates SET deleted_at = $1 WHERE component_appid = $2 AND template_id = $3`,
				toMillis(now), componentAppID, id); err != nil {
				return err
			}
		}
		return nil
	}))
}

func templateNotFound(componentAppID string, id int64) error {
	return notFound("平台 %s 没有模板 %d / platform %s has no template %d", componentAppID, id, componentAppID, id)
}

// Template returns one template, deleted or not.
func (s *Store) Template(ctx context.Context, componentAppID string, templateID int64) (*wxfleet.Template, error) {
	t, err := scanTemplate(s.read.QueryRowContext(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE component_appid = $1 AND template_id = $2`, componentAppID, templateID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, templateNotFound(componentAppID, templateID)
	}
	return t, dbErr("get template", err)
}

// ListTemplates returns the platform's templates that still exist on
// WeChat's side, newest first.
func (s *Store) ListTemplates(ctx context.Context, componentAppID string) ([]*wxfleet.Template, error) {
	return queryAll(ctx, s, "list templates", `SELECT `+templateColumns+` FROM templates
		WHERE component_appid = $1 AND deleted_at = 0 ORDER BY template_id DESC`, scanTemplate, componentAppID)
}

// SetTemplateDetails sets what the platform adds to a template: the ext_json
// template and the notes.
func (s *Store) SetTemplateDetails(ctx context.Context, componentAppID string, templateID int64, extJSON, notes string) error {
	res, err := s.write.ExecContext(ctx, `UPDATE templates SET ext_json = $1, notes = $2
		WHERE component_appid = $3 AND template_id = $4`, extJSON, notes, componentAppID, templateID)
	return oneRow(res, err, "set template details", func() error { return templateNotFound(componentAppID, templateID) })
}

// SetTemplatePolicy sets what a template declares about domains and the
// privacy guide; nil (or an empty policy) declares nothing.
func (s *Store) SetTemplatePolicy(ctx context.Context, componentAppID string, templateID int64, p *wxfleet.TemplatePolicy) error {
	raw := ""
	if !p.Empty() {
		b, err := json.Marshal(p)
		if err != nil {
			return invalid("策略无法编码为 JSON / the policy cannot be encoded as JSON: %v", err)
		}
		raw = string(b)
	}
	res, err := s.write.ExecContext(ctx, `UPDATE templates SET policy = $1 WHERE component_appid = $2 AND template_id = $3`,
		raw, componentAppID, templateID)
	return oneRow(res, err, "set template policy", func() error { return templateNotFound(componentAppID, templateID) })
}

// PolicyTemplate returns the newest template (highest template_id) of the
// platform that still exists and declares a policy: the one applied to a
// mini program when it authorizes. ENOTFOUND when none does.
func (s *Store) PolicyTemplate(ctx context.Context, componentAppID string) (*wxfleet.Template, error) {
	t, err := scanTemplate(s.read.QueryRowContext(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE component_appid = $1 AND deleted_at = 0 AND policy <> '' ORDER BY template_id DESC LIMIT 1`, componentAppID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("平台 %s 没有声明策略的模板 / platform %s has no template declaring a policy", componentAppID, componentAppID)
	}
	return t, dbErr("get policy template", err)
}

// MarkTemplateDeleted records that the template was deleted on WeChat's side.
func (s *Store) MarkTemplateDeleted(ctx context.Context, componentAppID string, templateID int64, now time.Time) error {
	res, err := s.write.ExecContext(ctx, `UPDATE templates SET deleted_at = $1
		WHERE component_appid = $2 AND template_id = $3`, toMillis(now), componentAppID, templateID)
	return oneRow(res, err, "delete template", func() error { return templateNotFound(componentAppID, templateID) })
}

// AuthorizerSettings returns the settings an authorizer's ext_json is
// rendered with; none is an empty map.
func (s *Store) AuthorizerSettings(ctx context.Context, componentAppID, appID string) (map[string]any, error) {
	var raw string
	err := s.read.QueryRowContext(ctx, `SELECT settings FROM authorizer_settings WHERE component_appid = $1 AND appid = $2`,
		componentAppID, appID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, dbErr("get authorizer settings", err)
	}
	out := map[string]any{}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, dbErr("decode authorizer settings", err)
	}
	return out, nil
}

// SetAuthorizerSettings replaces an authorizer's settings.
func (s *Store) SetAuthorizerSettings(ctx context.Context, componentAppID, appID string, settings map[string]any, now time.Time) error {
	if settings == nil {
		settings = map[string]any{}
	}
	raw, err := json.Marshal(settings)
	if err != nil {
		return invalid("设置项无法编码为 JSON / the settings cannot be encoded as JSON: %v", err)
	}
	_, err = s.write.ExecContext(ctx, `INSERT INTO authorizer_settings (component_appid, appid, settings, updated_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (component_appid, appid) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`,
		componentAppID, appID, string(raw), toMillis(now))
	if isForeignKeyViolation(err) {
		return authorizerNotFound(componentAppID, appID)
	}
	return dbErr("set authorizer settings", err)
}

// maxTags bounds an authorizer's tags.
const maxTags = 50

// SetAuthorizerTags replaces an authorizer's tags. A tag is 1-64 characters.
func (s *Store) SetAuthorizerTags(ctx context.Context, componentAppID, appID string, tags []string) error {
	tags = slices.Clone(tags)
	for i, t := range tags {
		tags[i] = strings.TrimSpace(t)
		if n := len([]rune(tags[i])); n == 0 || n > 64 {
			return invalid("标签须为 1 到 64 个字符：%q / a tag is 1 to 64 characters: %q", t, t)
		}
	}
	slices.Sort(tags)
	tags = slices.Compact(tags)
	if len(tags) > maxTags {
		return invalid("一个小程序最多 %d 个标签 / at most %d tags per mini program", maxTags, maxTags)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM authorizer_tags WHERE component_appid = $1 AND appid = $2`, componentAppID, appID); err != nil {
			return err
		}
		for _, t := range tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO authorizer_tags (component_appid, appid, tag) VALUES ($1, $2, $3)`,
				componentAppID, appID, t); err != nil {
				return err
			}
		}
		return nil
	})
	if isForeignKeyViolation(err) {
		return authorizerNotFound(componentAppID, appID)
	}
	return dbErr("set authorizer tags", err)
}

// AuthorizerTags returns an authorizer's tags, sorted.
func (s *Store) AuthorizerTags(ctx context.Context, componentAppID, appID string) ([]string, error) {
	return s.strings(ctx, "authorizer tags", `SELECT tag FROM authorizer_tags WHERE component_appid = $1 AND appid = $2 ORDER BY tag`,
		componentAppID, appID)
}

// TargetAppIDs resolves rollout targets to appids, sorted: every authorized
// mini program for All, the authorizers carrying any of Tags themselves or
// through their tenant's tags, or AppIDs as given (known or not: the rollout
// reports an unknown one as skipped).
func (s *Store) TargetAppIDs(ctx context.Context, componentAppID string, t wxfleet.RolloutTargets) ([]string, error) {
	switch {
	case t.All:
		return s.strings(ctx, "rollout targets", `SELECT appid FROM authorizers
			WHERE component_appid = $1 AND status = $2 ORDER BY appid`, componentAppID, wxfleet.StatusAuthorized)
	case len(t.Tags) > 0:
		args := []any{componentAppID}
		var ph []string
		for _, tag := range t.Tags {
			args = append(args, tag)
			ph = append(ph, "$"+strconv.Itoa(len(args)))
		}
		// The tenants' part goes from the tag to the tenants to their apps
		// (CROSS JOIN keeps SQLite's planner in that order).
		in := strings.Join(ph, ", ")
		return s.strings(ctx, "rollout targets", `SELECT appid FROM authorizer_tags
			WHERE component_appid = $1 AND tag IN (`+in+`)
			UNION
			SELECT a.appid FROM tenant_tags g CROSS JOIN authorizers a
			WHERE g.tag IN (`+in+`) AND a.tenant_id = g.tenant_id AND a.component_appid = $1
			ORDER BY appid`, args...)
	default:
		ids := slices.Clone(t.AppIDs)
		slices.Sort(ids)
		return slices.Compact(ids), nil
	}
}

// strings runs a query of one text column.
func (s *Store) strings(ctx context.Context, op, q string, args ...any) ([]string, error) {
	return queryAll(ctx, s, op, q, func(row interface{ Scan(...any) error }) (string, error) {
		var v string
		err := row.Scan(&v)
		return v, err
	}, args...)
}
