// Package queue is the one place that knows River's client is generic over
// the database driver's transaction type: it gives the rest of wxfleet a
// plain interface to enqueue and cancel durable jobs on SQLite and PostgreSQL
// alike, and to enqueue them inside a store transaction (InsertTx), so that
// a state change and the job that follows it commit together.
//
// The store's transactions are database/sql transactions on both databases
// (store.Tx.SQL). On SQLite River's riversqlite driver takes that *sql.Tx
// as it is, and one client does everything. On PostgreSQL the client that
// works the jobs uses pgx (riverpgxv5: LISTEN/NOTIFY, a pgx pool), and a
// second, insert-only client on River's database/sql driver
// (riverdatabasesql), over the store's *sql.DB — the same pgx pool seen
// through pgx's stdlib — inserts inside the store's transactions. Its
// inserts send the same NOTIFY on commit, so the worker client picks the
// job up at once.
//
// The alternative, running the store's PostgreSQL transactions on pgx, would
// give every store method that may run in a transaction two code paths
// (database/sql for SQLite, pgx for PostgreSQL). BenchmarkStateChangeWithJob
// (one row and one job per transaction) measured what staying on
// database/sql costs: with synchronous_commit off, 1.3–2.4 ms against pgx's
// 0.7–1.1 ms a transaction (690 against 146 allocations); with the default
// synchronous_commit the commit's flush dominates (5.8–7.9 against 3.6–6.3
// ms on this noisy machine). Under a millisecond a state change is a small
// price at the rate rollouts change state, and one code path is worth it;
// the hot paths (pushes, token refreshes) insert no job in a transaction.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/wxfleet/wxfleet/store"
)

// Queue enqueues and cancels River jobs.
type Queue interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
	InsertMany(ctx context.Context, params []river.InsertManyParams) error
	// InsertTx inserts a job inside tx, a store transaction (store.Tx.SQL):
	// the job exists if and only if tx commits, and is worked after that.
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error
	// InsertManyTx is InsertMany inside tx, as InsertTx.
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) error
	// CancelTagged cancels the not-yet-finished jobs carrying tag.
	CancelTagged(ctx context.Context, tag string) (int, error)
	// JobList lists jobs matching params (tests, status pages, reconciliation).
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// New makes the River client for st's database with cfg (see Configure),
// and on PostgreSQL the insert-only client InsertTx uses.
func New(st *store.Store, cfg *river.Config) (Queue, error) {
	if st.Dialect() != store.DialectPostgres {
		c, err := river.NewClient(riversqlite.New(st.WriteDB()), cfg)
		if err != nil {
			return nil, err
		}
		return River(c), nil
	}
	c, err := river.NewClient(riverpgxv5.New(st.PgxPool()), cfg)
	if err != nil {
		return nil, err
	}
	// Insert-only: no queues. The workers are named so that an insert of a
	// kind nobody works fails as it does on the main client.
	inserter, err := river.NewClient(riverdatabasesql.New(st.WriteDB()), &river.Config{
		Workers: cfg.Workers, Logger: cfg.Logger, Schema: cfg.Schema, MaxAttempts: cfg.MaxAttempts,
	})
	if err != nil {
		return nil, err
	}
	return &txQueue{Queue: River(c), tx: inserter}, nil
}

// River wraps a River client of any driver. Its InsertTx works when the
// client's transactions are database/sql ones (SQLite); on PostgreSQL use
// New.
func River[TTx any](c *river.Client[TTx]) Queue {
	q := &riverQueue[TTx]{c: c}
	if tc, ok := any(c).(*river.Client[*sql.Tx]); ok {
		q.tx = tc
	}
	return q
}

type riverQueue[TTx any] struct {
	c  *river.Client[TTx]
	tx *river.Client[*sql.Tx] // c itself when its transactions are *sql.Tx
}

// txQueue works jobs through Queue and inserts in store transactions
// through tx, a client on another driver over the same database.
type txQueue struct {
	Queue
	tx *river.Client[*sql.Tx]
}

func (q *txQueue) InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	return insertTx(ctx, q.tx, tx, args, opts)
}

func (q *txQueue) InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) error {
	return insertManyTx(ctx, q.tx, tx, params)
}

func (q *riverQueue[TTx]) JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error) {
	return q.c.JobList(ctx, params)
}

func (q *riverQueue[TTx]) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	_, err := q.c.Insert(ctx, args, opts)
	return err
}

func (q *riverQueue[TTx]) InsertMany(ctx context.Context, params []river.InsertManyParams) error {
	if len(params) == 0 {
		return nil
	}
	_, err := q.c.InsertMany(ctx, params)
	return err
}

func (q *riverQueue[TTx]) InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	return insertTx(ctx, q.tx, tx, args, opts)
}

func (q *riverQueue[TTx]) InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) error {
	return insertManyTx(ctx, q.tx, tx, params)
}

var errNoTxInserter = errors.New("queue: this queue cannot insert inside a store transaction (build it with queue.New)")

func insertTx(ctx context.Context, c *river.Client[*sql.Tx], tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	if c == nil {
		return errNoTxInserter
	}
	if _, err := c.InsertTx(ctx, tx, args, opts); err != nil {
		return fmt.Errorf("queue: insert %s in a transaction: %w", args.Kind(), err)
	}
	return nil
}

func insertManyTx(ctx context.Context, c *river.Client[*sql.Tx], tx *sql.Tx, params []river.InsertManyParams) error {
	if c == nil {
		return errNoTxInserter
	}
	if len(params) == 0 {
		return nil
	}
	if _, err := c.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("queue: insert %d jobs in a transaction: %w", len(params), err)
	}
	return nil
}

func (q *riverQueue[TTx]) CancelTagged(ctx context.Context, tag string) (int, error) {
	params := river.NewJobListParams().TagsAny(tag).First(1000).States(
		rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable,
		rivertype.JobStatePending, rivertype.JobStateRunning)
	res, err := q.c.JobList(ctx, params)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range res.Jobs {
		if _, err := q.c.JobCancel(ctx, j.ID); err != nil && !errors.Is(err, river.ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}

func (q *riverQueue[TTx]) Start(ctx context.Context) error { return q.c.Start(ctx) }
func (q *riverQueue[TTx]) Stop(ctx context.Context) error  { return q.c.Stop(ctx) }
