package authorization

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// The template policy's setup job is enqueued in the transaction that
// stores the authorization: when that transaction fails after the enqueue
// (a crash, as far as the database can tell) neither the authorizer nor the
// job exists and the push is retried; when it commits both exist, and a
// later push of the same code finds the work done and enqueues nothing.
func TestOnAuthorizedJobCommitsWithTheAuthorization(t *testing.T) {
	storetest.Run(t, testOnAuthorizedJobCommitsWithTheAuthorization)
}

func testOnAuthorizedJobCommitsWithTheAuthorization(t *testing.T, b storetest.Backend) {
	f, s := newFixture(t, b)
	ctx := context.Background()
	st := f.main
	if err := st.SyncTemplates(ctx, "wxcomp", []wxfleet.Template{{TemplateID: 7, UserVersion: "1.0.0", CreateTime: f.now}}, f.now); err != nil {
		t.Fatal(err)
	}
	if err := st.SetTemplatePolicy(ctx, "wxcomp", 7, &wxfleet.TemplatePolicy{WebviewDomain: &[]string{"https://h5.shop.example"}}); err != nil {
		t.Fatal(err)
	}
	rs := &rollout.Service{Store: st, Now: func() time.Time { return f.now }, Logger: slog.New(slog.DiscardHandler)}
	workers := river.NewWorkers()
	river.AddWorker(workers, &rollout.SetupWorker{Service: rs})
	// Not started: the jobs stay where the transaction left them.
	q, err := queue.New(st, &river.Config{Workers: workers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rs.Jobs = func() rollout.Jobs { return q }
	setupJobs := func() []*rivertype.JobRow {
		t.Helper()
		res, err := q.JobList(ctx, river.NewJobListParams().Kinds(rollout.SetupArgs{}.Kind()).First(10))
		if err != nil {
			t.Fatal(err)
		}
		return res.Jobs
	}

	fail, calls, seen := true, 0, ""
	s.OnAuthorized = func(ctx context.Context, tx *sql.Tx, componentAppID, appID string) error {
		calls++
		// The hook sees the authorization it commits with.
		if err := tx.QueryRowContext(ctx, `SELECT status FROM authorizers WHERE component_appid = $1 AND appid = $2`,
			componentAppID, appID).Scan(&seen); err != nil {
			return err
		}
		if err := rs.Authorized(ctx, tx, componentAppID, appID); err != nil {
			return err
		}
		if fail {
			return errors.New("the process died after the enqueue")
		}
		return nil
	}

	if _, err := s.HandlePush(ctx, "wxcomp", "wxapp", "authcode-1", "", f.now); err == nil {
		t.Fatal("the push succeeded though its transaction failed")
	}
	if _, err := st.Authorizer(ctx, "wxcomp", "wxapp"); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		t.Fatalf("after the failed transaction the authorizer is there: %v", err)
	}
	if jobs := setupJobs(); len(jobs) != 0 {
		t.Fatalf("after the failed transaction %d setup jobs exist", len(jobs))
	}

	fail = false
	if _, err := s.HandlePush(ctx, "wxcomp", "wxapp", "authcode-1", "", f.now); err != nil {
		t.Fatalf("the retried push: %v", err)
	}
	if a, err := st.Authorizer(ctx, "wxcomp", "wxapp"); err != nil || a.Status != wxfleet.StatusAuthorized {
		t.Fatalf("after the retry: %+v %v", a, err)
	}
	if seen != string(wxfleet.StatusAuthorized) {
		t.Fatalf("the hook read the authorizer as %q inside its transaction", seen)
	}
	jobs := setupJobs()
	var args rollout.SetupArgs
	if len(jobs) != 1 {
		t.Fatalf("%d setup jobs after the retry, want 1", len(jobs))
	}
	if json.Unmarshal(jobs[0].EncodedArgs, &args) != nil || args != (rollout.SetupArgs{ComponentAppID: "wxcomp", AppID: "wxapp"}) {
		t.Fatalf("the setup job's args: %s", jobs[0].EncodedArgs)
	}

	// The same code again: the authorization is done, nothing more is enqueued.
	if _, err := s.HandlePush(ctx, "wxcomp", "wxapp", "authcode-1", "", f.now); err != nil {
		t.Fatal(err)
	}
	if calls != 2 || len(setupJobs()) != 1 {
		t.Fatalf("a push of a code already exchanged: hook called %d times in all (want 2), %d setup jobs", calls, len(setupJobs()))
	}
}
