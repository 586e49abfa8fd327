package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/wxfleet/wxfleet"
)

// CreateConsoleSession stores a console session signed in with the admin
// token (bound to no account) by the digest of its id (the caller keys the
// digest; the id itself lives only in the browser's cookie), valid until
// expires. Sessions that expired are removed on the way.
func (s *Store) CreateConsoleSession(ctx context.Context, digest string, created, expires time.Time) error {
	return s.CreateAccountSession(ctx, digest, nil, created, expires, nil)
}

// CreateAccountSession stores a console session of account a (nil: the
// admin token's), bound to a's current credentials, and writes audit (when
// not nil) in the same transaction.
func (s *Store) CreateAccountSession(ctx context.Context, digest string, a *wxfleet.Account, created, expires time.Time, audit *wxfleet.AuditEntry) error {
	if digest == "" {
		return invalid("会话摘要为空 / empty session digest")
	}
	var accountID, version int64
	if a != nil {
		accountID, version = a.ID, a.CredentialsVersion
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1`, toMillis(created)); err != nil {
			return dbErr("prune console sessions", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO console_sessions (id_digest, created_at, expires_at, account_id, credentials_version)
			VALUES ($1, $2, $3, $4, $5)`, digest, toMillis(created), toMillis(expires), accountID, version); err != nil {
			return dbErr("create console session", err)
		}
		if audit != nil {
			return writeAudit(ctx, tx, audit)
		}
		return nil
	})
}

// ConsoleSession is a live console session: the admin token's (Account
// nil) or an account's.
type ConsoleSession struct {
	Account   *wxfleet.Account
	ExpiresAt time.Time
}

// ConsoleSession returns the session with this digest if it is live at now:
// not expired, and, for an account's, the account is enabled and its
// credentials are still those it signed in with. Otherwise ENOTFOUND.
func (s *Store) ConsoleSession(ctx context.Context, digest string, now time.Time) (*ConsoleSession, error) {
	var expires, accountID, version int64
	err := s.read.QueryRowContext(ctx, `SELECT expires_at, account_id, credentials_version FROM console_sessions WHERE id_digest = $1`,
		digest).Scan(&expires, &accountID, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("会话不存在或已结束 / no such session")
	}
	if err != nil {
		return nil, dbErr("read console session", err)
	}
	if !now.Before(fromMillis(expires)) {
		return nil, notFound("会话已过期 / the session expired")
	}
	out := &ConsoleSession{ExpiresAt: fromMillis(expires)}
	if accountID == 0 {
		return out, nil
	}
	a, err := s.Account(ctx, wxfleet.Scope{}, accountID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return nil, notFound("会话的帐号不存在 / the session's account is gone")
	}
	if err != nil {
		return nil, err
	}
	if a.Disabled || a.CredentialsVersion != version {
		return nil, notFound("帐号已停用或密码已更改 / the account was disabled or its password changed")
	}
	out.Account = a
	return out, nil
}

// ConsoleSessionValid reports whether a session with this digest is live at now.
func (s *Store) ConsoleSessionValid(ctx context.Context, digest string, now time.Time) (bool, error) {
	_, err := s.ConsoleSession(ctx, digest, now)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return false, nil
	}
	return err == nil, err
}

// DeleteConsoleSession ends a session (logout). Ending one that does not
// exist is not an error.
func (s *Store) DeleteConsoleSession(ctx context.Context, digest string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_digest = $1`, digest); err != nil {
		return dbErr("delete console session", err)
	}
	return nil
}
