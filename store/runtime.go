package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/wxfleet/wxfleet"
)

// Runtime sessions: the mini-program users who logged in through the runtime
// API (package runtimeapi). A row is found by the digest of its token, which
// only the mini program holds; it names its platform and mini program, so
// one app's token never reads another's settings. The session_key is sealed
// bound to its row.

// CreateRuntimeSession stores a new session, removing up to a hundred that
// expired by its creation time on the way (a bounded delete: a login after a
// quiet week does not wait for a large one). The authorizer must exist.
func (s *Store) CreateRuntimeSession(ctx context.Context, rs *wxfleet.RuntimeSession) error {
	if rs.TokenDigest == "" || rs.AppID == "" || rs.OpenID == "" {
		return invalid("会话缺少摘要、appid 或 openid / a runtime session needs a digest, an appid and an openid")
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM runtime_sessions WHERE token_digest IN
			(SELECT token_digest FROM runtime_sessions WHERE expires_at <= $1 LIMIT 100)`, toMillis(rs.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO runtime_sessions
			(token_digest, component_appid, appid, openid, unionid, session_key_sealed, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			rs.TokenDigest, rs.ComponentAppID, rs.AppID, rs.OpenID, rs.UnionID,
			s.sealAt(rs.SessionKey, colSessionKey, rs.ComponentAppID, rs.AppID, rs.TokenDigest),
			toMillis(rs.CreatedAt), toMillis(rs.ExpiresAt))
		return err
	})
	if isForeignKeyViolation(err) {
		return authorizerNotFound(rs.ComponentAppID, rs.AppID)
	}
	return dbErr("create runtime session", err)
}

// RuntimeSession returns the session with this digest that is live at now,
// without its session_key; ENOTFOUND when there is none or it expired.
func (s *Store) RuntimeSession(ctx context.Context, digest string, now time.Time) (*wxfleet.RuntimeSession, error) {
	rs, _, err := s.runtimeSession(ctx, digest, now)
	return rs, err
}

// RuntimeSessionKey returns the live session with this digest with its
// session_key opened: for the calls that decrypt the user's data.
func (s *Store) RuntimeSessionKey(ctx context.Context, digest string, now time.Time) (*wxfleet.RuntimeSession, error) {
	rs, sealed, err := s.runtimeSession(ctx, digest, now)
	if err != nil {
		return nil, err
	}
	if rs.SessionKey, err = s.openAt(sealed, colSessionKey, rs.ComponentAppID, rs.AppID, rs.TokenDigest); err != nil {
		return nil, err
	}
	return rs, nil
}

func (s *Store) runtimeSession(ctx context.Context, digest string, now time.Time) (*wxfleet.RuntimeSession, string, error) {
	var (
		rs               wxfleet.RuntimeSession
		sealed           string
		created, expires int64
	)
	err := s.read.QueryRowContext(ctx, `SELECT token_digest, component_appid, appid, openid, unionid, session_key_sealed, created_at, expires_at
		FROM runtime_sessions WHERE token_digest = $1`, digest).
		Scan(&rs.TokenDigest, &rs.ComponentAppID, &rs.AppID, &rs.OpenID, &rs.UnionID, &sealed, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", notFound("会话不存在或已过期 / no such session, or it expired")
	}
	if err != nil {
		return nil, "", dbErr("read runtime session", err)
	}
	rs.CreatedAt, rs.ExpiresAt = fromMillis(created), fromMillis(expires)
	if !now.Before(rs.ExpiresAt) {
		return nil, "", notFound("会话不存在或已过期 / no such session, or it expired")
	}
	return &rs, sealed, nil
}

// DeleteRuntimeSession ends a session (logout); ending one that does not
// exist is not an error.
func (s *Store) DeleteRuntimeSession(ctx context.Context, digest string) error {
	_, err := s.write.ExecContext(ctx, `DELETE FROM runtime_sessions WHERE token_digest = $1`, digest)
	return dbErr("delete runtime session", err)
}
