package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store/storetest"
)

type noteArgs struct {
	N int `json:"n"`
}

func (noteArgs) Kind() string { return "queue_test_note" }

type noteWorker struct {
	river.WorkerDefaults[noteArgs]
}

func (noteWorker) Work(context.Context, *river.Job[noteArgs]) error { return nil }

// A job enqueued in a store transaction exists exactly when the transaction
// commits, on both databases.
func TestInsertTxCommitsWithTheTransaction(t *testing.T) { storetest.Run(t, testInsertTx) }

func testInsertTx(t *testing.T, b storetest.Backend) {
	ctx := context.Background()
	st := b.New(t)
	workers := river.NewWorkers()
	river.AddWorker(workers, &noteWorker{})
	q, err := queue.New(st, &river.Config{Workers: workers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("roll back")
	write := func(n int, fail bool) error {
		tx, err := st.WriteDB().BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO leases (name, owner, expires_at) VALUES ($1, 'test', 0)`, "note"+string(rune('0'+n))); err != nil {
			return err
		}
		if err := q.InsertTx(ctx, tx, noteArgs{N: n}, nil); err != nil {
			return err
		}
		if err := q.InsertManyTx(ctx, tx, []river.InsertManyParams{{Args: noteArgs{N: n + 10}}}); err != nil {
			return err
		}
		if fail {
			return boom
		}
		return tx.Commit()
	}
	if err := write(1, true); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := write(2, false); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := st.WriteDB().QueryRowContext(ctx, `SELECT COUNT(*) FROM leases WHERE owner = 'test'`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	res, err := q.JobList(ctx, river.NewJobListParams().Kinds(noteArgs{}.Kind()).First(10))
	if err != nil {
		t.Fatal(err)
	}
	var ns []int
	for _, j := range res.Jobs {
		var a noteArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
			t.Fatal(err)
		}
		ns = append(ns, a.N)
	}
	if rows != 1 || len(ns) != 2 || ns[0]+ns[1] != 2+12 {
		t.Fatalf("after one rolled-back and one committed transaction: %d rows, jobs %v; want 1 row and jobs [2 12]", rows, ns)
	}
}
