package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet"
)

// APITokenDigest is what the database keeps of an API token: its SHA-256.
// The token holds 128 random bits, so a plain hash is enough: there is
// nothing to guess that a salt would protect.
func APITokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

const apiTokenColumns = `id, account_id, name, role, tenant_id, prefix, created_by, created_at, last_used_at`

func scanAPIToken(row interface{ Scan(...any) error }) (*wxfleet.APIToken, error) {
	var t wxfleet.APIToken
	var role string
	var created, used int64
	if err := row.Scan(&t.ID, &t.AccountID, &t.Name, &role, &t.TenantID, &t.Prefix, &t.CreatedBy, &created, &used); err != nil {
		return nil, err
	}
	t.Role, t.CreatedAt, t.LastUsed = wxfleet.Role(role), fromMillis(created), fromMillis(used)
	return &t, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// CreateAPIToken stores t under the digest of its token, with audit (when
// not nil) in the same transaction. It sets t.ID.
func (s *Store) CreateAPIToken(ctx context.Context, t *wxfleet.APIToken, digest string, audit *wxfleet.AuditEntry) error {
	if t.Name == "" || len(t.Name) > 200 {
		return invalid("令牌须有名字（最长 200 字节）/ a token needs a name (at most 200 bytes)")
	}
	if !t.Role.Valid() || (t.Role == wxfleet.RoleMerchant) != (t.TenantID > 0) {
		return invalid("令牌的角色与租户不符 / the token's role and tenant do not match")
	}
	if len(digest) != 64 {
		return invalid("令牌摘要无效 / invalid token digest")
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO api_tokens (account_id, name, role, tenant_id, token_sha256, prefix, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, t.AccountID, t.Name, string(t.Role), t.TenantID, digest, t.Prefix,
			t.CreatedBy, toMillis(t.CreatedAt)).Scan(&t.ID); err != nil {
			return dbErr("create api token", err)
		}
		if audit != nil {
			audit.Target = itoa(t.ID)
			return writeAudit(ctx, tx, audit)
		}
		return nil
	})
}

// APITokenByDigest returns the token with this digest and its account (nil
// for a token made with the admin token). A token whose account is gone or
// disabled is ENOTFOUND, like one that does not exist. It records the use at
// now when the last one was more than a minute before, so a busy script does
// not write on every call.
func (s *Store) APITokenByDigest(ctx context.Context, digest string, now time.Time) (*wxfleet.APIToken, *wxfleet.Account, error) {
	t, err := scanAPIToken(s.read.QueryRowContext(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens WHERE token_sha256 = $1`, digest))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, notFound("没有这个 API 令牌 / no such API token")
	}
	if err != nil {
		return nil, nil, dbErr("read api token", err)
	}
	var a *wxfleet.Account
	if t.AccountID != 0 {
		a, err = s.Account(ctx, wxfleet.Scope{}, t.AccountID)
		if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND || err == nil && a.Disabled {
			return nil, nil, notFound("API 令牌的帐号已停用 / the API token's account is disabled or gone")
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if now.Sub(t.LastUsed) > time.Minute {
		if _, err := s.write.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2`, toMillis(now), t.ID); err != nil {
			return nil, nil, dbErr("record api token use", err)
		}
		t.LastUsed = now
	}
	return t, a, nil
}

// ListAPITokens lists tokens by id: those of account (when accountID >= 0;
// 0 is the admin token's) or every token (accountID < 0).
func (s *Store) ListAPITokens(ctx context.Context, accountID int64) ([]*wxfleet.APIToken, error) {
	q, args := `SELECT `+apiTokenColumns+` FROM api_tokens ORDER BY id LIMIT 1000`, []any{}
	if accountID >= 0 {
		q, args = `SELECT `+apiTokenColumns+` FROM api_tokens WHERE account_id = $1 ORDER BY id LIMIT 1000`, []any{accountID}
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr("list api tokens", err)
	}
	defer rows.Close()
	var out []*wxfleet.APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, dbErr("scan api token", err)
		}
		out = append(out, t)
	}
	return out, dbErr("list api tokens", rows.Err())
}

// DeleteAPIToken revokes token id, if it belongs to accountID (accountID < 0:
// any account's), with audit in the same transaction. Another account's
// token is ENOTFOUND, as if it did not exist.
func (s *Store) DeleteAPIToken(ctx context.Context, id, accountID int64, audit *wxfleet.AuditEntry) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		q, args := `DELETE FROM api_tokens WHERE id = $1`, []any{id}
		if accountID >= 0 {
			q, args = `DELETE FROM api_tokens WHERE id = $1 AND account_id = $2`, []any{id, accountID}
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return dbErr("delete api token", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("没有这个 API 令牌 / no API token %d", id)
		}
		if audit != nil {
			audit.Target = itoa(id)
			return writeAudit(ctx, tx, audit)
		}
		return nil
	})
}
