package store_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
)

func testDashboard(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	now := base.Add(10 * time.Hour)
	for i, st := range []wxfleet.AuthorizerStatus{wxfleet.StatusAuthorized, wxfleet.StatusAuthorized, wxfleet.StatusRevoked, wxfleet.StatusPending} {
		a := &wxfleet.Authorizer{ComponentAppID: "wxA", AppID: fmt.Sprintf("wxapp%d", i), Status: st,
			AccessToken: "at", TokenExpiresAt: now.Add(time.Duration(i+1) * time.Hour), RefreshToken: "rt"}
		must(t, h.UpsertAuthorizer(h.ctx, a))
	}
	// Another platform's mini program counts for it alone.
	must(t, h.UpsertAuthorizer(h.ctx, &wxfleet.Authorizer{ComponentAppID: "wxB", AppID: "wxappB", Status: wxfleet.StatusAuthorized,
		AccessToken: "at", TokenExpiresAt: now.Add(time.Minute), RefreshToken: "rt"}))

	counts, err := h.AuthorizerStatusCounts(h.ctx, "wxA")
	must(t, err)
	if want := map[wxfleet.AuthorizerStatus]int{"authorized": 2, "revoked": 1, "pending": 1}; !reflect.DeepEqual(counts, want) {
		t.Errorf("AuthorizerStatusCounts(wxA) = %v, want %v", counts, want)
	}
	next, err := h.NextTokenExpiry(h.ctx, "wxA")
	must(t, err)
	if want := now.Add(time.Hour); !next.Equal(want) {
		t.Errorf("NextTokenExpiry(wxA) = %v, want %v (the earliest authorized one; revoked and pending don't count)", next, want)
	}
	if none, err := h.NextTokenExpiry(h.ctx, "wxC"); err != nil || !none.IsZero() {
		t.Errorf("NextTokenExpiry of a platform without authorizers = %v, %v; want zero", none, err)
	}

	// Pushes: 3 in the current minute, 1 two minutes ago, 1 before the window, 1 of wxB.
	var evs []*wxfleet.Event
	add := func(comp string, at time.Time) {
		evs = append(evs, &wxfleet.Event{ComponentAppID: comp, Type: "t", DedupKey: fmt.Sprint(len(evs)), ReceivedAt: at, CreateTime: at, Payload: []byte("<xml/>")})
	}
	cur := now.Truncate(time.Minute)
	add("wxA", cur)
	add("wxA", cur.Add(10*time.Second))
	add("wxA", now)
	add("wxA", cur.Add(-2*time.Minute))
	add("wxA", now.Add(-5*time.Minute))
	add("wxB", now)
	must(t, h.AddEvents(h.ctx, evs))
	got, err := h.PushesPerMinute(h.ctx, "wxA", now, 4)
	must(t, err)
	if want := []int{0, 1, 0, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("PushesPerMinute(wxA, 4) = %v, want %v (oldest first, the current minute last)", got, want)
	}
}
