package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// RecordCodeExchange notes that code (an authorization code, 授权码) of the
// platform was exchanged for authorizerAppID's authorization at at. Only the
// code's SHA-256 digest is stored. Recording a code again keeps the first
// record.
func (s *Store) RecordCodeExchange(ctx context.Context, componentAppID, code, authorizerAppID string, at time.Time) error {
	if componentAppID == "" || code == "" || authorizerAppID == "" {
		return invalid("记录授权码需要 component_appid、授权码和授权方 appid / recording an exchange needs a component_appid, the code and the authorizer appid")
	}
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO auth_code_exchanges (component_appid, code_sha256, authorizer_appid, exchanged_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (component_appid, code_sha256) DO NOTHING`,
		componentAppID, preAuthDigest(code), authorizerAppID, toMillis(at))
	return platformErr("record code exchange", componentAppID, err)
}

// ExchangedCode returns the appid of the authorizer code was exchanged for,
// or an ENOTFOUND error if the platform never recorded it.
func (s *Store) ExchangedCode(ctx context.Context, componentAppID, code string) (string, error) {
	var appID string
	err := s.read.QueryRowContext(ctx, `
		SELECT authorizer_appid FROM auth_code_exchanges WHERE component_appid = $1 AND code_sha256 = $2`,
		componentAppID, preAuthDigest(code)).Scan(&appID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("平台 %s 没有换取过这个授权码 / platform %s did not exchange this authorization code", componentAppID, componentAppID)
	}
	if err != nil {
		return "", dbErr("exchanged code", err)
	}
	return appID, nil
}

// PruneCodeExchanges forgets the exchanges recorded before before, of every
// platform, and returns how many.
func (s *Store) PruneCodeExchanges(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM auth_code_exchanges WHERE exchanged_at < $1`, toMillis(before))
	if err != nil {
		return 0, dbErr("prune code exchanges", err)
	}
	n, err := res.RowsAffected()
	return n, dbErr("prune code exchanges", err)
}
