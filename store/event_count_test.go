package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// ListEvents counts the matching events only when the caller wants the
// total: the first page of /events does, a later page (NoCount) does not
// and gets -1, with the same events.
func TestListEventsCountsOnlyWhenAsked(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		s := b.New(t)
		if err := s.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxcount", Token: "t", AESKey: "k", Secret: "s"}); err != nil {
			t.Fatal(err)
		}
		var evs []*wxfleet.Event
		at := time.Now().Truncate(time.Millisecond)
		for i := range 7 {
			evs = append(evs, &wxfleet.Event{ComponentAppID: "wxcount", AppID: "wxapp", Type: "text", DedupKey: fmt.Sprintf("k%d", i),
				ReceivedAt: at, Payload: []byte("<xml/>")})
		}
		if _, err := s.InsertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		first, total, err := s.ListEvents(ctx, "wxcount", store.EventFilter{Limit: 3})
		if err != nil || total != 7 || len(first) != 3 {
			t.Fatalf("first page: %d events, total %d, %v; want 3 of 7", len(first), total, err)
		}
		f := store.EventFilter{Limit: 3, Cursor: first[2].ID, NoCount: true}
		later, total, err := s.ListEvents(ctx, "wxcount", f)
		if err != nil || total != -1 || len(later) != 3 || later[0].ID >= first[2].ID {
			t.Fatalf("later page without the count: %d events, total %d, %v; want 3 events and -1", len(later), total, err)
		}
		f.NoCount = false
		if again, total, err := s.ListEvents(ctx, "wxcount", f); err != nil || total != 7 || len(again) != 3 || again[0].ID != later[0].ID {
			t.Fatalf("later page with the count: %d events, total %d, %v", len(again), total, err)
		}
	})
}
