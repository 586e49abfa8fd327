package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"

	"github.com/wxfleet/wxfleet"
)

// CreateAuthLink stores a new authorization link (授权链接). An empty ID is
// filled with a random one (set on l); an ID already used under the platform
// is a conflict. The pre_auth_code is stored only as its SHA-256 digest, which
// is all a lookup needs: with the code itself, whoever reads the database could
// start an authorization that the platform would credit to the link's merchant.
// So a link read back has an empty PreAuthCode.
func (s *Store) CreateAuthLink(ctx context.Context, l *wxfleet.AuthLink) error {
	if l == nil || l.ComponentAppID == "" || l.PreAuthCode == "" {
		return invalid("授权链接需要 component_appid 和 pre_auth_code / an authorization link needs a component_appid and a pre_auth_code")
	}
	id := l.ID
	if id == "" {
		id = rand.Text()
	}
	res, err := s.write.ExecContext(ctx, `
		INSERT INTO auth_links (component_appid, id, pre_auth_code_sha256, merchant, auth_type, created_at, expires_at, authorizer_appid)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (component_appid, id) DO NOTHING`,
		l.ComponentAppID, id, preAuthDigest(l.PreAuthCode), l.Merchant, l.AuthType, toMillis(l.CreatedAt), toMillis(l.ExpiresAt), l.AuthorizerAppID)
	if err != nil {
		return platformErr("create auth link", l.ComponentAppID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr("create auth link", err)
	} else if n == 0 {
		return wxfleet.Errorf(wxfleet.ECONFLICT, "授权链接 %s 已存在 / authorization link %s already exists", id, id)
	}
	l.ID = id
	return nil
}

// PreAuthDigest is what auth_links keeps of a pre_auth_code, and all that
// events and jobs may carry of it: its SHA-256, in hex.
func PreAuthDigest(code string) string { return preAuthDigest(code) }

// preAuthDigest is what auth_links keeps of a pre_auth_code.
func preAuthDigest(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

const authLinkSelect = `SELECT component_appid, id, merchant, auth_type, created_at, expires_at, authorizer_appid FROM auth_links`

func scanAuthLink(row *sql.Row) (*wxfleet.AuthLink, error) {
	var l wxfleet.AuthLink
	var authType, created, expires int64
	err := row.Scan(&l.ComponentAppID, &l.ID, &l.Merchant, &authType, &created, &expires, &l.AuthorizerAppID)
	if err != nil {
		return nil, err
	}
	l.AuthType = int(authType)
	l.CreatedAt, l.ExpiresAt = fromMillis(created), fromMillis(expires)
	return &l, nil
}

func authLinkNotFound(componentAppID, id string) error {
	return notFound("平台 %s 下没有授权链接 %s / authorization link %s not found under platform %s", componentAppID, id, id, componentAppID)
}

// AuthLink returns one authorization link of a platform.
func (s *Store) AuthLink(ctx context.Context, componentAppID, id string) (*wxfleet.AuthLink, error) {
	l, err := scanAuthLink(s.read.QueryRowContext(ctx, authLinkSelect+` WHERE component_appid = $1 AND id = $2`, componentAppID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authLinkNotFound(componentAppID, id)
	}
	if err != nil {
		return nil, dbErr("get auth link", err)
	}
	return l, nil
}

// AuthLinkByPreAuthCode returns the link made with this pre_auth_code (the
// newest, should WeChat ever repeat a code), as the authorization callback
// identifies it.
func (s *Store) AuthLinkByPreAuthCode(ctx context.Context, componentAppID, code string) (*wxfleet.AuthLink, error) {
	return s.AuthLinkByPreAuthDigest(ctx, componentAppID, preAuthDigest(code))
}

// AuthLinkByPreAuthDigest is AuthLinkByPreAuthCode by the code's digest
// (PreAuthDigest), for callers that never held the code itself.
func (s *Store) AuthLinkByPreAuthDigest(ctx context.Context, componentAppID, digest string) (*wxfleet.AuthLink, error) {
	l, err := scanAuthLink(s.read.QueryRowContext(ctx,
		authLinkSelect+` WHERE component_appid = $1 AND pre_auth_code_sha256 = $2 ORDER BY created_at DESC, id DESC LIMIT 1`,
		componentAppID, digest))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("平台 %s 下没有使用该预授权码的授权链接 / no authorization link with this pre_auth_code under platform %s", componentAppID, componentAppID)
	}
	if err != nil {
		return nil, dbErr("get auth link by pre_auth_code", err)
	}
	return l, nil
}

// MarkAuthLinkUsed records which authorizer used the link. Marking it again
// with the same authorizer is a no-op; with another one it is a conflict.
func (s *Store) MarkAuthLinkUsed(ctx context.Context, componentAppID, id, authorizerAppID string) error {
	if authorizerAppID == "" {
		return invalid("缺少授权方 appid / the authorizer appid is required")
	}
	res, err := s.write.ExecContext(ctx, `
		UPDATE auth_links SET authorizer_appid = $3
		WHERE component_appid = $1 AND id = $2 AND (authorizer_appid = '' OR authorizer_appid = $3)`,
		componentAppID, id, authorizerAppID)
	return oneRow(res, err, "mark auth link used", func() error {
		// Either no such link, or another authorizer used it: tell which.
		l, err := s.authLinkForUpdate(ctx, componentAppID, id)
		if err != nil {
			return err
		}
		return wxfleet.Errorf(wxfleet.ECONFLICT, "授权链接 %s 已被授权方 %s 使用 / authorization link %s was already used by %s",
			id, l.AuthorizerAppID, id, l.AuthorizerAppID)
	})
}

// authLinkForUpdate reads a link through the write pool, so that it sees the
// write just made even where the read pool is separate.
func (s *Store) authLinkForUpdate(ctx context.Context, componentAppID, id string) (*wxfleet.AuthLink, error) {
	l, err := scanAuthLink(s.write.QueryRowContext(ctx, authLinkSelect+` WHERE component_appid = $1 AND id = $2`, componentAppID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authLinkNotFound(componentAppID, id)
	}
	if err != nil {
		return nil, dbErr("get auth link", err)
	}
	return l, nil
}
