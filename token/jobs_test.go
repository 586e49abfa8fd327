package token

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// The sweep and the refresh worker, on a real River queue: a token is
// refreshed before it expires, and again two hours later. (River's default
// uniqueness would have kept the completed first job blocking the second for
// a day.)
func TestSweepRefreshesAgainAndAgain(t *testing.T) { storetest.Run(t, testSweepRefreshesAgainAndAgain) }

func testSweepRefreshesAgainAndAgain(t *testing.T, b storetest.Backend) {
	f := newFixture(t, b)
	k := f.keeper(t, "a")
	workers := river.NewWorkers()
	river.AddWorker(workers, &RefreshAuthorizerWorker{Keeper: k})
	river.AddWorker(workers, &RefreshComponentWorker{Keeper: k})
	cfg := &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}, QueueName: {MaxWorkers: 2}},
		Workers:           workers,
		FetchPollInterval: 20 * time.Millisecond,
		FetchCooldown:     10 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
	}
	ctx := context.Background()
	q, err := queue.New(f.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })

	waitToken := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			a, err := f.store.Authorizer(ctx, "wxcomp", "wxapp")
			// Done when the token is the new one and River has recorded the
			// job as finished (it completes jobs in batches, a moment later).
			if err == nil && a.AccessToken.Reveal() == want {
				res, err := q.JobList(ctx, river.NewJobListParams().States(unfinished...))
				if err == nil && len(res.Jobs) == 0 {
					return
				}
			}
			if time.Now().After(deadline) {
				res, _ := q.JobList(ctx, river.NewJobListParams().First(50))
				for _, j := range res.Jobs {
					t.Logf("job %d %s %s attempt %d errors %v args %s", j.ID, j.Kind, j.State, j.Attempt, j.Errors, j.EncodedArgs)
				}
				t.Fatalf("token is %q, want %q", a.AccessToken.Reveal(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Nothing is due yet: the token has two hours.
	if n, err := Sweep(ctx, f.store, q, f.clock(), 0); err != nil || n != 1 { // the component token has never been fetched
		t.Fatalf("first sweep enqueued %d, %v", n, err)
	}
	for round, want := range []string{"atok-1", "atok-2", "atok-3"} {
		f.advance(time.Hour + 45*time.Minute) // within Margin of expiry
		n, err := Sweep(ctx, f.store, q, f.clock(), 0)
		if err != nil || n < 1 {
			t.Fatalf("round %d: sweep enqueued %d, %v", round, n, err)
		}
		waitToken(want)
	}
	if n := f.wc.authorizerCalls.Load(); n != 3 {
		t.Errorf("WeChat refreshed %d times, want 3", n)
	}
}
