package store_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// BenchmarkInsertEvents measures the push ingest's commit: one InsertEvents
// call with a batch of 32 new events (~600-byte payloads), on a SQLite file
// (and on PostgreSQL when WXFLEET_TEST_POSTGRES is set).
//
//	go test -run '^$' -bench InsertEvents -benchmem ./store/
func BenchmarkInsertEvents(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchInsertEvents(b, sqliteBackend, 32) })
	b.Run("postgres", func(b *testing.B) {
		dsn := os.Getenv(postgresEnv)
		if dsn == "" {
			b.Skip("WXFLEET_TEST_POSTGRES not set: skipping PostgreSQL store benchmarks")
		}
		benchInsertEvents(b, postgresBackend(dsn), 32)
	})
}

// BenchmarkInsertEventsBatch splits a commit's cost into its fixed part and
// its part per event: compare ns/event across batch sizes.
func BenchmarkInsertEventsBatch(b *testing.B) {
	for _, n := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("sqlite-%d", n), func(b *testing.B) { benchInsertEvents(b, sqliteBackend, n) })
	}
}

// benchEventStore opens a migrated store with platform wxA for the event
// benchmarks.
func benchEventStore(b *testing.B, be backend) *store.Store {
	ctx := b.Context()
	s, _ := be.open(b, newVault(b))
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := s.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxA"}); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchPayload is a 600-byte event payload.
func benchPayload() []byte {
	payload := make([]byte, 600)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	return payload
}

func benchInsertEvents(b *testing.B, be backend, batch int) {
	ctx := b.Context()
	s := benchEventStore(b, be)
	payload := benchPayload()
	evs := make([]*wxfleet.Event, batch)
	// Keys and events are made before the clock starts: the benchmark measures
	// the store, not the caller's allocations.
	all := make([]wxfleet.Event, batch*b.N)
	for i := range all {
		all[i] = wxfleet.Event{ComponentAppID: "wxA", AppID: "wxapp1", Type: "event.weapp_audit_success",
			DedupKey: fmt.Sprintf("dedup-%09d", i), CreateTime: base, ReceivedAt: base, Payload: payload}
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for range b.N {
		for i := range evs {
			evs[i] = &all[n]
			n++
		}
		ins, err := s.InsertEvents(ctx, evs)
		if err != nil {
			b.Fatal(err)
		}
		if !ins[0] {
			b.Fatal("benchmark keys repeated")
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAddEventsApps measures the ingest journal's way into SQLite:
// AddEvents in 1024-event transactions, the pushes coming from 1, 50 or 1000
// mini programs. The more mini programs, the more pages of the per-app index
// every transaction rewrites, so ns/op (per event) grows with them; larger
// transactions (the journal's 4096 for spread pushes) share those pages out.
//
//	go test -run '^$' -bench AddEventsApps ./store/
func BenchmarkAddEventsApps(b *testing.B) {
	for _, tc := range []struct{ apps, batch int }{{1, 1024}, {50, 1024}, {1000, 1024}, {1000, 4096}} {
		apps := tc.apps
		b.Run(fmt.Sprintf("apps-%d/batch-%d", apps, tc.batch), func(b *testing.B) {
			ctx := b.Context()
			s := benchEventStore(b, sqliteBackend)
			payload := benchPayload()
			appids := make([]string, apps)
			for i := range appids {
				appids[i] = fmt.Sprintf("wx%016x", uint64(i)*0x9e3779b97f4a7c15)
			}
			batch := make([]*wxfleet.Event, tc.batch)
			evs := make([]wxfleet.Event, len(batch))
			n := 0
			walPeak := walWatch(s.Path())
			b.ResetTimer()
			for done := 0; done < b.N; done += len(batch) {
				b.StopTimer()
				for i := range batch {
					n++
					evs[i] = wxfleet.Event{ComponentAppID: "wxA", AppID: appids[(n*7919)%apps], Type: "text",
						DedupKey: fmt.Sprintf("m:%d", 61000000000000000+n), CreateTime: base, ReceivedAt: base, Payload: payload}
					batch[i] = &evs[i]
				}
				b.StartTimer()
				if err := s.AddEvents(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(walPeak())/(1<<20), "wal-peak-MiB")
		})
	}
}

// BenchmarkAuthorizersDue runs the token refresher's query against 100k
// authorizers over 10 platforms, 1% of them due (756 rows returned).
//
//	go test -run '^$' -bench AuthorizersDue ./store/
func BenchmarkAuthorizersDue(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchAuthorizersDue(b, sqliteBackend) })
	b.Run("postgres", func(b *testing.B) {
		dsn := os.Getenv(postgresEnv)
		if dsn == "" {
			b.Skip("WXFLEET_TEST_POSTGRES not set: skipping PostgreSQL store benchmarks")
		}
		benchAuthorizersDue(b, postgresBackend(dsn))
	})
}

func benchAuthorizersDue(b *testing.B, be backend) {
	const rows, platforms = 100_000, 10
	ctx := b.Context()
	s, _ := be.open(b, newVault(b))
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	for p := range platforms {
		if err := s.UpsertPlatform(ctx, &wxfleet.Platform{AppID: fmt.Sprintf("wxcomp%d", p)}); err != nil {
			b.Fatal(err)
		}
	}
	// Bulk load through the raw write handle: UpsertAuthorizer one by one
	// would make the setup the benchmark.
	tx, err := s.WriteDB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO authorizers (component_appid, appid, status, token_expires_at) VALUES ($1, $2, $3, $4)`)
	if err != nil {
		b.Fatal(err)
	}
	statuses := []wxfleet.AuthorizerStatus{wxfleet.StatusAuthorized, wxfleet.StatusAuthorized, wxfleet.StatusAuthorized, wxfleet.StatusRevoked}
	before := base.Add(72 * time.Second) // 1% of the expiries
	want := 0
	for i := range rows {
		exp := base.Add(time.Duration(i%7200) * time.Second) // spread over 2 hours
		if exp.Before(before) && statuses[i%4] == wxfleet.StatusAuthorized {
			want++
		}
		if _, err := stmt.ExecContext(ctx, fmt.Sprintf("wxcomp%d", i%platforms), fmt.Sprintf("wxapp%06d", i), string(statuses[i%4]), exp.UnixMilli()); err != nil {
			b.Fatal(err)
		}
	}
	stmt.Close()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if s.Dialect() == store.DialectPostgres {
		if _, err := s.WriteDB().ExecContext(ctx, `ANALYZE authorizers`); err != nil {
			b.Fatal(err)
		}
	} else if _, err := s.WriteDB().ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() { // b.Loop runs the setup above once, not once per b.N
		due, err := s.AuthorizersDue(ctx, before, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if len(due) != want {
			b.Fatalf("%d due, want %d", len(due), want)
		}
	}
}
