package queue_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/vault"
)

// openStore opens a migrated store on a fresh database: a SQLite file, or a
// new schema of WXFLEET_TEST_POSTGRES (skipping when it is unset).
func openStore(t testing.TB, dialect string) *store.Store {
	t.Helper()
	return openStoreWith(t, dialect, nil)
}

// openStoreWith is openStore with PostgreSQL run-time settings in the DSN.
func openStoreWith(t testing.TB, dialect string, settings url.Values) *store.Store {
	t.Helper()
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "wxfleet.db")
	if dialect == store.DialectPostgres {
		dsn = postgresSchema(t)
		if len(settings) > 0 {
			dsn += "&" + settings.Encode()
		}
	}
	v, err := vault.New(vault.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dsn, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// postgresSchema returns a DSN for a new schema, dropped at cleanup.
func postgresSchema(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("WXFLEET_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("WXFLEET_TEST_POSTGRES not set: skipping the PostgreSQL queue tests")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("WXFLEET_TEST_POSTGRES: %v", err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "wxfleet_queue_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// stepArgs is the job a state change schedules: its key names the meta row
// the change wrote.
type stepArgs struct {
	Key string `json:"key"`
}

func (stepArgs) Kind() string { return "test_step" }

type stepWorker struct {
	river.WorkerDefaults[stepArgs]
	done chan string
}

func (w *stepWorker) Work(ctx context.Context, job *river.Job[stepArgs]) error {
	w.done <- job.Args.Key
	return nil
}

// startQueue starts a queue built as the server builds it, working
// stepArgs into done.
func startQueue(t testing.TB, st *store.Store, done chan string) queue.Queue {
	t.Helper()
	ws := queue.NewWorkers(0)
	queue.AddWorker(ws, &stepWorker{done: done})
	cfg := &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
		FetchPollInterval: 20 * time.Millisecond,
		FetchCooldown:     10 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	}
	queue.Configure(cfg, ws)
	q, err := queue.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	return q
}

func countJobs(t testing.TB, st *store.Store, key string) int {
	t.Helper()
	var n int
	// args is JSON text on SQLite and jsonb on PostgreSQL: compare as text
	// of the key alone.
	q := `SELECT COUNT(*) FROM river_job WHERE kind = 'test_step' AND ` + jsonKey(st) + ` = $1`
	if err := st.WriteDB().QueryRow(q, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func jsonKey(st *store.Store) string {
	if st.Dialect() == store.DialectPostgres {
		return `args->>'key'`
	}
	return `json_extract(args, '$.key')`
}

var errRollBack = errors.New("the change is abandoned")

// A state change and the job that carries it on commit together: rolled
// back, neither the row nor the job exists; committed, both do and the job
// runs. On SQLite the insert must use the transaction's own connection (the
// write pool has one): a deadlock would hang here until the context's
// deadline.
func TestInsertTxCommitsWithTheChange(t *testing.T) {
	for _, dialect := range []string{store.DialectSQLite, store.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			st := openStore(t, dialect)
			done := make(chan string, 8)
			q := startQueue(t, st, done)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			now := time.Now()

			err := st.InTx(ctx, func(tx *store.Tx) error {
				if err := tx.SetMeta(ctx, "step-a", "changed", now); err != nil {
					return err
				}
				if err := q.InsertTx(ctx, tx.SQL(), stepArgs{Key: "step-a"}, nil); err != nil {
					return err
				}
				return errRollBack
			})
			if !errors.Is(err, errRollBack) {
				t.Fatalf("InTx = %v, want fn's error", err)
			}
			if _, ok, err := st.Meta(ctx, "step-a"); err != nil || ok {
				t.Fatalf("rolled-back change is stored (%v, %v)", ok, err)
			}
			if n := countJobs(t, st, "step-a"); n != 0 {
				t.Fatalf("rolled-back change left %d jobs", n)
			}

			err = st.InTx(ctx, func(tx *store.Tx) error {
				if err := tx.SetMeta(ctx, "step-b", "changed", now); err != nil {
					return err
				}
				return q.InsertManyTx(ctx, tx.SQL(), []river.InsertManyParams{{Args: stepArgs{Key: "step-b"}}, {Args: stepArgs{Key: "step-c"}}})
			})
			if err != nil {
				t.Fatal(err)
			}
			if v, ok, err := st.Meta(ctx, "step-b"); err != nil || !ok || v != "changed" {
				t.Fatalf("committed change: %q, %v, %v", v, ok, err)
			}
			got := map[string]bool{}
			for len(got) < 2 {
				select {
				case k := <-done:
					got[k] = true
				case <-ctx.Done():
					t.Fatalf("committed jobs not worked: got %v", got)
				}
			}
			if !got["step-b"] || !got["step-c"] || got["step-a"] {
				t.Fatalf("worked %v, want step-b and step-c only", got)
			}
			if n := countJobs(t, st, "step-a"); n != 0 {
				t.Fatalf("the rolled-back job appeared later: %d", n)
			}
		})
	}
}

// A panic inside the transaction rolls it back, job included, and leaves
// the write connection usable.
func TestInTxPanicRollsBack(t *testing.T) {
	for _, dialect := range []string{store.DialectSQLite, store.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			st := openStore(t, dialect)
			q := startQueue(t, st, make(chan string, 8))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			func() {
				defer func() {
					if recover() == nil {
						t.Fatal("no panic")
					}
				}()
				st.InTx(ctx, func(tx *store.Tx) error {
					tx.SetMeta(ctx, "step-p", "changed", time.Now())
					q.InsertTx(ctx, tx.SQL(), stepArgs{Key: "step-p"}, nil)
					panic("boom")
				})
			}()
			if _, ok, _ := st.Meta(ctx, "step-p"); ok {
				t.Fatal("the panicked change is stored")
			}
			if n := countJobs(t, st, "step-p"); n != 0 {
				t.Fatalf("the panicked change left %d jobs", n)
			}
			if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.SetMeta(ctx, "after", "ok", time.Now()) }); err != nil {
				t.Fatalf("a transaction after the panic: %v", err)
			}
		})
	}
}

// A queue without a database/sql client refuses InsertTx rather than
// inserting outside the transaction.
func TestInsertTxNeedsATxClient(t *testing.T) {
	st := openStore(t, store.DialectPostgres)
	c, err := river.NewClient(riverpgxv5New(st), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	q := queue.River(c)
	err = st.InTx(context.Background(), func(tx *store.Tx) error {
		return q.InsertTx(context.Background(), tx.SQL(), stepArgs{Key: "x"}, nil)
	})
	if err == nil {
		t.Fatal("InsertTx through a pgx-only client succeeded")
	}
}

func riverpgxv5New(st *store.Store) *riverpgxv5.Driver { return riverpgxv5.New(st.PgxPool()) }
