package lease

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitJoined polls until n callers joined key's run.
func waitJoined[K comparable, V any](t *testing.T, g *Group[K, V], key K, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		g.mu.Lock()
		f := g.flights[key]
		joined := f != nil && f.joined >= n
		g.mu.Unlock()
		if joined {
			return
		}
	}
	t.Fatalf("%d callers did not join the run within 10 s", n)
}

// Concurrent callers of one key share one run and its result.
func TestGroupSharesOneRun(t *testing.T) {
	var g Group[string, int]
	var runs atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]int, 20)
	for i := range 20 {
		wg.Go(func() {
			results[i], _ = g.Do(context.Background(), "k", func(context.Context) (int, error) {
				runs.Add(1)
				<-release
				return 42, nil
			})
		})
	}
	waitJoined(t, &g, "k", 19)
	close(release)
	wg.Wait()
	for i, r := range results {
		if r != 42 {
			t.Fatalf("caller %d got %d", i, r)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d runs for 20 concurrent callers", n)
	}
	// A later call runs again.
	if v, _ := g.Do(context.Background(), "k", func(context.Context) (int, error) { return 7, nil }); v != 7 {
		t.Fatalf("a call after the run got %d, want a new run", v)
	}
	// Other keys are independent.
	if v, _ := g.Do(context.Background(), "other", func(context.Context) (int, error) { return 8, nil }); v != 8 {
		t.Fatalf("another key got %d", v)
	}
}

// A caller that gives up does not cancel the run for the others, and the run
// ends at its own timeout.
func TestGroupRunOutlivesItsCaller(t *testing.T) {
	g := Group[string, string]{Timeout: time.Minute}
	proceed := make(chan struct{})
	runCtx := make(chan context.Context, 1)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := g.Do(ctx, "k", func(ctx context.Context) (string, error) {
			runCtx <- ctx
			<-proceed
			return "done", ctx.Err()
		})
		first <- err
	}()
	rc := <-runCtx
	if dl, ok := rc.Deadline(); !ok || time.Until(dl) > time.Minute {
		t.Fatalf("the run has no deadline of its own (%v, %v)", dl, ok)
	}
	second := make(chan string, 1)
	go func() {
		v, _ := g.Do(context.Background(), "k", func(context.Context) (string, error) { return "second run", nil })
		second <- v
	}()
	waitJoined(t, &g, "k", 1)
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled caller got %v", err)
	}
	if rc.Err() != nil {
		t.Fatal("cancelling one caller cancelled the shared run")
	}
	close(proceed)
	if v := <-second; v != "done" {
		t.Fatalf("the waiting caller got %q, want the shared run's result", v)
	}
}

// A panicking run becomes an error for its callers, not a crash.
func TestGroupPanicIsAnError(t *testing.T) {
	var g Group[string, int]
	_, err := g.Do(context.Background(), "k", func(context.Context) (int, error) { panic("boom") })
	if err == nil {
		t.Fatal("no error from a panicking run")
	}
}
