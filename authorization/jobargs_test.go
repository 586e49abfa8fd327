package authorization

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/vault"
)

// The job that completes a pushed authorization carries the pre_auth_code's
// digest, never the code, and the authorization code only sealed.
func TestCompleteJobKeepsCodesOutOfItsArgs(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := b.New(t)
		st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxcomp", Name: "p", Token: "t", AESKey: "k", Secret: "s"})
		workers := river.NewWorkers()
		river.AddWorker(workers, &CompleteWorker{})
		q, err := queue.New(st, &river.Config{Workers: workers, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := vault.New(vault.GenerateKey())
		f := &Feature{Service: &Service{Store: st, Queue: func() queue.Queue { return q }, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}, Sealer: v}
		msg, err := push.ParseMessage([]byte(`<xml><AppId>wxcomp</AppId><CreateTime>1700000000</CreateTime><InfoType>authorized</InfoType>` +
			`<AuthorizerAppid>wxapp</AuthorizerAppid><AuthorizationCode>queryauthcode@@@x</AuthorizationCode><PreAuthCode>preauthcode@@@y</PreAuthCode></xml>`))
		if err != nil {
			t.Fatal(err)
		}
		ev := &wxfleet.Event{ComponentAppID: "wxcomp", AppID: "wxapp", Type: "authorized", CreateTime: time.Unix(1700000000, 0)}
		if err := f.authorized(ctx, push.Push{Event: ev, Message: msg}); err != nil {
			t.Fatal(err)
		}
		res, err := q.JobList(ctx, river.NewJobListParams().First(10))
		if err != nil || len(res.Jobs) != 1 {
			t.Fatalf("jobs: %v, %v", res, err)
		}
		args := string(res.Jobs[0].EncodedArgs)
		if strings.Contains(args, "preauthcode@@@y") || strings.Contains(args, "queryauthcode@@@x") || !strings.Contains(args, store.PreAuthDigest("preauthcode@@@y")) {
			t.Fatalf("job args: %s", args)
		}
	})
}
