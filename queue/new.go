package queue

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// Database is what New needs of the store: its dialect and its connections.
type Database interface {
	Dialect() string        // "sqlite" or "postgres"
	WriteDB() *sql.DB       // SQLite: the single write connection River shares
	PgxPool() *pgxpool.Pool // PostgreSQL: the pool River's pgx driver uses
}

// New makes a River queue on db with cfg, choosing River's driver by the
// database's dialect: this is the one place that knows which.
//
// On PostgreSQL the working client uses pgx (LISTEN/NOTIFY wakes workers at
// once), while the store's transactions are database/sql ones over the same
// pool; jobs enqueued inside those go through a second, insert-only client
// on River's database/sql driver, so they commit with the store's writes.
// On SQLite one client does both: its driver's transactions are *sql.Tx.
func New(db Database, cfg *river.Config) (Queue, error) {
	if db.Dialect() == "postgres" {
		c, err := river.NewClient(riverpgxv5.New(db.PgxPool()), cfg)
		if err != nil {
			return nil, err
		}
		ins, err := river.NewClient(riverdatabasesql.New(db.WriteDB()), &river.Config{Logger: cfg.Logger, Workers: cfg.Workers})
		if err != nil {
			return nil, err
		}
		return River(c, ins), nil
	}
	c, err := river.NewClient(riversqlite.New(db.WriteDB()), cfg)
	if err != nil {
		return nil, err
	}
	return River(c, c), nil
}

// JobList lists jobs (for tests, status pages and reconciliation).
func (q *riverQueue[TTx]) JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error) {
	return q.c.JobList(ctx, params)
}
