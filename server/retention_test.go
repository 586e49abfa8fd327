package server

import (
	"context"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/vault"
)

// The wired server prunes user messages older than the retention through its
// periodic River job, and keeps audit results, authorization events and
// recent messages.
func TestRetentionJobPrunesOldUserMessages(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		dsn := b.DSN(t)
		now := time.Now()
		key := vault.GenerateKey() // the server must open what the seed sealed
		v, err := vault.New(key)
		if err != nil {
			t.Fatal(err)
		}
		seed := storetest.Migrated(t, dsn, v)
		ctx := context.Background()
		if err := seed.UpsertPlatform(ctx, &wxfleet.Platform{AppID: testAppID, Name: "test", Token: testToken, AESKey: testAESKey, Secret: "s"}); err != nil {
			t.Fatal(err)
		}
		old, recent := now.Add(-40*24*time.Hour), now.Add(-time.Hour)
		mk := func(typ, key string, at time.Time) *wxfleet.Event {
			return &wxfleet.Event{ComponentAppID: testAppID, AppID: "wxapp", Type: typ, DedupKey: key, CreateTime: at, ReceivedAt: at, Payload: []byte("<xml/>")}
		}
		if _, err := seed.InsertEvents(ctx, []*wxfleet.Event{
			mk("text", "m:old-openid-message", old),
			mk("subscribe", "e:old-user-event", old),
			mk("weapp_audit_success", "e:old-audit", old),
			mk("authorized", "c:old-authorization", old),
			mk("text", "m:recent", recent),
		}); err != nil {
			t.Fatal(err)
		}
		seed.Close()

		srv := bootWith(t, b, func(cfg *Config) { cfg.Database, cfg.MasterKey, cfg.JobPollInterval = dsn, key, 50*time.Millisecond })
		deadline := time.Now().Add(30 * time.Second)
		var keys []string
		for time.Now().Before(deadline) {
			list, _, err := srv.Store.ListEvents(ctx, testAppID, store.EventFilter{})
			if err != nil {
				t.Fatal(err)
			}
			keys = keys[:0]
			for _, e := range list {
				keys = append(keys, e.DedupKey)
			}
			if len(keys) == 3 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		want := []string{"m:recent", "c:old-authorization", "e:old-audit"}
		if len(keys) != len(want) || keys[0] != want[0] || keys[1] != want[1] || keys[2] != want[2] {
			t.Fatalf("events left %v, want %v", keys, want)
		}
	})
}
