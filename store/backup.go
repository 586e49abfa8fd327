package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/wxfleet/wxfleet"
)

// The functions here work on SQLite files by path, from a process other than
// the one serving them (`wxfleet backup` and `restore`). PostgreSQL has its
// own tools for this (pg_dump, pg_restore).

// sqliteFileParams open a database file that must already exist, waiting for
// the serving process's locks rather than failing on them.
const sqliteFileParams = "?_pragma=busy_timeout(10000)"

// openExisting opens the SQLite file at path with one connection, refusing a
// missing file (a plain open would create an empty database).
func openExisting(ctx context.Context, path, params string) (*sql.DB, error) {
	if err := IsSQLiteFile(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", path+params)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return db, nil
}

// IsSQLiteFile tells whether path is an existing SQLite database file, by
// its 16-byte header.
func IsSQLiteFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return wxfleet.WrapError(wxfleet.ENOTFOUND, "找不到数据库文件 / no database file at "+path, err)
	}
	defer f.Close()
	var head [16]byte
	if _, err := io.ReadFull(f, head[:]); err != nil || string(head[:]) != "SQLite format 3\x00" {
		return wxfleet.Errorf(wxfleet.EINVALID, "%s 不是 SQLite 数据库 / %s is not a SQLite database", path, path)
	}
	return nil
}

// SnapshotSQLite writes a transactionally consistent copy of the live SQLite
// database src to dst (which must not exist) with VACUUM INTO: it reads in
// one transaction, so the serving process keeps writing meanwhile (its
// writes after the snapshot began are not in the copy), and the copy is
// compact and has no -wal file of its own.
func SnapshotSQLite(ctx context.Context, src, dst string) error {
	db, err := openExisting(ctx, src, sqliteFileParams)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO $1`, dst); err != nil {
		return fmt.Errorf("store: copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// FinishSQLiteFile makes the database at path one self-contained file, as a
// backup must be: it checks the file's integrity and leaves WAL mode (which
// moves the -wal file's pages into the database and removes it; wxfleet
// switches back to WAL when it opens the file).
func FinishSQLiteFile(ctx context.Context, path string) error {
	db, err := openExisting(ctx, path, sqliteFileParams)
	if err != nil {
		return err
	}
	defer db.Close()
	var verdict string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&verdict); err != nil {
		return fmt.Errorf("store: integrity check of %s: %w", path, err)
	}
	if verdict != "ok" {
		return wxfleet.Errorf(wxfleet.EINVALID, "%s 已损坏 / %s is damaged: %s", path, path, verdict)
	}
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode=DELETE`).Scan(&mode); err != nil {
		return fmt.Errorf("store: %s: leave WAL mode: %w", path, err)
	}
	if !strings.EqualFold(mode, "delete") {
		return fmt.Errorf("store: %s: still in journal mode %s (another process has it open?)", path, mode)
	}
	return nil
}

// SQLiteInUse tells whether some process has the SQLite database at path
// open (a serving wxfleet keeps connections open all its life). It asks for
// an exclusive lock without waiting: in WAL mode SQLite grants it only when
// no other connection exists. A missing file is not in use.
func SQLiteInUse(ctx context.Context, path string) (bool, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	db, err := openExisting(ctx, path, "?_pragma=busy_timeout(0)&_pragma=locking_mode(EXCLUSIVE)")
	if err != nil {
		if strings.Contains(err.Error(), "SQLITE_BUSY") || strings.Contains(err.Error(), "locked") {
			return true, nil
		}
		return false, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `BEGIN EXCLUSIVE; COMMIT`); err != nil {
		if strings.Contains(err.Error(), "SQLITE_BUSY") || strings.Contains(err.Error(), "locked") {
			return true, nil
		}
		return false, fmt.Errorf("store: probe %s: %w", path, err)
	}
	return false, nil
}

// KeyFingerprint returns the fingerprint of the master key the database's
// secrets are sealed with, as CheckVaultKey recorded it ("" if none yet).
func (s *Store) KeyFingerprint(ctx context.Context) (string, error) {
	fp, _, err := s.meta(ctx, s.read, metaKeyFingerprint)
	return fp, err
}

// ShortFingerprint is the form of a fingerprint errors and messages show.
func ShortFingerprint(fp string) string { return short(fp) }

// CountEvents returns how many pushes the database stores, across platforms
// (for the backup's report).
func (s *Store) CountEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return 0, dbErr("count events", err)
	}
	return n, nil
}
