package authorization

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/token"
)

// Sealer encrypts values that must rest in the job table.
type Sealer interface {
	SealString(plain string) string
	OpenString(sealed string) (string, error)
}

// CompleteArgs completes an authorization announced by a push. The
// authorization code rests sealed: it is worth an access token for an hour.
type CompleteArgs struct {
	ComponentAppID  string `json:"component_appid" river:"unique"`
	AuthorizerAppID string `json:"authorizer_appid" river:"unique"`
	SealedCode      string `json:"sealed_code"` // sealing is randomised: not part of the unique key
	// PreAuthDigest is the digest of the push's PreAuthCode (store.PreAuthDigest):
	// the code would start an authorization credited to its link's merchant.
	PreAuthDigest string `json:"pre_auth_code_sha256" river:"unique"`
	// PreAuthCode is read from jobs enqueued by earlier versions only.
	PreAuthCode string    `json:"pre_auth_code,omitempty"`
	CreateTime  time.Time `json:"create_time" river:"unique"`
}

// Kind implements river.JobArgs.
func (CompleteArgs) Kind() string { return "complete_authorization" }

// InsertOpts: an authorization code is valid for an hour, so a handful of
// retries over a few minutes is all that can help.
func (a CompleteArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		MaxAttempts: 6,
		Tags:        []string{token.AppTag(a.AuthorizerAppID)},
		// WeChat's retries of the same push (same CreateTime) make one job.
		UniqueOpts: river.UniqueOpts{ByArgs: true},
	}
}

// CompleteWorker works CompleteArgs.
type CompleteWorker struct {
	river.WorkerDefaults[CompleteArgs]
	Service *Service
	Sealer  Sealer
}

// Work exchanges the code unless the browser callback already did.
func (w *CompleteWorker) Work(ctx context.Context, job *river.Job[CompleteArgs]) error {
	code, err := w.Sealer.OpenString(job.Args.SealedCode)
	if err != nil {
		return river.JobCancel(err)
	}
	digest := job.Args.PreAuthDigest
	if digest == "" && job.Args.PreAuthCode != "" {
		digest = store.PreAuthDigest(job.Args.PreAuthCode)
	}
	_, err = w.Service.HandlePush(ctx, job.Args.ComponentAppID, job.Args.AuthorizerAppID, code, digest, job.Args.CreateTime)
	if wxfleet.ErrorCode(err) == wxfleet.EINVALID {
		return river.JobCancel(err)
	}
	return err
}

// Timeout bounds one attempt: two WeChat calls and two lease waits (the
// code's, then the authorizer's).
func (w *CompleteWorker) Timeout(*river.Job[CompleteArgs]) time.Duration { return 2 * time.Minute }
