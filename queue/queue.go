// Package queue is the one place that knows River's client is generic over
// the database driver's transaction type: it gives the rest of wxfleet a
// plain interface to enqueue and cancel durable jobs on SQLite and PostgreSQL
// alike.
package queue

import (
	"context"
	"database/sql"
	"errors"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Queue enqueues and cancels River jobs.
type Queue interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
	InsertMany(ctx context.Context, params []river.InsertManyParams) error
	// CancelTagged cancels the not-yet-finished jobs carrying tag.
	CancelTagged(ctx context.Context, tag string) (int, error)
	// InsertTx and InsertManyTx enqueue inside the store's transaction tx:
	// the job exists if and only if tx commits.
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) error
	// JobList lists jobs matching params.
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	Start(ctx context.Context) error
	// Stop fetches no more jobs and waits for the running ones to finish
	// (or ctx to end, when they go on running).
	Stop(ctx context.Context) error
	// StopAndCancel cancels the running jobs' contexts and waits for them to
	// return: River records each as failed and retries it later, here or on
	// another instance.
	StopAndCancel(ctx context.Context) error
}

// River wraps a River client of any driver.
func River[TTx any](c *river.Client[TTx], tx *river.Client[*sql.Tx]) Queue {
	return &riverQueue[TTx]{c: c, tx: tx}
}

type riverQueue[TTx any] struct {
	c *river.Client[TTx]
	// tx inserts in a *sql.Tx: the client itself on SQLite, an insert-only
	// database/sql client on PostgreSQL (see New).
	tx *river.Client[*sql.Tx]
}

func (q *riverQueue[TTx]) InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	_, err := q.tx.InsertTx(ctx, tx, args, opts)
	return err
}

func (q *riverQueue[TTx]) InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) error {
	if len(params) == 0 {
		return nil
	}
	_, err := q.tx.InsertManyTx(ctx, tx, params)
	return err
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
func (q *riverQueue[TTx]) StopAndCancel(ctx context.Context) error {
	return q.c.StopAndCancel(ctx)
}
