package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
)

// Webhooks: endpoints (tenant data: every read and write takes the caller's
// wxfleet.Scope and filters on it), the outbox of events, and deliveries
// with their attempts. The methods that run while an event is emitted are on
// Tx, so the event, its deliveries and their River jobs commit with the state
// change they report.

const webhookEndpointColumns = `id, component_appid, tenant_id, url, events, secret_sealed, disabled, description, created_at, updated_at`

func (s *Store) scanWebhookEndpoint(row interface{ Scan(...any) error }) (*wxfleet.WebhookEndpoint, error) {
	var e wxfleet.WebhookEndpoint
	var events, sealed string
	var disabled, created, updated int64
	if err := row.Scan(&e.ID, &e.ComponentAppID, &e.TenantID, &e.URL, &events, &sealed, &disabled, &e.Description, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &e.Events); err != nil {
		return nil, err
	}
	e.Disabled = disabled != 0
	e.CreatedAt, e.UpdatedAt = fromMillis(created), fromMillis(updated)
	var err error
	if e.Secret, err = s.openAt(sealed, colWebhookSecret, e.ID); err != nil {
		return nil, err
	}
	return &e, nil
}

func webhookNotFound(id string) error {
	return notFound("没有这个 webhook：%s / no webhook %s", id, id)
}

// scoped adds the scope's tenant condition on column col.
func (w *where) scoped(sc wxfleet.Scope, col string) {
	if !sc.All() {
		w.and(col+" = $%d", sc.TenantID)
	}
}

// CreateWebhookEndpoint stores a new endpoint (e.ID set by the caller), its
// secret sealed and bound to the row. A merchant scope may only create an
// endpoint of its own tenant.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, sc wxfleet.Scope, e *wxfleet.WebhookEndpoint) error {
	if e.ID == "" || e.URL == "" || e.Secret == "" {
		return invalid("webhook 需要 id、url 和密钥 / a webhook needs an id, a url and a secret")
	}
	if !sc.Allows(e.TenantID) || (!sc.All() && e.TenantID == 0) {
		return wxfleet.Errorf(wxfleet.EFORBIDDEN, "只能为自己的租户创建 webhook / you can create webhooks of your own tenant only")
	}
	events, err := json.Marshal(e.Events)
	if err != nil {
		return invalid("events 无法编码 / events cannot be encoded: %v", err)
	}
	_, err = s.write.ExecContext(ctx, `INSERT INTO webhook_endpoints (`+webhookEndpointColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.ID, e.ComponentAppID, e.TenantID, e.URL, string(events), s.sealAt(e.Secret, colWebhookSecret, e.ID),
		boolInt(e.Disabled), e.Description, toMillis(e.CreatedAt), toMillis(e.UpdatedAt))
	return platformErr("create webhook", e.ComponentAppID, err)
}

// WebhookEndpoint returns one endpoint of a platform inside the scope, its
// secret opened.
func (s *Store) WebhookEndpoint(ctx context.Context, sc wxfleet.Scope, componentAppID, id string) (*wxfleet.WebhookEndpoint, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("id = $%d", id)
	w.scoped(sc, "tenant_id")
	e, err := s.scanWebhookEndpoint(s.read.QueryRowContext(ctx, `SELECT `+webhookEndpointColumns+` FROM webhook_endpoints`+w.sql.String(), w.args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, webhookNotFound(id)
	}
	return e, dbErr("get webhook", err)
}

// ListWebhookEndpoints returns a page of a platform's endpoints inside the
// scope, in id order (creation order), after cursor (an id; "" from the start).
func (s *Store) ListWebhookEndpoints(ctx context.Context, sc wxfleet.Scope, componentAppID, cursor string, limit int) ([]*wxfleet.WebhookEndpoint, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.scoped(sc, "tenant_id")
	if cursor != "" {
		w.and("id > $%d", cursor)
	}
	return queryAll(ctx, s, "list webhooks", `SELECT `+webhookEndpointColumns+` FROM webhook_endpoints`+w.sql.String()+
		` ORDER BY id LIMIT `+w.next(clampLimit(limit)), s.scanWebhookEndpoint, w.args...)
}

// UpdateWebhookEndpoint writes e's url, events, disabled flag and
// description (not its tenant, not its secret) if e is inside the scope.
func (s *Store) UpdateWebhookEndpoint(ctx context.Context, sc wxfleet.Scope, e *wxfleet.WebhookEndpoint) error {
	events, err := json.Marshal(e.Events)
	if err != nil {
		return invalid("events 无法编码 / events cannot be encoded: %v", err)
	}
	var w where
	set := `UPDATE webhook_endpoints SET url = ` + w.next(e.URL) + `, events = ` + w.next(string(events)) +
		`, disabled = ` + w.next(boolInt(e.Disabled)) + `, description = ` + w.next(e.Description) +
		`, updated_at = ` + w.next(toMillis(e.UpdatedAt))
	w.sql.WriteString(" WHERE component_appid = " + w.next(e.ComponentAppID) + " AND id = " + w.next(e.ID))
	w.scoped(sc, "tenant_id")
	res, err := s.write.ExecContext(ctx, set+w.sql.String(), w.args...)
	return oneRow(res, err, "update webhook", func() error { return webhookNotFound(e.ID) })
}

// SetWebhookSecret replaces an endpoint's signing secret.
func (s *Store) SetWebhookSecret(ctx context.Context, sc wxfleet.Scope, componentAppID, id string, secret wxfleet.Secret, now time.Time) error {
	if secret == "" {
		return invalid("密钥不能为空 / the secret must not be empty")
	}
	var w where
	set := `UPDATE webhook_endpoints SET secret_sealed = ` + w.next(s.sealAt(secret, colWebhookSecret, id)) + `, updated_at = ` + w.next(toMillis(now))
	w.sql.WriteString(" WHERE component_appid = " + w.next(componentAppID) + " AND id = " + w.next(id))
	w.scoped(sc, "tenant_id")
	res, err := s.write.ExecContext(ctx, set+w.sql.String(), w.args...)
	return oneRow(res, err, "rotate webhook secret", func() error { return webhookNotFound(id) })
}

// DeleteWebhookEndpoint removes an endpoint with its deliveries and their
// attempts; the delivery jobs still queued find nothing and stop.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, sc wxfleet.Scope, componentAppID, id string) error {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("id = $%d", id)
	w.scoped(sc, "tenant_id")
	res, err := s.write.ExecContext(ctx, `DELETE FROM webhook_endpoints`+w.sql.String(), w.args...)
	return oneRow(res, err, "delete webhook", func() error { return webhookNotFound(id) })
}

// TxOf returns the store's methods on tx, a transaction of this store's
// write pool: the one a Then hook runs in.
func (s *Store) TxOf(tx *sql.Tx) *Tx { return &Tx{s: s, tx: tx} }

// HasWebhookEndpoints reports whether the platform has an enabled endpoint
// subscribed to events of type typ (of any tenant): the cheap check (a
// read) that lets an event nobody listens to cost no write transaction.
// componentAppID "" asks about every platform's.
func (s *Store) HasWebhookEndpoints(ctx context.Context, componentAppID, typ string) (bool, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT events FROM webhook_endpoints
		WHERE (component_appid = $1 OR $1 = '') AND disabled = 0`, componentAppID)
	if err != nil {
		return false, dbErr("has webhooks", err)
	}
	defer rows.Close()
	for rows.Next() {
		var events string
		if err := rows.Scan(&events); err != nil {
			return false, dbErr("has webhooks", err)
		}
		var e wxfleet.WebhookEndpoint
		if json.Unmarshal([]byte(events), &e.Events) == nil && e.Wants(typ) {
			return true, nil
		}
	}
	return false, dbErr("has webhooks", rows.Err())
}

// WebhookEndpointsFor returns the platform's enabled endpoints that may
// receive events of tenantID: those of every tenant (0) and that tenant's.
// componentAppID "" (an event of a tenant, not of one platform) takes every
// platform's. The caller filters them by event type (WebhookEndpoint.Wants).
func (tx *Tx) WebhookEndpointsFor(ctx context.Context, componentAppID string, tenantID int64) ([]*wxfleet.WebhookEndpoint, error) {
	rows, err := tx.tx.QueryContext(ctx, `SELECT `+webhookEndpointColumns+` FROM webhook_endpoints
		WHERE (component_appid = $1 OR $1 = '') AND disabled = 0 AND tenant_id IN (0, $2) ORDER BY id`, componentAppID, tenantID)
	if err != nil {
		return nil, dbErr("webhooks for event", err)
	}
	defer rows.Close()
	var out []*wxfleet.WebhookEndpoint
	for rows.Next() {
		e, err := tx.s.scanWebhookEndpoint(rows)
		if err != nil {
			return nil, dbErr("webhooks for event", err)
		}
		out = append(out, e)
	}
	return out, dbErr("webhooks for event", rows.Err())
}

// InsertWebhookEvent adds ev to the outbox; inserted is false when an event
// with its id is there already (the same happening reported twice: a push
// retried by WeChat, a job run again), and then nothing is written.
func (tx *Tx) InsertWebhookEvent(ctx context.Context, ev *wxfleet.WebhookEvent) (inserted bool, err error) {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO webhook_events (id, component_appid, type, appid, tenant_id, payload, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
		ev.ID, ev.ComponentAppID, ev.Type, ev.AppID, ev.TenantID, string(ev.Payload), toMillis(ev.CreatedAt))
	if err != nil {
		return false, dbErr("insert webhook event", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbErr("insert webhook event", err)
}

// InsertWebhookDeliveries adds pending deliveries (ids set by the caller).
func (tx *Tx) InsertWebhookDeliveries(ctx context.Context, ds []*wxfleet.WebhookDelivery) error {
	for _, d := range ds {
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, component_appid, tenant_id, event_id,
			event_type, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			d.ID, d.EndpointID, d.ComponentAppID, d.TenantID, d.EventID, d.EventType, string(wxfleet.DeliveryPending),
			toMillis(d.CreatedAt), toMillis(d.CreatedAt)); err != nil {
			return dbErr("insert webhook delivery", err)
		}
	}
	return nil
}

// AuthorizerTenant returns the tenant an authorizer belongs to, 0 for none.
// It reads in the transaction, so an authorizer saved in it counts. Until
// the tenants' migration has given authorizers a tenant_id column, every
// authorizer belongs to none.
func (tx *Tx) AuthorizerTenant(ctx context.Context, componentAppID, appID string) (int64, error) {
	if appID == "" || !tx.s.hasAuthorizerTenant(ctx) {
		return 0, nil
	}
	var id sql.NullInt64
	err := tx.tx.QueryRowContext(ctx, `SELECT tenant_id FROM authorizers WHERE component_appid = $1 AND appid = $2`,
		componentAppID, appID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id.Int64, dbErr("authorizer tenant", err)
}

// hasAuthorizerTenant tells whether authorizers has a tenant_id column. It
// asks outside any transaction (a failed statement would abort a PostgreSQL
// transaction) and remembers the answer: the schema changes only at Migrate,
// before the server runs.
func (s *Store) hasAuthorizerTenant(ctx context.Context) bool {
	switch s.authorizerTenant.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	rows, err := s.read.QueryContext(ctx, `SELECT tenant_id FROM authorizers WHERE 1 = 0`)
	if err == nil {
		rows.Close()
		s.authorizerTenant.Store(1)
		return true
	}
	if ctx.Err() == nil && strings.Contains(strings.ToLower(err.Error()), "tenant_id") {
		s.authorizerTenant.Store(2)
	}
	return false
}

const webhookDeliveryColumns = `id, endpoint_id, component_appid, tenant_id, event_id, event_type, status, attempts,
	last_status, last_error, created_at, updated_at, delivered_at`

func scanWebhookDelivery(row interface{ Scan(...any) error }) (*wxfleet.WebhookDelivery, error) {
	var d wxfleet.WebhookDelivery
	var status string
	var created, updated, delivered int64
	if err := row.Scan(&d.ID, &d.EndpointID, &d.ComponentAppID, &d.TenantID, &d.EventID, &d.EventType, &status, &d.Attempts,
		&d.LastStatusCode, &d.LastError, &created, &updated, &delivered); err != nil {
		return nil, err
	}
	d.Status = wxfleet.DeliveryStatus(status)
	d.CreatedAt, d.UpdatedAt, d.DeliveredAt = fromMillis(created), fromMillis(updated), fromMillis(delivered)
	return &d, nil
}

func deliveryNotFound(id string) error {
	return notFound("没有这个投递：%s / no webhook delivery %s", id, id)
}

// WebhookDeliveryFilter selects a page of deliveries.
type WebhookDeliveryFilter struct {
	EndpointID string                 // "" for every endpoint of the platform
	Status     wxfleet.DeliveryStatus // "" for every status
	Cursor     string                 // deliveries older than this id (the last of the previous page)
	Limit      int                    // 0 → 50, at most 1000
}

// ListWebhookDeliveries returns a page of a platform's deliveries inside the
// scope, newest first, each with its attempts.
func (s *Store) ListWebhookDeliveries(ctx context.Context, sc wxfleet.Scope, componentAppID string, f WebhookDeliveryFilter) ([]*wxfleet.WebhookDelivery, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.scoped(sc, "tenant_id")
	if f.EndpointID != "" {
		w.and("endpoint_id = $%d", f.EndpointID)
	}
	if f.Status != "" {
		w.and("status = $%d", string(f.Status))
	}
	if f.Cursor != "" {
		w.and("id < $%d", f.Cursor)
	}
	list, err := queryAll(ctx, s, "list webhook deliveries", `SELECT `+webhookDeliveryColumns+` FROM webhook_deliveries`+
		w.sql.String()+` ORDER BY id DESC LIMIT `+w.next(clampLimit(f.Limit)), scanWebhookDelivery, w.args...)
	if err != nil || len(list) == 0 {
		return list, err
	}
	return list, s.attachAttempts(ctx, list)
}

// attachAttempts fills each delivery's AttemptLog with one query.
func (s *Store) attachAttempts(ctx context.Context, list []*wxfleet.WebhookDelivery) error {
	byID := make(map[string]*wxfleet.WebhookDelivery, len(list))
	args := make([]any, len(list))
	for i, d := range list {
		byID[d.ID] = d
		args[i] = d.ID
	}
	rows, err := s.read.QueryContext(ctx, `SELECT delivery_id, attempt, status_code, error, duration_ms, at FROM webhook_attempts
		WHERE delivery_id IN `+placeholders(1, len(list))+` ORDER BY delivery_id, attempt`, args...)
	if err != nil {
		return dbErr("webhook attempts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a wxfleet.WebhookAttempt
		var ms, at int64
		if err := rows.Scan(&id, &a.Attempt, &a.StatusCode, &a.Error, &ms, &at); err != nil {
			return dbErr("webhook attempts", err)
		}
		a.Duration, a.At = time.Duration(ms)*time.Millisecond, fromMillis(at)
		if d := byID[id]; d != nil {
			d.AttemptLog = append(d.AttemptLog, a)
		}
	}
	return dbErr("webhook attempts", rows.Err())
}

// WebhookDelivery returns one delivery inside the scope, with its attempts
// and its event.
func (s *Store) WebhookDelivery(ctx context.Context, sc wxfleet.Scope, componentAppID, id string) (*wxfleet.WebhookDelivery, *wxfleet.WebhookEvent, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("id = $%d", id)
	w.scoped(sc, "tenant_id")
	d, err := scanWebhookDelivery(s.read.QueryRowContext(ctx, `SELECT `+webhookDeliveryColumns+` FROM webhook_deliveries`+w.sql.String(), w.args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, deliveryNotFound(id)
	}
	if err != nil {
		return nil, nil, dbErr("get webhook delivery", err)
	}
	if err := s.attachAttempts(ctx, []*wxfleet.WebhookDelivery{d}); err != nil {
		return nil, nil, err
	}
	ev, err := s.webhookEvent(ctx, d.EventID)
	return d, ev, err
}

func (s *Store) webhookEvent(ctx context.Context, id string) (*wxfleet.WebhookEvent, error) {
	var ev wxfleet.WebhookEvent
	var payload string
	var created int64
	err := s.read.QueryRowContext(ctx, `SELECT id, component_appid, type, appid, tenant_id, payload, created_at FROM webhook_events WHERE id = $1`, id).
		Scan(&ev.ID, &ev.ComponentAppID, &ev.Type, &ev.AppID, &ev.TenantID, &payload, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("没有这个事件：%s / no webhook event %s", id, id)
	}
	ev.Payload, ev.CreatedAt = json.RawMessage(payload), fromMillis(created)
	return &ev, dbErr("get webhook event", err)
}

// WebhookDeliveryWork is what one delivery attempt needs: the delivery, its
// endpoint (secret opened) and its event. It is read by delivery id alone:
// the job that carries the id is the system's, not a person's.
func (s *Store) WebhookDeliveryWork(ctx context.Context, id string) (*wxfleet.WebhookDelivery, *wxfleet.WebhookEndpoint, *wxfleet.WebhookEvent, error) {
	d, err := scanWebhookDelivery(s.read.QueryRowContext(ctx, `SELECT `+webhookDeliveryColumns+` FROM webhook_deliveries WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil, deliveryNotFound(id)
	}
	if err != nil {
		return nil, nil, nil, dbErr("get webhook delivery", err)
	}
	e, err := s.WebhookEndpoint(ctx, wxfleet.Scope{}, d.ComponentAppID, d.EndpointID)
	if err != nil {
		return nil, nil, nil, err
	}
	ev, err := s.webhookEvent(ctx, d.EventID)
	if err != nil {
		return nil, nil, nil, err
	}
	return d, e, ev, nil
}

// RecordWebhookAttempt logs an attempt of a pending delivery and moves it to
// status (pending again, delivered or dead), in one transaction; it returns
// the attempt's number. A delivery that is no longer pending (or gone) is
// left alone: ENOTFOUND.
func (s *Store) RecordWebhookAttempt(ctx context.Context, id string, a wxfleet.WebhookAttempt, status wxfleet.DeliveryStatus) (int, error) {
	if !status.Valid() {
		return 0, invalid("未知的投递状态 %q / unknown delivery status %q", status, status)
	}
	q := `UPDATE webhook_deliveries SET attempts = attempts + 1, status = $2, last_status = $3, last_error = $4, updated_at = $5`
	if status == wxfleet.DeliveryDelivered {
		q += `, delivered_at = $5`
	}
	q += ` WHERE id = $1 AND status = 'pending' RETURNING attempts`
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, q, id, string(status), a.StatusCode, a.Error, toMillis(a.At)).Scan(&n); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, n, a.StatusCode, a.Error, a.Duration.Milliseconds(), toMillis(a.At))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, deliveryNotFound(id)
	}
	return n, dbErr("record webhook attempt", err)
}

// RedeliverWebhook makes a delivered or dead delivery inside the scope
// pending again, with then (which enqueues its job) in the same
// transaction. A delivery still pending is being retried already: ECONFLICT.
func (s *Store) RedeliverWebhook(ctx context.Context, sc wxfleet.Scope, componentAppID, id string, now time.Time, then Then) error {
	var w where
	set := `UPDATE webhook_deliveries SET status = 'pending', updated_at = ` + w.next(toMillis(now))
	w.sql.WriteString(" WHERE component_appid = " + w.next(componentAppID) + " AND id = " + w.next(id))
	w.scoped(sc, "tenant_id")
	w.and("status <> $%d", string(wxfleet.DeliveryPending))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, set+w.sql.String(), w.args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return sql.ErrNoRows
		}
		return then.run(ctx, tx)
	})
	if errors.Is(err, sql.ErrNoRows) {
		if _, _, gerr := s.WebhookDelivery(ctx, sc, componentAppID, id); gerr != nil {
			return gerr
		}
		return wxfleet.Errorf(wxfleet.ECONFLICT, "该投递仍在重试中 / this delivery is still being retried")
	}
	return dbErr("redeliver webhook", err)
}

// PruneWebhookEvents deletes up to limit (≤ 0 → 1000) events made before
// before, with their deliveries and attempts, except those with a delivery
// still pending; it returns how many it deleted.
func (s *Store) PruneWebhookEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	res, err := s.write.ExecContext(ctx, `DELETE FROM webhook_events WHERE id IN (
		SELECT e.id FROM webhook_events e WHERE e.created_at < $1 AND NOT EXISTS (
			SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
		LIMIT $2)`, toMillis(before), limit)
	if err != nil {
		return 0, dbErr("prune webhook events", err)
	}
	n, err := res.RowsAffected()
	return int(n), dbErr("prune webhook events", err)
}

// AuditDecidedSince reports whether a rollout of the platform moved appID
// out of auditing (approved, rejected, released since) at or after since:
// then the rollout sent the audit result out, and a late push repeating it
// must not (see rollout's pushedAuditEvent).
func (s *Store) AuditDecidedSince(ctx context.Context, componentAppID, appID string, since time.Time) (bool, error) {
	var one int
	err := s.read.QueryRowContext(ctx, `SELECT 1 FROM rollout_apps
		WHERE component_appid = $1 AND appid = $2 AND audit_id > 0 AND state IN ($3, $4, $5) AND updated_at >= $6 LIMIT 1`,
		componentAppID, appID, string(wxfleet.AppApproved), string(wxfleet.AppRejected), string(wxfleet.AppReleased), toMillis(since)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, dbErr("audit decided since", err)
}
