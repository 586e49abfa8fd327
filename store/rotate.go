package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/vault"
)

// A master key rotation re-seals every sealed value (sealedColumns) under a
// new key, a few rows per transaction, so that it can be interrupted and
// resumed and the platform keeps serving meanwhile. Its progress is a meta
// row (metaKeyRotation): the keys' fingerprints, the column under way and
// the row key reached in it. The order of events:
//
//  1. BeginKeyRotation records the rotation and, in the same transaction,
//     names the new key in vault_key_fingerprint: from then on every
//     instance seals with the new key (instances holding both keys switch
//     at their next RefreshVaultKey, within seconds) and opens with either.
//  2. ResealBatch walks each column in row-key order from where it stopped;
//     a row is updated only if it still holds the value read, so a value an
//     instance rewrote meanwhile is left to it.
//  3. SweepKeyRotation, once the instances had time to switch, re-seals
//     whatever still names another key (values an instance sealed with the
//     old key before it noticed), until none is left.
//  4. FinishKeyRotation removes the progress row: instances may then run
//     with the new key alone.
//
// Every step is idempotent: a value already under the new key is skipped,
// so running the rotation again after a crash only repeats reads.

// metaKeyRotation is the meta row of a rotation under way.
const metaKeyRotation = "vault_key_rotation"

// KeyRotation is the progress of a master key rotation.
type KeyRotation struct {
	From      string   `json:"from"` // fingerprint of the key being replaced
	To        string   `json:"to"`   // fingerprint of the new key
	StartedAt int64    `json:"started_at"`
	Column    string   `json:"column"` // table.column under way; "" once every column was walked
	After     []string `json:"after"`  // row key of the last row done in Column
	Resealed  int64    `json:"resealed"`
}

// Walked tells whether every column was walked (only the sweep is left).
func (r *KeyRotation) Walked() bool { return r.Column == "" }

// KeyRotation returns the rotation under way, or nil.
func (s *Store) KeyRotation(ctx context.Context) (*KeyRotation, error) {
	return s.keyRotation(ctx, s.write)
}

func (s *Store) keyRotation(ctx context.Context, q querier) (*KeyRotation, error) {
	v, ok, err := s.meta(ctx, q, metaKeyRotation)
	if err != nil || !ok {
		return nil, err
	}
	var r KeyRotation
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return nil, fmt.Errorf("store: meta %s: %w", metaKeyRotation, err)
	}
	return &r, nil
}

func (s *Store) putKeyRotation(ctx context.Context, tx *sql.Tx, r *KeyRotation, now time.Time) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO meta (key, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, metaKeyRotation, string(b), toMillis(now))
	return err
}

// BeginKeyRotation starts (or resumes) rotating to the vault's key of
// fingerprint to; the vault must also hold the key the database's secrets
// are sealed with. It returns nil when there is nothing to do: the
// database already names that key and no value is sealed with another.
func (s *Store) BeginKeyRotation(ctx context.Context, to string, now time.Time) (*KeyRotation, error) {
	if !s.vault.Has(to) {
		return nil, fmt.Errorf("store: the vault does not hold the new key")
	}
	var out *KeyRotation
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stored, ok, err := s.meta(ctx, tx, metaKeyFingerprint)
		if err != nil {
			return err
		}
		if !ok {
			return wxfleet.Errorf(wxfleet.EINVALID, "数据库还没有记录主密钥（先运行一次 serve 或 migrate） / the database records no master key yet: start serve once first")
		}
		r, err := s.keyRotation(ctx, tx)
		if err != nil {
			return err
		}
		if r != nil {
			if r.To != to {
				return wxfleet.Errorf(wxfleet.ECONFLICT,
					"已有一次轮换到指纹为 %s 的主密钥尚未完成：请用那个密钥作为 WXFLEET_MASTER_KEY 再次运行 wxfleet rotate-key 完成它 / a rotation to the master key of fingerprint %s is under way: run wxfleet rotate-key again with that key as WXFLEET_MASTER_KEY to finish it first",
					short(r.To), short(r.To))
			}
			if r.From != r.To && !s.vault.Has(r.From) {
				return missingOldKey(r.From)
			}
			out = r
			return nil
		}
		if stored == to {
			n, err := s.countNotSealedWith(ctx, tx, to)
			if err != nil || n == 0 {
				return err
			}
		} else if !s.vault.Has(stored) {
			return missingOldKey(stored)
		}
		out = &KeyRotation{From: stored, To: to, StartedAt: toMillis(now), Column: sealedColumns[0].column}
		if err := s.putKeyRotation(ctx, tx, out, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE meta SET value = $1, updated_at = $2 WHERE key = $3`, to, toMillis(now), metaKeyFingerprint)
		return err
	})
	if err != nil {
		return nil, dbErr("begin the key rotation", err)
	}
	if out != nil {
		s.vault.UseKey(to)
	}
	return out, nil
}

func missingOldKey(fp string) error {
	return wxfleet.Errorf(wxfleet.EINVALID,
		"数据库中的密钥用指纹为 %s 的主密钥加密：轮换期间请把它作为 WXFLEET_MASTER_KEY_OLD（或 _FILE）一并给出 / the database's secrets are sealed with the master key of fingerprint %s: give it as WXFLEET_MASTER_KEY_OLD (or _FILE) while rotating",
		short(fp), short(fp))
}

// countNotSealedWith counts the sealed values that name another key.
func (s *Store) countNotSealedWith(ctx context.Context, q querier, fp string) (int64, error) {
	var total int64
	for _, c := range sealedColumns {
		table, col, _ := strings.Cut(c.column, ".")
		var n int64
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+col+` <> '' AND `+col+` NOT LIKE $1`,
			"v2:"+vault.KeyIDOf(fp)+":%").Scan(&n); err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// CountNotSealedWith counts the sealed values of every column that are not
// sealed with the key of this fingerprint.
func (s *Store) CountNotSealedWith(ctx context.Context, fp string) (int64, error) {
	n, err := s.countNotSealedWith(ctx, s.read, fp)
	return n, dbErr("count sealed values", err)
}

// sealedRow is one sealed value and its row key.
type sealedRow struct {
	key    []string
	sealed string
}

// reseal re-seals rows of column c under the key to, each only if it still
// holds the value read. It returns how many it changed.
func (s *Store) reseal(ctx context.Context, tx *sql.Tx, c int, rows []sealedRow, to string) (int, error) {
	col := sealedColumns[c]
	table, name, _ := strings.Cut(col.column, ".")
	where := make([]string, len(col.key))
	for i, k := range col.key {
		where[i] = k + " = $" + strconv.Itoa(i+3)
	}
	n := 0
	for _, r := range rows {
		if r.sealed == "" || vault.SealedWith(r.sealed, to) {
			continue
		}
		at := sealedAt(col.column, r.key...)
		plain, err := s.vault.OpenFor(r.sealed, at)
		if err != nil {
			return n, wxfleet.WrapError(wxfleet.EINVALID, fmt.Sprintf(
				"无法用给出的任何主密钥打开 %s（行 %s）：请给出加密它的密钥 / cannot open %s of row (%s) with any master key given: give the key it was sealed with",
				col.column, strings.Join(r.key, ", "), col.column, strings.Join(r.key, ", ")), err)
		}
		sealed, err := s.vault.SealForWith(to, plain, at)
		if err != nil {
			return n, err
		}
		args := []any{sealed, r.sealed}
		for _, k := range r.key {
			args = append(args, k)
		}
		res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+name+` = $1 WHERE `+name+` = $2 AND `+strings.Join(where, " AND "), args...)
		if err != nil {
			return n, err
		}
		if k, _ := res.RowsAffected(); k > 0 {
			n++
		}
	}
	return n, nil
}

func scanSealedRows(rows *sql.Rows, keys int) ([]sealedRow, error) {
	defer rows.Close()
	var out []sealedRow
	for rows.Next() {
		r := sealedRow{key: make([]string, keys)}
		dst := make([]any, 0, keys+1)
		for i := range r.key {
			dst = append(dst, &r.key[i])
		}
		if err := rows.Scan(append(dst, &r.sealed)...); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ResealBatch re-seals up to limit rows of the column under way, from where
// the rotation stopped, and records how far it got, in one transaction. It
// reports how many values it changed; r is updated. Once r.Walked(), only
// SweepKeyRotation is left.
func (s *Store) ResealBatch(ctx context.Context, r *KeyRotation, limit int, now time.Time) (int, error) {
	if r.Walked() {
		return 0, nil
	}
	c := slices.IndexFunc(sealedColumns, func(x struct {
		column string
		key    []string
	}) bool {
		return x.column == r.Column
	})
	if c < 0 { // a column this binary does not know (a newer one wrote it): start over
		c, r.After = 0, nil
	}
	col := sealedColumns[c]
	table, name, _ := strings.Cut(col.column, ".")
	keys := strings.Join(col.key, ", ")
	var next KeyRotation = *r
	changed := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		q := `SELECT ` + keys + `, ` + name + ` FROM ` + table
		var args []any
		if len(r.After) == len(col.key) {
			ph := make([]string, len(col.key))
			for i := range ph {
				ph[i] = "$" + strconv.Itoa(i+1)
				args = append(args, r.After[i])
			}
			q += ` WHERE (` + keys + `) > (` + strings.Join(ph, ", ") + `)`
		}
		q += ` ORDER BY ` + keys + ` LIMIT ` + strconv.Itoa(limit)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		batch, err := scanSealedRows(rows, len(col.key))
		if err != nil {
			return err
		}
		if changed, err = s.reseal(ctx, tx, c, batch, r.To); err != nil {
			return err
		}
		next.Resealed += int64(changed)
		switch {
		case len(batch) == limit:
			next.Column, next.After = col.column, batch[len(batch)-1].key
		case c+1 < len(sealedColumns):
			next.Column, next.After = sealedColumns[c+1].column, nil
		default:
			next.Column, next.After = "", nil
		}
		return s.putKeyRotation(ctx, tx, &next, now)
	})
	if err != nil {
		return 0, dbErr("re-seal "+col.column, err)
	}
	*r = next
	return changed, nil
}

// SweepKeyRotation re-seals every value still naming another key than the
// new one, limit rows per transaction, until none is left; it returns how
// many it changed.
func (s *Store) SweepKeyRotation(ctx context.Context, r *KeyRotation, limit int, now time.Time) (int, error) {
	total := 0
	for c, col := range sealedColumns {
		table, name, _ := strings.Cut(col.column, ".")
		for {
			n := 0
			err := s.inTx(ctx, func(tx *sql.Tx) error {
				rows, err := tx.QueryContext(ctx, `SELECT `+strings.Join(col.key, ", ")+`, `+name+` FROM `+table+
					` WHERE `+name+` <> '' AND `+name+` NOT LIKE $1 LIMIT `+strconv.Itoa(limit), "v2:"+vault.KeyIDOf(r.To)+":%")
				if err != nil {
					return err
				}
				batch, err := scanSealedRows(rows, len(col.key))
				if err != nil || len(batch) == 0 {
					return err
				}
				if n, err = s.reseal(ctx, tx, c, batch, r.To); err != nil {
					return err
				}
				if n == 0 { // every row changed under us: read again
					n = -1
					return nil
				}
				r.Resealed += int64(n)
				return s.putKeyRotation(ctx, tx, r, now)
			})
			if err != nil {
				return total, dbErr("re-seal "+col.column, err)
			}
			if n == 0 {
				break
			}
			if n > 0 {
				total += n
			}
		}
	}
	return total, nil
}

// FinishKeyRotation ends the rotation to r.To: no value names another key
// any more, so instances may run with the new key alone.
func (s *Store) FinishKeyRotation(ctx context.Context, r *KeyRotation) error {
	n, err := s.countNotSealedWith(ctx, s.write, r.To)
	if err != nil {
		return dbErr("count sealed values", err)
	}
	if n > 0 {
		return fmt.Errorf("store: %d sealed values still name another key: sweep again", n)
	}
	_, err = s.write.ExecContext(ctx, `DELETE FROM meta WHERE key = $1`, metaKeyRotation)
	return dbErr("finish the key rotation", err)
}

// RefreshVaultKey seals with the key the database names from now on (a
// rotation elsewhere may have just switched it). It returns an error when
// this instance does not hold that key.
func (s *Store) RefreshVaultKey(ctx context.Context) error {
	stored, ok, err := s.meta(ctx, s.read, metaKeyFingerprint)
	if err != nil || !ok {
		return err
	}
	if stored == s.vault.Fingerprint() {
		return nil
	}
	if !s.vault.UseKey(stored) {
		return wxfleet.Errorf(wxfleet.EINVALID,
			"数据库已改用指纹为 %s 的主密钥（wxfleet rotate-key），本实例没有它：请用新密钥作为 WXFLEET_MASTER_KEY、旧密钥作为 WXFLEET_MASTER_KEY_OLD 重启 / the database now names the master key of fingerprint %s (wxfleet rotate-key), which this instance lacks: restart it with the new key as WXFLEET_MASTER_KEY and the old one as WXFLEET_MASTER_KEY_OLD",
			short(stored), short(stored))
	}
	s.logger.InfoContext(ctx, "sealing with the master key the database now names", "fingerprint", short(stored))
	return nil
}
