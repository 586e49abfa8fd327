package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// The schema's two flavours. They differ only where the databases do (the
// events id column and the payload type); table and column names are the same.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// goMigrations are the steps SQL cannot take on both databases.
var goMigrations = []*goose.Migration{
	goose.NewGoMigration(2,
		&goose.GoFunc{RunTx: hashPreAuthCodes},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			// The codes cannot come back; they expired long ago anyway.
			_, err := tx.ExecContext(ctx, `ALTER TABLE auth_links RENAME COLUMN pre_auth_code_sha256 TO pre_auth_code`)
			return err
		}}),
}

// hashPreAuthCodes (migration 2) replaces the pre_auth_codes that
// auth_links kept in the clear with their SHA-256 digests, in a column
// renamed to say so. The index on it follows the rename.
func hashPreAuthCodes(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `ALTER TABLE auth_links RENAME COLUMN pre_auth_code TO pre_auth_code_sha256`); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT component_appid, id, pre_auth_code_sha256 FROM auth_links`)
	if err != nil {
		return err
	}
	type link struct{ comp, id, code string }
	var links []link
	for rows.Next() {
		var l link
		if err := rows.Scan(&l.comp, &l.id, &l.code); err != nil {
			rows.Close()
			return err
		}
		links = append(links, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, l := range links {
		if _, err := tx.ExecContext(ctx, `UPDATE auth_links SET pre_auth_code_sha256 = $1 WHERE component_appid = $2 AND id = $3`,
			preAuthDigest(l.code), l.comp, l.id); err != nil {
			return err
		}
	}
	return nil
}

// goose returns a goose provider for this store's dialect, without goose's
// global state.
func (s *Store) goose() (*goose.Provider, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/"+s.dialect)
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	if s.dialect == DialectPostgres {
		dialect = goose.DialectPostgres
	}
	return goose.NewProvider(dialect, s.write, sub,
		goose.WithDisableGlobalRegistry(true),
		// Migration numbers are given out per feature (00020 tenants, 00021
		// accounts, ...) and land in any order, so a database migrated by a
		// build that had 00021 but not yet 00020 must still take 00020 when
		// a later build brings it. Every migration is additive (expand
		// only; TestMigrationsAreExpandOnly), so the order does not matter.
		goose.WithAllowOutofOrder(true),
		goose.WithGoMigrations(goMigrations...),
		// Each feature owns a migration number (tenants 00020, accounts
		// 00021, runtime 00022, …) and features are merged in any order, so
		// a database may hold 00022 when 00021 arrives: it is applied then,
		// not refused as "missing".
		goose.WithAllowOutofOrder(true),
		goose.WithSlog(s.logger.With(slog.String("component", "goose"))),
	)
}

// Migrate brings the schema up to date: wxfleet's own migrations (goose), then
// River's (rivermigrate). Running it again is a no-op. On PostgreSQL, instances
// starting together take turns through an advisory lock scoped to the current
// schema. (SQLite serves one instance, whose single write connection
// serialises everything.) A database migrated by a newer wxfleet is refused
// with a *NewerSchemaError and left as it is.
func (s *Store) Migrate(ctx context.Context) error {
	if s.dialect == DialectPostgres {
		unlock, err := s.lockMigrations(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	// A newer wxfleet's schema is left alone (schema.go).
	if err := s.checkNotNewer(ctx); err != nil {
		return err
	}
	p, err := s.goose()
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: apply migrations: %w", err)
	}
	for _, r := range res {
		s.logger.InfoContext(ctx, "migration applied", slog.Int64("version", r.Source.Version), slog.Duration("duration", r.Duration))
	}
	if err := s.riverMigrate(ctx, false); err != nil {
		return fmt.Errorf("store: apply River migrations: %w", err)
	}
	// With a ring of keys, re-seal with the one the database names (a
	// rotation may not have begun): other instances may hold only that one.
	if fp, ok, err := s.meta(ctx, s.write, metaKeyFingerprint); err == nil && ok {
		s.vault.UseKey(fp)
	}
	if n, err := s.resealLegacy(ctx); err != nil {
		return fmt.Errorf("store: re-sealing secrets bound to their rows: %w", err)
	} else if n > 0 {
		s.logger.InfoContext(ctx, "re-sealed stored secrets bound to their rows and key", slog.Int("values", n))
	}
	return nil
}

// riverMigrate applies River's pending migrations (check false) or tells
// whether all are applied (check true, errNotApplied if not).
func (s *Store) riverMigrate(ctx context.Context, check bool) error {
	cfg := &rivermigrate.Config{Logger: s.logger.With(slog.String("component", "rivermigrate"))}
	if s.dialect == DialectPostgres {
		m, err := rivermigrate.New(riverpgxv5.New(s.pool), cfg)
		if err != nil {
			return err
		}
		return riverRun(ctx, m, check)
	}
	m, err := rivermigrate.New(riversqlite.New(s.write), cfg)
	if err != nil {
		return err
	}
	return riverRun(ctx, m, check)
}

var errNotApplied = errors.New("River migrations pending")

func riverRun[TTx any](ctx context.Context, m *rivermigrate.Migrator[TTx], check bool) error {
	if !check {
		_, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	}
	have, err := m.ExistingVersions(ctx)
	if err != nil {
		return err
	}
	applied := make(map[int]bool, len(have))
	for _, v := range have {
		applied[v.Version] = true
	}
	for _, v := range m.AllVersions() {
		if !applied[v.Version] {
			return errNotApplied
		}
	}
	return nil
}

// lockMigrations takes a session advisory lock on a dedicated connection,
// keyed by the current schema, and returns its release.
func (s *Store) lockMigrations(ctx context.Context) (func(), error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migration lock: %w", err)
	}
	const key = "hashtext('wxfleet.migrate:' || current_schema())"
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock("+key+")"); err != nil {
		conn.Release()
		return nil, fmt.Errorf("store: migration lock: %w", err)
	}
	return func() {
		// Unlock even if ctx was cancelled meanwhile; a failed unlock closes
		// the connection, which releases the lock too.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+key+")"); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
		conn.Release()
	}, nil
}

// MigrationStatus tells whether the schema is fully migrated: every embedded
// wxfleet migration and every River migration is applied. It is meant for a
// readiness probe. (On a database never migrated, goose creates its empty
// version table while checking.)
func (s *Store) MigrationStatus(ctx context.Context) (applied bool, err error) {
	p, err := s.goose()
	if err != nil {
		return false, fmt.Errorf("store: migrations: %w", err)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, dbErr("migration status", err)
	}
	if pending {
		return false, nil
	}
	switch err := s.riverMigrate(ctx, true); {
	case errors.Is(err, errNotApplied):
		return false, nil
	case err != nil:
		return false, dbErr("River migration status", err)
	}
	return true, nil
}
