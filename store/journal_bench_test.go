package store_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/ingest"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/vault"
)

// BenchmarkJournalRecord measures the SQLite ingest path end to end without
// HTTP (it lives here, not in package ingest, so that fuzzing ingest does not
// build SQLite with fuzzing instrumentation):
// concurrent callers record distinct ~600-byte pushes through the journal,
// and the clock stops only once the applier has moved every one into the
// events table (Sync), so ns/op is the whole cost of a push, journal and
// database together.
//
//	go test -run '^$' -bench JournalRecord -benchmem ./store/
func BenchmarkJournalRecord(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := "sqlite-normal"
		if full {
			name = "sqlite-full"
		}
		b.Run(name, func(b *testing.B) {
			ctx := b.Context()
			v, err := vault.New(vault.GenerateKey())
			if err != nil {
				b.Fatal(err)
			}
			dsn := filepath.Join(b.TempDir(), "wxfleet.db")
			if full {
				dsn += "?synchronous=full"
			}
			st, err := store.Open(ctx, dsn, v, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if err := st.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			if err := st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxcomponent01"}); err != nil {
				b.Fatal(err)
			}
			j, err := ingest.Open(ctx, st, ingest.Options{Path: st.Path() + "-ingest", Sync: st.SyncFull()})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close(ctx)
			payload := []byte("<xml><Content><![CDATA[" + strings.Repeat("你好 hello ", 40) + "]]></Content></xml>")
			var n atomic.Int64
			now := time.Now()
			b.SetParallelism(16) // 32 callers on 2 CPUs, as the load test's connections
			b.ReportAllocs()
			walPeak := walWatch(st.Path())
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					ev := &wxfleet.Event{ComponentAppID: "wxcomponent01", AppID: "wxapp1", Type: "text",
						DedupKey: fmt.Sprintf("m:%d", 61000000000000000+i), CreateTime: now, ReceivedAt: now, Payload: payload}
					if ins, err := j.Record(ctx, ev); err != nil || !ins {
						b.Error("record:", ins, err)
						return
					}
				}
			})
			if err := j.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "pushes/s")
			b.ReportMetric(float64(walPeak())/(1<<20), "wal-peak-MiB")
		})
	}
}
