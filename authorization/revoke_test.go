package authorization

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/token"
)

// An unauthorized push marks the authorizer revoked and cancels the jobs
// still waiting for it, and only its own.
func TestRevokeCancelsPendingJobs(t *testing.T) { storetest.Run(t, testRevokeCancelsPendingJobs) }

func testRevokeCancelsPendingJobs(t *testing.T, b storetest.Backend) {
	ctx := context.Background()
	st := b.New(t)
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxcomp", Name: "p", Token: "t", AESKey: "k", Secret: "s"})
	for _, app := range []string{"wxgone", "wxstays"} {
		err := st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: "wxcomp", AppID: app, Status: wxfleet.StatusAuthorized,
			AccessToken: "a", RefreshToken: "r", TokenExpiresAt: now.Add(time.Hour), AuthorizedAt: now, UpdatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &token.RefreshAuthorizerWorker{})
	// Not started: the jobs wait, as they would an hour ahead of expiry.
	cfg := &river.Config{Workers: workers, Logger: slog.New(slog.DiscardHandler)}
	q, err := queue.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"wxgone", "wxstays"} {
		if err := q.Insert(ctx, token.RefreshAuthorizerArgs{ComponentAppID: "wxcomp", AppID: app}, nil); err != nil {
			t.Fatal(err)
		}
	}
	s := &Service{Store: st, Queue: func() queue.Queue { return q }, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)}
	if err := s.Revoke(ctx, "wxcomp", "wxgone", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	a, _ := st.Authorizer(ctx, "wxcomp", "wxgone")
	if a.Status != wxfleet.StatusRevoked {
		t.Fatalf("status = %s", a.Status)
	}
	res, err := q.JobList(ctx, river.NewJobListParams().First(10))
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]rivertype.JobState{}
	for _, j := range res.Jobs {
		states[j.Tags[0]] = j.State
	}
	if states[token.AppTag("wxgone")] != rivertype.JobStateCancelled || states[token.AppTag("wxstays")] != rivertype.JobStateAvailable {
		t.Fatalf("job states after revoking wxgone: %v", states)
	}
	// A revoke for an authorizer never seen is not an error (WeChat may
	// push it after we lost interest), and it touches nothing.
	if err := s.Revoke(ctx, "wxcomp", "wxnever", now); err != nil {
		t.Fatal(err)
	}
}

// A replayed (or late) unauthorized push older than the authorization in
// force does not undo it; a newer one does.
func TestOlderUnauthorizedNeverUndoesANewerAuthorization(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := b.New(t)
		now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
		st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxcomp", Name: "p", Token: "t", AESKey: "k", Secret: "s"})
		reauthorized := now.Add(10 * time.Minute) // after the merchant's first cancellation at now
		if err := st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: "wxcomp", AppID: "wxback", Status: wxfleet.StatusAuthorized,
			AccessToken: "a", RefreshToken: "r", TokenExpiresAt: reauthorized.Add(time.Hour), AuthorizedAt: reauthorized, UpdatedAt: reauthorized}); err != nil {
			t.Fatal(err)
		}
		q, err := queue.New(st, &river.Config{Workers: river.NewWorkers(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		clock := reauthorized.Add(time.Minute)
		s := &Service{Store: st, Queue: func() queue.Queue { return q }, Now: func() time.Time { return clock }, Logger: slog.New(slog.DiscardHandler)}
		if err := s.Revoke(ctx, "wxcomp", "wxback", now); err != nil { // the old push, replayed
			t.Fatal(err)
		}
		if a, _ := st.Authorizer(ctx, "wxcomp", "wxback"); a.Status != wxfleet.StatusAuthorized {
			t.Fatalf("a replayed older unauthorized push revoked the newer authorization: %s", a.Status)
		}
		if err := s.Revoke(ctx, "wxcomp", "wxback", reauthorized.Add(30*time.Second)); err != nil { // a real, newer cancellation
			t.Fatal(err)
		}
		if a, _ := st.Authorizer(ctx, "wxcomp", "wxback"); a.Status != wxfleet.StatusRevoked {
			t.Fatalf("a newer unauthorized push was ignored: %s", a.Status)
		}
	})
}
