package store_test

import (
	"database/sql"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// walSize is the size of a SQLite database's WAL file (0 when absent).
func walSize(path string) int64 {
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		return 0
	}
	return fi.Size()
}

// walWatch samples the WAL's size until stopped and returns the largest seen.
func walWatch(path string) (stop func() int64) {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if n := walSize(path); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() int64 { close(done); wg.Wait(); return peak.Load() }
}

// burst writes 40 960 events of 600 bytes from 1000 mini programs while a
// reader holds an old snapshot, so that no checkpoint can start the WAL
// over meanwhile, however slowly the burst runs (under -race): the WAL is
// then surely large when the test starts to watch it.
func burst(t *testing.T, s *store.Store, path string) {
	t.Helper()
	reader, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	must(t, err)
	defer reader.Close()
	rtx, err := reader.Begin()
	must(t, err)
	var n int
	must(t, rtx.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n))
	defer rtx.Rollback()
	payload := make([]byte, 600)
	for b := range 40 {
		evs := make([]*wxfleet.Event, 1024)
		for i := range evs {
			evs[i] = &wxfleet.Event{ComponentAppID: "wxA", AppID: fmt.Sprintf("wxapp%04d", i%1000), Type: "text",
				DedupKey: fmt.Sprintf("m:%d:%d", b, i), CreateTime: base, ReceivedAt: base, Payload: payload}
		}
		must(t, s.AddEvents(t.Context(), evs))
	}
}

// Light writes after a burst (a small transaction every 20 ms, as token
// refreshes are at 100 000 authorizers) never leave the WAL idle, and still
// bring it back under the 16 MiB limit.
func TestWALShrinksUnderLightWrites(t *testing.T) {
	s, path := sqliteBackend.open(t, newVault(t))
	ctx := t.Context()
	must(t, s.Migrate(ctx))
	must(t, s.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxA"}))
	burst(t, s, path)
	after := walSize(path)
	if after <= 20<<20 {
		t.Fatalf("the burst left only %d bytes of WAL: nothing to measure", after)
	}
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	now := base
	for i := 0; walSize(path) > 17<<20; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the WAL is still %d bytes 30 s into light writes", walSize(path))
		}
		now = now.Add(time.Second)
		if _, err := s.AcquireLease(ctx, fmt.Sprintf("trickle-%d", i%50), "test", time.Minute, now); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("WAL %.1f MiB after the burst, %.1f MiB %s into light writes", float64(after)/(1<<20),
		float64(walSize(path))/(1<<20), time.Since(start).Round(100*time.Millisecond))
}

// After a burst of writes the WAL goes back to nothing once the writes stop,
// and everything written is still there.
func TestWALShrinksAfterABurst(t *testing.T) {
	s, path := sqliteBackend.open(t, newVault(t))
	ctx := t.Context()
	must(t, s.Migrate(ctx))
	must(t, s.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxA"}))
	burst(t, s, path)
	after := walSize(path)
	if after <= 20<<20 {
		t.Fatalf("the burst left only %d bytes of WAL: nothing to measure", after)
	}
	start := time.Now()
	deadline := start.Add(15 * time.Second)
	for walSize(path) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the WAL is still %d bytes 15 s after the burst", walSize(path))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("WAL %.1f MiB right after the burst, empty %s later", float64(after)/(1<<20), time.Since(start).Round(100*time.Millisecond))
	_, total, err := s.ListEvents(ctx, "wxA", store.EventFilter{Limit: 1})
	must(t, err)
	if total != 40*1024 {
		t.Fatalf("%d events after the checkpoint, want %d", total, 40*1024)
	}
}
