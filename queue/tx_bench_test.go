package queue_test

import (
	"context"
	"database/sql"
	"log/slog"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/wxfleet/wxfleet/store"
)

// BenchmarkStateChangeWithJob measures what package queue's design decision
// rests on: one transaction that writes a row and inserts the River job that
// follows it, on PostgreSQL through database/sql (the store's transactions,
// River's riverdatabasesql driver: what wxfleet does) against pgx (a pgx
// transaction, River's riverpgxv5 driver: what the store would have to move
// to otherwise), and on SQLite for reference. Jobs are inserted, not worked.
//
//	WXFLEET_TEST_POSTGRES=... go test -run '^$' -bench StateChangeWithJob -benchmem -count=3 ./queue/
func BenchmarkStateChangeWithJob(b *testing.B) {
	const upsert = `INSERT INTO meta (key, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
	ctx := context.Background()
	cfg := func() *river.Config { return &river.Config{Logger: slog.New(slog.DiscardHandler)} }

	b.Run("sqlite/database-sql", func(b *testing.B) {
		st := openStore(b, store.DialectSQLite)
		c, err := river.NewClient(riversqlite.New(st.WriteDB()), cfg())
		if err != nil {
			b.Fatal(err)
		}
		benchDatabaseSQL(b, st, c)
	})
	// With synchronous_commit off the commit's flush drops out and what is
	// left is the drivers' own cost.
	for _, sync := range []string{"on", "off"} {
		settings := url.Values{"synchronous_commit": {sync}}
		b.Run("postgres/sync-"+sync+"/database-sql", func(b *testing.B) {
			st := openStoreWith(b, store.DialectPostgres, settings)
			c, err := river.NewClient(riverdatabasesql.New(st.WriteDB()), cfg())
			if err != nil {
				b.Fatal(err)
			}
			benchDatabaseSQL(b, st, c)
		})
		b.Run("postgres/sync-"+sync+"/pgx", func(b *testing.B) {
			st := openStoreWith(b, store.DialectPostgres, settings)
			pool := st.PgxPool()
			c, err := river.NewClient(riverpgxv5.New(pool), cfg())
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now().UnixMilli()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				key := "bench-" + strconv.Itoa(i)
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, upsert, key, "changed", now); err != nil {
						return err
					}
					_, err := c.InsertTx(ctx, tx, stepArgs{Key: key}, nil)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchDatabaseSQL runs the state change through the store's own
// transaction, as wxfleet does.
func benchDatabaseSQL(b *testing.B, st *store.Store, c *river.Client[*sql.Tx]) {
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		key := "bench-" + strconv.Itoa(i)
		err := st.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.SetMeta(ctx, key, "changed", now); err != nil {
				return err
			}
			_, err := c.InsertTx(ctx, tx.SQL(), stepArgs{Key: key}, nil)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
