package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/wxfleet/wxfleet"
)

// CreateAuthLink stores a new authorization link (授权链接). An empty ID is
// filled with a random one (set on l); an ID already used under the platform
// is a conflict. The pre_auth_code is stored as its SHA-256 digest, which is
// all a lookup needs, and sealed (AuthLinkPreAuthCode), so that a second click
// within its lifetime reuses it: in the clear, whoever reads the database could
// start an authorization that the platform would credit to the link's merchant.
// A link read back has an empty PreAuthCode.
func (s *Store) CreateAuthLink(ctx context.Context, l *wxfleet.AuthLink) error {
	if l == nil || l.ComponentAppID == "" || l.PreAuthCode == "" {
		return invalid("授权链接需要 component_appid 和 pre_auth_code / an authorization link needs a component_appid and a pre_auth_code")
	}
	id := l.ID
	if id == "" {
		id = rand.Text()
	}
	codeExpires := l.CodeExpiresAt
	if codeExpires.IsZero() {
		codeExpires = l.ExpiresAt
	}
	res, err := s.write.ExecContext(ctx, `
		INSERT INTO auth_links (component_appid, id, pre_auth_code_sha256, merchant, auth_type, created_at, expires_at, authorizer_appid,
			state_sha256, browser_bound, pre_auth_code_sealed, code_expires_at, tenant_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (component_appid, id) DO NOTHING`,
		l.ComponentAppID, id, preAuthDigest(l.PreAuthCode), l.Merchant, l.AuthType, toMillis(l.CreatedAt), toMillis(l.ExpiresAt), l.AuthorizerAppID,
		l.StateDigest, boolInt(l.BrowserBound), s.sealAt(wxfleet.Secret(l.PreAuthCode), colPreAuthCode, l.ComponentAppID, id), toMillis(codeExpires), nullID(l.TenantID))
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

const authLinkSelect = `SELECT component_appid, id, merchant, auth_type, created_at, expires_at, authorizer_appid,
	state_sha256, browser_bound, claimed_at, code_expires_at, COALESCE(tenant_id, 0) FROM auth_links`

func scanAuthLink(row *sql.Row) (*wxfleet.AuthLink, error) {
	var l wxfleet.AuthLink
	var authType, created, expires, bound, claimed, codeExpires int64
	err := row.Scan(&l.ComponentAppID, &l.ID, &l.Merchant, &authType, &created, &expires, &l.AuthorizerAppID,
		&l.StateDigest, &bound, &claimed, &codeExpires, &l.TenantID)
	if err != nil {
		return nil, err
	}
	l.AuthType = int(authType)
	l.CreatedAt, l.ExpiresAt, l.CodeExpiresAt = fromMillis(created), fromMillis(expires), fromMillis(codeExpires)
	l.BrowserBound = bound != 0
	if claimed != 0 {
		l.ClaimedAt = fromMillis(claimed)
	}
	return &l, nil
}

// AuthLinkPreAuthCode returns the link's current pre_auth_code, opened from
// its sealed copy ("" for links made before codes were kept).
func (s *Store) AuthLinkPreAuthCode(ctx context.Context, componentAppID, id string) (wxfleet.Secret, error) {
	var sealed string
	err := s.read.QueryRowContext(ctx, `SELECT pre_auth_code_sealed FROM auth_links WHERE component_appid = $1 AND id = $2`, componentAppID, id).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", authLinkNotFound(componentAppID, id)
	}
	if err != nil {
		return "", dbErr("get auth link code", err)
	}
	return s.openAt(sealed, colPreAuthCode, componentAppID, id)
}

// RenewAuthLink gives an unused link a new pre_auth_code and state (l's
// PreAuthCode, CodeExpiresAt, StateDigest, BrowserBound): a page view of an
// operator's link whose code ran out. A used link is a conflict.
func (s *Store) RenewAuthLink(ctx context.Context, l *wxfleet.AuthLink) error {
	res, err := s.write.ExecContext(ctx, `
		UPDATE auth_links SET pre_auth_code_sha256 = $3, pre_auth_code_sealed = $4, code_expires_at = $5, state_sha256 = $6, browser_bound = $7
		WHERE component_appid = $1 AND id = $2 AND authorizer_appid = '' AND claimed_at = 0`,
		l.ComponentAppID, l.ID, preAuthDigest(l.PreAuthCode), s.sealAt(wxfleet.Secret(l.PreAuthCode), colPreAuthCode, l.ComponentAppID, l.ID), toMillis(l.CodeExpiresAt), l.StateDigest, boolInt(l.BrowserBound))
	return oneRow(res, err, "renew auth link", func() error {
		if _, err := s.authLinkForUpdate(ctx, l.ComponentAppID, l.ID); err != nil {
			return err
		}
		return wxfleet.Errorf(wxfleet.ECONFLICT, "授权链接 %s 已使用 / authorization link %s was already used", l.ID, l.ID)
	})
}

// ClaimAuthLink marks the link claimed by a callback at now. It succeeds
// once: a link already claimed, or used by an authorization, is a conflict.
func (s *Store) ClaimAuthLink(ctx context.Context, componentAppID, id string, now time.Time) error {
	res, err := s.write.ExecContext(ctx, `
		UPDATE auth_links SET claimed_at = $3 WHERE component_appid = $1 AND id = $2 AND claimed_at = 0 AND authorizer_appid = ''`,
		componentAppID, id, toMillis(now))
	return oneRow(res, err, "claim auth link", func() error {
		if _, err := s.authLinkForUpdate(ctx, componentAppID, id); err != nil {
			return err
		}
		return wxfleet.Errorf(wxfleet.ECONFLICT, "授权链接 %s 已使用 / authorization link %s was already used", id, id)
	})
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
