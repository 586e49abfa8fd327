package queue_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/token"
)

// refreshStub works token refresh jobs without calling anyone: what is
// measured is the row River leaves behind.
type refreshStub struct {
	river.WorkerDefaults[token.RefreshAuthorizerArgs]
}

func (refreshStub) Work(context.Context, *river.Job[token.RefreshAuthorizerArgs]) error { return nil }

// BenchmarkCompletedJobFootprint inserts and works b.N token refresh jobs
// on PostgreSQL (the real args, tags and uniqueness of
// token.RefreshAuthorizerArgs) and reports what the completed jobs occupy:
// the average row, and the growth of river_job with its indexes and dead
// row versions (before autovacuum). At 100 000 authorizers whose two-hour
// tokens are refreshed about every 100 minutes, 1.44 million jobs complete
// a day; the metric per-day-100k-MiB is what they would add in a day if
// nothing deleted them, and retained-100k-MiB what River keeps standing
// with queue.CompletedRetention.
//
//	WXFLEET_TEST_POSTGRES=... go test -run '^$' -bench CompletedJobFootprint -benchtime 5000x ./queue/
func BenchmarkCompletedJobFootprint(b *testing.B) {
	st := openStore(b, store.DialectPostgres)
	ctx := context.Background()
	ws := queue.NewWorkers(0)
	queue.AddWorker(ws, &refreshStub{})
	cfg := &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 20}},
		FetchPollInterval: 20 * time.Millisecond,
		FetchCooldown:     20 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	}
	queue.Configure(cfg, ws)
	q, err := queue.New(st, cfg)
	if err != nil {
		b.Fatal(err)
	}
	relSize := func() int64 {
		var n int64
		if err := st.WriteDB().QueryRow(`SELECT pg_total_relation_size('river_job')`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	before := relSize()
	if err := q.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer q.Stop(ctx)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(1000, b.N-done)
		params := make([]river.InsertManyParams, n)
		for i := range params {
			params[i] = river.InsertManyParams{Args: token.RefreshAuthorizerArgs{
				ComponentAppID: "wxcomponent000001", AppID: fmt.Sprintf("wx%016x", uint64(done+i)*0x9e3779b97f4a7c15)}}
		}
		if err := q.InsertMany(ctx, params); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var left int
		if err := st.WriteDB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE state <> 'completed'`).Scan(&left); err != nil {
			b.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d jobs not completed after 5 minutes", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()
	var row float64
	if err := st.WriteDB().QueryRow(`SELECT AVG(pg_column_size(j.*)) FROM river_job j WHERE state = 'completed'`).Scan(&row); err != nil {
		b.Fatal(err)
	}
	perJob := float64(relSize()-before) / float64(b.N)
	const perDay = 100_000 * 24 * 60 / 100
	b.ReportMetric(row, "row-B")
	b.ReportMetric(perJob, "table-B/job")
	b.ReportMetric(perJob*perDay/(1<<20), "per-day-100k-MiB")
	b.ReportMetric(perJob*perDay/24*queue.CompletedRetention.Hours()/(1<<20), "retained-100k-MiB")
}
