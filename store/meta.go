package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/wxfleet/wxfleet"
)

// metaKeyFingerprint is the meta row naming the master key the secrets are
// sealed with.
const metaKeyFingerprint = "vault_key_fingerprint"

// CheckVaultKey makes sure this store's vault key is the one the database's
// secrets are sealed with. The first start records the key's fingerprint
// (never the key); every later start, on any instance, must present a key
// with the same fingerprint or is refused before it seals or opens anything.
// A database from before fingerprints (secrets but no fingerprint) is checked
// by opening one of its sealed values.
//
// Call it after Migrate and before anything else touches a secret: a wrong
// key would otherwise re-seal the platforms' secrets with itself and break
// every other instance on the database. now dates the first record.
func (s *Store) CheckVaultKey(ctx context.Context, now time.Time) error {
	given := s.vault.Fingerprint()
	stored, ok, err := s.meta(ctx, s.write, metaKeyFingerprint)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.checkLegacySecrets(ctx); err != nil {
			return err
		}
		// Instances starting together may both get here: the first insert
		// wins and the other is compared against it below.
		if _, err := s.write.ExecContext(ctx, `INSERT INTO meta (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`,
			metaKeyFingerprint, given, toMillis(now)); err != nil {
			return dbErr("record the master key fingerprint", err)
		}
		if stored, _, err = s.meta(ctx, s.write, metaKeyFingerprint); err != nil {
			return err
		}
		if stored == given {
			s.logger.InfoContext(ctx, "recorded the master key's fingerprint in the database", "fingerprint", short(given))
			return nil
		}
	}
	if stored != given && s.vault.UseKey(stored) {
		// A ring (WXFLEET_MASTER_KEY_OLD) holding the key the database
		// names: seal with that one until a rotation names the other.
		given = stored
	}
	if stored != given {
		return wxfleet.Errorf(wxfleet.EINVALID,
			"主密钥与数据库不符：数据库记录的主密钥指纹为 %s，本次给出的为 %s。请使用加密这些密钥时的主密钥（同一数据库上的所有实例必须用同一个 WXFLEET_MASTER_KEY）；换用其他密钥会使已存储的 refresh token 全部无法解密；更换密钥请用 wxfleet rotate-key（见 docs/operations.md）。"+
				" / the master key does not match this database: it records key fingerprint %s, the key given has %s. Start with the key its secrets were sealed with (every instance on one database needs the same WXFLEET_MASTER_KEY); another key cannot open any stored refresh token. To change keys, see wxfleet rotate-key in docs/operations.md.",
			short(stored), short(given), short(stored), short(given))
	}
	r, err := s.keyRotation(ctx, s.write)
	if err != nil {
		return err
	}
	if r != nil && r.From != r.To && !s.vault.Has(r.From) {
		return wxfleet.Errorf(wxfleet.EINVALID,
			"主密钥轮换尚未完成，部分密钥仍由指纹为 %s 的旧密钥加密：请同时给出 WXFLEET_MASTER_KEY_OLD，直到 wxfleet rotate-key 完成 / a master key rotation is under way and some secrets are still sealed with the old key of fingerprint %s: give WXFLEET_MASTER_KEY_OLD too until wxfleet rotate-key has finished",
			short(r.From), short(r.From))
	}
	return nil
}

// checkLegacySecrets refuses a key that cannot open a secret already in a
// database that has no fingerprint yet (written before fingerprints).
func (s *Store) checkLegacySecrets(ctx context.Context) error {
	var sealed string
	err := s.write.QueryRowContext(ctx, `
		SELECT secret_sealed FROM platforms WHERE secret_sealed <> ''
		UNION ALL
		SELECT refresh_token_sealed FROM authorizers WHERE refresh_token_sealed <> ''
		LIMIT 1`).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return dbErr("check stored secrets", err)
	}
	if !s.vault.Owns(sealed) {
		return wxfleet.Errorf(wxfleet.EINVALID,
			"主密钥无法解密数据库中已存储的密钥：请使用写入它们时的主密钥（WXFLEET_MASTER_KEY 或数据目录中的 master.key） / the master key cannot open the secrets already in this database: start with the key they were sealed with (WXFLEET_MASTER_KEY or master.key in the data directory)")
	}
	return nil
}

// short is the part of a fingerprint people compare by eye.
func short(fp string) string {
	if len(fp) > 16 {
		return fp[:16]
	}
	return fp
}

// querier is what both *sql.DB and *sql.Tx offer, so one query serves a
// method on the Store and its twin on a Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// meta reads one meta value.
func (s *Store) meta(ctx context.Context, q querier, key string) (string, bool, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, dbErr("read meta "+key, err)
	}
	return v, true, nil
}
