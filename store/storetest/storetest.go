// Package storetest gives tests a fresh wxfleet database on every kind the
// machine has: SQLite (a temp file, always) and PostgreSQL (a fresh schema of
// the database WXFLEET_TEST_POSTGRES names, dropped at cleanup; skipped,
// saying so, when the variable is unset). Every package that needs a store in
// its tests gets it here, so its tests run on PostgreSQL in CI too.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/vault"
)

// PostgresEnv names the variable holding the PostgreSQL DSN tests use.
const PostgresEnv = "WXFLEET_TEST_POSTGRES"

// Backend makes fresh databases of one kind.
type Backend struct {
	// Name is "sqlite" or "postgres".
	Name string
	// fresh returns the DSN of a new, empty database removed at cleanup.
	fresh func(t testing.TB) string
}

// SQLite makes temp-file databases.
var SQLite = Backend{Name: store.DialectSQLite, fresh: func(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "data", "wxfleet.db")
}}

// Postgres makes schemas of the database named by dsn.
func Postgres(dsn string) Backend {
	return Backend{Name: store.DialectPostgres, fresh: func(t testing.TB) string { return freshSchema(t, dsn) }}
}

// PostgresDSN returns WXFLEET_TEST_POSTGRES, or skips t saying so.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		t.Skip(PostgresEnv + " not set: skipping the PostgreSQL variant of this test")
	}
	return dsn
}

// Run runs fn once per database kind, as subtests "sqlite" and "postgres";
// the PostgreSQL one skips, saying so, when WXFLEET_TEST_POSTGRES is unset.
func Run(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Run(store.DialectSQLite, func(t *testing.T) { fn(t, SQLite) })
	t.Run(store.DialectPostgres, func(t *testing.T) { fn(t, Postgres(PostgresDSN(t))) })
}

// DSN returns the DSN of a new, empty database of b's kind, removed at
// cleanup. Open it twice to play two instances on one database.
func (b Backend) DSN(t testing.TB) string {
	t.Helper()
	return b.fresh(t)
}

// Open opens a store on dsn with v, unmigrated, closed at cleanup.
func Open(t testing.TB, dsn string, v *vault.Vault) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn, v, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Migrated opens a store on dsn with v and applies the migrations.
func Migrated(t testing.TB, dsn string, v *vault.Vault) *store.Store {
	t.Helper()
	s := Open(t, dsn, v)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// New is a migrated store on a fresh database of b's kind, with a new vault.
func (b Backend) New(t testing.TB) *store.Store {
	t.Helper()
	return Migrated(t, b.DSN(t), NewVault(t))
}

// NewVault is a vault with a fresh random key.
func NewVault(t testing.TB) *vault.Vault {
	t.Helper()
	v, err := vault.New(vault.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// freshSchema creates a schema on dsn's database and returns dsn with its
// search_path set to it; the schema is dropped at cleanup, after the stores
// opened on it are closed (cleanups run last-registered first).
func freshSchema(t testing.TB, dsn string) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresEnv, err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "wxfleet_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
