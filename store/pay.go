package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet"
)

// WeChat Pay (package pay, docs/wechat-pay.md): each platform's provider
// merchant and keys, sub-merchant applications, the mini programs bound to
// sub-merchants, orders and payment notifications. Every method takes the
// platform explicitly and every query filters on it.

// PutPayMerchant stores (or replaces) a platform's provider merchant; its
// private key and APIv3 key are sealed, bound to the platform's row.
func (s *Store) PutPayMerchant(ctx context.Context, m *wxfleet.PayMerchant) error {
	if m.ComponentAppID == "" || m.SpMchID == "" || m.PrivateKey == "" || m.APIv3Key == "" {
		return invalid("微信支付商户缺少平台、商户号或密钥 / a pay merchant needs a platform, an sp_mchid and its keys")
	}
	_, err := s.write.ExecContext(ctx, `INSERT INTO pay_merchants (component_appid, sp_mchid, sp_appid, cert_serial,
		private_key_sealed, apiv3_key_sealed, public_key_id, public_key, base_url, notify_url, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (component_appid) DO UPDATE SET sp_mchid = excluded.sp_mchid, sp_appid = excluded.sp_appid,
		cert_serial = excluded.cert_serial, private_key_sealed = excluded.private_key_sealed,
		apiv3_key_sealed = excluded.apiv3_key_sealed, public_key_id = excluded.public_key_id,
		public_key = excluded.public_key, base_url = excluded.base_url, notify_url = excluded.notify_url,
		updated_at = excluded.updated_at`,
		m.ComponentAppID, m.SpMchID, m.SpAppID, m.CertSerial,
		s.sealAt(m.PrivateKey, colPayPrivateKey, m.ComponentAppID), s.sealAt(m.APIv3Key, colPayAPIv3Key, m.ComponentAppID),
		m.PublicKeyID, m.PublicKey, m.BaseURL, m.NotifyURL, toMillis(m.UpdatedAt))
	return platformErr("put pay merchant", m.ComponentAppID, err)
}

// PayMerchant returns a platform's provider merchant with its keys opened;
// ENOTFOUND when WeChat Pay is not configured for it.
func (s *Store) PayMerchant(ctx context.Context, componentAppID string) (*wxfleet.PayMerchant, error) {
	var (
		m           wxfleet.PayMerchant
		key, apiKey string
		updated     int64
	)
	err := s.read.QueryRowContext(ctx, `SELECT component_appid, sp_mchid, sp_appid, cert_serial, private_key_sealed,
		apiv3_key_sealed, public_key_id, public_key, base_url, notify_url, updated_at FROM pay_merchants WHERE component_appid = $1`,
		componentAppID).Scan(&m.ComponentAppID, &m.SpMchID, &m.SpAppID, &m.CertSerial, &key, &apiKey, &m.PublicKeyID,
		&m.PublicKey, &m.BaseURL, &m.NotifyURL, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("平台 %s 未配置微信支付 / WeChat Pay is not configured for platform %s", componentAppID, componentAppID)
	}
	if err != nil {
		return nil, dbErr("read pay merchant", err)
	}
	m.UpdatedAt = fromMillis(updated)
	if m.PrivateKey, err = s.openAt(key, colPayPrivateKey, componentAppID); err != nil {
		return nil, err
	}
	if m.APIv3Key, err = s.openAt(apiKey, colPayAPIv3Key, componentAppID); err != nil {
		return nil, err
	}
	return &m, nil
}

// PayMerchants lists every platform's provider merchant, keys opened.
func (s *Store) PayMerchants(ctx context.Context) ([]*wxfleet.PayMerchant, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT component_appid FROM pay_merchants ORDER BY component_appid`)
	if err != nil {
		return nil, dbErr("list pay merchants", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, dbErr("list pay merchants", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	var out []*wxfleet.PayMerchant
	for _, id := range ids {
		m, err := s.PayMerchant(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// SavePayApplyment stores an application by its business_code: a new one,
// or the resubmission of one (its form and WeChat Pay's answer replace the
// old). The form is sealed, bound to (platform, business_code). It sets a.ID.
func (s *Store) SavePayApplyment(ctx context.Context, a *wxfleet.PayApplyment) error {
	if a.ComponentAppID == "" || a.BusinessCode == "" || len(a.Form) == 0 {
		return invalid("申请单缺少平台、业务申请编号或表单 / an application needs a platform, a business_code and a form")
	}
	detail, _ := json.Marshal(nonNilDetail(a.AuditDetail))
	err := s.write.QueryRowContext(ctx, `INSERT INTO pay_applyments (component_appid, business_code, appid, tenant_id, shortname,
		form_sealed, applyment_id, state, state_msg, audit_detail, sign_url, sub_mchid, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
		ON CONFLICT (component_appid, business_code) DO UPDATE SET appid = excluded.appid, tenant_id = excluded.tenant_id,
		shortname = excluded.shortname, form_sealed = excluded.form_sealed, applyment_id = excluded.applyment_id,
		state = excluded.state, state_msg = excluded.state_msg, audit_detail = excluded.audit_detail,
		sign_url = excluded.sign_url, sub_mchid = excluded.sub_mchid, updated_at = excluded.updated_at
		RETURNING id`,
		a.ComponentAppID, a.BusinessCode, a.AppID, a.TenantID, a.Shortname,
		s.sealAt(wxfleet.Secret(a.Form), colPayForm, a.ComponentAppID, a.BusinessCode),
		a.ApplymentID, a.State, a.StateMsg, string(detail), a.SignURL, a.SubMchID, toMillis(a.UpdatedAt)).Scan(&a.ID)
	return platformErr("save pay applyment", a.ComponentAppID, err)
}

func nonNilDetail(d []wxfleet.PayAuditDetail) []wxfleet.PayAuditDetail {
	if d == nil {
		return []wxfleet.PayAuditDetail{}
	}
	return d
}

// UpdatePayApplymentState records what WeChat Pay says of an application.
func (s *Store) UpdatePayApplymentState(ctx context.Context, a *wxfleet.PayApplyment) error {
	detail, _ := json.Marshal(nonNilDetail(a.AuditDetail))
	res, err := s.write.ExecContext(ctx, `UPDATE pay_applyments SET applyment_id = $3, state = $4, state_msg = $5,
		audit_detail = $6, sign_url = $7, sub_mchid = $8, updated_at = $9 WHERE component_appid = $1 AND id = $2`,
		a.ComponentAppID, a.ID, a.ApplymentID, a.State, a.StateMsg, string(detail), a.SignURL, a.SubMchID, toMillis(a.UpdatedAt))
	if err != nil {
		return dbErr("update pay applyment", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("申请单 %d 不存在 / no application %d", a.ID, a.ID)
	}
	return nil
}

const applymentColumns = `id, component_appid, business_code, appid, tenant_id, shortname, form_sealed, applyment_id,
	state, state_msg, audit_detail, sign_url, sub_mchid, created_at, updated_at`

// An application belongs to the tenant its tenant_id names, not to the
// tenant its mini program is on: it is the merchant's own file (licence,
// identity, bank account), its appid only the sales scene, and it stays
// with the tenant that applied if the app moves. One without a tenant is
// the ISV staff's only.
func applymentScoped(w *where, sc wxfleet.Scope) {
	if !sc.All() {
		w.and("tenant_id = $%d", sc.TenantID)
	}
}

// PayApplyment returns an application of the platform by id inside sc, its
// form opened; ENOTFOUND when none or outside sc.
func (s *Store) PayApplyment(ctx context.Context, sc wxfleet.Scope, componentAppID string, id int64) (*wxfleet.PayApplyment, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("id = $%d", id)
	applymentScoped(&w, sc)
	return s.payApplyment(ctx, `SELECT `+applymentColumns+` FROM pay_applyments`+w.sql.String(), w.args...)
}

// PayApplymentByCode returns an application of the platform by its business_code.
func (s *Store) PayApplymentByCode(ctx context.Context, componentAppID, businessCode string) (*wxfleet.PayApplyment, error) {
	return s.payApplyment(ctx, `SELECT `+applymentColumns+` FROM pay_applyments WHERE component_appid = $1 AND business_code = $2`, componentAppID, businessCode)
}

func (s *Store) payApplyment(ctx context.Context, query string, args ...any) (*wxfleet.PayApplyment, error) {
	var (
		a                wxfleet.PayApplyment
		tenant           sql.NullInt64
		form, detail     string
		created, updated int64
	)
	err := s.read.QueryRowContext(ctx, query, args...).Scan(&a.ID, &a.ComponentAppID, &a.BusinessCode, &a.AppID, &tenant,
		&a.Shortname, &form, &a.ApplymentID, &a.State, &a.StateMsg, &detail, &a.SignURL, &a.SubMchID, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("申请单不存在 / no such application")
	}
	if err != nil {
		return nil, dbErr("read pay applyment", err)
	}
	if tenant.Valid {
		a.TenantID = &tenant.Int64
	}
	a.CreatedAt, a.UpdatedAt = fromMillis(created), fromMillis(updated)
	if err := json.Unmarshal([]byte(detail), &a.AuditDetail); err != nil {
		return nil, dbErr("read pay applyment", err)
	}
	plain, err := s.openAt(form, colPayForm, a.ComponentAppID, a.BusinessCode)
	if err != nil {
		return nil, err
	}
	a.Form = json.RawMessage(plain.Reveal())
	return &a, nil
}

// PayApplyments lists a platform's applications inside sc (a tenant's own,
// for a merchant or for a tenant's page), the newest first, without their
// forms (the list never opens the sealed fields).
func (s *Store) PayApplyments(ctx context.Context, sc wxfleet.Scope, componentAppID string, limit int) ([]*wxfleet.PayApplyment, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	var w where
	w.and("component_appid = $%d", componentAppID)
	applymentScoped(&w, sc)
	rows, err := s.read.QueryContext(ctx, `SELECT id, component_appid, business_code, appid, tenant_id, shortname, applyment_id,
		state, state_msg, audit_detail, sign_url, sub_mchid, created_at, updated_at
		FROM pay_applyments`+w.sql.String()+` ORDER BY id DESC LIMIT `+strconv.Itoa(limit), w.args...)
	if err != nil {
		return nil, dbErr("list pay applyments", err)
	}
	defer rows.Close()
	var out []*wxfleet.PayApplyment
	for rows.Next() {
		var (
			a                wxfleet.PayApplyment
			tenant           sql.NullInt64
			detail           string
			created, updated int64
		)
		if err := rows.Scan(&a.ID, &a.ComponentAppID, &a.BusinessCode, &a.AppID, &tenant, &a.Shortname, &a.ApplymentID,
			&a.State, &a.StateMsg, &detail, &a.SignURL, &a.SubMchID, &created, &updated); err != nil {
			return nil, dbErr("list pay applyments", err)
		}
		if tenant.Valid {
			a.TenantID = &tenant.Int64
		}
		a.CreatedAt, a.UpdatedAt = fromMillis(created), fromMillis(updated)
		if err := json.Unmarshal([]byte(detail), &a.AuditDetail); err != nil {
			return nil, dbErr("list pay applyments", err)
		}
		out = append(out, &a)
	}
	return out, dbErr("list pay applyments", rows.Err())
}

// BindPaySubMerchant records that the mini program's payments go to
// sub_mchid, replacing an earlier binding. The authorizer must exist.
func (s *Store) BindPaySubMerchant(ctx context.Context, b *wxfleet.PaySubMerchant) error {
	if b.ComponentAppID == "" || b.AppID == "" || b.SubMchID == "" {
		return invalid("绑定需要 appid 与 sub_mchid / a binding needs an appid and a sub_mchid")
	}
	_, err := s.write.ExecContext(ctx, `INSERT INTO pay_sub_merchants (component_appid, appid, sub_mchid, tenant_id, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (component_appid, appid) DO UPDATE SET sub_mchid = excluded.sub_mchid,
		tenant_id = excluded.tenant_id, created_at = excluded.created_at`,
		b.ComponentAppID, b.AppID, b.SubMchID, b.TenantID, toMillis(b.CreatedAt))
	if isForeignKeyViolation(err) {
		return authorizerNotFound(b.ComponentAppID, b.AppID)
	}
	return dbErr("bind pay sub-merchant", err)
}

// PaySubMerchant returns the binding of a mini program inside sc; ENOTFOUND
// when none or outside sc.
func (s *Store) PaySubMerchant(ctx context.Context, sc wxfleet.Scope, componentAppID, appID string) (*wxfleet.PaySubMerchant, error) {
	var (
		b       wxfleet.PaySubMerchant
		tenant  sql.NullInt64
		created int64
	)
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("appid = $%d", appID)
	appScoped(&w, "pay_sub_merchants", sc)
	err := s.read.QueryRowContext(ctx, `SELECT component_appid, appid, sub_mchid, tenant_id, created_at FROM pay_sub_merchants`+w.sql.String(),
		w.args...).Scan(&b.ComponentAppID, &b.AppID, &b.SubMchID, &tenant, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("小程序 %s 未绑定微信支付特约商户 / mini program %s is bound to no WeChat Pay sub-merchant", appID, appID)
	}
	if err != nil {
		return nil, dbErr("read pay sub-merchant", err)
	}
	if tenant.Valid {
		b.TenantID = &tenant.Int64
	}
	b.CreatedAt = fromMillis(created)
	return &b, nil
}

// PaySubMerchants lists the platform's bindings inside sc (those of the
// tenant's mini programs), by appid.
func (s *Store) PaySubMerchants(ctx context.Context, sc wxfleet.Scope, componentAppID string) ([]*wxfleet.PaySubMerchant, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	appScoped(&w, "pay_sub_merchants", sc)
	rows, err := s.read.QueryContext(ctx, `SELECT component_appid, appid, sub_mchid, tenant_id, created_at FROM pay_sub_merchants`+
		w.sql.String()+` ORDER BY appid`, w.args...)
	if err != nil {
		return nil, dbErr("list pay sub-merchants", err)
	}
	defer rows.Close()
	out := []*wxfleet.PaySubMerchant{}
	for rows.Next() {
		var (
			b       wxfleet.PaySubMerchant
			tenant  sql.NullInt64
			created int64
		)
		if err := rows.Scan(&b.ComponentAppID, &b.AppID, &b.SubMchID, &tenant, &created); err != nil {
			return nil, dbErr("list pay sub-merchants", err)
		}
		if tenant.Valid {
			b.TenantID = &tenant.Int64
		}
		b.CreatedAt = fromMillis(created)
		out = append(out, &b)
	}
	return out, dbErr("list pay sub-merchants", rows.Err())
}

// CreatePayOrder stores a new order; ECONFLICT when the sub-merchant
// already has one with this out_trade_no.
func (s *Store) CreatePayOrder(ctx context.Context, o *wxfleet.PayOrder) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO pay_orders (component_appid, sub_mchid, out_trade_no, appid, openid,
		description, amount, state, prepay_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (sub_mchid, out_trade_no) DO NOTHING`,
		o.ComponentAppID, o.SubMchID, o.OutTradeNo, o.AppID, o.OpenID, o.Description, o.Amount, o.State, o.PrepayID, toMillis(o.CreatedAt))
	if err != nil {
		return platformErr("create pay order", o.ComponentAppID, err)
	}
	old, err := s.PayOrder(ctx, wxfleet.Scope{}, o.ComponentAppID, o.SubMchID, o.OutTradeNo)
	if err != nil {
		return err
	}
	if !old.CreatedAt.Equal(fromMillis(toMillis(o.CreatedAt))) || old.OpenID != o.OpenID || old.Amount != o.Amount ||
		old.Description != o.Description || old.AppID != o.AppID {
		return wxfleet.Errorf(wxfleet.ECONFLICT, "商户订单号 %s 已被使用 / out_trade_no %s is taken", o.OutTradeNo, o.OutTradeNo)
	}
	return nil
}

// DropUnplacedPayOrder removes an order WeChat Pay refused: one still
// unpaid and without a prepay_id.
func (s *Store) DropUnplacedPayOrder(ctx context.Context, componentAppID, subMchID, outTradeNo string) error {
	_, err := s.write.ExecContext(ctx, `DELETE FROM pay_orders WHERE component_appid = $1 AND sub_mchid = $2 AND out_trade_no = $3
		AND state = $4 AND prepay_id = ''`, componentAppID, subMchID, outTradeNo, wxfleet.OrderNotPaid)
	return dbErr("drop pay order", err)
}

// SetPayOrderPrepay records the prepay_id WeChat Pay gave an order.
func (s *Store) SetPayOrderPrepay(ctx context.Context, componentAppID, subMchID, outTradeNo, prepayID string) error {
	_, err := s.write.ExecContext(ctx, `UPDATE pay_orders SET prepay_id = $4 WHERE component_appid = $1 AND sub_mchid = $2 AND out_trade_no = $3`,
		componentAppID, subMchID, outTradeNo, prepayID)
	return dbErr("set pay order prepay_id", err)
}

const orderColumns = `component_appid, sub_mchid, out_trade_no, appid, openid, description, amount, state, prepay_id,
	transaction_id, created_at, paid_at`

func scanOrder(sc interface{ Scan(...any) error }) (*wxfleet.PayOrder, error) {
	var (
		o             wxfleet.PayOrder
		created, paid int64
	)
	if err := sc.Scan(&o.ComponentAppID, &o.SubMchID, &o.OutTradeNo, &o.AppID, &o.OpenID, &o.Description, &o.Amount,
		&o.State, &o.PrepayID, &o.TransactionID, &created, &paid); err != nil {
		return nil, err
	}
	o.CreatedAt = fromMillis(created)
	if paid != 0 {
		o.PaidAt = fromMillis(paid)
	}
	return &o, nil
}

// PayOrder returns one order of the platform inside sc (an order of one of
// the tenant's mini programs); ENOTFOUND outside it.
func (s *Store) PayOrder(ctx context.Context, sc wxfleet.Scope, componentAppID, subMchID, outTradeNo string) (*wxfleet.PayOrder, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("sub_mchid = $%d", subMchID)
	w.and("out_trade_no = $%d", outTradeNo)
	appScoped(&w, "pay_orders", sc)
	o, err := scanOrder(s.read.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM pay_orders`+w.sql.String(), w.args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("订单 %s 不存在 / no order %s", outTradeNo, outTradeNo)
	}
	return o, dbErr("read pay order", err)
}

// PayOrders lists a mini program's orders inside sc, newest first ("" appid:
// all of the platform's, for a merchant all of its tenant's mini programs').
func (s *Store) PayOrders(ctx context.Context, sc wxfleet.Scope, componentAppID, appID string, limit int) ([]*wxfleet.PayOrder, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	if appID != "" {
		w.and("appid = $%d", appID)
	}
	appScoped(&w, "pay_orders", sc)
	q := `SELECT ` + orderColumns + ` FROM pay_orders` + w.sql.String() +
		` ORDER BY created_at DESC, out_trade_no DESC LIMIT ` + strconv.Itoa(clampLimit(limit))
	rows, err := s.read.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, dbErr("list pay orders", err)
	}
	defer rows.Close()
	out := []*wxfleet.PayOrder{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, dbErr("list pay orders", err)
		}
		out = append(out, o)
	}
	return out, dbErr("list pay orders", rows.Err())
}

// RecordPayNotification stores a decrypted payment notification once (by
// its id, and by its event and transaction) and, for a successful
// transaction, marks its order paid, in one transaction. It tells whether
// the notification was new; a replay stores nothing and changes nothing.
// then, if not nil, runs in that transaction when the notification is new
// (the webhook event it emits commits with it, once).
func (s *Store) RecordPayNotification(ctx context.Context, n *wxfleet.PayNotification, paidAt time.Time, then Then) (bool, error) {
	if n.ID == "" || n.ComponentAppID == "" {
		return false, invalid("通知缺少 id / a notification needs an id")
	}
	inserted := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if inserted, err = insertPayNotification(ctx, tx, n); err != nil || !inserted {
			return err
		}
		if n.TradeState == wxfleet.OrderPaid {
			if _, err = tx.ExecContext(ctx, `UPDATE pay_orders SET state = $4, transaction_id = $5, paid_at = $6
				WHERE component_appid = $1 AND sub_mchid = $2 AND out_trade_no = $3`,
				n.ComponentAppID, n.SubMchID, n.OutTradeNo, wxfleet.OrderPaid, n.TransactionID, toMillis(paidAt)); err != nil {
				return err
			}
		}
		return then.run(ctx, tx)
	})
	return inserted, dbErr("record pay notification", err)
}

// PayNotifications lists the stored notifications of an order inside sc
// (the order of one of the tenant's mini programs; none outside it).
func (s *Store) PayNotifications(ctx context.Context, sc wxfleet.Scope, componentAppID, subMchID, outTradeNo string) ([]*wxfleet.PayNotification, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("sub_mchid = $%d", subMchID)
	w.and("out_trade_no = $%d", outTradeNo)
	if !sc.All() { // a notification names no app: its order does
		w.and(`EXISTS (SELECT 1 FROM pay_orders o JOIN authorizers sa ON sa.component_appid = o.component_appid AND sa.appid = o.appid
			WHERE o.component_appid = pay_notifications.component_appid AND o.sub_mchid = pay_notifications.sub_mchid
			AND o.out_trade_no = pay_notifications.out_trade_no AND sa.tenant_id = $%d)`, sc.TenantID)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, component_appid, event_type, transaction_id, out_trade_no, sub_mchid,
		trade_state, resource, received_at FROM pay_notifications`+w.sql.String()+` ORDER BY received_at, id`, w.args...)
	if err != nil {
		return nil, dbErr("list pay notifications", err)
	}
	defer rows.Close()
	out := []*wxfleet.PayNotification{}
	for rows.Next() {
		var (
			n        wxfleet.PayNotification
			resource string
			received int64
		)
		if err := rows.Scan(&n.ID, &n.ComponentAppID, &n.EventType, &n.TransactionID, &n.OutTradeNo, &n.SubMchID,
			&n.TradeState, &resource, &received); err != nil {
			return nil, dbErr("list pay notifications", err)
		}
		n.Resource, n.ReceivedAt = json.RawMessage(resource), fromMillis(received)
		out = append(out, &n)
	}
	return out, dbErr("list pay notifications", rows.Err())
}

// PayOrdersByNo returns the platform's orders with this out_trade_no inside
// sc: one, or one per sub-merchant that used it.
func (s *Store) PayOrdersByNo(ctx context.Context, sc wxfleet.Scope, componentAppID, outTradeNo string) ([]*wxfleet.PayOrder, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("out_trade_no = $%d", outTradeNo)
	appScoped(&w, "pay_orders", sc)
	return s.queryOrders(ctx, `SELECT `+orderColumns+` FROM pay_orders`+w.sql.String()+` ORDER BY sub_mchid`, w.args...)
}

// UnpaidPayOrders lists the orders of every platform still unpaid that
// were created in [from, to), the oldest first: those WeChat Pay took (a
// prepay_id), whose notification may have been lost, and with unplaced
// also those whose placing never brought a prepay_id back.
func (s *Store) UnpaidPayOrders(ctx context.Context, from, to time.Time, limit int, unplaced bool) ([]*wxfleet.PayOrder, error) {
	placed := ` AND prepay_id <> ''`
	if unplaced {
		placed = ""
	}
	return s.queryOrders(ctx, `SELECT `+orderColumns+` FROM pay_orders WHERE state = $1`+placed+`
		AND created_at >= $2 AND created_at < $3 ORDER BY created_at, out_trade_no LIMIT `+strconv.Itoa(clampLimit(limit)),
		wxfleet.OrderNotPaid, toMillis(from), toMillis(to))
}

func (s *Store) queryOrders(ctx context.Context, q string, args ...any) ([]*wxfleet.PayOrder, error) {
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr("list pay orders", err)
	}
	defer rows.Close()
	out := []*wxfleet.PayOrder{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, dbErr("list pay orders", err)
		}
		out = append(out, o)
	}
	return out, dbErr("list pay orders", rows.Err())
}

// ClosePayOrder marks an unpaid order closed (WeChat Pay closed it); a paid
// or already closed one is left as it is. It tells whether the order
// changed; then, if not nil, runs in that transaction when it did (the
// webhook event of the close commits with it, once).
func (s *Store) ClosePayOrder(ctx context.Context, componentAppID, subMchID, outTradeNo string, then Then) (bool, error) {
	changed := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE pay_orders SET state = $4 WHERE component_appid = $1 AND sub_mchid = $2
			AND out_trade_no = $3 AND state = $5`, componentAppID, subMchID, outTradeNo, wxfleet.OrderClosed, wxfleet.OrderNotPaid)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		changed = true
		return then.run(ctx, tx)
	})
	return changed, dbErr("close pay order", err)
}

// CreatePayRefund stores a new refund before WeChat Pay sees it; ECONFLICT
// when the sub-merchant has a refund with this out_refund_no for another
// order or amount (the same again is no error: it is asked again).
func (s *Store) CreatePayRefund(ctx context.Context, f *wxfleet.PayRefund) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO pay_refunds (component_appid, sub_mchid, out_refund_no, out_trade_no, appid,
		amount, reason, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (sub_mchid, out_refund_no) DO NOTHING`,
		f.ComponentAppID, f.SubMchID, f.OutRefundNo, f.OutTradeNo, f.AppID, f.Amount, f.Reason, f.Status, toMillis(f.CreatedAt))
	if err != nil {
		return platformErr("create pay refund", f.ComponentAppID, err)
	}
	old, err := s.PayRefund(ctx, f.ComponentAppID, f.SubMchID, f.OutRefundNo)
	if err != nil {
		return err
	}
	if old.OutTradeNo != f.OutTradeNo || old.Amount != f.Amount {
		return wxfleet.Errorf(wxfleet.ECONFLICT, "退款单号 %s 已用于其他退款 / out_refund_no %s is taken by another refund", f.OutRefundNo, f.OutRefundNo)
	}
	return nil
}

// DropUnplacedPayRefund removes a refund WeChat Pay refused (never accepted).
func (s *Store) DropUnplacedPayRefund(ctx context.Context, componentAppID, subMchID, outRefundNo string) error {
	_, err := s.write.ExecContext(ctx, `DELETE FROM pay_refunds WHERE component_appid = $1 AND sub_mchid = $2 AND out_refund_no = $3
		AND status = '' AND refund_id = ''`, componentAppID, subMchID, outRefundNo)
	return dbErr("drop pay refund", err)
}

// SetPayRefundState records what WeChat Pay says of a refund. A refund
// that succeeded stays so (a stale answer does not undo it).
func (s *Store) SetPayRefundState(ctx context.Context, componentAppID, subMchID, outRefundNo, refundID, status string, succeededAt time.Time) error {
	_, err := s.write.ExecContext(ctx, `UPDATE pay_refunds SET refund_id = $4, status = $5, succeeded_at = $6
		WHERE component_appid = $1 AND sub_mchid = $2 AND out_refund_no = $3 AND status <> $7`,
		componentAppID, subMchID, outRefundNo, refundID, status, toMillisOrZero(succeededAt), wxfleet.RefundSuccess)
	return dbErr("set pay refund state", err)
}

func toMillisOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return toMillis(t)
}

const refundColumns = `component_appid, sub_mchid, out_refund_no, out_trade_no, appid, amount, reason, refund_id, status, created_at, succeeded_at`

func scanRefund(sc interface{ Scan(...any) error }) (*wxfleet.PayRefund, error) {
	var (
		f                  wxfleet.PayRefund
		created, succeeded int64
	)
	if err := sc.Scan(&f.ComponentAppID, &f.SubMchID, &f.OutRefundNo, &f.OutTradeNo, &f.AppID, &f.Amount, &f.Reason,
		&f.RefundID, &f.Status, &created, &succeeded); err != nil {
		return nil, err
	}
	f.CreatedAt = fromMillis(created)
	if succeeded != 0 {
		f.SucceededAt = fromMillis(succeeded)
	}
	return &f, nil
}

// PayRefund returns one refund of the platform; ENOTFOUND when none.
func (s *Store) PayRefund(ctx context.Context, componentAppID, subMchID, outRefundNo string) (*wxfleet.PayRefund, error) {
	f, err := scanRefund(s.read.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM pay_refunds
		WHERE component_appid = $1 AND sub_mchid = $2 AND out_refund_no = $3`, componentAppID, subMchID, outRefundNo))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("退款 %s 不存在 / no refund %s", outRefundNo, outRefundNo)
	}
	return f, dbErr("read pay refund", err)
}

// PayRefunds lists an order's refunds, the oldest first. The caller found
// the order inside its scope.
func (s *Store) PayRefunds(ctx context.Context, componentAppID, subMchID, outTradeNo string) ([]*wxfleet.PayRefund, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+refundColumns+` FROM pay_refunds WHERE component_appid = $1 AND sub_mchid = $2
		AND out_trade_no = $3 ORDER BY created_at, out_refund_no`, componentAppID, subMchID, outTradeNo)
	if err != nil {
		return nil, dbErr("list pay refunds", err)
	}
	defer rows.Close()
	out := []*wxfleet.PayRefund{}
	for rows.Next() {
		f, err := scanRefund(rows)
		if err != nil {
			return nil, dbErr("list pay refunds", err)
		}
		out = append(out, f)
	}
	return out, dbErr("list pay refunds", rows.Err())
}

// insertPayNotification stores n unless its id (or its event and
// transaction) is stored already; it tells whether it was new.
func insertPayNotification(ctx context.Context, tx *sql.Tx, n *wxfleet.PayNotification) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO pay_notifications (id, component_appid, event_type, transaction_id,
		out_trade_no, sub_mchid, trade_state, resource, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT DO NOTHING`,
		n.ID, n.ComponentAppID, n.EventType, n.TransactionID, n.OutTradeNo, n.SubMchID, n.TradeState, string(n.Resource), toMillis(n.ReceivedAt))
	if err != nil {
		return false, err
	}
	c, _ := res.RowsAffected()
	return c > 0, nil
}

// RecordRefundNotification stores a decrypted refund notification once (by
// its id, and by its event and refund: n.TransactionID holds the refund_id)
// and records the refund's status, in one transaction. It tells whether
// the notification was new; a replay changes nothing. then runs as in
// RecordPayNotification.
func (s *Store) RecordRefundNotification(ctx context.Context, n *wxfleet.PayNotification, outRefundNo string, succeededAt time.Time, then Then) (bool, error) {
	if n.ID == "" || n.ComponentAppID == "" || n.TransactionID == "" {
		return false, invalid("退款通知缺少 id 或 refund_id / a refund notification needs an id and a refund_id")
	}
	inserted := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if inserted, err = insertPayNotification(ctx, tx, n); err != nil || !inserted {
			return err
		}
		if _, err = tx.ExecContext(ctx, `UPDATE pay_refunds SET refund_id = $4, status = $5, succeeded_at = $6
			WHERE component_appid = $1 AND sub_mchid = $2 AND out_refund_no = $3 AND status <> $7`,
			n.ComponentAppID, n.SubMchID, outRefundNo, n.TransactionID, n.TradeState, toMillisOrZero(succeededAt), wxfleet.RefundSuccess); err != nil {
			return err
		}
		return then.run(ctx, tx)
	})
	return inserted, dbErr("record refund notification", err)
}
