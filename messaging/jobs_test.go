package messaging

import (
	"context"
	"log/slog"
	"testing"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// The periodic catch-up is insertable: River refuses unique options that
// leave out a state it requires (running), and the periodic enqueuer then
// never scheduled the job, logging only an internal error. A second insert
// while the first waits is the same job.
func TestCatchUpJobInserts(t *testing.T) {
	st := storetest.SQLite.New(t)
	workers := river.NewWorkers()
	river.AddWorker(workers, &CatchUpWorker{})
	q, err := queue.New(st, &river.Config{Workers: workers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if err := q.Insert(ctx, CatchUpArgs{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	res, err := q.JobList(ctx, river.NewJobListParams().First(10))
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("jobs: %+v, %v", res, err)
	}
}
