package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
)

// Tenants are not under a platform: one merchant may authorize mini
// programs to several of the ISV's platforms. What bounds a tenant read or
// write is the caller's wxfleet.Scope, which every method here takes and
// every query filters on (scoped): a merchant's scope holds its own tenant
// only, and a tenant outside it is "not found", never "forbidden".

// TenantFilter selects a page of tenants, in id order.
type TenantFilter struct {
	Status wxfleet.TenantStatus // only this status; "" for all
	Tag    string               // only tenants carrying this tag
	Q      string               // only tenants whose name contains this (case-insensitive)
	Cursor int64                // return ids after this one (the last id of the previous page)
	Limit  int                  // page size; 0 means 50, at most 1000
}

// nullID stores an id of 0 as NULL (no tenant).
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// scoped adds the scope's bound on column to w: nothing for the ISV's staff
// (every tenant), column = the tenant for a merchant.
func scoped(w *where, column string, sc wxfleet.Scope) {
	if !sc.All() {
		w.and(column+" = $%d", sc.TenantID)
	}
}

// appScoped bounds w, over a table of one app's data (table: its name, with
// component_appid and appid columns), to sc: nothing for the ISV's staff;
// for a merchant the app must be its tenant's (authorizers.tenant_id), so
// the data follows the app when the app moves to another tenant.
func appScoped(w *where, table string, sc wxfleet.Scope) {
	if !sc.All() {
		w.and(`EXISTS (SELECT 1 FROM authorizers sa WHERE sa.component_appid = `+table+`.component_appid AND sa.appid = `+table+
			`.appid AND sa.tenant_id = $%d)`, sc.TenantID)
	}
}

func tenantNotFound(id int64) error {
	return notFound("没有租户 %d / tenant %d not found", id, id)
}

func planNotFound(id int64) error {
	return notFound("没有套餐 %d / plan %d not found", id, id)
}

// staffOnly refuses a write only the ISV's staff may make (a merchant
// creates no tenants and no plans).
func staffOnly(sc wxfleet.Scope) error {
	if !sc.All() {
		return wxfleet.Errorf(wxfleet.EFORBIDDEN, "只有平台运营人员可以这样做 / only the ISV's staff may do this")
	}
	return nil
}

// normTags trims, drops empty and duplicate tags, and sorts them.
func normTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ---- plans ----

const planColumns = `id, name, yearly_price, max_mini_programs, features, created_at, updated_at`

func scanPlan(row interface{ Scan(...any) error }) (*wxfleet.Plan, error) {
	var p wxfleet.Plan
	var features string
	var created, updated int64
	if err := row.Scan(&p.ID, &p.Name, &p.YearlyPrice, &p.MaxMiniPrograms, &features, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(features), &p.Features); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = fromMillis(created), fromMillis(updated)
	return &p, nil
}

func featuresJSON(f []string) string {
	if f == nil {
		f = []string{}
	}
	b, _ := json.Marshal(f)
	return string(b)
}

// CreatePlan stores a new plan and sets p.ID. Plans are the ISV's: a
// merchant's scope cannot make one.
func (s *Store) CreatePlan(ctx context.Context, sc wxfleet.Scope, p *wxfleet.Plan) error {
	if err := staffOnly(sc); err != nil {
		return err
	}
	if strings.TrimSpace(p.Name) == "" {
		return invalid("套餐需要名称 / a plan needs a name")
	}
	err := s.write.QueryRowContext(ctx, `INSERT INTO plans (name, yearly_price, max_mini_programs, features, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		p.Name, p.YearlyPrice, p.MaxMiniPrograms, featuresJSON(p.Features), toMillis(p.CreatedAt), toMillis(p.UpdatedAt)).Scan(&p.ID)
	return dbErr("create plan", err)
}

// Plan returns one plan. Every scope may read plans: a merchant sees what it
// could subscribe to.
func (s *Store) Plan(ctx context.Context, id int64) (*wxfleet.Plan, error) {
	p, err := scanPlan(s.read.QueryRowContext(ctx, `SELECT `+planColumns+` FROM plans WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, planNotFound(id)
	}
	return p, dbErr("get plan", err)
}

// ListPlans returns every plan, in id order (an ISV has a handful).
func (s *Store) ListPlans(ctx context.Context) ([]*wxfleet.Plan, error) {
	return queryAll(ctx, s, "list plans", `SELECT `+planColumns+` FROM plans ORDER BY id`, scanPlan)
}

// UpdatePlan overwrites a plan's name, price, limits and features.
func (s *Store) UpdatePlan(ctx context.Context, sc wxfleet.Scope, p *wxfleet.Plan) error {
	if err := staffOnly(sc); err != nil {
		return err
	}
	res, err := s.write.ExecContext(ctx, `UPDATE plans SET name = $2, yearly_price = $3, max_mini_programs = $4, features = $5, updated_at = $6
		WHERE id = $1`, p.ID, p.Name, p.YearlyPrice, p.MaxMiniPrograms, featuresJSON(p.Features), toMillis(p.UpdatedAt))
	return oneRow(res, err, "update plan", func() error { return planNotFound(p.ID) })
}

// ---- tenants ----

const tenantColumns = `id, name, contact, status, COALESCE(plan_id, 0), settings, created_at, updated_at`

func scanTenant(row interface{ Scan(...any) error }) (*wxfleet.Tenant, error) {
	var t wxfleet.Tenant
	var settings string
	var created, updated int64
	if err := row.Scan(&t.ID, &t.Name, &t.Contact, &t.Status, &t.PlanID, &settings, &created, &updated); err != nil {
		return nil, err
	}
	t.Settings = []byte(settings)
	t.CreatedAt, t.UpdatedAt = fromMillis(created), fromMillis(updated)
	return &t, nil
}

// planErr turns a foreign key failure on plan_id into "no such plan".
func planErr(op string, planID int64, err error) error {
	if isForeignKeyViolation(err) {
		return planNotFound(planID)
	}
	return dbErr(op, err)
}

// CreateTenant stores a new tenant with its tags and sets t.ID. Empty
// settings are {}.
func (s *Store) CreateTenant(ctx context.Context, sc wxfleet.Scope, t *wxfleet.Tenant) error {
	if err := staffOnly(sc); err != nil {
		return err
	}
	if !t.Status.Valid() {
		return invalid("未知的租户状态 %q / unknown tenant status %q", t.Status, t.Status)
	}
	settings := string(t.Settings)
	if settings == "" {
		settings = "{}"
	}
	t.Tags = normTags(t.Tags)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO tenants (name, contact, status, plan_id, settings, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			t.Name, t.Contact, string(t.Status), nullID(t.PlanID), settings, toMillis(t.CreatedAt), toMillis(t.UpdatedAt)).Scan(&t.ID); err != nil {
			return err
		}
		return setTenantTags(ctx, tx, t.ID, t.Tags)
	})
	if err != nil {
		return planErr("create tenant", t.PlanID, err)
	}
	t.Settings = []byte(settings)
	return nil
}

func setTenantTags(ctx context.Context, tx *sql.Tx, id int64, tags []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM tenant_tags WHERE tenant_id = $1`, id); err != nil {
		return err
	}
	for _, tag := range tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_tags (tenant_id, tag) VALUES ($1, $2)`, id, tag); err != nil {
			return err
		}
	}
	return nil
}

// Tenant returns one tenant inside the scope, with its tags.
func (s *Store) Tenant(ctx context.Context, sc wxfleet.Scope, id int64) (*wxfleet.Tenant, error) {
	var w where
	w.and("id = $%d", id)
	scoped(&w, "id", sc)
	t, err := scanTenant(s.read.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants`+w.sql.String(), w.args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tenantNotFound(id)
	}
	if err != nil {
		return nil, dbErr("get tenant", err)
	}
	if err := s.fillTags(ctx, []*wxfleet.Tenant{t}); err != nil {
		return nil, err
	}
	return t, nil
}

// ListTenants returns a page of the tenants inside the scope, in id order:
// a keyset page (id > cursor), so a page costs the same on the last of
// 20,000 tenants as on the first.
func (s *Store) ListTenants(ctx context.Context, sc wxfleet.Scope, f TenantFilter) ([]*wxfleet.Tenant, error) {
	var w where
	scoped(&w, "t.id", sc)
	if f.Status != "" {
		w.and("t.status = $%d", string(f.Status))
	}
	if f.Tag != "" {
		w.and("EXISTS (SELECT 1 FROM tenant_tags g WHERE g.tenant_id = t.id AND g.tag = $%d)", f.Tag)
	}
	if q := strings.TrimSpace(f.Q); q != "" {
		w.and(`LOWER(t.name) LIKE $%d ESCAPE '\'`, "%"+likeEscape(strings.ToLower(q))+"%")
	}
	if f.Cursor > 0 {
		w.and("t.id > $%d", f.Cursor)
	}
	q := `SELECT ` + tenantColumns + ` FROM tenants t` + w.sql.String() + ` ORDER BY t.id LIMIT ` + w.next(clampLimit(f.Limit))
	list, err := queryAll(ctx, s, "list tenants", q, scanTenant, w.args...)
	if err != nil {
		return nil, err
	}
	return list, s.fillTags(ctx, list)
}

// likeEscape escapes LIKE's wildcards (and the escape character) in v.
func likeEscape(v string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(v)
}

// fillTags reads the tags of a page of tenants in one query.
func (s *Store) fillTags(ctx context.Context, list []*wxfleet.Tenant) error {
	if len(list) == 0 {
		return nil
	}
	byID := make(map[int64]*wxfleet.Tenant, len(list))
	args := make([]any, 0, len(list))
	for _, t := range list {
		byID[t.ID] = t
		t.Tags = []string{}
		args = append(args, t.ID)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT tenant_id, tag FROM tenant_tags WHERE tenant_id IN `+placeholders(1, len(args))+` ORDER BY tenant_id, tag`, args...)
	if err != nil {
		return dbErr("tenant tags", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var tag string
		if err := rows.Scan(&id, &tag); err != nil {
			return dbErr("tenant tags", err)
		}
		byID[id].Tags = append(byID[id].Tags, tag)
	}
	return dbErr("tenant tags", rows.Err())
}

// UpdateTenant overwrites a tenant's name, contact, status, plan and tags
// (not its settings: SetTenantSettings), if the tenant is inside the scope.
func (s *Store) UpdateTenant(ctx context.Context, sc wxfleet.Scope, t *wxfleet.Tenant) error {
	if !t.Status.Valid() {
		return invalid("未知的租户状态 %q / unknown tenant status %q", t.Status, t.Status)
	}
	t.Tags = normTags(t.Tags)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var w where
		w.and("id = $%d", t.ID)
		scoped(&w, "id", sc)
		set := `UPDATE tenants SET name = ` + w.next(t.Name) + `, contact = ` + w.next(t.Contact) + `, status = ` + w.next(string(t.Status)) +
			`, plan_id = ` + w.next(nullID(t.PlanID)) + `, updated_at = ` + w.next(toMillis(t.UpdatedAt))
		res, err := tx.ExecContext(ctx, set+w.sql.String(), w.args...)
		if err := oneRow(res, err, "update tenant", func() error { return tenantNotFound(t.ID) }); err != nil {
			return err
		}
		return setTenantTags(ctx, tx, t.ID, t.Tags)
	})
	return planErr("update tenant", t.PlanID, err)
}

// SetTenantStatus moves a tenant inside the scope to status, only from one of
// from (any, if from is empty); then runs in the same transaction. It tells
// whether the tenant moved.
func (s *Store) SetTenantStatus(ctx context.Context, sc wxfleet.Scope, id int64, from []wxfleet.TenantStatus, status wxfleet.TenantStatus, now time.Time, then Then) (bool, error) {
	if !status.Valid() {
		return false, invalid("未知的租户状态 %q / unknown tenant status %q", status, status)
	}
	moved := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var w where
		w.and("id = $%d", id)
		scoped(&w, "id", sc)
		if len(from) > 0 {
			var ph []string
			for _, f := range from {
				ph = append(ph, w.next(string(f)))
			}
			w.sql.WriteString(" AND status IN (" + strings.Join(ph, ", ") + ")")
		}
		q := `UPDATE tenants SET status = ` + w.next(string(status)) + `, updated_at = ` + w.next(toMillis(now)) + w.sql.String()
		res, err := tx.ExecContext(ctx, q, w.args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		moved = true
		return then.run(ctx, tx)
	})
	return moved, dbErr("set tenant status", err)
}

// TenantSettings returns a tenant's runtime settings (a JSON object).
func (s *Store) TenantSettings(ctx context.Context, sc wxfleet.Scope, id int64) ([]byte, error) {
	var w where
	w.and("id = $%d", id)
	scoped(&w, "id", sc)
	var v string
	err := s.read.QueryRowContext(ctx, `SELECT settings FROM tenants`+w.sql.String(), w.args...).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tenantNotFound(id)
	}
	return []byte(v), dbErr("get tenant settings", err)
}

// SetTenantSettings replaces a tenant's runtime settings; the caller
// validated them (a JSON object, size-capped).
func (s *Store) SetTenantSettings(ctx context.Context, sc wxfleet.Scope, id int64, settings []byte, now time.Time) error {
	var w where
	w.and("id = $%d", id)
	scoped(&w, "id", sc)
	q := `UPDATE tenants SET settings = ` + w.next(string(settings)) + `, updated_at = ` + w.next(toMillis(now)) + w.sql.String()
	res, err := s.write.ExecContext(ctx, q, w.args...)
	return oneRow(res, err, "set tenant settings", func() error { return tenantNotFound(id) })
}

// TenantApp is one mini program of a tenant.
type TenantApp struct {
	ComponentAppID string
	AppID          string
	Status         wxfleet.AuthorizerStatus
}

// TenantAuthorizers returns a tenant's mini programs (every platform, every
// status), by platform and appid.
func (s *Store) TenantAuthorizers(ctx context.Context, sc wxfleet.Scope, id int64) ([]TenantApp, error) {
	if !sc.Allows(id) {
		return nil, tenantNotFound(id)
	}
	return queryAll(ctx, s, "tenant authorizers", `SELECT component_appid, appid, status FROM authorizers
		WHERE tenant_id = $1 ORDER BY component_appid, appid`, func(row interface{ Scan(...any) error }) (TenantApp, error) {
		var a TenantApp
		err := row.Scan(&a.ComponentAppID, &a.AppID, &a.Status)
		return a, err
	}, id)
}

// CountTenantApps counts a tenant's authorized mini programs (what its plan
// caps) and the links made for it still open (unused, not expired at now):
// each open link may become one more.
func (s *Store) CountTenantApps(ctx context.Context, sc wxfleet.Scope, id int64, now time.Time) (authorized, openLinks int, err error) {
	if !sc.Allows(id) {
		return 0, 0, tenantNotFound(id)
	}
	err = s.read.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM authorizers WHERE tenant_id = $1 AND status = $2),
		(SELECT COUNT(*) FROM auth_links WHERE tenant_id = $1 AND authorizer_appid = '' AND claimed_at = 0 AND expires_at > $3)`,
		id, string(wxfleet.StatusAuthorized), toMillis(now)).Scan(&authorized, &openLinks)
	return authorized, openLinks, dbErr("count tenant apps", err)
}

// SetAuthorizerTenant puts an authorizer under a tenant inside the scope
// (0 takes it from its tenant; only the ISV's staff may).
func (s *Store) SetAuthorizerTenant(ctx context.Context, sc wxfleet.Scope, componentAppID, appID string, tenantID int64) error {
	if tenantID == 0 {
		if err := staffOnly(sc); err != nil {
			return err
		}
	} else if _, err := s.Tenant(ctx, sc, tenantID); err != nil {
		return err
	}
	res, err := s.write.ExecContext(ctx, `UPDATE authorizers SET tenant_id = $3 WHERE component_appid = $1 AND appid = $2`,
		componentAppID, appID, nullID(tenantID))
	return oneRow(res, err, "set authorizer tenant", func() error { return authorizerNotFound(componentAppID, appID) })
}

// BlockedTenantApps returns the platform's mini programs whose tenant is
// suspended or closed (appid → the tenant's id and status): a rollout skips
// them, saying why.
func (s *Store) BlockedTenantApps(ctx context.Context, componentAppID string) (map[string]BlockedApp, error) {
	// From the few blocked tenants to their apps (CROSS JOIN keeps SQLite's
	// planner in that order; PostgreSQL plans it freely).
	rows, err := s.read.QueryContext(ctx, `SELECT a.appid, t.id, t.status FROM tenants t CROSS JOIN authorizers a
		WHERE t.status IN ($2, $3) AND a.tenant_id = t.id AND a.component_appid = $1`, componentAppID, string(wxfleet.TenantSuspended), string(wxfleet.TenantClosed))
	if err != nil {
		return nil, dbErr("blocked tenant apps", err)
	}
	defer rows.Close()
	out := map[string]BlockedApp{}
	for rows.Next() {
		var appID string
		var b BlockedApp
		if err := rows.Scan(&appID, &b.TenantID, &b.Status); err != nil {
			return nil, dbErr("blocked tenant apps", err)
		}
		out[appID] = b
	}
	return out, dbErr("blocked tenant apps", rows.Err())
}

// BlockedTenantApp is BlockedTenantApps for one mini program: nil when its
// tenant (if any) is active.
func (s *Store) BlockedTenantApp(ctx context.Context, componentAppID, appID string) (*BlockedApp, error) {
	var b BlockedApp
	err := s.read.QueryRowContext(ctx, `SELECT t.id, t.status FROM authorizers a JOIN tenants t ON t.id = a.tenant_id
		WHERE a.component_appid = $1 AND a.appid = $2 AND t.status IN ($3, $4)`,
		componentAppID, appID, string(wxfleet.TenantSuspended), string(wxfleet.TenantClosed)).Scan(&b.TenantID, &b.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr("blocked tenant app", err)
	}
	return &b, nil
}

// BlockedApp is why a mini program is held back: its tenant and the
// tenant's status.
type BlockedApp struct {
	TenantID int64
	Status   wxfleet.TenantStatus
}

// ---- subscriptions ----

const subscriptionColumns = `tenant_id, plan_id, starts_at, expires_at, renewals, updated_at`

func scanSubscription(row interface{ Scan(...any) error }) (*wxfleet.Subscription, error) {
	var sub wxfleet.Subscription
	var starts, expires, updated int64
	if err := row.Scan(&sub.TenantID, &sub.PlanID, &starts, &expires, &sub.Renewals, &updated); err != nil {
		return nil, err
	}
	sub.StartsAt, sub.ExpiresAt, sub.UpdatedAt = fromMillis(starts), fromMillis(expires), fromMillis(updated)
	return &sub, nil
}

// Subscription returns a tenant's subscription; ENOTFOUND if it has none.
func (s *Store) Subscription(ctx context.Context, sc wxfleet.Scope, tenantID int64) (*wxfleet.Subscription, error) {
	if !sc.Allows(tenantID) {
		return nil, tenantNotFound(tenantID)
	}
	sub, err := scanSubscription(s.read.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE tenant_id = $1`, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("租户 %d 没有订阅 / tenant %d has no subscription", tenantID, tenantID)
	}
	return sub, dbErr("get subscription", err)
}

// SetSubscription starts (or replaces) a tenant's term on a plan, and makes
// the plan the tenant's.
func (s *Store) SetSubscription(ctx context.Context, sc wxfleet.Scope, sub *wxfleet.Subscription) error {
	if !sc.Allows(sub.TenantID) {
		return tenantNotFound(sub.TenantID)
	}
	if !sub.ExpiresAt.After(sub.StartsAt) {
		return invalid("订阅的到期时间须晚于开始时间 / a subscription must expire after it starts")
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tenants SET plan_id = $2, updated_at = $3 WHERE id = $1`, sub.TenantID, sub.PlanID, toMillis(sub.UpdatedAt))
		if err := oneRow(res, err, "set subscription", func() error { return tenantNotFound(sub.TenantID) }); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO subscriptions (`+subscriptionColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (tenant_id) DO UPDATE SET plan_id = excluded.plan_id, starts_at = excluded.starts_at,
				expires_at = excluded.expires_at, renewals = excluded.renewals, updated_at = excluded.updated_at`,
			sub.TenantID, sub.PlanID, toMillis(sub.StartsAt), toMillis(sub.ExpiresAt), sub.Renewals, toMillis(sub.UpdatedAt))
		return err
	})
	return planErr("set subscription", sub.PlanID, err)
}

// RenewSubscription extends a tenant's term by years: from its expiry, or
// from now if it already expired (the lapsed days are not paid for). A
// suspended tenant whose term now runs past now is active again; then runs
// in the same transaction. It returns the renewed subscription.
func (s *Store) RenewSubscription(ctx context.Context, sc wxfleet.Scope, tenantID int64, years int, now time.Time, then Then) (*wxfleet.Subscription, error) {
	if !sc.Allows(tenantID) {
		return nil, tenantNotFound(tenantID)
	}
	if years < 1 || years > 10 {
		return nil, invalid("years 须在 1 到 10 之间 / years must be from 1 to 10")
	}
	var sub *wxfleet.Subscription
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		sub, err = scanSubscription(tx.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE tenant_id = $1`, tenantID))
		if errors.Is(err, sql.ErrNoRows) {
			return wxfleet.Errorf(wxfleet.ECONFLICT, "租户 %d 没有订阅，请先创建 / tenant %d has no subscription to renew: create one first", tenantID, tenantID)
		}
		if err != nil {
			return err
		}
		from := sub.ExpiresAt
		if from.Before(now) {
			from = now
		}
		sub.ExpiresAt, sub.Renewals, sub.UpdatedAt = from.AddDate(years, 0, 0), sub.Renewals+1, now
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET expires_at = $2, renewals = $3, updated_at = $4 WHERE tenant_id = $1`,
			tenantID, toMillis(sub.ExpiresAt), sub.Renewals, toMillis(now)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tenants SET status = $2, updated_at = $3 WHERE id = $1 AND status = $4`,
			tenantID, string(wxfleet.TenantActive), toMillis(now), string(wxfleet.TenantSuspended)); err != nil {
			return err
		}
		return then.run(ctx, tx)
	})
	if err != nil {
		return nil, dbErr("renew subscription", err)
	}
	return sub, nil
}

// Term is a subscription the expiry job acts on, with its tenant's status.
type Term struct {
	TenantID     int64
	PlanID       int64
	ExpiresAt    time.Time
	TenantStatus wxfleet.TenantStatus
}

// TermsDue returns up to limit subscriptions (soonest expiry first) that end
// in (after, before] and have no reminder of kind yet for that term, of
// tenants that are not closed (nor, when live, suspended). The expiry job's
// work lists; index subscriptions_expiry answers the range.
func (s *Store) TermsDue(ctx context.Context, after, before time.Time, kind string, live bool, limit int) ([]Term, error) {
	statuses := []any{string(wxfleet.TenantTrial), string(wxfleet.TenantActive), string(wxfleet.TenantSuspended)}
	if live {
		statuses = statuses[:2]
	}
	args := append([]any{toMillis(after), toMillis(before), kind, clampLimit(limit)}, statuses...)
	q := `SELECT s.tenant_id, s.plan_id, s.expires_at, t.status FROM subscriptions s JOIN tenants t ON t.id = s.tenant_id
		WHERE s.expires_at > $1 AND s.expires_at <= $2 AND t.status IN ` + placeholders(5, len(statuses)) + `
		AND NOT EXISTS (SELECT 1 FROM subscription_reminders r WHERE r.tenant_id = s.tenant_id AND r.expires_at = s.expires_at AND r.kind = $3)
		ORDER BY s.expires_at, s.tenant_id LIMIT $4`
	return queryAll(ctx, s, "terms due", q, func(row interface{ Scan(...any) error }) (Term, error) {
		var t Term
		var exp int64
		err := row.Scan(&t.TenantID, &t.PlanID, &exp, &t.TenantStatus)
		t.ExpiresAt = fromMillis(exp)
		return t, err
	}, args...)
}

// RecordReminder records that the reminder (or expiry step) kind was done
// for the tenant's term ending at expiresAt, once: it tells whether this
// call recorded it. then runs in the same transaction, only when it did, so
// the event it sends and the record commit together.
func (s *Store) RecordReminder(ctx context.Context, tenantID int64, expiresAt time.Time, kind string, now time.Time, then Then) (bool, error) {
	recorded := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO subscription_reminders (tenant_id, expires_at, kind, sent_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant_id, expires_at, kind) DO NOTHING`, tenantID, toMillis(expiresAt), kind, toMillis(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		recorded = true
		return then.run(ctx, tx)
	})
	return recorded, dbErr("record reminder", err)
}

// Reminder is one reminder or expiry step recorded for a term.
type Reminder struct {
	TenantID  int64
	ExpiresAt time.Time
	Kind      string
	SentAt    time.Time
}

// Reminders returns the reminders recorded for a tenant, oldest first.
func (s *Store) Reminders(ctx context.Context, sc wxfleet.Scope, tenantID int64) ([]Reminder, error) {
	if !sc.Allows(tenantID) {
		return nil, tenantNotFound(tenantID)
	}
	return queryAll(ctx, s, "reminders", `SELECT tenant_id, expires_at, kind, sent_at FROM subscription_reminders
		WHERE tenant_id = $1 ORDER BY sent_at, expires_at, kind`, func(row interface{ Scan(...any) error }) (Reminder, error) {
		var r Reminder
		var exp, sent int64
		err := row.Scan(&r.TenantID, &exp, &r.Kind, &sent)
		r.ExpiresAt, r.SentAt = fromMillis(exp), fromMillis(sent)
		return r, err
	}, tenantID)
}

// SuspendExpired suspends a tenant whose term ending at expiresAt ran out
// past its grace period, once per term: the "suspended" reminder row, the
// status change (only from trial or active: a person's later decision
// stands) and then commit together. It tells whether the tenant was
// suspended by this call.
func (s *Store) SuspendExpired(ctx context.Context, tenantID int64, expiresAt, now time.Time, then Then) (bool, error) {
	suspended := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO subscription_reminders (tenant_id, expires_at, kind, sent_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant_id, expires_at, kind) DO NOTHING`, tenantID, toMillis(expiresAt), wxfleet.RemindSuspended, toMillis(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		res, err = tx.ExecContext(ctx, `UPDATE tenants SET status = $2, updated_at = $3 WHERE id = $1 AND status IN ($4, $5)`,
			tenantID, string(wxfleet.TenantSuspended), toMillis(now), string(wxfleet.TenantTrial), string(wxfleet.TenantActive))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		suspended = true
		return then.run(ctx, tx)
	})
	return suspended, dbErr("suspend expired tenant", err)
}
