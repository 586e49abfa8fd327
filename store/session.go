package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// CreateConsoleSession stores a console session by the digest of its id
// (the caller keys the digest; the id itself lives only in the browser's
// cookie), valid until expires. Sessions that expired are removed on the way.
func (s *Store) CreateConsoleSession(ctx context.Context, digest string, created, expires time.Time) error {
	if digest == "" {
		return invalid("会话摘要为空 / empty session digest")
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1`, toMillis(created)); err != nil {
			return dbErr("prune console sessions", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO console_sessions (id_digest, created_at, expires_at) VALUES ($1, $2, $3)`,
			digest, toMillis(created), toMillis(expires)); err != nil {
			return dbErr("create console session", err)
		}
		return nil
	})
}

// ConsoleSessionValid reports whether a session with this digest exists and
// has not expired at now.
func (s *Store) ConsoleSessionValid(ctx context.Context, digest string, now time.Time) (bool, error) {
	var expires int64
	err := s.read.QueryRowContext(ctx, `SELECT expires_at FROM console_sessions WHERE id_digest = $1`, digest).Scan(&expires)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, dbErr("read console session", err)
	}
	return now.Before(fromMillis(expires)), nil
}

// DeleteConsoleSession ends a session (logout). Ending one that does not
// exist is not an error.
func (s *Store) DeleteConsoleSession(ctx context.Context, digest string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_digest = $1`, digest); err != nil {
		return dbErr("delete console session", err)
	}
	return nil
}
