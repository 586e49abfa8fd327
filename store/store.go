// Package store keeps wxfleet's state in SQLite or PostgreSQL behind one set of
// methods, with hand-written SQL that is the same text for both databases
// ($N placeholders, ON CONFLICT, RETURNING). The schema differs only in its
// migration files (migrations/sqlite, migrations/postgres), which keep the
// same table and column names.
//
// Rules the SQL follows:
//   - every tenant row carries component_appid, part of its key, and every
//     method touching tenant data takes it explicitly and filters on it;
//   - times are BIGINT unix milliseconds UTC (the zero time is 0), booleans
//     INTEGER 0/1, JSON TEXT;
//   - secrets (platform token, EncodingAESKey, app secret, tickets, access and
//     refresh tokens) are stored only as vault-sealed text (*_sealed columns).
//
// On SQLite, writes go through a pool of exactly one connection (begun
// IMMEDIATE, so a transaction never fails half-way on a lock upgrade) and reads
// through a separate read-only pool, as pocketbase does. River shares the write
// pool (WriteDB), which is why SQLite means one wxfleet instance: River
// coordinates only inside one database file. Scaling out means PostgreSQL.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/vault"
)

// Dialects, as returned by Store.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Store is wxfleet's database. It is safe for concurrent use.
type Store struct {
	dialect  string
	path     string        // SQLite only: the database file
	syncFull bool          // SQLite only: synchronous=full
	write    *sql.DB       // SQLite: the single write connection; Postgres: the pool
	read     *sql.DB       // SQLite: read-only pool; Postgres: same as write
	pool     *pgxpool.Pool // Postgres only
	ckpt     *checkpointer // SQLite only: keeps the WAL small
	vault    *vault.Vault
	logger   *slog.Logger

	eventSQL      eventSQLCache
	eventSQLQuiet eventSQLCache
	// platformSeen caches component appids known to exist (SQLite has no
	// foreign key on events; see knownPlatform).
	platformSeen sync.Map
	// authorizerTenant caches whether authorizers has a tenant_id column
	// (see AuthorizerTenant): 0 unknown, 1 yes, 2 no.
	authorizerTenant atomic.Int32
}

// SQLite connection settings. busy_timeout comes first (modernc applies it
// before the others) so that nothing below can fail on SQLITE_BUSY. The page
// size is not among them: modernc sets journal_mode before page_size, and a
// database in WAL mode keeps the page size it has, so sqliteInit sets it. The
// writer's page cache is 8 MiB: every page a larger cache takes on is fresh
// memory, and its first touch (a page fault) cost more than the insert that
// needed it — 13.6 against 23.5 µs an event in a 256-event transaction
// (64 MiB); the operating system caches the file behind it anyway. The
// writer checkpoints the WAL only every 10 000 pages (≈80 MiB), which
// keeps checkpoints off the ingest path; checkpoint.go keeps the WAL small
// otherwise.
const (
	sqliteWriteParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(on)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(10000)&_pragma=cache_size(-8192)&_txlock=immediate"
	sqliteReadParams  = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(on)&_query_only=1"
)

// Open connects to the database named by dsn: a postgres:// or postgresql://
// URL opens PostgreSQL; anything else is a SQLite file path, optionally
// prefixed with "sqlite:" (a missing parent directory is created, mode 0700).
// v seals and opens the secrets; logger receives migration logs (nil: none).
//
// Open does not migrate: call Migrate.
func Open(ctx context.Context, dsn string, v *vault.Vault, logger *slog.Logger) (*Store, error) {
	if v == nil {
		return nil, errors.New("store: a vault is required to seal secrets")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{vault: v, logger: logger}
	s.eventSQLQuiet.quiet = true
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		err = s.openPostgres(ctx, dsn)
	} else {
		err = s.openSQLite(ctx, dsn)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// postgresPoolSize is the connection pool's size when the URL does not set
// pool_max_conns. pgx's own default, max(4, CPUs), starved a server whose job
// workers (the default, token, rollout and webhook queues: 80 and more),
// push handlers and leases share the pool: on a 2-CPU machine two instances
// bulk-authorizing 200 mini programs left more than half of the authorized
// pushes unanswered after WeChat's retries, every handler waiting for a
// connection ("error beginning transaction: context canceled"), and lease
// renewals timed out. Ten a CPU (at least 25, at most 100) keeps two or three
// instances under PostgreSQL's default max_connections of 100 on small
// machines; a larger deployment sets pool_max_conns (docs/configuration.md).
func postgresPoolSize() int32 {
	return int32(min(max(25, 10*runtime.NumCPU()), 100))
}

func (s *Store) openPostgres(ctx context.Context, dsn string) error {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may echo the DSN, password included.
		return errors.New("store: cannot parse the PostgreSQL URL (check its syntax; the URL is not repeated here because it may hold a password)")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = postgresPoolSize()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("store: connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return fmt.Errorf("store: connect to PostgreSQL %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	s.dialect, s.pool, s.write, s.read = DialectPostgres, pool, db, db
	return nil
}

// sqliteSync reads the one setting a SQLite DSN may carry, after the path:
// "?synchronous=full" makes every commit wait for fsync, so an acknowledged
// push also survives a power loss (about 20 % fewer pushes a second; see the
// README). The default, normal, survives a crash of the process; it syncs at
// checkpoints, so a power loss may lose the commits since the last one.
func sqliteSync(dsn string) (string, string, error) {
	path, query, found := strings.Cut(dsn, "?")
	if !found {
		return dsn, "NORMAL", nil
	}
	switch strings.ToLower(query) {
	case "synchronous=full":
		return path, "FULL", nil
	case "synchronous=normal":
		return path, "NORMAL", nil
	}
	return "", "", fmt.Errorf("store: SQLite setting %q: the only one accepted is synchronous=full or synchronous=normal", query)
}

// sqlitePath extracts the file path from a SQLite DSN (without its settings).
func sqlitePath(dsn string) (string, error) {
	path := dsn
	if rest, ok := strings.CutPrefix(path, "sqlite://"); ok {
		path = rest
	} else if rest, ok := strings.CutPrefix(path, "sqlite:"); ok {
		path = rest
	}
	switch {
	case path == "":
		return "", errors.New("store: empty database path (give a SQLite file path or a postgres:// URL)")
	case path == ":memory:" || strings.HasPrefix(path, "file::memory:"):
		return "", errors.New("store: in-memory SQLite is not supported (the read and write pools must share one file): give a file path")
	case strings.ContainsAny(path, "?#"):
		return "", fmt.Errorf("store: SQLite path %q must not contain '?' or '#': connection settings are fixed by wxfleet", path)
	}
	return path, nil
}

// sqlitePageSize is the page size of a new SQLite database. Against
// SQLite's default of 4096 it cut the cost of storing a push by a sixth
// (5.0 → 4.2 µs in 1024-push transactions, one mini program) and by a
// tenth for pushes from 1000 mini programs (12.9 → 11.7 µs): fewer WAL
// frames and B-tree pages for the same rows. Larger pages did no better
// with many mini programs, whose pushes each dirty an index page of their
// own. An existing database keeps the size it was created with.
const sqlitePageSize = 8192

// sqliteInit gives an empty database file its page size and WAL mode, on a
// connection of its own that sets nothing else first.
func sqliteInit(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("store: open SQLite %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: open SQLite %s: %w", path, err)
	}
	defer conn.Close()
	var pages int
	if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return fmt.Errorf("store: open SQLite %s: %w", path, err)
	}
	if pages > 0 {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA page_size = "+strconv.Itoa(sqlitePageSize)); err != nil {
		return fmt.Errorf("store: set the page size of %s: %w", path, err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA journal_mode = WAL"); err != nil {
		return fmt.Errorf("store: switch %s to WAL: %w", path, err)
	}
	return nil
}

func (s *Store) openSQLite(ctx context.Context, dsn string) error {
	dsn, sync, err := sqliteSync(dsn)
	if err != nil {
		return err
	}
	path, err := sqlitePath(dsn)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("store: create database directory: %w", err)
		}
	}
	// The database holds sealed secrets and every merchant's messages: create
	// it readable by its owner only (SQLite gives -wal and -shm the same mode).
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("store: create SQLite file %s: %w", path, err)
	}
	if err := sqliteInit(ctx, path); err != nil {
		return err
	}
	// Go's url package would turn a literal '%' in the path into an escape, so
	// only the query is built, by hand, from constants.
	write, err := sql.Open("sqlite", path+"?"+strings.Replace(sqliteWriteParams, "synchronous(NORMAL)", "synchronous("+sync+")", 1))
	if err != nil {
		return fmt.Errorf("store: open SQLite %s: %w", path, err)
	}
	// One writer: SQLite serialises writes anyway, and a pool of one turns
	// lock contention (SQLITE_BUSY) into an orderly wait in database/sql.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	// Connect the writer first: it switches the file to WAL, which the
	// read-only connections cannot do.
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return fmt.Errorf("store: open SQLite %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", path+"?"+sqliteReadParams)
	if err != nil {
		write.Close()
		return fmt.Errorf("store: open SQLite %s: %w", path, err)
	}
	n := max(4, runtime.NumCPU())
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxIdleTime(5 * time.Minute)
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		write.Close()
		return fmt.Errorf("store: open SQLite %s for reading: %w", path, err)
	}
	s.dialect, s.path, s.write, s.read = DialectSQLite, path, write, read
	if err := s.startCheckpointer(path, sync); err != nil {
		read.Close()
		write.Close()
		return err
	}
	s.syncFull = sync == "FULL"
	s.eventSQL.positional = true
	s.eventSQLQuiet.positional = true
	s.eventSQLQuiet.orIgnore = true
	return nil
}

// Path returns the SQLite database file ("" on PostgreSQL).
func (s *Store) Path() string { return s.path }

// SyncFull reports whether SQLite commits wait for fsync (?synchronous=full),
// so whatever sits in front of the database (the ingest journal) can match.
func (s *Store) SyncFull() bool { return s.syncFull }

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// WriteDB returns the database/sql handle writes go through. On SQLite it is
// the single write connection, which River's riversqlite driver must share; on
// PostgreSQL it is a database/sql view of the pgx pool.
func (s *Store) WriteDB() *sql.DB { return s.write }

// PgxPool returns the PostgreSQL pool for River's riverpgxv5 driver, or nil on
// SQLite.
func (s *Store) PgxPool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return wxfleet.WrapError(wxfleet.EUNAVAILABLE, "数据库不可用 / database unavailable", err)
	}
	if s.read != s.write {
		if err := s.read.PingContext(ctx); err != nil {
			return wxfleet.WrapError(wxfleet.EUNAVAILABLE, "数据库不可用 / database unavailable", err)
		}
	}
	return nil
}

// Close closes the connections. Stop River before closing the store.
func (s *Store) Close() error {
	s.eventSQL.close()
	s.eventSQLQuiet.close()
	var errs []error
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	if s.read != s.write {
		errs = append(errs, s.read.Close())
	}
	errs = append(errs, s.write.Close())
	if s.pool != nil {
		s.pool.Close()
	}
	return errors.Join(errs...)
}

// inTx runs fn in a write transaction and commits it if fn returns nil; an
// error or a panic rolls it back. fn must use tx only: on SQLite the write
// pool has one connection, which tx holds.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	done = true
	return tx.Commit()
}

// toMillis converts a time to the stored form: unix milliseconds, 0 for the
// zero time.
func toMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis is the inverse of toMillis, in UTC.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// sealAt seals sec bound to where it rests: column (table.column) and the
// row's key. A value copied into another row or column does not open.
func (s *Store) sealAt(sec wxfleet.Secret, column string, key ...string) string {
	if sec == "" {
		return ""
	}
	return s.vault.SealFor([]byte(sec.Reveal()), sealedAt(column, key...))
}

// openAt opens a value sealAt sealed for this column and row.
func (s *Store) openAt(sealed, column string, key ...string) (wxfleet.Secret, error) {
	if sealed == "" {
		return "", nil
	}
	plain, err := s.vault.OpenFor(sealed, sealedAt(column, key...))
	if err != nil {
		return "", wxfleet.WrapError(wxfleet.EINTERNAL,
			"无法解密已存储的密钥，请确认 vault 密钥与写入时一致，且该值未被移到别的行 / cannot decrypt a stored secret ("+column+"): check that the vault key is the one it was written with, and that the value was not moved from another row", err)
	}
	return wxfleet.Secret(plain), nil
}

// sealedAt is the associated data of a sealed value: its column and row key,
// joined by NUL (which no appid or id contains).
func sealedAt(column string, key ...string) string {
	return column + "\x00" + strings.Join(key, "\x00")
}

func notFound(format string, args ...any) error {
	return wxfleet.Errorf(wxfleet.ENOTFOUND, format, args...)
}

func invalid(format string, args ...any) error {
	return wxfleet.Errorf(wxfleet.EINVALID, format, args...)
}

// dbErr wraps a database failure for the log; the user sees a generic sentence.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *wxfleet.Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return wxfleet.WrapError(wxfleet.EUNAVAILABLE, "数据库操作超时或被取消 / database operation timed out or was cancelled", fmt.Errorf("store: %s: %w", op, err))
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// where builds a WHERE clause with $N placeholders numbered as it goes.
type where struct {
	sql  strings.Builder
	args []any
}

// and adds "cond" with its argument; cond holds one %d for the placeholder.
func (w *where) and(cond string, arg any) {
	w.args = append(w.args, arg)
	if w.sql.Len() == 0 {
		w.sql.WriteString(" WHERE ")
	} else {
		w.sql.WriteString(" AND ")
	}
	fmt.Fprintf(&w.sql, cond, len(w.args))
}

// andN adds cond with several arguments; cond names their placeholders
// %[1]d, %[2]d… (one may be used twice).
func (w *where) andN(cond string, args ...any) {
	nums := make([]any, len(args))
	for i, a := range args {
		w.args = append(w.args, a)
		nums[i] = len(w.args)
	}
	if w.sql.Len() == 0 {
		w.sql.WriteString(" WHERE ")
	} else {
		w.sql.WriteString(" AND ")
	}
	fmt.Fprintf(&w.sql, cond, nums...)
}

// next returns the placeholder for one more argument.
func (w *where) next(arg any) string {
	w.args = append(w.args, arg)
	return fmt.Sprintf("$%d", len(w.args))
}

// clampLimit applies the default and maximum page size.
func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 1000:
		return 1000
	}
	return n
}

// isForeignKeyViolation tells whether err is a foreign key failure: in this
// schema, a tenant row naming a platform that does not exist. It is the one
// place that knows both drivers' error types.
func isForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == 787 // SQLITE_CONSTRAINT_FOREIGNKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503" // foreign_key_violation
	}
	return false
}

// platformErr turns a foreign key failure into "no such platform".
func platformErr(op, componentAppID string, err error) error {
	if isForeignKeyViolation(err) {
		return notFound("第三方平台 %s 不存在 / platform %s not found", componentAppID, componentAppID)
	}
	return dbErr(op, err)
}
