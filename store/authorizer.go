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

// AuthorizerFilter selects a page of a platform's authorizers.
type AuthorizerFilter struct {
	Status   wxfleet.AuthorizerStatus // only this status; "" for all
	Limit    int                      // page size; 0 means 50, at most 1000
	Cursor   string                   // return appids after this one (the last appid of the previous page)
	TenantID int64                    // only this tenant's; 0 for all
	Tag      string                   // only those carrying this tag (a rollout target's tag)
	// Query finds an authorizer by its AppID (that app alone, from the key)
	// or by a part of its appid, name or principal's name (case-insensitive:
	// a scan of the platform's rows, about 50 ms at 100 000 authorizers;
	// README, figures).
	Query string
	// Total asks ListAuthorizers to count every match as well (all pages):
	// a COUNT(*) over the platform's rows, milliseconds at 100 000
	// authorizers, so only the callers that show it ask.
	Total bool
}

// AuthorizerRef names an authorizer whose access token is due for refresh. It
// is the domain's type, so the token keeper can take AuthorizersDue's result
// as is.
type AuthorizerRef = wxfleet.AuthorizerRef

const authorizerColumns = `component_appid, appid, nickname, head_img, user_name, principal_name, signature,
	is_mini_program, status, permissions, access_token_sealed, token_expires_at, refresh_token_sealed,
	merchant, authorized_at, updated_at, info`

// authorizerSelect is what reads return: the columns above and the tenant.
const authorizerSelect = authorizerColumns + `, COALESCE(tenant_id, 0)`

// UpsertAuthorizer inserts an authorizer (授权方) or overwrites all of its
// columns, tokens included (sealed). Permissions are stored as a JSON array,
// Info as the raw JSON text. A zero TenantID keeps the stored tenant (a
// re-authorization through a plain link leaves the mini program where it is);
// SetAuthorizerTenant moves or clears it.
func (s *Store) UpsertAuthorizer(ctx context.Context, a *wxfleet.Authorizer) error {
	return s.UpsertAuthorizerThen(ctx, a, nil)
}

// UpsertAuthorizerThen is UpsertAuthorizer with then in the same
// transaction (an event that reports the authorization commits with it).
func (s *Store) UpsertAuthorizerThen(ctx context.Context, a *wxfleet.Authorizer, then Then) error {
	if a == nil || a.ComponentAppID == "" || a.AppID == "" {
		return invalid("授权方需要 component_appid 和 appid / an authorizer needs a component_appid and an appid")
	}
	if !a.Status.Valid() {
		return invalid("未知的授权状态 %q / unknown authorizer status %q", a.Status, a.Status)
	}
	perms := []byte("[]")
	if len(a.Permissions) > 0 {
		var err error
		if perms, err = json.Marshal(a.Permissions); err != nil {
			return dbErr("upsert authorizer", err)
		}
	}
	err := s.execThen(ctx, then, `
		INSERT INTO authorizers (`+authorizerColumns+`, tenant_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (component_appid, appid) DO UPDATE SET
			nickname = excluded.nickname,
			head_img = excluded.head_img,
			user_name = excluded.user_name,
			principal_name = excluded.principal_name,
			signature = excluded.signature,
			is_mini_program = excluded.is_mini_program,
			status = excluded.status,
			permissions = excluded.permissions,
			access_token_sealed = excluded.access_token_sealed,
			token_expires_at = excluded.token_expires_at,
			refresh_token_sealed = excluded.refresh_token_sealed,
			merchant = excluded.merchant,
			authorized_at = excluded.authorized_at,
			updated_at = excluded.updated_at,
			info = excluded.info,
			tenant_id = COALESCE(excluded.tenant_id, authorizers.tenant_id)`,
		a.ComponentAppID, a.AppID, a.Nickname, a.HeadImg, a.UserName, a.PrincipalName, a.Signature,
		boolInt(a.IsMiniProgram), string(a.Status), string(perms), s.sealAt(a.AccessToken, colAccessToken, a.ComponentAppID, a.AppID), toMillis(a.TokenExpiresAt),
		s.sealAt(a.RefreshToken, colRefreshToken, a.ComponentAppID, a.AppID), a.Merchant, toMillis(a.AuthorizedAt), toMillis(a.UpdatedAt), string(a.Info), nullID(a.TenantID))
	return platformErr("upsert authorizer", a.ComponentAppID, err)
}

func (s *Store) scanAuthorizer(row interface{ Scan(...any) error }) (*wxfleet.Authorizer, error) {
	var (
		a                       wxfleet.Authorizer
		isMini                  int64
		perms, access, refresh  string
		info                    string
		expires, authd, updated int64
	)
	err := row.Scan(&a.ComponentAppID, &a.AppID, &a.Nickname, &a.HeadImg, &a.UserName, &a.PrincipalName,
		&a.Signature, &isMini, &a.Status, &perms, &access, &expires, &refresh, &a.Merchant, &authd, &updated, &info, &a.TenantID)
	if err != nil {
		return nil, err
	}
	a.IsMiniProgram = isMini != 0
	a.TokenExpiresAt, a.AuthorizedAt, a.UpdatedAt = fromMillis(expires), fromMillis(authd), fromMillis(updated)
	if perms != "" && perms != "[]" {
		if err := json.Unmarshal([]byte(perms), &a.Permissions); err != nil {
			return nil, err
		}
	}
	if info != "" {
		a.Info = []byte(info)
	}
	if a.AccessToken, err = s.openAt(access, colAccessToken, a.ComponentAppID, a.AppID); err != nil {
		return nil, err
	}
	if a.RefreshToken, err = s.openAt(refresh, colRefreshToken, a.ComponentAppID, a.AppID); err != nil {
		return nil, err
	}
	return &a, nil
}

func authorizerNotFound(componentAppID, appID string) error {
	return notFound("平台 %s 下没有授权方 %s / authorizer %s not found under platform %s", componentAppID, appID, appID, componentAppID)
}

// Authorizer returns one authorizer of a platform, tokens opened.
func (s *Store) Authorizer(ctx context.Context, componentAppID, appID string) (*wxfleet.Authorizer, error) {
	a, err := s.scanAuthorizer(s.read.QueryRowContext(ctx,
		`SELECT `+authorizerSelect+` FROM authorizers WHERE component_appid = $1 AND appid = $2`,
		componentAppID, appID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authorizerNotFound(componentAppID, appID)
	}
	if err != nil {
		return nil, dbErr("get authorizer", err)
	}
	return a, nil
}

// AuthorizerPlatforms returns the component appids under which appid is an
// authorizer, sorted. It serves push routing, which learns the authorizer
// from the URL before it knows the platform; the result may be empty.
func (s *Store) AuthorizerPlatforms(ctx context.Context, appID string) ([]string, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT component_appid FROM authorizers WHERE appid = $1 ORDER BY component_appid`, appID)
	if err != nil {
		return nil, dbErr("authorizer platforms", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, dbErr("authorizer platforms", err)
		}
		out = append(out, c)
	}
	return out, dbErr("authorizer platforms", rows.Err())
}

// ListAuthorizers returns a page of a platform's authorizers ordered by appid,
// and, with f.Total, how many match the filter in total (all pages); without
// it the total is -1 (not counted).
func (s *Store) ListAuthorizers(ctx context.Context, componentAppID string, f AuthorizerFilter) ([]*wxfleet.Authorizer, int, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	if f.Status != "" {
		w.and("status = $%d", string(f.Status))
	}
	if f.TenantID != 0 {
		w.and("tenant_id = $%d", f.TenantID)
	}
	if f.Tag != "" {
		w.and("EXISTS (SELECT 1 FROM authorizer_tags g WHERE g.component_appid = authorizers.component_appid AND g.appid = authorizers.appid AND g.tag = $%d)", f.Tag)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		// An AppID finds its app from the key; any other text is looked for
		// in the appids, names and principals.
		var one int
		err := s.read.QueryRowContext(ctx, `SELECT 1 FROM authorizers WHERE component_appid = $1 AND appid = $2`, componentAppID, q).Scan(&one)
		switch {
		case err == nil:
			w.and("appid = $%d", q)
		case !errors.Is(err, sql.ErrNoRows):
			return nil, 0, dbErr("search authorizers", err)
		default:
			w.andN(`(LOWER(appid) LIKE $%[1]d ESCAPE '\' OR LOWER(nickname) LIKE $%[1]d ESCAPE '\' OR LOWER(principal_name) LIKE $%[1]d ESCAPE '\')`,
				"%"+likeEscape(strings.ToLower(q))+"%")
		}
	}
	total := -1
	if f.Total {
		if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM authorizers`+w.sql.String(), w.args...).Scan(&total); err != nil {
			return nil, 0, dbErr("count authorizers", err)
		}
	}
	if f.Cursor != "" {
		w.and("appid > $%d", f.Cursor)
	}
	q := `SELECT ` + authorizerSelect + ` FROM authorizers` + w.sql.String() +
		` ORDER BY appid LIMIT ` + w.next(clampLimit(f.Limit))
	rows, err := s.read.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, 0, dbErr("list authorizers", err)
	}
	defer rows.Close()
	var out []*wxfleet.Authorizer
	for rows.Next() {
		a, err := s.scanAuthorizer(rows)
		if err != nil {
			return nil, 0, dbErr("list authorizers", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, dbErr("list authorizers", err)
	}
	return out, total, nil
}

// SaveAuthorizerToken stores a fresh authorizer_access_token (授权方令牌), its
// expiry and the refresh token WeChat returned with it, in one statement: a
// rotated refresh token is never stored apart from its access token. An empty
// refresh keeps the stored one.
func (s *Store) SaveAuthorizerToken(ctx context.Context, componentAppID, appID string, access wxfleet.Token, refresh wxfleet.Secret) error {
	if access.Value == "" {
		return invalid("授权方令牌为空 / the authorizer access token is empty")
	}
	var (
		res sql.Result
		err error
	)
	if refresh == "" {
		res, err = s.write.ExecContext(ctx, `
			UPDATE authorizers SET access_token_sealed = $3, token_expires_at = $4
			WHERE component_appid = $1 AND appid = $2`,
			componentAppID, appID, s.sealAt(access.Value, colAccessToken, componentAppID, appID), toMillis(access.ExpiresAt))
	} else {
		res, err = s.write.ExecContext(ctx, `
			UPDATE authorizers SET access_token_sealed = $3, token_expires_at = $4, refresh_token_sealed = $5
			WHERE component_appid = $1 AND appid = $2`,
			componentAppID, appID, s.sealAt(access.Value, colAccessToken, componentAppID, appID), toMillis(access.ExpiresAt),
			s.sealAt(refresh, colRefreshToken, componentAppID, appID))
	}
	return oneRow(res, err, "save authorizer token", func() error { return authorizerNotFound(componentAppID, appID) })
}

// SetAuthorizerStatus changes an authorizer's status (e.g. revoked after an
// unauthorized push) and stamps updated_at with now.
func (s *Store) SetAuthorizerStatus(ctx context.Context, componentAppID, appID string, status wxfleet.AuthorizerStatus, now time.Time) error {
	return s.SetAuthorizerStatusThen(ctx, componentAppID, appID, status, now, nil)
}

// SetAuthorizerStatusThen is SetAuthorizerStatus with then in the same
// transaction, run only if the authorizer exists.
func (s *Store) SetAuthorizerStatusThen(ctx context.Context, componentAppID, appID string, status wxfleet.AuthorizerStatus, now time.Time, then Then) error {
	if !status.Valid() {
		return invalid("未知的授权状态 %q / unknown authorizer status %q", status, status)
	}
	const q = `UPDATE authorizers SET status = $3, updated_at = $4 WHERE component_appid = $1 AND appid = $2`
	args := []any{componentAppID, appID, string(status), toMillis(now)}
	missing := func() error { return authorizerNotFound(componentAppID, appID) }
	if then == nil {
		res, err := s.write.ExecContext(ctx, q, args...)
		return oneRow(res, err, "set authorizer status", missing)
	}
	var notFound error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err := oneRow(res, err, "set authorizer status", missing); err != nil {
			notFound = err
			return err
		}
		return then.run(ctx, tx)
	})
	if notFound != nil {
		return notFound
	}
	return dbErr("set authorizer status", err)
}

// execThen runs one statement, and then after it in the same transaction
// when then is set.
func (s *Store) execThen(ctx context.Context, then Then, q string, args ...any) error {
	if then == nil {
		_, err := s.write.ExecContext(ctx, q, args...)
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		return then.run(ctx, tx)
	})
}

// AuthorizersDue returns, across all platforms, up to limit (≤ 0 means 50, at
// most 1000) authorized authorizers whose access token expires before before,
// soonest first; an authorized row without a token (expiry 0) is always due.
// It is the token refresher's work list, the one query that spans platforms:
// index authorizers_due answers it without scanning or sorting.
func (s *Store) AuthorizersDue(ctx context.Context, before time.Time, limit int) ([]AuthorizerRef, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT component_appid, appid, token_expires_at FROM authorizers
		WHERE status = $1 AND token_expires_at < $2
		ORDER BY token_expires_at, component_appid, appid
		LIMIT $3`,
		string(wxfleet.StatusAuthorized), toMillis(before), clampLimit(limit))
	if err != nil {
		return nil, dbErr("authorizers due", err)
	}
	defer rows.Close()
	var out []AuthorizerRef
	for rows.Next() {
		var r AuthorizerRef
		var ms int64
		if err := rows.Scan(&r.ComponentAppID, &r.AppID, &ms); err != nil {
			return nil, dbErr("authorizers due", err)
		}
		r.TokenExpiresAt = fromMillis(ms)
		out = append(out, r)
	}
	return out, dbErr("authorizers due", rows.Err())
}

// oneRow checks that an UPDATE touched a row, returning missing() if not.
func oneRow(res sql.Result, err error, op string, missing func() error) error {
	if err != nil {
		return dbErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbErr(op, err)
	}
	if n == 0 {
		return missing()
	}
	return nil
}
