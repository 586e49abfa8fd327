package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/wxfleet/wxfleet"
)

// Cards and coupons (卡券): the classes the platform created, their review
// as pushed, and the codes users hold. Every method is idempotent, so
// WeChat's retries of a push change nothing the first delivery did not.
// Reads take a wxfleet.Scope: a merchant sees only its tenant's cards.

func nullTenant(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// PutCard records a card class just created, pending review. A review that
// arrived first (a push racing the create's answer) is kept.
func (s *Store) PutCard(ctx context.Context, c *wxfleet.Card) error {
	if c.CardID == "" || c.AppID == "" {
		return invalid("卡券缺少 card_id 或 appid / a card needs a card_id and an appid")
	}
	_, err := s.write.ExecContext(ctx, `INSERT INTO cards
		(component_appid, appid, card_id, tenant_id, card_type, title, review_status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (component_appid, appid, card_id) DO UPDATE SET
			tenant_id = excluded.tenant_id, card_type = excluded.card_type, title = excluded.title,
			created_at = excluded.created_at`,
		c.ComponentAppID, c.AppID, c.CardID, nullTenant(c.TenantID), c.CardType, c.Title, wxfleet.CardPending, toMillis(c.CreatedAt))
	if isForeignKeyViolation(err) {
		return authorizerNotFound(c.ComponentAppID, c.AppID)
	}
	return dbErr("put card", err)
}

// SetCardReview records WeChat's review of a card: approved, or rejected
// with its reason. A card the platform did not create (made through the
// forwarding API, say) gets a row of its own.
func (s *Store) SetCardReview(ctx context.Context, componentAppID, appID, cardID string, approved bool, reason string, at time.Time) error {
	status := wxfleet.CardApproved
	if !approved {
		status = wxfleet.CardRejected
	} else {
		reason = ""
	}
	_, err := s.write.ExecContext(ctx, `INSERT INTO cards
		(component_appid, appid, card_id, review_status, refuse_reason, reviewed_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)
		ON CONFLICT (component_appid, appid, card_id) DO UPDATE SET
			review_status = excluded.review_status, refuse_reason = excluded.refuse_reason, reviewed_at = excluded.reviewed_at`,
		componentAppID, appID, cardID, status, reason, toMillis(at))
	if isForeignKeyViolation(err) {
		return authorizerNotFound(componentAppID, appID)
	}
	return dbErr("set card review", err)
}

// RecordCardReceived records that a user received a code (user_get_card);
// inserted is false when it was known (a retried push).
func (s *Store) RecordCardReceived(ctx context.Context, componentAppID, appID, cardID, code, openID string, at time.Time) (inserted bool, err error) {
	if code == "" || cardID == "" {
		return false, invalid("缺少卡券 code 或 card_id / a card code needs its code and card_id")
	}
	res, err := s.write.ExecContext(ctx, `INSERT INTO card_codes (component_appid, appid, card_id, code, openid, received_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (component_appid, appid, card_id, code) DO NOTHING`,
		componentAppID, appID, cardID, code, openID, toMillis(at))
	if err != nil {
		return false, dbErr("record card received", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// RecordCardConsumed records that a code was redeemed (our consume call, or
// user_consume_card). The first time wins: a later one keeps its time and
// source, and first reports which it was. A consume seen before its
// user_get_card records the code too.
func (s *Store) RecordCardConsumed(ctx context.Context, componentAppID, appID, cardID, code, openID, source string, at time.Time) (first bool, err error) {
	if code == "" || cardID == "" {
		return false, invalid("缺少卡券 code 或 card_id / a card code needs its code and card_id")
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var consumed sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT consumed_at FROM card_codes
			WHERE component_appid = $1 AND appid = $2 AND card_id = $3 AND code = $4`,
			componentAppID, appID, cardID, code).Scan(&consumed)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			first = true
			_, err = tx.ExecContext(ctx, `INSERT INTO card_codes
				(component_appid, appid, card_id, code, openid, received_at, consumed_at, consume_source)
				VALUES ($1, $2, $3, $4, $5, $6, $6, $7)`, componentAppID, appID, cardID, code, openID, toMillis(at), source)
			return err
		case err != nil:
			return err
		case consumed.Valid:
			return nil
		}
		first = true
		_, err = tx.ExecContext(ctx, `UPDATE card_codes SET consumed_at = $5, consume_source = $6
			WHERE component_appid = $1 AND appid = $2 AND card_id = $3 AND code = $4`,
			componentAppID, appID, cardID, code, toMillis(at), source)
		return err
	})
	return first, dbErr("record card consumed", err)
}

const cardColumns = `SELECT c.component_appid, c.appid, c.card_id, c.tenant_id, c.card_type, c.title, c.review_status,
	c.refuse_reason, c.reviewed_at, c.created_at,
	(SELECT COUNT(*) FROM card_codes k WHERE k.component_appid = c.component_appid AND k.appid = c.appid AND k.card_id = c.card_id),
	(SELECT COUNT(k.consumed_at) FROM card_codes k WHERE k.component_appid = c.component_appid AND k.appid = c.appid AND k.card_id = c.card_id)
	FROM cards c`

func scanCard(row interface{ Scan(...any) error }) (*wxfleet.Card, error) {
	var (
		c        wxfleet.Card
		tenant   sql.NullInt64
		reviewed sql.NullInt64
		created  int64
	)
	if err := row.Scan(&c.ComponentAppID, &c.AppID, &c.CardID, &tenant, &c.CardType, &c.Title, &c.ReviewStatus,
		&c.RefuseReason, &reviewed, &created, &c.Issued, &c.Redeemed); err != nil {
		return nil, err
	}
	c.TenantID, c.ReviewedAt, c.CreatedAt = tenant.Int64, fromMillis(reviewed.Int64), fromMillis(created)
	return &c, nil
}

// Cards lists an official account's cards inside scope, newest first, with
// their issued and redeemed counts.
func (s *Store) Cards(ctx context.Context, scope wxfleet.Scope, componentAppID, appID string) ([]*wxfleet.Card, error) {
	rows, err := s.read.QueryContext(ctx, cardColumns+`
		WHERE c.component_appid = $1 AND c.appid = $2 AND (CAST($3 AS BIGINT) = 0 OR c.tenant_id = $3)
		ORDER BY c.created_at DESC, c.card_id`, componentAppID, appID, scope.TenantID)
	if err != nil {
		return nil, dbErr("list cards", err)
	}
	defer rows.Close()
	list := []*wxfleet.Card{}
	for rows.Next() {
		c, err := scanCard(rows)
		if err != nil {
			return nil, dbErr("list cards", err)
		}
		list = append(list, c)
	}
	return list, dbErr("list cards", rows.Err())
}

// Card returns one card inside scope; ENOTFOUND outside it or when unknown.
func (s *Store) Card(ctx context.Context, scope wxfleet.Scope, componentAppID, appID, cardID string) (*wxfleet.Card, error) {
	c, err := scanCard(s.read.QueryRowContext(ctx, cardColumns+`
		WHERE c.component_appid = $1 AND c.appid = $2 AND c.card_id = $3 AND (CAST($4 AS BIGINT) = 0 OR c.tenant_id = $4)`,
		componentAppID, appID, cardID, scope.TenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("没有这张卡券 / no card %s for %s", cardID, appID)
	}
	return c, dbErr("read card", err)
}
