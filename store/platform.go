package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/wxfleet/wxfleet"
)

// UpsertPlatform inserts a platform (第三方平台) or overwrites its name and
// secrets. The token, EncodingAESKey and app secret are stored sealed.
func (s *Store) UpsertPlatform(ctx context.Context, p *wxfleet.Platform) error {
	if p == nil || p.AppID == "" {
		return invalid("平台 component_appid 不能为空 / the platform's component_appid is required")
	}
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO platforms (component_appid, name, token_sealed, aes_key_sealed, secret_sealed)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (component_appid) DO UPDATE SET
			name = excluded.name,
			token_sealed = excluded.token_sealed,
			aes_key_sealed = excluded.aes_key_sealed,
			secret_sealed = excluded.secret_sealed`,
		p.AppID, p.Name, s.sealAt(p.Token, colPlatformToken, p.AppID), s.sealAt(p.AESKey, colPlatformAESKey, p.AppID),
		s.sealAt(p.Secret, colPlatformSecret, p.AppID))
	return dbErr("upsert platform", err)
}

const platformColumns = `component_appid, name, token_sealed, aes_key_sealed, secret_sealed`

func (s *Store) scanPlatform(row interface{ Scan(...any) error }) (*wxfleet.Platform, error) {
	var p wxfleet.Platform
	var token, aesKey, secret string
	if err := row.Scan(&p.AppID, &p.Name, &token, &aesKey, &secret); err != nil {
		return nil, err
	}
	var err error
	if p.Token, err = s.openAt(token, colPlatformToken, p.AppID); err != nil {
		return nil, err
	}
	if p.AESKey, err = s.openAt(aesKey, colPlatformAESKey, p.AppID); err != nil {
		return nil, err
	}
	if p.Secret, err = s.openAt(secret, colPlatformSecret, p.AppID); err != nil {
		return nil, err
	}
	return &p, nil
}

// Platform returns the platform with this component appid, secrets opened.
func (s *Store) Platform(ctx context.Context, componentAppID string) (*wxfleet.Platform, error) {
	p, err := s.scanPlatform(s.read.QueryRowContext(ctx,
		`SELECT `+platformColumns+` FROM platforms WHERE component_appid = $1`, componentAppID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("第三方平台 %s 不存在 / platform %s not found", componentAppID, componentAppID)
	}
	if err != nil {
		return nil, dbErr("get platform", err)
	}
	return p, nil
}

// Platforms returns every platform of this installation, by component appid.
func (s *Store) Platforms(ctx context.Context) ([]*wxfleet.Platform, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+platformColumns+` FROM platforms ORDER BY component_appid`)
	if err != nil {
		return nil, dbErr("list platforms", err)
	}
	defer rows.Close()
	var out []*wxfleet.Platform
	for rows.Next() {
		p, err := s.scanPlatform(rows)
		if err != nil {
			return nil, dbErr("list platforms", err)
		}
		out = append(out, p)
	}
	return out, dbErr("list platforms", rows.Err())
}

// SaveTicket stores a component_verify_ticket (验证票据) sealed, unless the
// platform already holds a newer one: pushes can arrive out of order, and an
// older ticket arriving late must not replace a newer one. Tickets with the
// same CreateTime replace each other (a retried push).
func (s *Store) SaveTicket(ctx context.Context, t *wxfleet.Ticket) error {
	if t == nil || t.ComponentAppID == "" || t.Value == "" {
		return invalid("票据缺少 component_appid 或内容 / the ticket needs a component_appid and a value")
	}
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO tickets (component_appid, ticket_sealed, create_time, received_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (component_appid) DO UPDATE SET
			ticket_sealed = excluded.ticket_sealed,
			create_time = excluded.create_time,
			received_at = excluded.received_at
		WHERE excluded.create_time >= tickets.create_time`,
		t.ComponentAppID, s.sealAt(t.Value, colTicket, t.ComponentAppID), toMillis(t.CreateTime), toMillis(t.ReceivedAt))
	return platformErr("save ticket", t.ComponentAppID, err)
}

// Ticket returns the newest ticket of a platform.
func (s *Store) Ticket(ctx context.Context, componentAppID string) (*wxfleet.Ticket, error) {
	var sealed string
	var created, received int64
	err := s.read.QueryRowContext(ctx,
		`SELECT ticket_sealed, create_time, received_at FROM tickets WHERE component_appid = $1`,
		componentAppID).Scan(&sealed, &created, &received)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("平台 %s 尚未收到 component_verify_ticket / no ticket received yet for platform %s", componentAppID, componentAppID)
	}
	if err != nil {
		return nil, dbErr("get ticket", err)
	}
	value, err := s.openAt(sealed, colTicket, componentAppID)
	if err != nil {
		return nil, err
	}
	return &wxfleet.Ticket{
		ComponentAppID: componentAppID,
		Value:          value,
		CreateTime:     fromMillis(created),
		ReceivedAt:     fromMillis(received),
	}, nil
}

// ComponentToken returns the platform's stored component_access_token (令牌).
func (s *Store) ComponentToken(ctx context.Context, componentAppID string) (*wxfleet.Token, error) {
	var sealed string
	var expires int64
	err := s.read.QueryRowContext(ctx,
		`SELECT token_sealed, expires_at FROM component_tokens WHERE component_appid = $1`,
		componentAppID).Scan(&sealed, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("平台 %s 没有 component_access_token / no component_access_token for platform %s", componentAppID, componentAppID)
	}
	if err != nil {
		return nil, dbErr("get component token", err)
	}
	value, err := s.openAt(sealed, colComponentToken, componentAppID)
	if err != nil {
		return nil, err
	}
	return &wxfleet.Token{Value: value, ExpiresAt: fromMillis(expires)}, nil
}

// SaveComponentToken stores the platform's component_access_token, sealed.
func (s *Store) SaveComponentToken(ctx context.Context, componentAppID string, t wxfleet.Token) error {
	if componentAppID == "" || t.Value == "" {
		return invalid("component_access_token 缺少平台或内容 / the component token needs a platform and a value")
	}
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO component_tokens (component_appid, token_sealed, expires_at)
		VALUES ($1, $2, $3)
		ON CONFLICT (component_appid) DO UPDATE SET
			token_sealed = excluded.token_sealed,
			expires_at = excluded.expires_at`,
		componentAppID, s.sealAt(t.Value, colComponentToken, componentAppID), toMillis(t.ExpiresAt))
	return platformErr("save component token", componentAppID, err)
}
