package store

import (
	"context"
	"database/sql"
	"time"
)

// Tx is a write transaction of the store. Store methods defined on Tx run
// inside it, and the queue's InsertTx puts River jobs in the same
// transaction (Tx.SQL), so a state change and the job that carries it on
// commit together or not at all: a rollout never changes state without
// scheduling its next step, nor schedules a step for a change that rolled
// back.
//
// While fn of InTx runs, use the Tx only, never the Store's write methods:
// on SQLite the write pool has one connection, which the transaction holds,
// so a write through the Store would wait for it forever. (Reads through the
// Store work, but do not see the transaction's writes.)
type Tx struct {
	s  *Store
	tx *sql.Tx
}

// InTx runs fn in one write transaction, committed if fn returns nil and
// rolled back if it returns an error or panics. It returns fn's error, or
// the commit's.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	var fnErr error
	err := s.inTx(ctx, func(t *sql.Tx) error {
		fnErr = fn(&Tx{s: s, tx: t})
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return dbErr("transaction", err)
}

// SQL returns the database/sql transaction, for River's InsertTx (see
// package queue): River's SQLite driver and its database/sql driver for
// PostgreSQL both insert through it.
func (tx *Tx) SQL() *sql.Tx { return tx.tx }

// Meta reads one value of the installation's key-value table; ok is false
// when the key is not set.
func (s *Store) Meta(ctx context.Context, key string) (value string, ok bool, err error) {
	return s.meta(ctx, s.read, key)
}

// SetMeta sets one value of the installation's key-value table, in the
// transaction. The master key's fingerprint is not among the keys it can
// set (CheckVaultKey keeps it).
func (tx *Tx) SetMeta(ctx context.Context, key, value string, now time.Time) error {
	if key == "" || key == metaKeyFingerprint {
		return invalid("meta 键 %q 不可写 / meta key %q cannot be set", key, key)
	}
	_, err := tx.tx.ExecContext(ctx, `
		INSERT INTO meta (key, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, value, toMillis(now))
	return dbErr("set meta "+key, err)
}
