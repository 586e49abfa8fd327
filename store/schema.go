package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/wxfleet/wxfleet"
)

// MigrationState is one migration as `wxfleet migrate --status` shows it.
type MigrationState struct {
	Version   int64
	Name      string    // the file (wxfleet) or River's name; "" when Unknown
	Applied   bool      // recorded as applied in the database
	AppliedAt time.Time // zero when not applied or not recorded (River, goose's version 0)
	// Unknown: applied in the database but not part of this binary, so a
	// newer wxfleet (or River) migrated it.
	Unknown bool
}

// SchemaStatus lists wxfleet's own migrations (goose) and River's, each in
// version order, applied or pending, plus any the database has that this
// binary does not know.
type SchemaStatus struct {
	Migrations []MigrationState
	River      []MigrationState
}

// Current is the highest applied version of list (0: none).
func Current(list []MigrationState) int64 {
	var v int64
	for _, m := range list {
		if m.Applied {
			v = max(v, m.Version)
		}
	}
	return v
}

// Latest is the highest version of list this binary knows.
func Latest(list []MigrationState) int64 {
	var v int64
	for _, m := range list {
		if !m.Unknown {
			v = max(v, m.Version)
		}
	}
	return v
}

// NewerSchemaError says the database was migrated by a newer wxfleet: it
// has migrations this binary does not know, whose tables and columns its SQL
// would not expect. Nothing is changed when it is returned.
type NewerSchemaError struct {
	What     string // "wxfleet" or "River"
	Database int64  // the database's highest applied version
	Known    int64  // the highest version this binary knows
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("数据库比本程序新：%s 数据库结构版本为 %d，本程序只认识到 %d。请运行升级后的 wxfleet；若要退回本版本，先用新版本执行 `wxfleet migrate --to %d`（或从升级前的备份恢复）"+
		" / the database is newer than this binary: its %s schema is at version %d, this binary knows versions up to %d. Run the upgraded wxfleet; to go back to this one, first run `wxfleet migrate --to %d` with the newer binary (or restore the backup taken before the upgrade)",
		e.What, e.Database, e.Known, e.Known, e.What, e.Database, e.Known, e.Known)
}

// Unwrap makes it a coded error (wxfleet.ECONFLICT) for errors.As.
func (e *NewerSchemaError) Unwrap() error {
	return wxfleet.Errorf(wxfleet.ECONFLICT, "数据库比本程序新 / the database is newer than this binary")
}

// Schema reports the applied and pending migrations. (On a database never
// migrated, goose creates its empty version table while looking.)
func (s *Store) Schema(ctx context.Context) (*SchemaStatus, error) {
	p, err := s.goose()
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	status, err := p.Status(ctx)
	if err != nil {
		return nil, dbErr("migration status", err)
	}
	out := &SchemaStatus{}
	known := map[int64]bool{}
	for _, m := range status {
		known[m.Source.Version] = true
		name := m.Source.Path
		if name == "" {
			name = fmt.Sprintf("%05d (Go)", m.Source.Version)
		}
		out.Migrations = append(out.Migrations, MigrationState{
			Version: m.Source.Version, Name: name, Applied: m.State == goose.StateApplied, AppliedAt: m.AppliedAt,
		})
	}
	applied, err := s.gooseApplied(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range applied {
		if !known[v] {
			out.Migrations = append(out.Migrations, MigrationState{Version: v, Applied: true, Unknown: true})
		}
	}
	sortStates(out.Migrations)
	if out.River, err = s.riverSchema(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

func sortStates(l []MigrationState) {
	slices.SortFunc(l, func(a, b MigrationState) int { return int(a.Version - b.Version) })
}

// gooseApplied lists every version goose recorded as applied, known or not
// (goose's own status only looks up the versions it has files for).
func (s *Store) gooseApplied(ctx context.Context) ([]int64, error) {
	d := database.DialectSQLite3
	if s.dialect == DialectPostgres {
		d = database.DialectPostgres
	}
	gs, err := database.NewStore(d, goose.DefaultTablename)
	if err != nil {
		return nil, err
	}
	rows, err := gs.ListMigrations(ctx, s.write)
	if err != nil {
		return nil, dbErr("list applied migrations", err)
	}
	var out []int64
	for _, r := range rows {
		if r.IsApplied && r.Version > 0 {
			out = append(out, r.Version)
		}
	}
	return out, nil
}

// riverSchema lists River's migrations: those this River knows, applied or
// not, and those the database has beyond them. River's own listing fails on
// a version it does not know, so the table is read directly.
func (s *Store) riverSchema(ctx context.Context) ([]MigrationState, error) {
	var all []rivermigrate.Migration
	cfg := &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)}
	if s.dialect == DialectPostgres {
		m, err := rivermigrate.New(riverpgxv5.New(s.pool), cfg)
		if err != nil {
			return nil, err
		}
		all = m.AllVersions()
	} else {
		m, err := rivermigrate.New(riversqlite.New(s.write), cfg)
		if err != nil {
			return nil, err
		}
		all = m.AllVersions()
	}
	applied := map[int64]time.Time{}
	exists := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'river_migration'`
	if s.dialect == DialectPostgres {
		exists = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'river_migration'`
	}
	var n int
	if err := s.write.QueryRowContext(ctx, exists).Scan(&n); err != nil {
		return nil, dbErr("River migration status", err)
	}
	if n > 0 {
		rows, err := s.write.QueryContext(ctx, `SELECT version FROM river_migration WHERE line = 'main'`)
		if err != nil {
			return nil, dbErr("River migration status", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int64
			if err := rows.Scan(&v); err != nil {
				return nil, dbErr("River migration status", err)
			}
			applied[v] = time.Time{}
		}
		if err := rows.Err(); err != nil {
			return nil, dbErr("River migration status", err)
		}
	}
	var out []MigrationState
	for _, m := range all {
		_, ok := applied[int64(m.Version)]
		delete(applied, int64(m.Version))
		out = append(out, MigrationState{Version: int64(m.Version), Name: m.Name, Applied: ok})
	}
	for v := range applied {
		out = append(out, MigrationState{Version: v, Applied: true, Unknown: true})
	}
	sortStates(out)
	return out, nil
}

// checkNotNewer refuses a database migrated by a newer wxfleet or River
// (*NewerSchemaError), before anything is applied.
func (s *Store) checkNotNewer(ctx context.Context) error {
	st, err := s.Schema(ctx)
	if err != nil {
		return err
	}
	for _, l := range []struct {
		what string
		list []MigrationState
	}{{"wxfleet", st.Migrations}, {"River", st.River}} {
		for _, m := range l.list {
			if m.Unknown {
				return &NewerSchemaError{What: l.what, Database: Current(l.list), Known: Latest(l.list)}
			}
		}
	}
	return nil
}

// MigrateTo moves wxfleet's schema up or down to version (0: remove every
// wxfleet table; River's stay) and returns the versions applied (up) or
// reverted (down). Going up it also applies River's migrations, as Migrate
// does; going down it leaves River's alone: they belong to the River
// library, whose tables a downgraded wxfleet uses as they are.
func (s *Store) MigrateTo(ctx context.Context, version int64) (applied, reverted []int64, err error) {
	if s.dialect == DialectPostgres {
		unlock, err := s.lockMigrations(ctx)
		if err != nil {
			return nil, nil, err
		}
		defer unlock()
	}
	p, err := s.goose()
	if err != nil {
		return nil, nil, fmt.Errorf("store: migrations: %w", err)
	}
	var known []int64
	for _, src := range p.ListSources() {
		known = append(known, src.Version)
	}
	if version != 0 && !slices.Contains(known, version) {
		return nil, nil, wxfleet.Errorf(wxfleet.EINVALID, "没有版本为 %d 的迁移，可选：0 或 %s / no migration has version %d: choose 0 or one of %s",
			version, joinVersions(known), version, joinVersions(known))
	}
	// Neither way works on a newer schema: its migrations' down steps are
	// in the newer binary.
	if err := s.checkNotNewer(ctx); err != nil {
		return nil, nil, err
	}
	cur, err := p.GetDBVersion(ctx)
	if err != nil {
		return nil, nil, dbErr("schema version", err)
	}
	if version >= cur {
		res, err := p.UpTo(ctx, version)
		if err != nil {
			return nil, nil, fmt.Errorf("store: apply migrations: %w", err)
		}
		for _, r := range res {
			applied = append(applied, r.Source.Version)
			s.logger.InfoContext(ctx, "migration applied", slog.Int64("version", r.Source.Version), slog.Duration("duration", r.Duration))
		}
		if err := s.riverMigrate(ctx, false); err != nil {
			return applied, nil, fmt.Errorf("store: apply River migrations: %w", err)
		}
		return applied, nil, nil
	}
	res, err := p.DownTo(ctx, version)
	for _, r := range res {
		if r.Error == nil {
			reverted = append(reverted, r.Source.Version)
			s.logger.InfoContext(ctx, "migration reverted", slog.Int64("version", r.Source.Version), slog.Duration("duration", r.Duration))
		}
	}
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) && partial.Failed != nil && partial.Failed.Source != nil {
			return nil, reverted, fmt.Errorf("store: revert migration %d: %w", partial.Failed.Source.Version, partial.Err)
		}
		return nil, reverted, fmt.Errorf("store: revert migrations: %w", err)
	}
	return nil, reverted, nil
}

func joinVersions(vs []int64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}
