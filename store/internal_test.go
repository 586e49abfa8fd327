package store

import (
	"context"
	"database/sql"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/vault"
)

// TestMatcherAnyOrder feeds the matcher RETURNING rows in every kind of order:
// the databases return VALUES order, but nothing guarantees it, and with
// duplicates in a chunk the in-order shortcut must not claim a later copy.
func TestMatcherAnyOrder(t *testing.T) {
	keys := []string{"a", "b", "a", "c", "b", "d", "a"}
	comps := []string{"wx1", "wx1", "wx1", "wx1", "wx2", "wx1", "wx1"}
	chunk := make([]*wxfleet.Event, len(keys))
	for i := range keys {
		chunk[i] = &wxfleet.Event{ComponentAppID: comps[i], DedupKey: keys[i]}
	}
	// What the database inserts: the first occurrence of each (comp, key).
	wantInserted := []bool{true, true, false, true, true, true, false}
	type row struct {
		id        int64
		comp, key string
	}
	var returned []row
	for i, ok := range wantInserted {
		if ok {
			returned = append(returned, row{int64(100 + i), comps[i], keys[i]})
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		order := slices.Clone(returned)
		if trial > 0 {
			r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		inserted := make([]bool, len(chunk))
		ids := make([]int64, len(chunk))
		m := matcher{chunk: chunk, inserted: inserted, ids: ids, inStep: true}
		for _, rw := range order {
			if err := m.match(rw.id, rw.comp, rw.key); err != nil {
				t.Fatalf("order %v: %v", order, err)
			}
		}
		if !slices.Equal(inserted, wantInserted) {
			t.Fatalf("order %v: inserted %v, want %v", order, inserted, wantInserted)
		}
		for i, ok := range wantInserted {
			if ok && ids[i] != int64(100+i) {
				t.Fatalf("order %v: ids %v", order, ids)
			}
		}
	}
	// A row the batch never held is an error, not a silent mismatch.
	m := matcher{chunk: chunk, inserted: make([]bool, len(chunk)), ids: make([]int64, len(chunk)), inStep: true}
	if err := m.match(1, "wx1", "zzz"); err == nil {
		t.Fatal("unknown row accepted")
	}
}

func TestEventInsertSQL(t *testing.T) {
	var c eventSQLCache
	got := c.insert(2)
	want := "INSERT INTO events (component_appid, appid, type, dedup_key, create_time, received_at, payload) VALUES " +
		"($1,$2,$3,$4,$5,$6,$7),($8,$9,$10,$11,$12,$13,$14)" +
		" ON CONFLICT (component_appid, dedup_key) DO NOTHING RETURNING id, component_appid, dedup_key"
	if got != want {
		t.Fatalf("insert(2) =\n%s\nwant\n%s", got, want)
	}
	if c.insert(2) != got || len(c.insert(eventChunk)) <= len(got) {
		t.Fatal("cache returns different text")
	}
	quiet := eventSQLCache{positional: true, quiet: true, orIgnore: true}
	got = quiet.insert(1)
	want = "INSERT OR IGNORE INTO events (component_appid, appid, type, dedup_key, create_time, received_at, payload) VALUES (?,?,?,?,?,?,?)"
	if got != want {
		t.Fatalf("quiet insert(1) =\n%s\nwant\n%s", got, want)
	}
}

// openSQLite opens a store on the SQLite file at path, closed when t ends.
func openSQLite(t *testing.T, path string) *Store {
	t.Helper()
	v, err := vault.New(vault.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), path, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSQLiteEventsOneUniqueKey guards AddEvents' INSERT OR IGNORE: it skips a
// row that breaks any unique key, which is right only while the dedup key is
// the events table's one unique key (besides the rowid, which it never binds).
func TestSQLiteEventsOneUniqueKey(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t, filepath.Join(t.TempDir(), "x.db"))
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT il.name, group_concat(ii.name, ',') FROM pragma_index_list('events') AS il
		JOIN pragma_index_info(il.name) AS ii WHERE il."unique" = 1 GROUP BY il.name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var name, cols string
		if err := rows.Scan(&name, &cols); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, cols)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "component_appid,dedup_key" {
		t.Fatalf("events has unique keys %q; AddEvents' INSERT OR IGNORE assumes only (component_appid, dedup_key)", keys)
	}
}

func TestSQLitePath(t *testing.T) {
	for _, tc := range []struct{ dsn, path string }{
		{"/var/lib/wxfleet/wxfleet.db", "/var/lib/wxfleet/wxfleet.db"},
		{"sqlite:/var/lib/wxfleet/wxfleet.db", "/var/lib/wxfleet/wxfleet.db"},
		{"sqlite:data/wxfleet.db", "data/wxfleet.db"},
		{"sqlite:///var/lib/wxfleet.db", "/var/lib/wxfleet.db"},
		{"wxfleet.db", "wxfleet.db"},
	} {
		got, err := sqlitePath(tc.dsn)
		if err != nil || got != tc.path {
			t.Errorf("sqlitePath(%q) = %q, %v; want %q", tc.dsn, got, err, tc.path)
		}
	}
	for _, dsn := range []string{"", "sqlite:", ":memory:", "sqlite::memory:", "file::memory:?cache=shared", "x.db?_pragma=foo"} {
		if _, err := sqlitePath(dsn); err == nil {
			t.Errorf("sqlitePath(%q) accepted", dsn)
		}
	}
}

func TestMillis(t *testing.T) {
	if toMillis(time.Time{}) != 0 || !fromMillis(0).IsZero() {
		t.Fatal("zero time must map to 0 and back")
	}
	cst := time.FixedZone("CST", 8*3600)
	in := time.Date(2025, 10, 9, 17, 0, 0, 123_456_789, cst)
	out := fromMillis(toMillis(in))
	if !out.Equal(in.Truncate(time.Millisecond)) || out.Location() != time.UTC {
		t.Fatalf("round trip %v → %v", in, out)
	}
}

// TestSQLiteExistingPageSize opens a database made with SQLite's default page
// size: it keeps it, and works.
func TestSQLiteExistingPageSize(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE before_us (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := openSQLite(t, path)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var size int
	var mode string
	if err := s.write.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
		t.Fatal(err)
	}
	if err := s.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if size != 4096 || mode != "wal" {
		t.Fatalf("page size %d, journal mode %q; want 4096 (kept) and wal", size, mode)
	}
}

// TestSQLiteConnections checks the pocketbase-style setup: the write pool is
// one connection in WAL mode with foreign keys and a busy timeout, begun
// IMMEDIATE; the read pool refuses writes.
func TestSQLiteConnections(t *testing.T) {
	ctx := t.Context()
	s := openSQLite(t, filepath.Join(t.TempDir(), "x.db"))
	if s.Dialect() != DialectSQLite || s.PgxPool() != nil {
		t.Fatalf("dialect %q, pool %v", s.Dialect(), s.PgxPool())
	}
	if got := s.WriteDB().Stats().MaxOpenConnections; got != 1 {
		t.Fatalf("write pool allows %d connections, want 1", got)
	}
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000", "synchronous": "1", "query_only": "0",
		"page_size": strconv.Itoa(sqlitePageSize),
	} {
		var got string
		if err := s.write.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("write connection: PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	var qo, fk string
	if err := s.read.QueryRowContext(ctx, "PRAGMA query_only").Scan(&qo); err != nil {
		t.Fatal(err)
	}
	if err := s.read.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if qo != "1" || fk != "1" {
		t.Errorf("read connection: query_only %s, foreign_keys %s", qo, fk)
	}
	if _, err := s.read.ExecContext(ctx, "CREATE TABLE nope (x INTEGER)"); err == nil {
		t.Fatal("the read pool accepted a write")
	}
	// IMMEDIATE: a transaction holds the write lock from BEGIN, so a second
	// writer on another connection sees the lock at once (not at its first write).
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other, err := sql.Open("sqlite", s.path+"?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, "BEGIN IMMEDIATE"); err == nil {
		t.Fatal("BEGIN on the write pool did not take the write lock")
	}
}

func TestSQLiteFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "private.db")
	key := make([]byte, 32)
	v, _ := vault.New(key)
	s, err := Open(context.Background(), path, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", p, fi.Mode().Perm())
		}
	}
}

func TestSQLiteSynchronousSetting(t *testing.T) {
	v, _ := vault.New(make([]byte, 32))
	for dsn, want := range map[string]int{"": 1, "?synchronous=full": 2, "?synchronous=NORMAL": 1} {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "s.db")+dsn, v, nil)
		if err != nil {
			t.Fatalf("%q: %v", dsn, err)
		}
		var got int
		if err := s.write.QueryRow("PRAGMA synchronous").Scan(&got); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got != want {
			t.Errorf("%q: synchronous = %d, want %d", dsn, got, want)
		}
	}
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "s.db")+"?_pragma=foo", v, nil); err == nil {
		t.Error("an arbitrary SQLite setting was accepted")
	}
}

// Migration numbers are given out per feature and land in any order: a
// database migrated by a build without 00005 (but with later ones) takes
// 00005 when a build that has it migrates.
func TestMigrateAppliesAnEarlierNumberThatLandedLater(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "wxfleet.db"))
	sub, err := fs.Sub(migrationFiles, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	older := fstest.MapFS{}
	entries, _ := fs.ReadDir(sub, ".")
	for _, e := range entries {
		if e.Name() == "00005_auth_code_exchanges.sql" {
			continue
		}
		b, _ := fs.ReadFile(sub, e.Name())
		older[e.Name()] = &fstest.MapFile{Data: b}
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.write, older, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(goMigrations...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatalf("the older build's migrations: %v", err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("migrating after 00005 landed: %v", err)
	}
	var n int
	if err := s.write.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM auth_code_exchanges`).Scan(&n); err != nil {
		t.Fatalf("00005 not applied: %v", err)
	}
	if ok, err := s.MigrationStatus(t.Context()); err != nil || !ok {
		t.Fatalf("MigrationStatus after the late migration: %v, %v", ok, err)
	}
}
